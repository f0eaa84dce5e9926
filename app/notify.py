"""Notifications (Discord webhook, generic JSON webhook, Telegram bot): sent in the background with retry."""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

import requests
from flask import Flask

from .models import get_setting

log = logging.getLogger(__name__)
EVENTS = ("run_summary", "failures", "skips", "watchdog", "loss_protection")
TARGET_KEYS = ("DISCORD_WEBHOOK_URL", "WEBHOOK_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")


def setting_or_config(app: Flask, key: str) -> str | None:
    """A notification target from the settings page, else from the config."""
    value = get_setting(f"notify.{key}")
    if value and value.startswith("enc:"):
        value = app.extensions["vault"].decrypt(value[4:])
    return value if value not in (None, "") else app.config.get(key)


def event_enabled(app: Flask, event: str) -> bool:
    """Per-event toggle (all on by default)."""
    return get_setting(f"notify.event.{event}", "1") == "1"


def targets(app: Flask) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(kind, url, extra) for every configured destination."""
    out: list[tuple[str, str, dict[str, Any] | None]] = []
    discord = setting_or_config(app, "DISCORD_WEBHOOK_URL")
    if discord:
        out.append(("discord", discord, None))
    hook = setting_or_config(app, "WEBHOOK_URL")
    if hook:
        out.append(("webhook", hook, None))
    token, chat = setting_or_config(app, "TELEGRAM_BOT_TOKEN"), setting_or_config(app, "TELEGRAM_CHAT_ID")
    if token and chat:
        base = str(app.config.get("TELEGRAM_API_URL", "https://api.telegram.org")).rstrip("/")
        out.append(("telegram", f"{base}/bot{token}/sendMessage", {"chat_id": chat}))
    return out


def payload(kind: str, event: str, text: str, data: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """The body each destination expects."""
    if kind == "discord":
        return {"content": text[:1900]}
    if kind == "telegram":
        return {**(extra or {}), "text": text[:4000], "disable_web_page_preview": True}
    return {"event": event, "text": text, "data": data}


class Notifier:
    """A background sender: callers enqueue and return at once; delivery retries with backoff."""

    def __init__(self, attempts: int = 4, backoff: float = 0.5, timeout: float = 5.0) -> None:
        self.attempts, self.backoff, self.timeout = attempts, backoff, timeout
        self._queue: queue.Queue = queue.Queue(maxsize=1000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    def send(self, url: str, body: dict[str, Any]) -> None:
        """Queue one message (dropped with a log line when the queue is full)."""
        self._ensure_thread()
        try:
            self._queue.put_nowait((url, body))
        except queue.Full:
            log.warning("notification queue full; message dropped")

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="notifier", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            url, body = self._queue.get()
            self._deliver(url, body)
            self._queue.task_done()

    def _deliver(self, url: str, body: dict[str, Any]) -> None:
        data = json.dumps(body)
        for attempt in range(1, self.attempts + 1):
            try:
                answer = requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=self.timeout)
                if answer.status_code < 300:
                    self.sent += 1
                    return
                if answer.status_code < 500 and answer.status_code != 429:
                    break
            except requests.RequestException:
                pass
            time.sleep(self.backoff * (2 ** (attempt - 1)))
        self.failed += 1
        log.warning("notification could not be delivered after %d attempts", self.attempts)

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
        app.extensions["notifier"] = Notifier()
    return app.extensions["notifier"]


def notify(app: Flask, event: str, text: str, data: dict[str, Any] | None = None) -> int:
    """Send one event to every configured destination; returns how many were queued."""
    with app.app_context():
        if not event_enabled(app, event):
            return 0
        dests = targets(app)
    for kind, url, extra in dests:
        notifier(app).send(url, payload(kind, event, text, data or {}, extra))
    return len(dests)


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
