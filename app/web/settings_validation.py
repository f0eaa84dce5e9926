"""Validation of the settings page (notification destinations)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlparse

from ..errors import ValidationError

_CHAT_ID = re.compile(r"^-?[0-9]{1,20}$|^@[A-Za-z0-9_]{4,64}$")
_TOKEN = re.compile(r"^[0-9]{3,15}:[A-Za-z0-9_-]{20,64}$")


def clean_url(value: str, field: str, label: str = "The URL") -> str:
    """'' or an http(s) URL; `label` names the field in the message ("Webhook URL must start with ...")."""
    value = value.strip()
    if not value:
        return ""
    try:
        parsed = urlparse(value)
    except ValueError:  # e.g. "http://[::1"
        parsed = None
    if len(value) > 500:
        raise ValidationError(f"{label} is too long (at most 500 characters).", field=field)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationError(f"{label} must not contain spaces or control characters.", field=field)
    if parsed is None:
        raise ValidationError(f"{label} is not a valid URL (e.g. https://example.com/hook).", field=field)
    if parsed.scheme not in ("http", "https"):
        raise ValidationError(f"{label} must start with http:// or https://.", field=field)
    if not parsed.netloc:
        raise ValidationError(f"{label} has no host name (e.g. https://example.com/hook).", field=field)
    return value


def clean_notification_settings(form: Mapping[str, str]) -> dict[str, str]:
    """Validated destinations; a blank Telegram token keeps the stored one (write-only)."""
    clean = {
        "DISCORD_WEBHOOK_URL": clean_url(form.get("DISCORD_WEBHOOK_URL", ""), "DISCORD_WEBHOOK_URL",
                                         "Discord webhook URL"),
        "WEBHOOK_URL": clean_url(form.get("WEBHOOK_URL", ""), "WEBHOOK_URL", "Webhook URL"),
    }
    chat = form.get("TELEGRAM_CHAT_ID", "").strip()
    if chat and not _CHAT_ID.match(chat):
        raise ValidationError("Telegram chat id must be a number (e.g. -1001234567890) or @channel.", field="TELEGRAM_CHAT_ID")
    clean["TELEGRAM_CHAT_ID"] = chat
    token = form.get("TELEGRAM_BOT_TOKEN", "").strip()
    if token:
        if not _TOKEN.match(token):
            raise ValidationError("Telegram bot token looks wrong (expected 123456:ABC...).", field="TELEGRAM_BOT_TOKEN")
        clean["TELEGRAM_BOT_TOKEN"] = token
    if form.get("clear_telegram_token"):
        clean["TELEGRAM_BOT_TOKEN"] = ""
    return clean
