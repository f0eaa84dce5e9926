"""Notifications (Discord webhook, generic JSON webhook, Telegram bot): sent in the background with retry.

Every delivery's outcome is kept per destination (time, ok or the reason it failed) in memory and in the
settings table, so the Settings page can show it; log lines name the destination by kind and host only, never
the Telegram bot token or a webhook's path (which carries Discord's token).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask

from .store.models import get_setting

log = logging.getLogger(__name__)
EVENTS = ("run_summary", "failures", "skips", "watchdog", "loss_protection")
TARGET_KEYS = ("DISCORD_WEBHOOK_URL", "WEBHOOK_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")
KINDS = ("discord", "webhook", "telegram")
KIND_LABELS = {"discord": "Discord", "webhook": "Webhook", "telegram": "Telegram"}
TEST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Destination:
    """One place messages go. `url` may hold a secret (bot token, webhook token): never log or show it."""

    kind: str
    url: str
    extra: dict[str, Any] | None = None
    fingerprint: str = ""

    @property
    def host(self) -> str:
        """host[:port] of the URL: the one part that is safe to show."""
        try:
            parts = urlsplit(self.url)
            host = parts.hostname or "?"
            return f"{host}:{parts.port}" if parts.port else host
        except ValueError:
            return "?"

    @property
    def label(self) -> str:
        """e.g. 'Telegram (api.telegram.org)'."""
        return f"{KIND_LABELS.get(self.kind, self.kind)} ({self.host})"

    def secrets(self) -> list[str]:
        """The parts of the URL that must never appear in a log, a page or a stored reason."""
        try:
            parts = urlsplit(self.url)
        except ValueError:
            return [self.url]
        found = [self.url]
        if parts.path.strip("/"):
            found.append(parts.path)
        found += [seg for seg in parts.path.split("/") if len(seg) >= 8]
        found += [value for pair in parts.query.split("&") for value in pair.split("=")[1:] if len(value) >= 8]
        return found


def setting_or_config(app: Flask, key: str) -> str | None:
    """A notification target from the settings page, else from the config."""
    value = get_setting(f"notify.{key}")
    if value and value.startswith("enc:"):
        value = app.extensions["vault"].decrypt(value[4:])
    return value if value not in (None, "") else app.config.get(key)


def event_enabled(app: Flask, event: str) -> bool:
    """Per-event toggle (all on by default)."""
    return get_setting(f"notify.event.{event}", "1") == "1"


def _fingerprint(app: Flask, kind: str, url: str) -> str:
    """Tells whether a stored outcome belongs to the destination configured now (a keyed hash, not the URL)."""
    key = str(app.config.get("SECRET_KEY") or "copier").encode()
    return hmac.new(key, f"{kind}|{url}".encode(), hashlib.sha256).hexdigest()[:16]


def targets(app: Flask) -> list[Destination]:
    """Every configured destination (needs an app context)."""
    from .logging_setup import redactor

    out: list[Destination] = []
    discord = setting_or_config(app, "DISCORD_WEBHOOK_URL")
    if discord:
        out.append(Destination("discord", discord, None, _fingerprint(app, "discord", discord)))
    hook = setting_or_config(app, "WEBHOOK_URL")
    if hook:
        out.append(Destination("webhook", hook, None, _fingerprint(app, "webhook", hook)))
    token, chat = setting_or_config(app, "TELEGRAM_BOT_TOKEN"), setting_or_config(app, "TELEGRAM_CHAT_ID")
    if token and chat:
        base = str(app.config.get("TELEGRAM_API_URL", "https://api.telegram.org")).rstrip("/")
        url = f"{base}/bot{token}/sendMessage"
        out.append(Destination("telegram", url, {"chat_id": chat}, _fingerprint(app, "telegram", url)))
        redactor.register(token)
    for dest in out:  # a webhook's path (Discord's carries its token) is never logged
        if dest.kind != "telegram":
            redactor.register(*[part for part in dest.secrets() if len(part) >= 16])
    return out


def payload(kind: str, event: str, text: str, data: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """The body each destination expects."""
    if kind == "discord":
        return {"content": text[:1900]}
    if kind == "telegram":
        return {**(extra or {}), "text": text[:4000], "disable_web_page_preview": True}
    return {"event": event, "text": text, "data": data}


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (requests -> urllib3 -> socket), each once."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [getattr(item, "reason", None), item.__cause__, item.__context__, *item.args]
    return seen


def failure_reason(exc: BaseException, timeout: float) -> str:
    """Why a request did not get an answer, in words, without the URL (requests' messages include it)."""
    chain = _causes(exc)
    kinds = tuple(type(e) for e in chain)
    if any(issubclass(k, ConnectionRefusedError) for k in kinds):
        return "connection refused (nothing listens at that address and port)"
    if any(issubclass(k, socket.gaierror) for k in kinds) or any("NameResolution" in k.__name__ for k in kinds):
        return "host name not found (DNS)"
    if any(issubclass(k, (requests.Timeout, socket.timeout, TimeoutError)) for k in kinds) \
            or any("Timeout" in k.__name__ for k in kinds):
        return f"no answer within {timeout:g} s"
    if any(issubclass(k, (ssl.SSLError, requests.exceptions.SSLError)) for k in kinds):
        return "TLS error (certificate or protocol)"
    if any(issubclass(k, ConnectionResetError) for k in kinds):
        return "connection reset by the server"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "the URL is not valid"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    return f"request failed ({type(exc).__name__})"


def answer_reason(answer: requests.Response, dest: Destination) -> str:
    """'HTTP 401 Unauthorized: <the service's own description>' (never echoing a secret)."""
    text = f"HTTP {answer.status_code} {answer.reason or ''}".strip()
    detail = ""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("description") or body.get("message") or body.get("error") or "")
    if detail:
        for secret in sorted(dest.secrets(), key=len, reverse=True):
            detail = detail.replace(secret, "***")
        text += f": {' '.join(detail.split())[:200]}"
    return text


@dataclass
class Delivery:
    """The outcome of delivering one message to one destination."""

    dest: Destination
    ok: bool
    reason: str | None
    attempts: int
    at: float

    def to_json(self) -> dict[str, Any]:
        """What is stored and shown: no URL, only kind and host."""
        return {"kind": self.dest.kind, "label": self.dest.label, "host": self.dest.host, "ok": self.ok,
                "reason": self.reason, "attempts": self.attempts, "at": self.at, "fp": self.dest.fingerprint}


class Notifier:
    """A background sender: callers enqueue and return at once; delivery retries with backoff."""

    def __init__(self, attempts: int = 4, backoff: float = 0.5, timeout: float = 5.0, app: Flask | None = None) -> None:
        self.attempts, self.backoff, self.timeout = attempts, backoff, timeout
        self.app = app
        self._queue: queue.Queue = queue.Queue(maxsize=1000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.last: dict[str, dict[str, Any]] = {}  # kind -> Delivery.to_json()

    def send(self, dest: Destination | str, body: dict[str, Any]) -> None:
        """Queue one message (dropped with a log line when the queue is full)."""
        if isinstance(dest, str):
            dest = Destination("webhook", dest)
        self._ensure_thread()
        try:
            self._queue.put_nowait((dest, body))
        except queue.Full:
            log.warning("notification queue full; message to %s dropped", dest.label)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="notifier", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            dest, body = self._queue.get()
            try:
                self.deliver(dest, body)
            except Exception:  # never let one message stop the sender
                log.exception("notification to %s failed unexpectedly", dest.label)
            finally:
                self._queue.task_done()

    def deliver(self, dest: Destination, body: dict[str, Any], attempts: int | None = None,
                timeout: float | None = None) -> Delivery:
        """Post one message, retrying 5xx, 429 and connection failures; record and log the outcome."""
        attempts = attempts or self.attempts
        timeout = timeout or self.timeout
        data = json.dumps(body)
        reason = "not sent"
        tried = 0
        for attempt in range(1, attempts + 1):
            tried = attempt
            try:
                answer = requests.post(dest.url, data=data, headers={"Content-Type": "application/json"},
                                       timeout=timeout)
            except requests.RequestException as exc:
                reason = failure_reason(exc, timeout)
            else:
                if answer.status_code < 300:
                    self.sent += 1
                    return self._record(Delivery(dest, True, None, attempt, time.time()))
                reason = answer_reason(answer, dest)
                if answer.status_code < 500 and answer.status_code != 429:
                    break  # the receiver refused this message: sending it again will not help
            if attempt < attempts:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
        self.failed += 1
        log.warning("notification to %s could not be delivered (%d attempt%s): %s", dest.label, tried,
                    "" if tried == 1 else "s", reason)
        return self._record(Delivery(dest, False, reason, tried, time.time()))

    def _record(self, delivery: Delivery) -> Delivery:
        record = delivery.to_json()
        with self._lock:
            self.last[delivery.dest.kind] = record
        if self.app is not None:
            try:
                from .store.models import set_setting

                with self.app.app_context():
                    set_setting(f"notify.last.{delivery.dest.kind}", json.dumps(record))
            except Exception as exc:  # the outcome stays in memory; the page still shows it
                log.debug("could not store the notification outcome: %s", type(exc).__name__)
        return delivery

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until the queue is empty (tests)."""
        end = time.time() + timeout
        while time.time() < end:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False


def notifier(app: Flask) -> Notifier:
    """The app's notifier."""
    if "notifier" not in app.extensions:
        app.extensions["notifier"] = Notifier(app=app)
    return app.extensions["notifier"]


def notify(app: Flask, event: str, text: str, data: dict[str, Any] | None = None) -> int:
    """Send one event to every configured destination; returns how many were queued."""
    with app.app_context():
        if not event_enabled(app, event):
            return 0
        dests = targets(app)
    for dest in dests:
        notifier(app).send(dest, payload(dest.kind, event, text, data or {}, dest.extra))
    return len(dests)


def send_test(app: Flask, timeout: float = TEST_TIMEOUT_S) -> list[dict[str, Any]]:
    """Send a test message to every destination now and wait for the answers (at most `timeout` seconds).

    One attempt per destination, all at once; a destination still silent at the deadline is reported as such
    (its request may still finish in the background). Each outcome is also its 'last delivery'.
    """
    with app.app_context():
        dests = targets(app)
    sender = notifier(app)
    text = "[copier] test notification: settings work."
    outcomes: dict[int, Delivery] = {}

    def one(index: int, dest: Destination) -> None:
        body = payload(dest.kind, "test", text, {"test": True}, dest.extra)
        outcomes[index] = sender.deliver(dest, body, attempts=1, timeout=min(sender.timeout, timeout))

    threads = [threading.Thread(target=one, args=(i, d), name=f"notify-test-{d.kind}", daemon=True)
               for i, d in enumerate(dests)]
    for thread in threads:
        thread.start()
    end = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    results = []
    for index, dest in enumerate(dests):
        done = outcomes.get(index)
        if done is None:
            results.append({"kind": dest.kind, "label": dest.label, "ok": False,
                            "reason": f"no answer within {timeout:g} s"})
        else:
            results.append({"kind": dest.kind, "label": dest.label, "ok": done.ok, "reason": done.reason})
    return results


def last_deliveries(app: Flask) -> dict[str, dict[str, Any] | None]:
    """Per configured destination kind: its last delivery (None when nothing was sent to it as configured now).

    Needs an app context. An outcome recorded for an earlier URL or token of that kind is not shown.
    """
    memory = notifier(app).last
    out: dict[str, dict[str, Any] | None] = {}
    for dest in targets(app):
        stored = None
        raw = get_setting(f"notify.last.{dest.kind}")
        if raw:
            try:
                stored = json.loads(raw)
            except ValueError:
                stored = None
        candidates = [r for r in (memory.get(dest.kind), stored) if isinstance(r, dict) and r.get("fp") == dest.fingerprint]
        out[dest.kind] = max(candidates, key=lambda r: r.get("at") or 0) if candidates else None
    return out


def run_text(report: dict[str, Any], with_skips: bool = False) -> str:
    """One message per run: action, trigger, counts, the failures' reasons (and the skips' when wanted)."""
    counts = report.get("counts") or {}
    lines = [f"[copier] {report.get('action')} by {report.get('trigger')}: {counts.get('ok', 0)} ok / "
             f"{counts.get('skipped', 0)} skipped / {counts.get('failed', 0)} failed"]
    shown = ("failed", "skipped") if with_skips else ("failed",)
    for result in report.get("results", []):
        if result["status"] in shown:
            lines.append(f"- {result['account_name']} {result['status']}: {result['message'][:300]}")
    return "\n".join(lines)


def notify_run(app: Flask, report: dict[str, Any]) -> None:
    """One summary per run that was recorded (skip reasons included when the 'skips' event is on)."""
    if report.get("discarded"):
        return
    summary = {k: report.get(k) for k in ("run_id", "action", "trigger", "status", "counts")}
    with app.app_context():
        with_skips = event_enabled(app, "skips")
    notify(app, "run_summary", run_text(report, with_skips), summary)


_HEALTH_TEXT = {
    "failing": "[copier] PROBLEM: client {name} is failing: {message}",
    "still_failing": "[copier] STILL FAILING: client {name} ({failures} attempts): {message}",
    "recovered": "[copier] RECOVERED: client {name} {message}",
}


def notify_health(app: Flask, events: list) -> None:
    """One message per client problem: when it starts, an hourly reminder while it lasts, when it is over."""
    for event in events:
        text = _HEALTH_TEXT[event.kind].format(name=event.name, message=event.message[:500], failures=event.failures)
        notify(app, "failures", text, {"account": event.name, "account_id": event.account_id, "state": event.kind,
                                       "failures": event.failures})
