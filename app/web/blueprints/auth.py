"""First-run operator password, login and logout."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash

from ...store.models import get_setting
from ..security import (
    MIN_PASSWORD,
    PASSWORD_KEY,
    LoginThrottle,
    check_csrf,
    operator_configured,
    operator_session_valid,
    password_problem,
    set_operator_password,
    start_operator_session,
)

bp = Blueprint("auth", __name__)


def throttle() -> LoginThrottle:
    """The app's login throttle."""
    app = current_app
    if "login_throttle" not in app.extensions:
        app.extensions["login_throttle"] = LoginThrottle(
            int(app.config["LOGIN_MAX_FAILURES"]), float(app.config["LOGIN_LOCK_SECONDS"])
        )
    return app.extensions["login_throttle"]


def is_local_path(target: str) -> bool:
    """A path on this site: no scheme or host, and nothing browsers drop or turn into "//" (\\, tabs, newlines)."""
    if not target.startswith("/") or target.startswith("//"):
        return False
    return not any(ch == "\\" or ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target)


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Choose the operator password on the very first visit."""
    if operator_configured():
        return redirect(url_for("auth.login"))
    error = None
    if request.method == "POST":
        check_csrf()
        password = request.form.get("password", "")
        error = password_problem(password, request.form.get("confirm", ""))
        if error is None:
            set_operator_password(password)
            start_operator_session()
            return redirect(url_for("dashboard.index"))
    return render_template("auth/setup.html", error=error, min_length=MIN_PASSWORD), (422 if error else 200)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log the operator in (slowed down after repeated failures)."""
    if not operator_configured():
        return redirect(url_for("auth.setup"))
    operator_session_valid()  # a cookie from before a password reset is ended here too (the menu hides)
    error = None
    address = request.remote_addr or "?"
    if request.method == "POST":
        check_csrf()
        guard = throttle()
        guard.expire(address)
        wait = guard.locked_for(address)
        if wait > 0:
            error = f"Too many failed attempts. Try again in {int(wait) + 1} seconds."
            return render_template("auth/login.html", error=error), 429
        if check_password_hash(get_setting(PASSWORD_KEY) or "", request.form.get("password", "")):
            guard.succeeded(address)
            start_operator_session()
            session.permanent = True
            target = request.args.get("next") or ""
            return redirect(target if is_local_path(target) else url_for("dashboard.index"))
        guard.failed(address)
        error = "Wrong password."
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    """End the session."""
    session.clear()
    flash("Logged out.")
    return redirect(url_for("auth.login"))
