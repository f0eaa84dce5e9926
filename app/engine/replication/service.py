"""Replication service: read states, plan, execute concurrently, record. Holds the single replication lock.

__all__ names what other modules import from here (the jobs' helpers live in jobs.py).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.orm import selectinload

from ...bitget.budget import MASTER, as_priority
from ...bitget.errors import AuthError, BitgetError, PositionModeMismatchError
from ...bitget.models import Contract, Position, SymbolAccount
from ...errors import ValidationError
from ...store.extensions import db
from ...store.models import Account
from ...store.state import StateCache
from .apply import PlanApplier
from .executor import AccountExecutor
from .health import ClientHealth, master_signature
from .intents import AccountIntents, IntentBook, install_id, load_intents, store_intent_updates
from .jobs import ClientJob, cached_client_state, equity_is_fresh, link_of, settings_of
from .link_recorder import LinkRecorder
from .lock import ReplicationLock
from .loss import open_block_reason
from .outcomes import describe, new_copy_symbols, prefetch_symbols, preview_outcome, unlinked_master_symbols
from .planner import ClientPlan, plan_replication
from .recording import (
    AccountOutcome,
    LinkStore,
    discard_run,
    finish_run,
    start_run,
    unsaved_report,
    unsaved_run,
    write_lock,
)
from .state import LINK_CREATE, ClientState, MasterState, SymbolSettings

__all__ = ["ReplicationService", "cached_client_state", "link_of", "settings_of"]
log = logging.getLogger(__name__)


AUTOMATIC_TRIGGERS = ("poller", "stream")  # runs nobody asked for: a pass that sends nothing is not kept
OPERATOR_WAIT_SECONDS = 10.0  # a button waits this long for a running poll or run before it answers "busy"


class ModeChanged(Exception):
    """The exchange says the account's position mode differs from what we planned for."""


@dataclass(frozen=True)
class FreshPlan:
    """A plan and the state it was made from."""

    state: ClientState
    plan: ClientPlan


def flat_unconfirmed(flat_check: Callable[[], tuple[Position, ...]]) -> str | None:
    """None when the master's REST read is flat too; otherwise why this client must not act on "flat"."""
    try:
        still = flat_check()
    except BitgetError as exc:
        return f"the master's empty push could not be confirmed ({exc}): nothing sent, REST reconciles"
    if still:
        return "the master's empty push was not confirmed by REST: nothing sent, planned again"
    return None


class ReplicationService:
    """Replicate, copy TP/SL, preview, close all / close one symbol."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.gateway = app.extensions["gateway"]
        self.executor = AccountExecutor(int(app.config["EXECUTOR_MAX_WORKERS"]))
        # reads a worker starts beside its own (never the workers' pool: a worker waiting on it could starve it)
        self.prefetch = AccountExecutor(int(app.config["EXECUTOR_MAX_WORKERS"]))
        # background reads wait for their share of the request budget: on threads of their own, so a burst of
        # them can never hold the workers an action needs
        self.background = AccountExecutor(min(32, int(app.config["EXECUTOR_MAX_WORKERS"])))
        self.cluster = None  # ENGINE=celery: the coordinator's side of the shard workers (app.engine.cluster)
        if app.config.get("ENGINE", "local") == "celery":
            from ..cluster.engine import ClusterEngine
            from ..cluster.lock import RedisReplicationLock

            self.cluster = ClusterEngine(app)
            self.lock = RedisReplicationLock(app.config["REDIS_URL"])
        else:
            self.lock = ReplicationLock(Path(app.instance_path) / "replication.lock")
        self.links = LinkStore(app)
        self.health = ClientHealth()
        # per client: the master signature it was last reconciled to without failure, and when; until the
        # cache is read again after that, the (older) cache must not make it look drifting
        self.reconciled: dict[int, tuple[Any, float] | None] = {}
        self._install: str | None = None

    @property
    def cache(self) -> StateCache:
        """The state cache (a shard worker swaps in its own when it starts)."""
        return self.app.extensions["state"]

    def cache_predates_reconcile(self, account_id: int, fetched_at: float | None) -> Any | None:
        """The master signature of the client's last good reconcile when its cache was read before it."""
        done = self.reconciled.get(account_id)
        if done is None or (fetched_at is not None and fetched_at > done[1]):
            return None
        return done[0]

    @property
    def install(self) -> str:
        """This database's install id (part of every clientOid)."""
        if self._install is None:
            self._install = install_id()
        return self._install

    # ----- entry points -------------------------------------------------------------------------------
    def replicate(self, trigger: str, *, tpsl: bool = True, positions: bool = True,
                  account_ids: Sequence[int] | None = None, detected_at: float | None = None,
                  wait: float | None = None) -> dict[str, Any]:
        """Bring clients to the master's positions (and TP/SL); one run at a time, the master read inside it."""
        action = ("sync" if account_ids else "replicate") if positions else "tpsl"
        with self.lock.hold(action, trigger, wait=OPERATOR_WAIT_SECONDS if wait is None else wait):
            return self.replicate_locked(action, trigger, positions=positions, tpsl=tpsl, account_ids=account_ids,
                                         detected_at=detected_at)

    def replicate_locked(self, action: str, trigger: str, *, positions: bool = True, tpsl: bool = True,
                         account_ids: Sequence[int] | None = None, master: MasterState | None = None,
                         detected_at: float | None = None,
                         flat_check: Callable[[], tuple[Position, ...]] | None = None) -> dict[str, Any]:
        """A replication run by a caller that holds the lock (and may have read the master inside it).

        `flat_check` (from begin_flat_check) confirms an empty `master` while the clients are read: a client
        acts only once it answered flat too; otherwise nothing is sent and the caller plans again.
        """
        return self._reconcile(action, trigger, positions=positions, tpsl=tpsl, account_ids=account_ids,
                               master=master, detected_at=detected_at, preview=False, flat_check=flat_check)

    def preview(self, trigger: str, account_ids: Sequence[int] | None = None) -> dict[str, Any]:
        """The replication plan per client; nothing is sent."""
        return self._reconcile("preview", trigger, positions=True, tpsl=True, account_ids=account_ids,
                               master=None, detected_at=None, preview=True)

    def close_all(self, trigger: str, symbol: str | None = None) -> dict[str, Any]:
        """Flash-close every position (or one symbol) on every enabled account, master included."""
        from .closing import close_everywhere

        action = f"close-symbol {symbol}" if symbol else "close-all"
        with self.lock.hold(action, trigger, wait=OPERATOR_WAIT_SECONDS):
            return close_everywhere(self, trigger, symbol)

    # ----- replication --------------------------------------------------------------------------------
    def _reconcile(self, action: str, trigger: str, *, positions: bool, tpsl: bool,
                   account_ids: Sequence[int] | None, master: MasterState | None,
                   detected_at: float | None, preview: bool,
                   flat_check: Callable[[], tuple[Position, ...]] | None = None) -> dict[str, Any]:
        master_account = db.session.query(Account).filter_by(role="master").one_or_none()
        if master_account is None:
            raise ValidationError("Add a master account first.")
        # the master's reads are in flight while the client jobs and the run row are prepared
        finish_master_read = None if master else self.begin_master_read(master_account)
        jobs = self._client_jobs(account_ids) if self.cluster is None else []
        started = time.monotonic()
        # a preview sends nothing: it is not a run and is never stored (its report has no run_id)
        run = unsaved_run(action, trigger) if preview else start_run(action, trigger, detected_at=detected_at)
        try:
            master = master or finish_master_read()
            if self.cluster is not None and flat_check is not None:
                master = MasterState(equity=master.equity, positions=flat_check())  # the shards get facts only
            contracts = self.gateway.contracts() if self.cluster is None else {}  # each shard reads its own
        except BitgetError as exc:
            outcome = AccountOutcome(master_account.id, master_account.name, "failed",
                                     f"Cannot read the master account: {exc}", acted=True)
            if preview:
                return unsaved_report(run, [outcome], started)
            return self.report(finish_run(run, [outcome], started))
        run_uid = run.uid  # read now: ORM attributes must not be loaded from worker threads
        _ = self.install  # and the install id, read from the database once
        if self.cluster is not None:
            results = self.cluster.fan_out(account_ids, master, run_uid, positions=positions, tpsl=tpsl,
                                           preview=preview, detected_at=detected_at)
        else:
            results = self._run_jobs(jobs, master, contracts, run_uid, positions, tpsl, preview, detected_at,
                                     flat_check)
        self._store_learnt_uids(results)
        with write_lock():
            store_intent_updates([u for r in results for u in r.intent_updates])
        if not preview:
            self._track_health(results, master)
        if preview:
            return unsaved_report(run, results, started)
        if trigger in AUTOMATIC_TRIGGERS and not any(r.acted for r in results):
            discard_run(run)  # a pass with nothing to send is not a run
            return {**self.report(run, results), "discarded": True}
        run = finish_run(run, results, started)
        if not preview:
            from ...feeds.refresh import refresh_soon
            from .quality import measure_soon

            refresh_soon(self.app, [r.account_id for r in results if r.acted and r.account_id is not None])
            if self.app.config.get("MEASURE_FILLS", True):
                measure_soon(self.app, run.id, sum(len(r.orders) for r in results))
        return self.report(run, results)

    def _run_jobs(self, jobs: list[ClientJob], master: MasterState, contracts: dict[str, Contract], run_uid: str,
                  positions: bool, tpsl: bool, preview: bool, detected_at: float | None,
                  flat_check: Callable[[], tuple[Position, ...]] | None = None) -> list[AccountOutcome]:
        """Every client's sync on this process's executor, each failure its own outcome."""
        outcomes = self.executor.map(
            lambda job: self._sync_client(job, master, contracts, run_uid, positions, tpsl, preview, detected_at,
                                          flat_check),
            jobs,
        )
        return [o.value if o.error is None else self._crashed(o.item, o.error) for o in outcomes]

    def sync_accounts(self, account_ids: Sequence[int], master: MasterState, run_uid: str, *, positions: bool,
                      tpsl: bool, preview: bool, detected_at: float | None) -> list[AccountOutcome]:
        """A shard worker's part of a run: these accounts to this master snapshot; intents and uids stored here.

        A redelivered task runs this again with the same run: the intents written before each order make the
        repeat resolve the first attempt's orders by clientOid instead of placing them twice.
        """
        jobs = self._client_jobs(account_ids)
        _ = self.install  # read from the database here: the executor's threads have no app context
        results = self._run_jobs(jobs, master, self.gateway.contracts(), run_uid, positions, tpsl, preview,
                                 detected_at)
        self._store_learnt_uids(results)
        with write_lock():
            store_intent_updates([u for r in results for u in r.intent_updates])
        for r in results:
            r.learnt_uid, r.intent_updates = None, []
        return results

    def _client_jobs(self, account_ids: Sequence[int] | None) -> list[ClientJob]:
        # links in one query, not one lazy load per account (hundreds of clients)
        query = db.session.query(Account).options(selectinload(Account.links)).filter_by(role="client", enabled=True)
        if account_ids is not None:
            query = query.filter(Account.id.in_(list(account_ids)))
        accounts = query.order_by(Account.id).all()
        intents = load_intents([a.id for a in accounts])
        jobs = []
        for account in accounts:
            view = self.cache.get(account.id)
            jobs.append(ClientJob(
                account_id=account.id, name=account.name, client=self.gateway.client_for(account),
                settings=settings_of(account),
                links=tuple(link_of(row) for row in account.links),
                following_since_ms=int(account.following_since.timestamp() * 1000),
                open_block_reason=open_block_reason(account),
                known_pos_mode=(view.pos_mode if view and view.pos_mode else account.position_mode),
                uid=account.bitget_uid,
                link_uids={(row.symbol, row.hold_side): row.uid for row in account.links},
                intents=intents.get(account.id, AccountIntents()),
            ))
        return jobs

    def read_master(self, account: Account) -> MasterState:
        """Fresh master positions and equity (two reads in parallel)."""
        return self.begin_master_read(account)()

    def begin_master_read(self, account: Account) -> Callable[[], MasterState]:
        """Start reading the master's positions and equity; the returned function waits (raises their error).

        An empty position list right after a read that had positions is read once more before it is
        believed: closing every copy on one odd answer is the costliest mistake a copier can make.
        """
        client = self.gateway.client_for(account)
        account_id = account.id
        reads = [self.executor.submit(as_priority(MASTER, client.positions)),
                 self.executor.submit(as_priority(MASTER, client.usdt_account))]
        before = self.cache.get(account_id)
        had_positions = bool(before and before.positions)
        delay = float(self.app.config.get("MASTER_EMPTY_CONFIRM_SECONDS", 0.5))

        def finish() -> MasterState:
            positions, balance = tuple(reads[0].result()), reads[1].result()
            if not positions and had_positions:
                time.sleep(delay)
                positions = tuple(as_priority(MASTER, client.positions)())
                log.info("master read empty after holding positions: confirmed by a second read (%d positions)",
                         len(positions))
            self.cache.record_success(account_id, positions=positions, equity=balance.equity,
                                      available=balance.available, unrealized_pl=balance.unrealized_pl,
                                      margin_used=balance.margin_used)
            return MasterState(equity=balance.equity, positions=positions)

        return finish

    def begin_flat_check(self, account: Account) -> Callable[[], tuple[Position, ...]]:
        """Start one REST read of the master's positions; the returned function waits for it (raises its error).

        The stream's empty list is the first observation of "flat"; this read is the second, and it runs
        while the clients are read, so confirming costs no extra round trip.
        """
        read = self.executor.submit(as_priority(MASTER, self.gateway.client_for(account).positions))

        def positions() -> tuple[Position, ...]:
            return tuple(read.result())

        return positions

    def _sync_client(self, job: ClientJob, master: MasterState, contracts: dict[str, Contract], run_uid: str,
                     positions: bool, tpsl: bool, preview: bool, detected_at: float | None,
                     flat_check: Callable[[], tuple[Position, ...]] | None = None) -> AccountOutcome:
        started = time.monotonic()
        entries = {p.key: p.open_price_avg for p in master.positions}
        notes: list[str] = []
        book = IntentBook(self.links, self.install, job.account_id, run_uid, job.intents)
        try:
            if not preview:
                notes += book.resolve(job.client)
                notes += self._check_uid(job, needed=bool(job.links))
            state = self._client_state(job, master)
            if flat_check is not None:
                unconfirmed = flat_unconfirmed(flat_check)
                if unconfirmed:
                    return AccountOutcome(job.account_id, job.name, "skipped", unconfirmed, acted=False)
            plan = self._fresh_plan(job, state, master, contracts, positions, tpsl)
            if not preview and any(c.action == LINK_CREATE for c in plan.plan.link_changes):
                self._check_uid(job, needed=True)  # a new link records whose account it is
            if preview:
                return preview_outcome(job, plan.plan, started)
            try:
                outcome = self._execute(job, plan.state, plan.plan, book, detected_at, entries)
            except ModeChanged:
                # the account's position mode changed under us: re-read it and plan once more
                self.cache.update(job.account_id, pos_mode=None)
                job.known_pos_mode = None
                state = self._client_state(job, master)
                plan = self._fresh_plan(job, state, master, contracts, positions, tpsl)
                outcome = self._execute(job, plan.state, plan.plan, book, detected_at, entries)
        except BitgetError as exc:
            self.cache.record_error(job.account_id, str(exc), auth=isinstance(exc, AuthError))
            outcome = AccountOutcome(job.account_id, job.name, "failed", str(exc), acted=True)
        if notes:
            outcome.message = f"{outcome.message} (recovered: {'; '.join(notes)})"
        outcome.learnt_uid = job.uid
        outcome.intent_updates = book.updates
        outcome.latency_ms = round((time.monotonic() - started) * 1000)
        return outcome

    def _check_uid(self, job: ClientJob, *, needed: bool) -> list[str]:
        """Learn the account's Bitget uid when links depend on it; drop links made under another uid."""
        if job.uid is None and needed:
            job.uid = job.client.key_info().user_id or None
        if job.uid is None:
            return []
        foreign = [link for link in job.links if job.link_uids.get(link.key) not in (None, job.uid)]
        for link in foreign:
            self.links.delete(job.account_id, link.symbol, link.hold_side)
        job.links = tuple(link for link in job.links if link not in foreign)
        if not foreign:
            return []
        return [f"{len(foreign)} link(s) made under another Bitget uid dropped: these keys belong to uid {job.uid}"]

    def _client_state(self, job: ClientJob, master: MasterState) -> ClientState:
        """Fresh positions, read together with the per-symbol account of every symbol a new copy may open on.

        The account read gives the equity that sizes a new copy and the margin mode and leverage it will
        open with; reading it beside the positions costs no extra round trip.
        """
        symbols = prefetch_symbols(master, job)
        view = self.cache.get(job.account_id)
        if not symbols and (view is None or view.equity is None or job.known_pos_mode is None):
            symbols = [master.positions[0].symbol if master.positions else "BTCUSDT"]
        reads = {symbol: self.prefetch.submit(lambda s=symbol: job.client.account(s)) for symbol in symbols}
        client_positions = tuple(job.client.positions())
        for symbol, read in reads.items():
            try:
                self._learn_symbol_account(job, symbol, read.result())
            except BitgetError as exc:
                job.read_errors[symbol] = exc  # tried once more, or opens are blocked, in _fresh_plan
        fresh = list(job.fresh.values())
        if not fresh and (view is None or view.equity is None or job.known_pos_mode is None):
            fresh = [self._read_symbol_account(job, symbols[0])]  # nothing is known: this read must succeed
        self.cache.update(job.account_id, positions=client_positions)
        return ClientState(
            account_id=job.account_id, name=job.name, equity=(fresh[-1].equity if fresh else view.equity) or Decimal(0),
            pos_mode=str(job.known_pos_mode), positions=client_positions, settings=job.settings, links=job.links,
            symbol_settings=self._symbol_settings(job),
            following_since_ms=job.following_since_ms, open_block_reason=job.open_block_reason,
            now_ms=int(time.time() * 1000),
        )

    def _symbol_settings(self, job: ClientJob) -> dict[str, SymbolSettings]:
        """The cached symbol settings, overridden by what this run read (facts first, the cache may lag)."""
        return {**self.cache.symbol_settings(job.account_id),
                **{symbol: SymbolSettings.read_from(info) for symbol, info in job.fresh.items()}}

    def _read_symbol_account(self, job: ClientJob, symbol: str) -> SymbolAccount:
        """One fresh per-symbol account read: equity, position mode, the symbol's margin mode and leverages."""
        return self._learn_symbol_account(job, symbol, job.client.account(symbol))

    def _learn_symbol_account(self, job: ClientJob, symbol: str, info: SymbolAccount) -> SymbolAccount:
        job.fresh[symbol] = info
        job.read_errors.pop(symbol, None)
        self.cache.learn_settings(job.account_id, symbol, SymbolSettings.read_from(info))
        self.cache.record_success(job.account_id, equity=info.equity, available=info.available,
                                  unrealized_pl=info.unrealized_pl, pos_mode=info.pos_mode)
        job.known_pos_mode = info.pos_mode
        return info

    def _fresh_plan(self, job: ClientJob, state: ClientState, master: MasterState, contracts: dict[str, Contract],
                    positions: bool, tpsl: bool) -> FreshPlan:
        """Plan; when it opens a new copy, re-read what sizes it (equity, margin mode, leverage) and plan again.

        Anything that opens risk is decided on facts read in this run: a cached equity can be minutes old
        or from before a failed read, and the account's owner may have changed a symbol's leverage by hand.
        """
        plan = plan_replication(master, [state], contracts, positions=positions, tpsl=tpsl)[0]
        symbols = [s for s in new_copy_symbols(plan, state) if s not in job.fresh]
        max_age = float(self.app.config.get("SIZING_MAX_AGE_SECONDS", 5))
        unlinked = unlinked_master_symbols(master, state)
        if not symbols and not job.fresh and unlinked and not equity_is_fresh(
                self.cache.get(job.account_id), max_age, time.time()):
            symbols = unlinked[:1]  # a skip made on a stale equity must not stand either
        if not symbols:
            return FreshPlan(state, plan)
        try:
            infos = [self._read_symbol_account(job, symbol) for symbol in symbols]
        except BitgetError as exc:
            blocked = replace(state, open_block_reason=f"cannot read the account before opening ({exc})")
            return FreshPlan(blocked, plan_replication(master, [blocked], contracts, positions=positions,
                                                       tpsl=tpsl)[0])
        fresh = replace(state, equity=infos[-1].equity, pos_mode=infos[-1].pos_mode,
                        symbol_settings=self._symbol_settings(job))
        return FreshPlan(fresh, plan_replication(master, [fresh], contracts, positions=positions, tpsl=tpsl)[0])

    def _execute(self, job: ClientJob, state: ClientState, plan: ClientPlan, book: IntentBook,
                 detected_at: float | None, master_entries: dict) -> AccountOutcome:
        hooks = LinkRecorder(self.links, job, plan)
        hooks.before_orders()
        applier = PlanApplier(
            client=job.client, account_id=job.account_id, pos_mode=state.pos_mode,
            settings=dict(state.symbol_settings),
            learn=lambda symbol, s: self.cache.learn_settings(job.account_id, symbol, s),
            links=hooks, intents=book, detected_at=detected_at, master_entries=master_entries,
        )
        result = applier.apply(plan)
        mode_errors = [e for _, e in result.failures if isinstance(e, PositionModeMismatchError)]
        if mode_errors and not result.done:
            raise ModeChanged()
        hooks.after_orders(result.failed_symbols)
        return describe(job, plan, result)

    @staticmethod
    def _crashed(job: ClientJob, error: BaseException) -> AccountOutcome:
        log.exception("unexpected error replicating to %s", job.name, exc_info=error)
        return AccountOutcome(job.account_id, job.name, "failed", f"Internal error: {type(error).__name__}: {error}",
                              acted=True)

    def _store_learnt_uids(self, results: list[AccountOutcome]) -> None:
        learnt = {r.account_id: r.learnt_uid for r in results if r.learnt_uid and r.account_id is not None}
        if not learnt:
            return
        rows = db.session.query(Account).filter(Account.id.in_(list(learnt)), Account.bitget_uid.is_(None)).all()
        for account in rows:
            account.bitget_uid = learnt[account.id]
        if rows:
            with write_lock():
                db.session.commit()

    def _track_health(self, results: list[AccountOutcome], master: MasterState) -> None:
        from ...notify import notify_health

        signature = master_signature(master.positions)
        now = time.time()
        for r in results:
            if r.account_id is not None:
                self.reconciled[r.account_id] = (signature, now) if r.status != "failed" else None
        events = self.health.record(results, signature)
        if events:
            notify_health(self.app, events)

    @staticmethod
    def report(run, results: list[AccountOutcome] | None = None) -> dict[str, Any]:
        """The API answer for a run."""
        from .runs import run_to_dict

        body = run_to_dict(run)
        if results is not None:
            body["results"] = [r.to_dict() for r in results]
        return body
