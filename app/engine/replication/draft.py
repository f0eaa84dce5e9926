"""The planner's working state for one client: indexed inputs (ClientView) and the plan being built (PlanDraft)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from app.bitget.models import Contract, Position
from app.engine.replication.plan import ClientPlan, LinkChange, Operation, Skip
from app.engine.replication.state import LINK_CREATE, ClientState, Link, MasterState

Key = tuple[str, str]


@dataclass(frozen=True)
class ClientView:
    """The inputs for one client, indexed by (symbol, hold_side)."""

    master: MasterState
    client: ClientState
    contracts: Mapping[str, Contract]
    marks: Mapping[str, Decimal]
    master_by_key: Mapping[Key, Position]
    client_by_key: Mapping[Key, Position]
    links_by_key: Mapping[Key, Link]

    @classmethod
    def build(
        cls,
        master: MasterState,
        client: ClientState,
        contracts: Mapping[str, Contract],
        marks: Mapping[str, Decimal],
    ) -> ClientView:
        """Index the master's and the client's open positions and the client's links."""
        return cls(
            master=master,
            client=client,
            contracts=contracts,
            marks=marks,
            master_by_key={p.key: p for p in master.positions if p.total > 0},
            client_by_key={p.key: p for p in client.positions if p.total > 0},
            links_by_key={link.key: link for link in client.links},
        )

    def mark_for(self, symbol: str) -> Decimal | None:
        """The freshest known mark price of a symbol: given marks, then the master's, then the client's."""
        candidates = [self.marks.get(symbol)]
        for positions in (self.master_by_key, self.client_by_key):
            candidates += [p.mark_price for (sym, _), p in sorted(positions.items()) if sym == symbol]
        return next((m for m in candidates if m is not None and m > 0), None)

    def client_positions_on(self, symbol: str) -> list[Position]:
        """The client's open positions on a symbol, long first."""
        return [p for key, p in sorted(self.client_by_key.items()) if key[0] == symbol]


@dataclass
class PlanDraft:
    """A client's plan while it is built; operations are bucketed per symbol to order them at the end."""

    account_id: int
    name: str
    closes: dict[str, list[Operation]] = field(default_factory=lambda: defaultdict(list))
    opens: dict[str, list[Operation]] = field(default_factory=lambda: defaultdict(list))
    tpsl: dict[str, list[Operation]] = field(default_factory=lambda: defaultdict(list))
    skips: list[Skip] = field(default_factory=list)
    link_changes: list[LinkChange] = field(default_factory=list)
    closed_full: set[Key] = field(default_factory=set)
    opened: set[Key] = field(default_factory=set)
    created_links: set[Key] = field(default_factory=set)
    planned_margin: dict[str, str] = field(default_factory=dict)
    not_copied: set[Key] = field(default_factory=set)  # master positions this client must not copy now
    open_count: int = 0

    def skip(self, symbol: str, hold_side: str, reason: str) -> None:
        """Record a skip once."""
        entry = Skip(symbol, hold_side, reason)
        if entry not in self.skips:
            self.skips.append(entry)

    def link(self, change: LinkChange) -> None:
        """Record a link change (and remember created links for TP/SL)."""
        self.link_changes.append(change)
        if change.action == LINK_CREATE:
            self.created_links.add((change.symbol, change.hold_side))

    def remaining_on_symbol(self, view: ClientView, symbol: str, exclude: Key) -> list[Position]:
        """Client positions on a symbol, other than `exclude`, that this plan does not close fully."""
        return [
            p for p in view.client_positions_on(symbol) if p.key != exclude and p.key not in self.closed_full
        ]

    def finish(self) -> ClientPlan:
        """Order the operations: every close and reduction first (all symbols), then per symbol opens and TP/SL."""
        ordered: list[Operation] = []
        for symbol in sorted(self.closes):
            ordered += self.closes[symbol]
        for symbol in sorted(set(self.opens) | set(self.tpsl)):
            ordered += self.opens.get(symbol, []) + self.tpsl.get(symbol, [])
        links = sorted(self.link_changes, key=lambda c: (c.symbol, c.hold_side, c.action))
        return ClientPlan(self.account_id, self.name, tuple(ordered), tuple(self.skips), tuple(links))
