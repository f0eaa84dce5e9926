"""Account pages: list, add, edit, delete (with confirmation), verify."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from ...accounts import service
from ...accounts.validation import CREDENTIAL_FIELDS, FIELD_PARSERS
from ...errors import CopierError, NotFoundError
from .auth import is_local_path

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


@bp.errorhandler(NotFoundError)
def account_not_found(exc: NotFoundError):
    """An unknown account id is a 404 page, not a 500."""
    return render_template("dashboard/missing.html", what="such account"), 404
CHECKBOXES = ("demo", "enabled", "paused", "copy_existing", "reenter_after_external_close")


def form_data() -> dict[str, Any]:
    """The submitted form as service input (unchecked boxes are false)."""
    data: dict[str, Any] = {k: v for k, v in request.form.items() if k in FIELD_PARSERS}
    for box in CHECKBOXES:
        data[box] = box in request.form
    return data


def wants_check() -> bool:
    """False when the operator pressed "Save without checking"."""
    return request.form.get("verify") != "skip"


def check_summary(account) -> tuple[str, str]:
    """(flash text, category) about the keys of an account just saved."""
    if account.verify_ok is None:
        return ('keys not checked: it shows "not verified" until Verify succeeds', "ok")
    if account.verify_ok:
        mode = (account.position_mode or "").replace("_", " ")
        return (f"keys work ({mode})" if mode else "keys work", "ok")
    return (f"but {account.verify_message}", "error")


@bp.get("/")
def index():
    """All accounts with their last verification and what the copier last read from the exchange."""
    rows = service.list_accounts()
    return render_template("accounts/list.html", accounts=rows, live=service.cached_states(rows))


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Add an account; its keys are checked first unless the operator saves without checking."""
    error = None
    if request.method == "POST":
        try:
            account = service.create_account(form_data(), verify=wants_check())
        except CopierError as exc:
            error = exc
        else:
            text, category = check_summary(account)
            flash(f"Added {account.name}: {text}.", category)
            return redirect(url_for("accounts.index"))
    values = request.form if request.method == "POST" else {"role": request.args.get("role", "client")}
    return render_template("accounts/form.html", account=None, values=values, error=error), (error.status if error else 200)


@bp.route("/<int:account_id>/edit", methods=["GET", "POST"])
def edit(account_id: int):
    """Change an account; leave secret and passphrase blank to keep them. New keys are checked first."""
    account = service.get_account(account_id)
    error = None
    if request.method == "POST":
        new_keys = any(request.form.get(field, "").strip() for field in CREDENTIAL_FIELDS) or (
            ("demo" in request.form) != bool(account.demo))
        try:
            service.update_account(account_id, form_data(), verify=wants_check())
        except CopierError as exc:
            error = exc
        else:
            if new_keys:
                text, category = check_summary(account)
                flash(f"Saved {account.name}: {text}.", category)
            else:
                flash(f"Saved {account.name}.")
            return redirect(url_for("accounts.index"))
    values = request.form if request.method == "POST" else service.account_to_dict(account)
    return render_template("accounts/form.html", account=account, values=values, error=error), (error.status if error else 200)


@bp.route("/<int:account_id>/delete", methods=["GET", "POST"])
def delete(account_id: int):
    """Confirm, then delete an account."""
    account = service.get_account(account_id)
    if request.method == "POST":
        name = account.name
        service.delete_account(account_id)
        flash(f"Deleted {name}.")
        return redirect(url_for("accounts.index"))
    view = current_app.extensions["state"].get(account_id)
    positions = list(view.positions) if view is not None and view.fetched_at is not None else None
    return render_template("accounts/delete.html", account=account, positions=positions)


@bp.post("/<int:account_id>/verify")
def verify(account_id: int):
    """Check an account's keys and show the answer."""
    account = service.get_account(account_id)
    try:
        result = service.verify_account(account_id)
    except CopierError as exc:
        flash(f"{account.name}: {exc.message}", "error")
    else:
        flash(f"{account.name}: equity {result['equity']} {result['margin_coin']}, "
              f"{result['position_mode'].replace('_', ' ')}; {result['message']}.", "ok" if result["ok"] else "error")
    target = request.form.get("next") or ""
    return redirect(target if is_local_path(target) else url_for("accounts.index"))
