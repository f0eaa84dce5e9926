"""The operator's pages: main dashboard, run history (with CSV), settings; and /healthz."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from sqlalchemy import text

from ...engine.replication.runs import order_quality, query_runs, run_summary, runs_csv
from ...store.extensions import db
from ...store.models import Account
from ..budget_status import budget_status
from ..dashboard_state import build_state, cluster_status
from . import MAX_DATABASE_ID

bp = Blueprint("dashboard", __name__)
ACTIONS = ("replicate", "tpsl", "sync", "close-all", "close-symbol")  # previews are not runs
STATUSES = ("ok", "partial", "failed", "skipped", "running", "interrupted")


@bp.app_context_processor
def inject_exchange() -> dict:
    """Mode label and simulator link for every page."""
    app = current_app
    sim = app.extensions.get("sim_runner")
    page = None
    if sim is not None and sim.url:
        page = sim.url + "/_sim/"
    label = "simulator" if app.config["EXCHANGE"] == "sim" else "live exchange"
    return {"sim_page_url": page, "exchange_label": label}


@bp.get("/")
def index():
    """The main page: master, clients, actions, results, charts."""
    return render_template("dashboard/index.html", state=build_state(current_app))


@bp.get("/healthz")
def healthz():
    """Liveness for monitors (no login): database, scheduler, last poll."""
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # report, never crash the health check
        database = f"error: {type(exc).__name__}"
    status = current_app.extensions["poller"].status
    scheduler = current_app.extensions.get("scheduler")
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "scheduler": "running" if scheduler is not None and scheduler.running else "off",
        "last_poll": datetime.fromtimestamp(status.last_success_at, UTC).isoformat() if status.last_success_at else None,
        "last_poll_age_s": round(time.time() - status.last_success_at, 1) if status.last_success_at else None,
        "last_poll_error": status.last_error,
        "poll_failures": status.failures,
        "request_budget": budget_status(current_app),
        "master_stream": current_app.extensions["master_feed"].status.to_json(),
        "client_streams": current_app.extensions["client_streams"].status(),
        "cluster": cluster_status(current_app),
    }
    return jsonify(body), (200 if database == "ok" else 503)


def history_filters() -> dict:
    """Parse the history filters from the query string (bad values are ignored, not fatal)."""
    args = request.args
    filters: dict = {}
    if args.get("action") in ACTIONS:
        filters["action"] = args["action"]
    if args.get("status") in STATUSES:
        filters["status"] = args["status"]
    account = args.get("account") or ""
    # "²" is a digit too; an id beyond the id column's range matches nothing (and PostgreSQL refuses it)
    if account.isascii() and account.isdigit() and len(account) <= 10 and int(account) <= MAX_DATABASE_ID:
        filters["account_id"] = int(account)
    for key, name in (("from", "date_from"), ("to", "date_to")):
        try:
            day = datetime.strptime(args.get(key, ""), "%Y-%m-%d").replace(tzinfo=UTC)
            filters[name] = day + timedelta(days=1) if key == "to" else day
        except (ValueError, OverflowError):  # not a date, or "to=9999-12-31" (no end day after it)
            continue
    return filters


@bp.get("/history")
def history():
    """Past runs with filters."""
    runs = query_runs(**history_filters())
    accounts = db.session.query(Account).order_by(Account.name).all()
    return render_template("dashboard/history.html", runs=runs, accounts=accounts, actions=ACTIONS,
                           statuses=STATUSES, args=request.args, summaries={r.id: run_summary(r) for r in runs})


@bp.get("/history.csv")
def history_csv():
    """The filtered history as CSV: the runs the page lists, one row per account result (with an account
    filter, only that account's rows)."""
    filters = history_filters()
    body = runs_csv(query_runs(**filters, limit=10000), account_id=filters.get("account_id"))
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=copier-history.csv"})


@bp.get("/runs/<int:run_id>")
def run_detail(run_id: int):
    """One run with every account's result."""
    from ...store.models import Run

    run = db.session.get(Run, run_id)
    if run is None:
        return render_template("dashboard/missing.html", what=f"run {run_id}"), 404
    orders = [(r, order_quality(o)) for r in sorted(run.results, key=lambda r: r.account_name)
              for o in r.orders if o.get("kind") in ("open", "close")]
    return render_template("dashboard/run.html", run=run, summary=run_summary(run), orders=orders)


SETTING_FIELDS = ("DISCORD_WEBHOOK_URL", "WEBHOOK_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """Auto-follow, notification destinations and per-event toggles."""
    from flask import flash, redirect, url_for

    from ...feeds.autofollow import active_off_reason, set_by_operator
    from ...feeds.poller import auto_follow_enabled
    from ...notify import EVENTS, TEST_TIMEOUT_S, send_test
    from ...store.models import get_setting, set_setting
    from ..settings_validation import clean_notification_settings

    error = None
    if request.method == "POST":
        if request.form.get("test") == "1":  # waits for the answers (at most TEST_TIMEOUT_S) and says what happened
            results = send_test(current_app, timeout=TEST_TIMEOUT_S)
            for result in results:
                if result["ok"]:
                    flash(f"Test message delivered to {result['label']}.", "ok")
                else:
                    flash(f"Test message to {result['label']} failed: {result['reason']}.", "error")
            if not results:
                flash("No destination configured: save a webhook URL or a Telegram bot token and chat id first.",
                      "error")
            return redirect(url_for("dashboard.settings"))
        try:
            clean = clean_notification_settings(request.form)
        except Exception as exc:  # ValidationError: show it next to the form
            error = exc
        else:
            vault = current_app.extensions["vault"]
            for key, value in clean.items():
                if key == "TELEGRAM_BOT_TOKEN" and value:
                    value = "enc:" + vault.encrypt(value)  # a bot token is a secret: stored encrypted
                set_setting(f"notify.{key}", value)
            for event in EVENTS:
                set_setting(f"notify.event.{event}", "1" if request.form.get(f"event_{event}") else "0")
            set_by_operator(bool(request.form.get("auto_follow")))
            flash("Settings saved.")
            return redirect(url_for("dashboard.settings"))
    values = {key: get_setting(f"notify.{key}") or "" for key in SETTING_FIELDS}
    token_set = bool(values.pop("TELEGRAM_BOT_TOKEN") or current_app.config.get("TELEGRAM_BOT_TOKEN"))
    events = {event: get_setting(f"notify.event.{event}", "1") == "1" for event in EVENTS}
    return render_template("dashboard/settings.html", values=values, token_set=token_set, events=events,
                           deliveries=delivery_rows(current_app), auto_follow=auto_follow_enabled(current_app),
                           auto_follow_off_reason=active_off_reason(current_app), error=error), (422 if error else 200)


def delivery_rows(app) -> list[dict]:
    """Each configured destination (kind and host only) with its last delivery: when, ok or the reason."""
    from ...notify import last_deliveries, targets
    from ...store.models import get_setting

    keys = {"discord": "DISCORD_WEBHOOK_URL", "webhook": "WEBHOOK_URL", "telegram": "TELEGRAM_CHAT_ID"}
    last = last_deliveries(app)
    rows = []
    for dest in targets(app):
        record = last.get(dest.kind)
        when = None
        if record and record.get("at"):
            when = datetime.fromtimestamp(float(record["at"]), UTC).strftime("%Y-%m-%d %H:%M:%S")
        from_config = not get_setting(f"notify.{keys[dest.kind]}")  # set by a config key, not on this page
        rows.append({"kind": dest.kind, "label": dest.label, "last": record, "when": when,
                     "from_config": from_config})
    return rows
