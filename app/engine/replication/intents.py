"""Order intents: the clientOid of an order comes from what it intends, not from the run that sends it.

An intent is (account, link generation, kind, step). It is written to the database before its request is
sent (the transactional outbox), so a crash, a timeout or a failed run leaves it behind; the next sync of
that account looks it up by clientOid first and, while it is unresolved, sends the same intended order with
the same clientOid again. The exchange then refuses the duplicate (40786), which the client resolves by
looking the order up: an order can never be placed twice, whatever died in between.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ...bitget.errors import BitgetError, OrderNotFoundError, RetryableError
from ...store.extensions import db
from ...store.models import OrderIntent, get_setting, set_setting
from .plan import Operation
from .state import OP_CLOSE, OP_OPEN, OP_PLACE_TPSL, PLAN_TAKE_PROFIT

if TYPE_CHECKING:
    from ...bitget.client import BitgetClient
    from .recording import LinkStore

log = logging.getLogger(__name__)
INSTALL_KEY = "install_id"
PENDING, ACKED, REFUSED, UNKNOWN, LOST = "pending", "acked", "refused", "unknown", "lost"
UNRESOLVED = (PENDING, UNKNOWN)
# an order the exchange has not heard of this long after it was sent will never arrive
LOST_AFTER_SECONDS = 120.0
_KIND_LETTER = {OP_OPEN: "o", OP_CLOSE: "c", "tp": "t", "sl": "s"}

Key = tuple[str, str]


def install_id() -> str:
    """A random id of this database, so a fresh install never reuses an old install's clientOids."""
    value = get_setting(INSTALL_KEY)
    if not value:
        import secrets

        value = secrets.token_hex(3)
        set_setting(INSTALL_KEY, value)
    return value


def intent_kind(op: Operation) -> str:
    """open / close / tp / sl: what one intent is about (a TP and an SL are separate intents)."""
    if op.kind == OP_PLACE_TPSL:
        return "tp" if op.plan_type == PLAN_TAKE_PROFIT else "sl"
    return op.kind


def client_oid(install: str, account_id: int, generation: int, kind: str, seq: int) -> str:
    """The clientOid of one intent: [A-Za-z0-9], well under Bitget's 40 characters."""
    return f"cp{install}a{account_id}g{generation}{_KIND_LETTER[kind]}{seq}"


@dataclass(frozen=True)
class Intent:
    """An intended order as the engine carries it."""

    id: int
    client_oid: str
    generation: int
    symbol: str
    hold_side: str
    kind: str
    seq: int
    status: str
    created_ts: float = 0.0

    @classmethod
    def of(cls, row: OrderIntent) -> Intent:
        """From a stored row."""
        return cls(row.id, row.client_oid, row.generation, row.symbol, row.hold_side, row.kind, row.seq, row.status,
                   row.created_at.timestamp())


@dataclass(frozen=True)
class AccountIntents:
    """One account's unresolved intents and the last step used per link generation (read in one query)."""

    unresolved: tuple[Intent, ...] = ()
    last_seq: dict[int, int] = field(default_factory=dict)


def load_intents(account_ids: list[int]) -> dict[int, AccountIntents]:
    """Unresolved intents and step counters of many accounts."""
    if not account_ids:
        return {}
    from sqlalchemy import func

    out: dict[int, AccountIntents] = {}
    seqs: dict[int, dict[int, int]] = {}
    for n in range(0, len(account_ids), 500):
        chunk = account_ids[n:n + 500]
        rows = db.session.query(OrderIntent.account_id, OrderIntent.generation, func.max(OrderIntent.seq)).filter(
            OrderIntent.account_id.in_(chunk)).group_by(OrderIntent.account_id, OrderIntent.generation).all()
        for account_id, generation, seq in rows:
            seqs.setdefault(account_id, {})[generation] = int(seq or 0)
        open_rows = db.session.query(OrderIntent).filter(
            OrderIntent.account_id.in_(chunk), OrderIntent.status.in_(UNRESOLVED)).order_by(OrderIntent.id).all()
        pending: dict[int, list[Intent]] = {}
        for row in open_rows:
            pending.setdefault(row.account_id, []).append(Intent.of(row))
        for account_id in chunk:
            out[account_id] = AccountIntents(tuple(pending.get(account_id, ())), seqs.get(account_id, {}))
    return out


def store_intent_updates(updates: list[dict]) -> None:
    """Write many intents' outcomes in one transaction (the caller holds the app context)."""
    if not updates:
        return
    db.session.bulk_update_mappings(OrderIntent, updates)
    db.session.commit()


class IntentBook:
    """One account's intents during one sync: resolve leftovers, reuse unresolved ones, number new ones."""

    def __init__(self, store: LinkStore, install: str, account_id: int, run_uid: str,
                 known: AccountIntents) -> None:
        self.store, self.install, self.account_id, self.run_uid = store, install, account_id, run_uid
        self._unresolved = list(known.unresolved)
        self._last_seq = dict(known.last_seq)
        # what became of the intents, stored by the caller after the run in one transaction: only the write
        # before sending must be durable at once (an intent left "pending" is looked up at the next sync)
        self.updates: list[dict] = []

    @property
    def unresolved(self) -> list[Intent]:
        """Intents whose fate is not known yet."""
        return list(self._unresolved)

    def resolve(self, client: BitgetClient) -> list[str]:
        """Look every unresolved order intent up by clientOid (before anything is planned); returns notes."""
        notes = []
        for intent in list(self._unresolved):
            if intent.kind not in (OP_OPEN, OP_CLOSE):
                continue  # a TP/SL placement is found by its clientOid when it is placed again
            try:
                order = client.order_detail(intent.symbol, client_oid=intent.client_oid)
            except OrderNotFoundError:
                if time.time() - intent.created_ts > LOST_AFTER_SECONDS:
                    self._settle(intent, LOST, message="never reached the exchange")
                continue  # may still be queued at the exchange: the next such order reuses its clientOid
            except BitgetError as exc:
                log.info("intent %s not resolved yet: %s", intent.client_oid, exc)
                continue
            self._settle(intent, ACKED, order_id=order.order_id, message=f"found at the exchange ({order.status})")
            notes.append(f"{intent.kind} {intent.symbol} {intent.hold_side} {intent.client_oid} had reached the "
                         f"exchange before the restart ({order.status})")
        return notes

    def begin(self, op: Operation, generation: int) -> Intent:
        """The intent for this operation: the unresolved one with the same identity, else a new one, stored."""
        kind = intent_kind(op)
        for intent in self._unresolved:
            if (intent.generation, intent.symbol, intent.hold_side, intent.kind) == (generation, *op.key, kind):
                return intent
        seq = self._last_seq.get(generation, 0) + 1
        self._last_seq[generation] = seq
        oid = client_oid(self.install, self.account_id, generation, kind, seq)
        intent_id = self.store.add_intent(
            self.account_id, generation=generation, symbol=op.symbol, hold_side=op.hold_side, kind=kind, seq=seq,
            client_oid=oid, size=op.size, run_uid=self.run_uid,
        )
        intent = Intent(intent_id, oid, generation, op.symbol, op.hold_side, kind, seq, PENDING, time.time())
        self._unresolved.append(intent)
        return intent

    def acked(self, intent: Intent, order_id: str | None) -> None:
        """The exchange took the order."""
        self._settle(intent, ACKED, order_id=order_id)

    def failed(self, intent: Intent, error: BitgetError) -> None:
        """The request failed: refused for good, or with no clear answer (then the next try reuses the id)."""
        if isinstance(error, RetryableError):
            self.updates.append({"id": intent.id, "status": UNKNOWN, "message": str(error)[:500]})
            self._unresolved = [replace(i, status=UNKNOWN) if i.id == intent.id else i for i in self._unresolved]
        else:
            self._settle(intent, REFUSED, message=str(error))

    def _settle(self, intent: Intent, status: str, *, order_id: str | None = None, message: str | None = None) -> None:
        self.updates.append({"id": intent.id, "status": status, "order_id": order_id,
                             "message": (message or "")[:500] or None, "updated_at": datetime.now(UTC)})
        self._unresolved = [i for i in self._unresolved if i.id != intent.id]
