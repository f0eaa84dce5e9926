"""Persistence of runs, per-account results and position links (links are written before the order they cover)."""
from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import Flask

from ...store.extensions import db
from ...store.models import Account, OrderIntent, PositionLink, Run, RunResult, utcnow

_write_lock = threading.Lock()  # SQLite has one writer; worker threads take turns


@dataclass
class AccountOutcome:
    """One account's result, before it is stored."""

    account_id: int | None
    account_name: str
    status: str  # ok | skipped | failed
    message: str
    orders: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: int | None = None
    operations: list[dict[str, Any]] = field(default_factory=list)  # preview only
    acted: bool = True  # False: nothing was sent (in sync, skips only, preview)
    learnt_uid: str | None = None
    intent_updates: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)  # preview only: the client's settings in words

    def to_dict(self) -> dict[str, Any]:
        """JSON shape used by the API."""
        body = {
            "account_id": self.account_id, "account_name": self.account_name, "status": self.status,
            "message": self.message, "orders": self.orders, "latency_ms": self.latency_ms,
        }
        if self.operations:
            body["operations"] = self.operations
        if self.settings:
            body["settings"] = self.settings
        return body


def start_run(action: str, trigger: str, detail: str | None = None, detected_at: float | None = None) -> Run:
    """Create the Run row (status running) and commit it."""
    run = Run(uid=secrets.token_hex(5), action=action, trigger=trigger, detail=detail, status="running")
    if detected_at is not None:
        run.detected_at = datetime.fromtimestamp(detected_at, UTC)
    with _write_lock:
        db.session.add(run)
        db.session.commit()
    return run


def finish_run(run: Run, outcomes: list[AccountOutcome], started: float) -> Run:
    """Store every account's result and the run's status in one transaction."""
    for outcome in outcomes:
        run.results.append(RunResult(
            account_id=outcome.account_id, account_name=outcome.account_name, status=outcome.status,
            message=outcome.message[:2000], orders_json=json.dumps(outcome.orders), latency_ms=outcome.latency_ms,
        ))
    run.status = overall_status(outcomes)
    run.finished_at = utcnow()
    run.duration_ms = round((time.monotonic() - started) * 1000)
    with _write_lock:
        db.session.commit()
    return run


def unsaved_run(action: str, trigger: str) -> Run:
    """A Run that is never added to the database (a preview): it only carries a uid for the planning."""
    return Run(uid=secrets.token_hex(5), action=action, trigger=trigger, status="running", started_at=utcnow())


def unsaved_report(run: Run, outcomes: list[AccountOutcome], started: float) -> dict[str, Any]:
    """The API answer for an unsaved run: like a stored run's, with run_id None."""
    counts = {"ok": 0, "skipped": 0, "failed": 0}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return {"run_id": None, "uid": run.uid, "action": run.action, "trigger": run.trigger, "detail": run.detail,
            "status": overall_status(outcomes), "started_at": run.started_at.isoformat(),
            "finished_at": utcnow().isoformat(), "duration_ms": round((time.monotonic() - started) * 1000),
            "counts": counts, "summary": "preview: nothing sent", "results": [o.to_dict() for o in outcomes]}


def discard_run(run: Run) -> None:
    """Forget a run that sent nothing (a poller pass): it is not history."""
    with _write_lock:
        db.session.delete(run)
        db.session.commit()


def write_lock() -> threading.Lock:
    """The lock every SQLite writer of the replication takes."""
    return _write_lock


def overall_status(outcomes: list[AccountOutcome]) -> str:
    """ok / partial (some failed) / failed (all failed) / skipped (nothing to do anywhere)."""
    statuses = [o.status for o in outcomes]
    if not statuses:
        return "ok"
    if all(s == "failed" for s in statuses):
        return "failed"
    if "failed" in statuses:
        return "partial"
    if all(s == "skipped" for s in statuses):
        return "skipped"
    return "ok"


def mark_interrupted_runs() -> int:
    """Runs left 'running' by a process that died are marked interrupted (called at start)."""
    rows = db.session.query(Run).filter_by(status="running").all()
    for run in rows:
        run.status = "interrupted"
        run.finished_at = run.finished_at or utcnow()
    db.session.commit()
    return len(rows)


class _Write:
    """One queued write; its event fires when it is committed or when its thread must lead the next batch."""

    __slots__ = ("kind", "account_id", "symbol", "hold_side", "fields", "event", "lead", "error", "result")

    def __init__(self, kind: str, account_id: int, symbol: str | None, hold_side: str | None = None,
                 fields: dict[str, Any] | None = None) -> None:
        self.kind = kind  # create | update | delete | delete_all | intent_add
        self.account_id = account_id
        self.symbol = symbol
        self.hold_side = hold_side
        self.fields = fields or {}
        self.event = threading.Event()
        self.lead = False
        self.error: BaseException | None = None
        self.result: Any = None


class LinkStore:
    """Writes position links and order intents from worker threads with group commit.

    A link and an intent must be stored before the order they cover is sent, so every caller waits for its
    write to be committed. SQLite has one writer and every commit costs a journal sync; hundreds of workers
    writing one row each would queue behind each other's commits. So the first waiting thread becomes the
    leader and commits everything queued so far in one transaction while the others wait; the next batch
    gets the next leader. A failing batch is retried write by write, so one bad write cannot fail the others.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._pending: list[_Write] = []
        self._leading = False

    def create(self, account_id: int, symbol: str, hold_side: str, factor: Decimal, **fields: Any) -> int:
        """Record a new link (replacing an old one on the key) before its opening order; returns its generation."""
        return self._write(_Write("create", account_id, symbol, hold_side, {"factor": factor, **fields}))

    def update(self, account_id: int, symbol: str, hold_side: str, **fields: Any) -> None:
        """Change fields of an existing link (opened, ended_at, master snapshot, the copier's TP/SL ids)."""
        self._write(_Write("update", account_id, symbol, hold_side, fields))

    def delete(self, account_id: int, symbol: str, hold_side: str) -> None:
        """Forget a link once its client position is closed."""
        self._write(_Write("delete", account_id, symbol, hold_side))

    def delete_all(self, account_id: int, symbol: str | None = None) -> None:
        """Forget every link of an account (optionally of one symbol) after a close-all."""
        self._write(_Write("delete_all", account_id, symbol))

    def add_intent(self, account_id: int, **fields: Any) -> int:
        """Store an order intent (status pending) before its request is sent; returns its id."""
        return self._write(_Write("intent_add", account_id, None, None, fields))

    def _write(self, write: _Write) -> Any:
        """Queue one write and return its result once it is committed (raise what it raised)."""
        with self._lock:
            self._pending.append(write)
            write.lead = not self._leading
            self._leading = True
        if not write.lead:
            write.event.wait()  # woken once: committed, or handed the lead for the next batch
        if write.lead:
            with self._lock:
                batch, self._pending = self._pending, []
            try:
                self._commit(batch)
            except Exception as exc:  # could not even open the transaction: every write of the batch failed
                for item in batch:
                    item.error = item.error or exc
            finally:
                with self._lock:
                    if self._pending:  # hand the lead to the oldest waiting write
                        nxt = self._pending[0]
                        nxt.lead = True
                        nxt.event.set()
                    else:
                        self._leading = False
                for item in batch:
                    if item is not write:
                        item.lead = False
                        item.event.set()
        if write.error is not None:
            raise write.error
        return write.result

    def _commit(self, batch: list[_Write]) -> None:
        """Apply a batch in one transaction; if that fails, write by write so each gets its own outcome."""
        with _write_lock, self.app.app_context():
            try:
                self._apply(batch)
                db.session.commit()
                return
            except Exception as exc:
                db.session.rollback()
                if len(batch) == 1:
                    batch[0].error = exc
                    return
            for item in batch:
                try:
                    self._apply([item])
                    db.session.commit()
                except Exception as exc:
                    db.session.rollback()
                    item.error = exc

    @staticmethod
    def _apply(batch: list[_Write]) -> None:
        """Stage the writes in order: the batch's accounts and links are read in two queries, the new intents
        inserted in one statement (a batch holds hundreds of accounts' writes)."""
        rows = _BatchRows(batch)
        for item in batch:
            _APPLY[item.kind](item, rows)
        db.session.flush()
        for item in batch:
            if isinstance(item.result, OrderIntent):
                item.result = item.result.id


class _BatchRows:
    """The accounts and links a batch writes to, read once, kept in step with the batch's own writes."""

    def __init__(self, batch: list[_Write]) -> None:
        ids = sorted({item.account_id for item in batch if item.kind in ("create", "update")})
        self.accounts = {a.id: a for a in db.session.query(Account).filter(Account.id.in_(ids))} if ids else {}
        with db.session.no_autoflush:
            found = db.session.query(PositionLink).filter(PositionLink.account_id.in_(ids)).all() if ids else []
        self.links = {(link.account_id, link.symbol, link.hold_side): link for link in found}

    def link(self, item: _Write) -> PositionLink | None:
        return self.links.get((item.account_id, item.symbol, item.hold_side))

    def forget(self, item: _Write) -> None:
        """A delete in the batch: its links are gone for the writes after it."""
        for key in [k for k in self.links if k[0] == item.account_id and (not item.symbol or k[1] == item.symbol)
                    and (not item.hold_side or k[2] == item.hold_side)]:
            del self.links[key]


def _link_query(item: _Write):
    query = db.session.query(PositionLink).filter_by(account_id=item.account_id)
    if item.symbol:
        query = query.filter_by(symbol=item.symbol)
    if item.hold_side:
        query = query.filter_by(hold_side=item.hold_side)
    return query


def _create_link(item: _Write, rows: _BatchRows) -> None:
    """A new generation of the link on this key: every field starts afresh."""
    account = rows.accounts.get(item.account_id)
    if account is None:
        raise LookupError(f"account {item.account_id} is gone")
    account.link_seq = (account.link_seq or 0) + 1
    link = rows.link(item)
    if link is None:
        link = PositionLink(account_id=item.account_id, symbol=item.symbol, hold_side=item.hold_side)
        db.session.add(link)
        rows.links[(item.account_id, item.symbol, item.hold_side)] = link
    fresh = {"opened": False, "ended_at": None, "tp_order_id": None, "sl_order_id": None, "uid": None,
             "master_size": None, "master_entry": None, "master_opened_ms": None, "tpsl_mode": "follow",
             "tp_pct": None, "sl_pct": None, **item.fields}
    for name, value in fresh.items():
        setattr(link, name, value)
    link.generation = account.link_seq
    link.created_at = utcnow()
    item.result = link.generation


def _update_link(item: _Write, rows: _BatchRows) -> None:
    link = rows.link(item)
    for name, value in item.fields.items() if link is not None else ():
        setattr(link, name, value)


def _delete_links(item: _Write, rows: _BatchRows) -> None:
    db.session.flush()
    _link_query(item).delete(synchronize_session=False)
    rows.forget(item)


def _add_intent(item: _Write, rows: _BatchRows) -> None:
    item.result = OrderIntent(account_id=item.account_id, status="pending", **item.fields)
    db.session.add(item.result)  # its id is read after the batch's flush


_APPLY = {"create": _create_link, "update": _update_link, "delete": _delete_links, "delete_all": _delete_links,
          "intent_add": _add_intent}
