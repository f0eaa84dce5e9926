"""Structured, redacted logging: console plus a rotated file under instance/logs/."""
from __future__ import annotations

import logging
import re
from logging.handlers import RotatingFileHandler
from pathlib import Path

from flask import Flask

_SECRET_PATTERNS = [
    re.compile(r"(?i)(access-sign|access-passphrase|api_secret|apisecret|passphrase|secret|password|token)"
               r"(['\"]?\s*[:=]\s*['\"]?)([^'\",\s}]+)"),
]


class RedactingFilter(logging.Filter):
    """Masks anything that looks like a credential value, and every registered secret, in log records."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def register(self, *values: str) -> None:
        """Add literal secrets that must never be logged."""
        self._secrets.update(v for v in values if v and len(v) >= 4)

    def redact(self, text: str) -> str:
        """Return text with secrets replaced by ***."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + m.group(2) + "***", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message in place."""
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


redactor = RedactingFilter()


class RunContextFormatter(logging.Formatter):
    """key=value lines; run id and account appear when the record carries them."""

    def format(self, record: logging.LogRecord) -> str:
        """Format one line."""
        extra = ""
        for key in ("run", "account"):
            value = getattr(record, key, None)
            if value is not None:
                extra += f" {key}={value}"
        base = super().format(record)
        return base + extra if extra else base


def configure_logging(app: Flask) -> None:
    """The rotating file (the 'app' logger tree) and one console handler on the root logger, both redacted.

    The console handler sits on the root logger so that every log event is printed once, in one format: with
    it on the 'app' logger, waitress' `logging.basicConfig()` (called by `waitress.serve`) added a second root
    handler and every line of the app appeared twice (once per format). On the root, basicConfig finds a
    handler and does nothing, and waitress', werkzeug's and the libraries' own lines share the format.
    """
    logger = logging.getLogger("app")
    if getattr(logger, "_copier_configured", None) == app.instance_path:
        return
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    fmt = RunContextFormatter("%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s")
    log_dir = Path(app.instance_path) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    file_handler = RotatingFileHandler(log_dir / "copier.log", maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    file_handler.setFormatter(fmt)
    file_handler.addFilter(redactor)
    logger.addHandler(file_handler)
    install_console_handler(fmt)
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    logger.propagate = True  # to the console handler on the root (and to pytest's caplog)
    werkzeug = logging.getLogger("werkzeug")
    if werkzeug.level == logging.NOTSET:  # `flask run` keeps its request lines (werkzeug adds no handler now)
        werkzeug.setLevel(logging.INFO)
    logger._copier_configured = app.instance_path  # type: ignore[attr-defined]


def install_console_handler(fmt: logging.Formatter) -> logging.Handler:
    """Put the copier's console handler on the root logger, replacing an earlier one (one per process)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_copier_console", False):
            root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setFormatter(fmt)
    console.addFilter(redactor)
    console._copier_console = True  # type: ignore[attr-defined]
    root.addHandler(console)
    return console
