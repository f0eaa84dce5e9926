"""Emergency closes: on every enabled account (master included), concurrently, flash-close everything (or one
symbol), cancel the pending orders and plans Bitget's flash close leaves behind, and confirm by re-reading.

An emergency close also switches auto-follow off first (the dashboard says why until the operator turns it on
again), so the poller cannot re-open anything behind it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ...bitget.errors import AuthError
from ...feeds.autofollow import switch_off_for_emergency
from ...store.extensions import db
from ...store.models import Account
from .recording import AccountOutcome, finish_run, start_run
from .sweep import AccountSweep, Runner, SweepAborted

if TYPE_CHECKING:
    from ...bitget.client import BitgetClient
    from .service import ReplicationService


def close_everywhere(service: ReplicationService, trigger: str, symbol: str | None) -> dict[str, Any]:
    """Switch auto-follow off, then sweep the master and every enabled client concurrently; one result each.

    On the celery engine the clients are swept by their shards' workers (each from its own IP and budget)
    while this process sweeps the master.
    """
    switch_off_for_emergency(service.app, f"close {symbol} everywhere" if symbol else "close-all")
    accounts = db.session.query(Account).filter_by(enabled=True).order_by(Account.role.desc(), Account.id).all()
    started = time.monotonic()
    run = start_run("close-symbol" if symbol else "close-all", trigger, detail=symbol)
    if service.cluster is None:
        results = sweep_accounts(service, accounts, symbol)
    else:
        masters = [a for a in accounts if a.is_master]
        client_ids = [a.id for a in accounts if not a.is_master]
        run_uid = run.uid  # read here: ORM attributes are not loaded from another thread
        shards = service.executor.submit(lambda: service.cluster.close_out(client_ids, symbol, run_uid))
        results = sweep_accounts(service, masters, symbol) + shards.result()
    run = finish_run(run, results, started)
    from ...feeds.refresh import refresh_soon

    refresh_soon(service.app, [a.id for a in accounts])  # balances change with the closes
    return service.report(run, results)


def sweep_accounts(service: ReplicationService, accounts: Sequence[Account], symbol: str | None) -> list[AccountOutcome]:
    """Sweep these accounts concurrently (this process); one outcome each, a crash is that account's failure."""
    jobs = [(a.id, a.name, service.gateway.client_for(a)) for a in accounts]
    if not jobs:
        return []
    # each account's reads and cancels go out together on a pool of their own (leaf calls only: no deadlock)
    size = max(1, min(int(service.app.config["EXECUTOR_MAX_WORKERS"]), 3 * len(jobs)))
    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="sweep") as pool:
        together = pooled(pool)
        outcomes = service.executor.map(lambda job: close_one(service, job, symbol, together), jobs)
    return [o.value if o.error is None else AccountOutcome(o.item[0], o.item[1], "failed", str(o.error))
            for o in outcomes]


def close_one(service: ReplicationService, job: tuple[int, str, BitgetClient], symbol: str | None,
              together: Runner | None = None) -> AccountOutcome:
    """Sweep one account; "ok" only when re-reads show no position, pending order or plan in scope."""
    account_id, name, client = job
    started = time.monotonic()
    sweep = AccountSweep(client, symbol, together) if together else AccountSweep(client, symbol)
    try:
        left = sweep.run()
    except SweepAborted as exc:
        cause = exc.__cause__
        service.cache.record_error(account_id, str(cause or exc), auth=isinstance(cause, AuthError))
        message = "; ".join(p for p in (sweep.problem_text(), f"{exc}; nothing is confirmed") if p)
        return AccountOutcome(account_id, name, "failed", message, sweep.orders, latency_ms=_ms(started))
    if sweep.all_positions is not None:
        service.cache.update(account_id, positions=sweep.all_positions)
    if not left.positions and "positions" not in left.unknown:
        service.links.delete_all(account_id, symbol)
    if not left.clean:
        message = left.describe() + (f" - {sweep.problem_text()}" if sweep.problems else "")
        return AccountOutcome(account_id, name, "failed", message, sweep.orders, latency_ms=_ms(started))
    return AccountOutcome(account_id, name, "ok", _done(sweep, symbol), sweep.orders, latency_ms=_ms(started))


def pooled(pool: ThreadPoolExecutor) -> Runner:
    """A runner that sends the calls at once (the first in the calling thread) and raises the first error."""
    def together(calls: Sequence[Callable[[], Any]]) -> list[Any]:
        futures = [pool.submit(call) for call in calls[1:]]
        results: list[Any] = []
        error: BaseException | None = None
        steps = [calls[0], *(f.result for f in futures)] if calls else []
        for step in steps:
            try:
                results.append(step())
            except Exception as exc:  # every call finishes before the first error is raised
                error = error or exc
                results.append(None)
        if error is not None:
            raise error
        return results
    return together


def _done(sweep: AccountSweep, symbol: str | None) -> str:
    what = f"{symbol} " if symbol else ""
    did = []
    if sweep.closes:
        did.append(f"closed {sweep.closes} {what}position order(s)")
    if sweep.cancelled_orders:
        did.append(f"cancelled {sweep.cancelled_orders} pending order(s)")
    if sweep.cancelled_plans:
        did.append(f"cancelled {sweep.cancelled_plans} plan order(s)")
    summary = ", ".join(did) if did else f"nothing to close: no open {what}positions or orders"
    return f"{summary}; {what}flat, no open orders"


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
