"""A forgotten operator password is reset on the server's command line (`flask --app wsgi set-password`), with
the first-run page's rules, and the reset ends every open session."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from werkzeug.security import check_password_hash

from app.store.extensions import db
from app.store.models import get_setting
from app.web.security import PASSWORD_KEY
from tests.conftest import operator_client

OLD = "correct horse battery"  # the `client` fixture's password
NEW = "a-brand-new-passphrase"


def stored_hash(app) -> str:
    with app.app_context():
        db.session.expire_all()
        return get_setting(PASSWORD_KEY) or ""


def logged_in_through_the_page(app, password: str = OLD):
    browser = app.test_client()
    assert browser.post("/login", data={"password": password}).status_code == 302
    assert browser.get("/api/state").status_code == 200
    return browser


def test_set_password_changes_it_and_ends_every_session(app, client):
    page_session = logged_in_through_the_page(app)
    assert client.get("/api/state").status_code == 200
    answer = app.test_cli_runner().invoke(args=["set-password"], input=f"{NEW}\n{NEW}\n")
    assert answer.exit_code == 0, answer.output
    assert "logged out" in answer.output and NEW not in answer.output
    assert check_password_hash(stored_hash(app), NEW)

    for old_cookie in (client, page_session):
        assert old_cookie.get("/api/state").status_code == 401
        page = old_cookie.get("/")
        assert page.status_code == 302 and urlsplit(page.headers["Location"]).path == "/login"
        assert old_cookie.post("/api/auto-follow", json={"on": True}).status_code == 401
    login_page = page_session.get("/login").get_data(as_text=True)
    assert 'id="logout"' not in login_page  # the ended session no longer shows the menu

    assert app.test_client().post("/login", data={"password": OLD}).status_code == 401
    fresh = logged_in_through_the_page(app, NEW)
    assert fresh.get("/").status_code == 200
    # a second reset ends the sessions started after the first one too
    assert app.test_cli_runner().invoke(args=["set-password"], input=f"{NEW}-2\n{NEW}-2\n").exit_code == 0
    assert fresh.get("/api/state").status_code == 401


@pytest.mark.parametrize("typed,reason", [
    (f"{NEW}\n{NEW}x\n", "The two passwords differ."),
    ("short\nshort\n", "at least 10 characters"),
    ("\n\n", "at least 10 characters"),
])
def test_set_password_refuses_a_mismatch_or_a_short_password(app, client, typed, reason):
    before = stored_hash(app)
    answer = app.test_cli_runner().invoke(args=["set-password"], input=typed)
    assert answer.exit_code != 0 and reason in answer.output and "not changed" in answer.output
    assert stored_hash(app) == before
    assert client.get("/api/state").status_code == 200  # nothing changed: the session still works


def test_the_login_page_says_how_to_reset_a_forgotten_password(app, client):
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "Forgot the password? Run <code>flask --app wsgi set-password</code> on the server." in page


def test_sessions_from_before_any_reset_keep_working(app, client):
    """Upgrading does not log anyone out: the epoch only starts counting at the first reset."""
    assert operator_client(app).get("/api/state").status_code == 200
    assert logged_in_through_the_page(app).get("/").status_code == 200
