"""Emergency closes: flash-close everything (or one symbol) on every enabled account, then confirm by re-reading."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..bitget.errors import AuthError, BitgetError
from ..extensions import db
from ..models import Account
from .recording import AccountOutcome, finish_run, start_run

if TYPE_CHECKING:
    from ..bitget.client import BitgetClient
    from .service import ReplicationService


def close_everywhere(service: ReplicationService, trigger: str, symbol: str | None) -> dict[str, Any]:
    """Close on the master and every enabled client concurrently; one result per account."""
    accounts = db.session.query(Account).filter_by(enabled=True).order_by(Account.role.desc(), Account.id).all()
    jobs = [(a.id, a.name, service.gateway.client_for(a)) for a in accounts]
    started = time.monotonic()
    run = start_run("close-symbol" if symbol else "close-all", trigger, detail=symbol)
    outcomes = service.executor.map(lambda job: close_one(service, job, symbol), jobs)
    results = [o.value if o.error is None else AccountOutcome(o.item[0], o.item[1], "failed", str(o.error))
               for o in outcomes]
    run = finish_run(run, results, started)
    from ..refresh import refresh_soon

    refresh_soon(service.app, [job[0] for job in jobs])  # balances change with the closes
    return service.report(run, results)


def close_one(service: ReplicationService, job: tuple[int, str, BitgetClient], symbol: str | None) -> AccountOutcome:
    """Flash close, then re-read positions to confirm the account is flat."""
    account_id, name, client = job
    started = time.monotonic()
    try:
        answer = client.close_positions(symbol=symbol)
        after = tuple(client.positions())
    except BitgetError as exc:
        service.cache.record_error(account_id, str(exc), auth=isinstance(exc, AuthError))
        return AccountOutcome(account_id, name, "failed", str(exc), latency_ms=_ms(started))
    service.cache.update(account_id, positions=after)
    remaining = [p for p in after if symbol is None or p.symbol == symbol]
    orders = [{"kind": "close", "order_id": ack.order_id, "client_oid": ack.client_oid} for ack in answer.successes]
    if remaining:
        left = ", ".join(f"{p.symbol} {p.hold_side} {p.total}" for p in remaining)
        reasons = "; ".join(f"{f.symbol or ''} {f.message} ({f.code})".strip() for f in answer.failures)
        message = f"Still open after flash close: {left}" + (f" - exchange said: {reasons}" if reasons else "")
        return AccountOutcome(account_id, name, "failed", message, orders, latency_ms=_ms(started))
    service.links.delete_all(account_id, symbol)
    what = f"{symbol} " if symbol else ""
    message = f"closed {len(answer.successes)} {what}position order(s); account is flat" if answer.successes \
        else f"nothing to close: no open {what}positions"
    return AccountOutcome(account_id, name, "ok", message, orders, latency_ms=_ms(started))


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
