"""A notification that cannot be delivered is visible: the Settings page shows each destination's last delivery
(time, ok or error with the reason), "Send test notification" waits (bounded) and says what happened, log lines
name the destination's kind and host and the error, and the bot token and a webhook's path token never appear
in the page or the logs. Only local receivers (tests/receiver.py) and closed loopback ports are used."""
from __future__ import annotations

import logging
import re
import socket
import time
from pathlib import Path

import pytest

import app.notify as notify_module
from app import create_app
from app.notify import Destination, failure_reason, notifier, notify
from tests.conftest import app_config, operator_client
from tests.receiver import Receiver

BOT_TOKEN = "987654:TOKENMARKabcdefghijklmnopqrstuv"
PATH_TOKEN = "PATHTOKENMARK0123456789abcdef"
CHAT_ID = "-1009876543210"


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def failing():
    server = Receiver(statuses=[500] * 50)
    yield server
    server.stop()


@pytest.fixture
def healthy():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def slow():
    server = Receiver(delay=3.0)
    server.server.handle_error = lambda *args: None  # its late answer meets a closed connection: expected
    yield server
    server.stop()


def make_app(tmp_path, sim, **config):
    app = create_app(app_config(tmp_path, sim.url, TELEGRAM_API_URL=f"http://127.0.0.1:{closed_port()}", **config))
    sender = notifier(app)
    sender.backoff = 0.01  # retries at once: the test is about outcomes, not about waiting
    return app


def save(test_client, **fields) -> None:
    form = {"event_run_summary": "1", "event_failures": "1", **fields}
    answer = test_client.post("/settings", data=form)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]


def row(html: str, kind: str) -> str:
    found = re.search(rf'<tr data-kind="{kind}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no {kind} row on the Settings page"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def logs(app, caplog) -> str:
    files = "\n".join(p.read_text("utf-8") for p in (Path(app.instance_path) / "logs").glob("*"))
    return files + "\n" + "\n".join(r.getMessage() for r in caplog.records)


def test_a_failing_receiver_and_a_refused_port_show_on_the_settings_page_and_in_the_log(tmp_path, sim, failing,
                                                                                        caplog):
    caplog.set_level(logging.DEBUG)
    app = make_app(tmp_path, sim)
    telegram_port = int(app.config["TELEGRAM_API_URL"].rsplit(":", 1)[1])
    test_client = operator_client(app)
    save(test_client, WEBHOOK_URL=f"{failing.url}/hook/{PATH_TOKEN}", TELEGRAM_BOT_TOKEN=BOT_TOKEN,
         TELEGRAM_CHAT_ID=CHAT_ID)
    before = test_client.get("/settings").get_data(as_text=True)
    assert "nothing sent yet" in row(before, "webhook") and "nothing sent yet" in row(before, "telegram")

    assert notify(app, "run_summary", "[copier] replicate by button: 1 ok / 0 skipped / 0 failed") == 2
    assert notifier(app).wait_idle(timeout=20)
    assert len(failing.requests) == 4  # retried, then given up

    page = test_client.get("/settings")
    html = page.get_data(as_text=True)
    webhook, telegram = row(html, "webhook"), row(html, "telegram")
    host = failing.url.removeprefix("http://")
    assert f"Webhook ({host})" in webhook and "error" in webhook and "HTTP 500" in webhook, webhook
    assert "4 attempts" in webhook and "UTC" in webhook and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", webhook)
    assert f"Telegram (127.0.0.1:{telegram_port})" in telegram, telegram
    assert "connection refused" in telegram, telegram
    assert BOT_TOKEN not in html and BOT_TOKEN.split(":")[1] not in html

    text = logs(app, caplog)
    assert re.search(rf"notification to Webhook \({re.escape(host)}\) could not be delivered \(4 attempts\): "
                     r"HTTP 500", text), text[-3000:]
    assert re.search(rf"notification to Telegram \(127\.0\.0\.1:{telegram_port}\) could not be delivered "
                     r"\(4 attempts\): connection refused", text), text[-3000:]
    for secret in (BOT_TOKEN, BOT_TOKEN.split(":")[1], PATH_TOKEN):
        assert secret not in text, f"{secret} reached the logs"

    # an outcome belongs to the destination it was sent to: a new URL starts with "nothing sent yet"
    save(test_client, WEBHOOK_URL=f"{failing.url}/other", TELEGRAM_CHAT_ID=CHAT_ID)
    assert "nothing sent yet" in row(test_client.get("/settings").get_data(as_text=True), "webhook")


def test_the_last_delivery_survives_a_restart(tmp_path, sim, failing):
    config = {"SECRET_KEY": "fixed-for-both", "VAULT_KEY": None}
    app = make_app(tmp_path, sim, WEBHOOK_URL=f"{failing.url}/hook", **{k: v for k, v in config.items() if v})
    notify(app, "run_summary", "hello")
    assert notifier(app).wait_idle(timeout=20)
    again = make_app(tmp_path, sim, WEBHOOK_URL=f"{failing.url}/hook", **{k: v for k, v in config.items() if v},
                     VAULT_KEY=app.config["VAULT_KEY"])
    html = operator_client(again).get("/settings").get_data(as_text=True)
    assert "HTTP 500" in row(html, "webhook")


def test_send_test_waits_for_the_answers_and_says_what_happened(tmp_path, sim, healthy, slow, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(notify_module, "TEST_TIMEOUT_S", 1.0)  # the page waits 10 s; the test only 1
    app = make_app(tmp_path, sim)
    test_client = operator_client(app)
    save(test_client, WEBHOOK_URL=f"{healthy.url}/hook", DISCORD_WEBHOOK_URL=f"{slow.url}/api/webhooks/1/{PATH_TOKEN}",
         TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_CHAT_ID=CHAT_ID)
    started = time.monotonic()
    answer = test_client.post("/settings", data={"test": "1"}, follow_redirects=True)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200
    assert elapsed < 2.5, f"the test button waited {elapsed:.1f}s (bound: 1 s)"
    html = answer.get_data(as_text=True)
    messages = [" ".join(re.sub(r"<[^>]+>", " ", m).split())
                for m in re.findall(r'<div class="flash flash-\w+"[^>]*>(.*?)</div>', html, re.S)]
    webhook_host, slow_host = healthy.url.removeprefix("http://"), slow.url.removeprefix("http://")
    assert f"Test message delivered to Webhook ({webhook_host})." in messages, messages
    assert any(m.startswith("Test message to Telegram (127.0.0.1:") and "failed: connection refused" in m
               for m in messages), messages
    assert f"Test message to Discord ({slow_host}) failed: no answer within 1 s." in messages, messages
    assert 'class="flash flash-error"' in html and 'class="flash flash-ok"' in html
    assert len(healthy.requests) == 1 and "test notification" in healthy.requests[0]["body"]
    assert "ok" in row(html, "webhook") and "connection refused" in row(html, "telegram")
    assert BOT_TOKEN not in html
    deliveries = html[html.index('id="test-notification"'):]  # the webhook URL itself stays editable above
    assert PATH_TOKEN not in deliveries and not any(PATH_TOKEN in m for m in messages)
    for secret in (BOT_TOKEN, PATH_TOKEN):
        assert secret not in logs(app, caplog)


def test_send_test_without_destinations_says_so(tmp_path, sim):
    app = make_app(tmp_path, sim)
    html = operator_client(app).post("/settings", data={"test": "1"}, follow_redirects=True).get_data(as_text=True)
    assert "No destination configured" in html and 'id="no-destinations"' in html


@pytest.mark.parametrize("field, value, message", [
    ("WEBHOOK_URL", "ftp://example.com/hook", "Webhook URL must start with http:// or https://."),
    ("DISCORD_WEBHOOK_URL", "discord.com/api/webhooks/1/x", "Discord webhook URL must start with http:// or https://."),
    ("WEBHOOK_URL", "https://", "Webhook URL has no host name"),
    ("WEBHOOK_URL", "https://example.com/a b", "Webhook URL must not contain spaces"),
])
def test_field_errors_use_words_not_config_keys(tmp_path, sim, field, value, message):
    app = make_app(tmp_path, sim)
    answer = operator_client(app).post("/settings", data={field: value})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422 and message in html, html[:3000]
    assert f"{field} must" not in html and f"{field} has" not in html


def test_reasons_and_labels_carry_no_secret():
    dest = Destination("discord", f"https://discord.com/api/webhooks/123/{PATH_TOKEN}")
    assert dest.label == "Discord (discord.com)" and PATH_TOKEN not in dest.label
    telegram = Destination("telegram", f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage")
    assert telegram.label == "Telegram (api.telegram.org)"
    import requests

    port = closed_port()
    try:
        requests.post(f"http://127.0.0.1:{port}/bot{BOT_TOKEN}/sendMessage", timeout=2)
    except requests.RequestException as exc:
        assert BOT_TOKEN in str(exc)  # requests' own message carries the URL...
        reason = failure_reason(exc, 2)
    assert reason == "connection refused (nothing listens at that address and port)"  # ...the reason does not
