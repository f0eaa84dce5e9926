"""Replication service: read states, plan, execute concurrently, record. Holds the single replication lock."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.orm import selectinload

from ..bitget.client import BitgetClient
from ..bitget.errors import AuthError, BitgetError, PositionModeMismatchError
from ..bitget.models import Contract
from ..errors import ValidationError
from ..extensions import db
from ..models import Account, PositionLink
from ..serialize import plain
from ..state import StateCache
from .apply import PlanApplier
from .executor import AccountExecutor
from .lock import ReplicationLock
from .loss import open_block_reason
from .planner import ClientPlan, plan_replication
from .recording import AccountOutcome, LinkStore, finish_run, start_run
from .state import ClientSettings, ClientState, Link, MasterState, SymbolSettings

log = logging.getLogger(__name__)


class ModeChanged(Exception):
    """The exchange says the account's position mode differs from what we planned for."""


@dataclass
class ClientJob:
    """Everything a worker needs for one client, gathered in the request thread (no ORM objects cross threads)."""

    account_id: int
    name: str
    client: BitgetClient
    settings: ClientSettings
    links: tuple[Link, ...]
    following_since_ms: int | None
    open_block_reason: str | None
    known_pos_mode: str | None


def link_of(row: PositionLink) -> Link:
    """The planner's view of a stored position link."""
    return Link(row.symbol, row.hold_side, row.factor, int(row.created_at.timestamp() * 1000))


def settings_of(account: Account) -> ClientSettings:
    """The planner's view of a client's settings."""
    return ClientSettings(
        sizing_mode=account.sizing_mode, sizing_value=account.sizing_value, max_leverage=account.max_leverage,
        max_notional=account.max_notional, max_open_positions=account.max_open_positions,
        allowed_symbols=account.allowed_symbol_set, paused=account.paused, slippage_pct=account.slippage_pct,
        below_min_rule=account.below_min_rule, round_up_max_factor=account.round_up_max_factor,
        copy_existing=account.copy_existing,
    )


class ReplicationService:
    """Replicate, copy TP/SL, preview, close all / close one symbol."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.gateway = app.extensions["gateway"]
        self.cache: StateCache = app.extensions["state"]
        self.executor = AccountExecutor(int(app.config["EXECUTOR_MAX_WORKERS"]))
        self.lock = ReplicationLock(Path(app.instance_path) / "replication.lock")
        self.links = LinkStore(app)

    # ----- entry points -------------------------------------------------------------------------------
    def replicate(self, trigger: str, *, tpsl: bool = True, positions: bool = True,
                  account_ids: Sequence[int] | None = None, master: MasterState | None = None,
                  detected_at: float | None = None) -> dict[str, Any]:
        """Bring clients to the master's positions (and TP/SL); one run at a time."""
        action = "replicate" if positions else "tpsl"
        if account_ids:
            action = "sync"
        with self.lock.hold(action, trigger):
            return self._reconcile(action, trigger, positions=positions, tpsl=tpsl, account_ids=account_ids,
                                   master=master, detected_at=detected_at, preview=False)

    def preview(self, trigger: str, account_ids: Sequence[int] | None = None) -> dict[str, Any]:
        """The replication plan per client; nothing is sent."""
        return self._reconcile("preview", trigger, positions=True, tpsl=True, account_ids=account_ids,
                               master=None, detected_at=None, preview=True)

    def close_all(self, trigger: str, symbol: str | None = None) -> dict[str, Any]:
        """Flash-close every position (or one symbol) on every enabled account, master included."""
        from .closing import close_everywhere

        action = f"close-symbol {symbol}" if symbol else "close-all"
        with self.lock.hold(action, trigger):
            return close_everywhere(self, trigger, symbol)

    # ----- replication --------------------------------------------------------------------------------
    def _reconcile(self, action: str, trigger: str, *, positions: bool, tpsl: bool,
                   account_ids: Sequence[int] | None, master: MasterState | None,
                   detected_at: float | None, preview: bool) -> dict[str, Any]:
        master_account = db.session.query(Account).filter_by(role="master").one_or_none()
        if master_account is None:
            raise ValidationError("Add a master account first.")
        # the master's reads are in flight while the client jobs and the run row are prepared
        finish_master_read = None if master else self.begin_master_read(master_account)
        jobs = self._client_jobs(account_ids)
        started = time.monotonic()
        run = start_run(action, trigger, detected_at=detected_at)
        try:
            master = master or finish_master_read()
            contracts = self.gateway.contracts()
        except BitgetError as exc:
            outcome = AccountOutcome(master_account.id, master_account.name, "failed",
                                     f"Cannot read the master account: {exc}")
            return self.report(finish_run(run, [outcome], started))
        run_uid = run.uid  # read now: ORM attributes must not be loaded from worker threads
        outcomes = self.executor.map(
            lambda job: self._sync_client(job, master, contracts, run_uid, positions, tpsl, preview, detected_at),
            jobs,
        )
        results = [o.value if o.error is None else self._crashed(o.item, o.error) for o in outcomes]
        run = finish_run(run, results, started)
        if not preview:
            from ..refresh import refresh_soon
            from .quality import measure_soon

            refresh_soon(self.app, [j.account_id for j in jobs])
            if self.app.config.get("MEASURE_FILLS", True):
                measure_soon(self.app, run.id)
        return self.report(run, results)

    def _client_jobs(self, account_ids: Sequence[int] | None) -> list[ClientJob]:
        # links in one query, not one lazy load per account (hundreds of clients)
        query = db.session.query(Account).options(selectinload(Account.links)).filter_by(role="client", enabled=True)
        if account_ids:
            query = query.filter(Account.id.in_(list(account_ids)))
        jobs = []
        for account in query.order_by(Account.id).all():
            view = self.cache.get(account.id)
            jobs.append(ClientJob(
                account_id=account.id, name=account.name, client=self.gateway.client_for(account),
                settings=settings_of(account),
                links=tuple(link_of(row) for row in account.links),
                following_since_ms=int(account.following_since.timestamp() * 1000),
                open_block_reason=open_block_reason(account),
                known_pos_mode=(view.pos_mode if view and view.pos_mode else account.position_mode),
            ))
        return jobs

    def read_master(self, account: Account) -> MasterState:
        """Fresh master positions and equity (two reads in parallel)."""
        return self.begin_master_read(account)()

    def begin_master_read(self, account: Account) -> Callable[[], MasterState]:
        """Start reading the master's positions and equity; the returned function waits (raises their error)."""
        client = self.gateway.client_for(account)
        account_id = account.id
        reads = [self.executor.submit(client.positions), self.executor.submit(client.usdt_account)]

        def finish() -> MasterState:
            positions, balance = tuple(reads[0].result()), reads[1].result()
            self.cache.record_success(account_id, positions=positions, equity=balance.equity,
                                      available=balance.available, unrealized_pl=balance.unrealized_pl,
                                      margin_used=balance.margin_used)
            return MasterState(equity=balance.equity, positions=positions)

        return finish

    def _sync_client(self, job: ClientJob, master: MasterState, contracts: dict[str, Contract], run_uid: str,
                     positions: bool, tpsl: bool, preview: bool, detected_at: float | None) -> AccountOutcome:
        started = time.monotonic()
        entries = {p.key: p.open_price_avg for p in master.positions}
        try:
            state = self._client_state(job, master)
            plan = plan_replication(master, [state], contracts, positions=positions, tpsl=tpsl)[0]
            if preview:
                return self._preview_outcome(job, plan, started)
            try:
                outcome = self._execute(job, state, plan, run_uid, detected_at, entries)
            except ModeChanged:
                # the account's position mode changed under us: re-read it and plan once more
                self.cache.update(job.account_id, pos_mode=None)
                job.known_pos_mode = None
                state = self._client_state(job, master)
                plan = plan_replication(master, [state], contracts, positions=positions, tpsl=tpsl)[0]
                outcome = self._execute(job, state, plan, run_uid + "r", detected_at, entries)
        except BitgetError as exc:
            self.cache.record_error(job.account_id, str(exc), auth=isinstance(exc, AuthError))
            outcome = AccountOutcome(job.account_id, job.name, "failed", str(exc))
        outcome.latency_ms = round((time.monotonic() - started) * 1000)
        return outcome

    def _client_state(self, job: ClientJob, master: MasterState) -> ClientState:
        """Fresh positions; equity and position mode from the cache, read once when unknown."""
        client_positions = tuple(job.client.positions())
        view = self.cache.get(job.account_id)
        equity = view.equity if view else None
        pos_mode = job.known_pos_mode
        if equity is None or pos_mode is None:
            symbol = master.positions[0].symbol if master.positions else "BTCUSDT"
            info = job.client.account(symbol)
            equity, pos_mode = info.equity, info.pos_mode
            self.cache.learn_settings(job.account_id, symbol, SymbolSettings(
                info.margin_mode, info.leverage_for(info.margin_mode, "long"),
                info.leverage_for(info.margin_mode, "short")))
            self.cache.update(job.account_id, equity=equity, available=info.available,
                              unrealized_pl=info.unrealized_pl, pos_mode=pos_mode)
        self.cache.update(job.account_id, positions=client_positions)
        return ClientState(
            account_id=job.account_id, name=job.name, equity=equity or Decimal(0), pos_mode=pos_mode,
            positions=client_positions, settings=job.settings, links=job.links,
            symbol_settings=self.cache.symbol_settings(job.account_id),
            following_since_ms=job.following_since_ms, open_block_reason=job.open_block_reason,
        )

    def _execute(self, job: ClientJob, state: ClientState, plan: ClientPlan, run_uid: str,
                 detected_at: float | None, master_entries: dict) -> AccountOutcome:
        creates = {(c.symbol, c.hold_side): c for c in plan.link_changes if c.action == "create"}
        deletes = {(c.symbol, c.hold_side) for c in plan.link_changes if c.action == "delete"}

        def before_open(op):
            change = creates.get((op.symbol, op.hold_side))
            if change is not None:
                self.links.create(job.account_id, op.symbol, op.hold_side, change.factor)

        def after_close(op):
            if (op.symbol, op.hold_side) in deletes:
                self.links.delete(job.account_id, op.symbol, op.hold_side)
                deletes.discard((op.symbol, op.hold_side))

        applier = PlanApplier(
            client=job.client, run_uid=run_uid, account_id=job.account_id, pos_mode=state.pos_mode,
            settings=dict(state.symbol_settings),
            learn=lambda symbol, s: self.cache.learn_settings(job.account_id, symbol, s),
            before_open=before_open, after_close=after_close, detected_at=detected_at,
            master_entries=master_entries,
        )
        result = applier.apply(plan)
        if isinstance(result.error, PositionModeMismatchError) and not result.done:
            raise ModeChanged()
        if result.failed is None:
            for symbol, side in deletes:  # links whose client position is already gone
                self.links.delete(job.account_id, symbol, side)
        return describe(job, plan, result)

    def _preview_outcome(self, job: ClientJob, plan: ClientPlan, started: float) -> AccountOutcome:
        ops = [{"kind": op.kind, "symbol": op.symbol, "hold_side": op.hold_side,
                "size": plain(op.size), "reason": op.reason}
               for op in plan.operations]
        skips = skip_texts(plan)
        if ops:
            status, message = "ok", "; ".join(o["reason"] for o in ops)
        elif skips:
            status, message = "skipped", "; ".join(skips)
        else:
            status, message = "ok", "in sync: nothing to do"
        if ops and skips:
            message += " | skipped: " + "; ".join(skips)
        return AccountOutcome(job.account_id, job.name, status, message, operations=ops,
                              latency_ms=round((time.monotonic() - started) * 1000))

    @staticmethod
    def _crashed(job: ClientJob, error: BaseException) -> AccountOutcome:
        log.exception("unexpected error replicating to %s", job.name, exc_info=error)
        return AccountOutcome(job.account_id, job.name, "failed", f"Internal error: {type(error).__name__}: {error}")

    @staticmethod
    def report(run, results: list[AccountOutcome] | None = None) -> dict[str, Any]:
        """The API answer for a run."""
        from .runs import run_to_dict

        body = run_to_dict(run)
        if results is not None:
            body["results"] = [r.to_dict() for r in results]
        return body


def skip_texts(plan: ClientPlan) -> list[str]:
    """Each skip as 'SYMBOL side: reason' (client-wide skips have no symbol)."""
    return [f"{s.symbol} {s.hold_side}: {s.reason}" if s.symbol else s.reason for s in plan.skips]


def describe(job: ClientJob, plan: ClientPlan, result) -> AccountOutcome:
    """Turn what happened into one status and a readable message."""
    skips = skip_texts(plan)
    done = [op.reason for op in result.done]
    if result.failed is not None:
        message = f"{result.failed.reason}: {result.error}"
        if done:
            message += f" (done before the failure: {'; '.join(done)})"
        return AccountOutcome(job.account_id, job.name, "failed", message, result.orders)
    if done:
        message = "; ".join(done)
        if skips:
            message += " | skipped: " + "; ".join(skips)
        return AccountOutcome(job.account_id, job.name, "ok", message, result.orders)
    if skips:
        return AccountOutcome(job.account_id, job.name, "skipped", "; ".join(skips))
    return AccountOutcome(job.account_id, job.name, "ok", "in sync: nothing to do")
