"""Who may do what: login session or API bearer token on every route, CSRF on every write, safe headers."""
from __future__ import annotations

import hmac
import secrets
import threading
import time

from flask import Flask, g, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.security import generate_password_hash

from ..store.extensions import csrf, db
from ..store.models import get_setting, stage_setting

PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "dashboard.healthz", "static"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PASSWORD_KEY = "operator_password_hash"
SESSION_EPOCH_KEY = "session_epoch"  # rotated by `set-password`: sessions started under another epoch end
MIN_PASSWORD = 10

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)


def operator_configured() -> bool:
    """True once the operator password has been chosen."""
    return get_setting(PASSWORD_KEY) is not None


def password_problem(password: str, confirm: str) -> str | None:
    """Why a new operator password is refused (the first-run page and `set-password`), or None."""
    if len(password) < MIN_PASSWORD:
        return f"Choose a password of at least {MIN_PASSWORD} characters."
    if password != confirm:
        return "The two passwords differ."
    return None


def set_operator_password(password: str) -> None:
    """Store the new password's hash and start a new session epoch, in one commit: old cookies stop working."""
    stage_setting(PASSWORD_KEY, generate_password_hash(password))
    stage_setting(SESSION_EPOCH_KEY, secrets.token_hex(16))
    db.session.commit()


def start_operator_session() -> None:
    """Log the operator in on this browser (a fresh session bound to the current epoch)."""
    session.clear()
    session["operator"] = True
    session["epoch"] = get_setting(SESSION_EPOCH_KEY)


def operator_session_valid() -> bool:
    """True when the cookie belongs to a logged-in operator of the current session epoch (a session from
    before the password was reset is ended here)."""
    if not session.get("operator"):
        return False
    if session.get("epoch") != get_setting(SESSION_EPOCH_KEY):
        session.clear()
        return False
    return True


def is_api_request() -> bool:
    """Requests under /api/ get JSON answers."""
    return request.path.startswith("/api/")


def bearer_ok(app: Flask) -> bool:
    """True when the request carries the configured API token."""
    token = app.config.get("API_TOKEN")
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), str(token).encode())


def check_csrf() -> None:
    """Validate the CSRF token on writes (form field or X-CSRFToken header) unless disabled in tests."""
    from flask import current_app

    if request.method in WRITE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


def json_error(status: int, code: str, message: str):
    """A JSON error response in the API's shape."""
    return jsonify({"error": {"code": code, "message": message, "field": None}}), status


def not_found(exc):
    """404/405: JSON under /api, the styled page for an unknown page."""
    if is_api_request():
        return json_error(exc.code, exc.name.lower().replace(" ", "_"), exc.description)
    if exc.code == 404:
        return render_template("dashboard/missing.html", what="such page"), 404
    return exc


def register_security(app: Flask) -> None:
    """Install the access check, CSRF check and security headers."""

    @app.before_request
    def require_login():
        g.via_token = False
        if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
            return None
        if is_api_request() and bearer_ok(app):
            g.via_token = True
            return None
        if operator_session_valid():
            check_csrf()
            return None
        if is_api_request():
            return json_error(401, "unauthorized", "Log in or send 'Authorization: Bearer <API_TOKEN>'.")
        if not operator_configured():
            return redirect(url_for("auth.setup"))
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))

    app.register_error_handler(404, not_found)
    app.register_error_handler(405, not_found)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError):
        message = "The form expired or its security token is missing. Reload the page and try again."
        if is_api_request() or request.is_json:
            return json_error(403, "csrf", message)
        return message, 403

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response


class LoginThrottle:
    """Locks an address out for a while after too many failed logins."""

    def __init__(self, max_failures: int, lock_seconds: float, clock=time.monotonic) -> None:
        self.max_failures = max_failures
        self.lock_seconds = lock_seconds
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def locked_for(self, address: str) -> float:
        """Seconds this address must still wait (0 when it may try)."""
        with self._lock:
            count, until = self._failures.get(address, (0, 0.0))
            return max(0.0, until - self._clock()) if count >= self.max_failures else 0.0

    def failed(self, address: str) -> None:
        """Count a failure; lock once the limit is reached."""
        with self._lock:
            count, _ = self._failures.get(address, (0, 0.0))
            count += 1
            until = self._clock() + self.lock_seconds if count >= self.max_failures else 0.0
            self._failures[address] = (count, until)

    def succeeded(self, address: str) -> None:
        """Forget failures after a good login."""
        with self._lock:
            self._failures.pop(address, None)

    def expire(self, address: str) -> None:
        """Reset an address whose lock has run out."""
        with self._lock:
            count, until = self._failures.get(address, (0, 0.0))
            if count >= self.max_failures and until <= self._clock():
                self._failures.pop(address, None)
