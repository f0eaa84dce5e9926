"""Who may change what: login and CSRF on every state-changing route, security headers, login lockout,
hashed password, loopback-only defaults (dashboard and simulator admin), session cookie flags."""
from __future__ import annotations

import inspect
import re
import time
from urllib.parse import urlsplit

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from app import create_app
from app.config import Defaults
from app.store.models import set_setting
from app.web.security import PASSWORD_KEY
from tests.conftest import add_account, app_config, operator_client
from tests.reliability.helpers import BTC, db_path, dump_db, held

from .routes import send, write_routes

PASSWORD = "correct horse battery"
PUBLIC_FORMS = {"auth.login", "auth.setup"}  # reachable before login by design; they check CSRF themselves
TOKEN_RE = re.compile(r'name="csrf[-_]token"\s+(?:content|value)="([^"]+)"')


@pytest.fixture
def guarded(tmp_path, sim):
    """CSRF on (as in production), a password set, a master with a position and one client."""
    app = create_app(app_config(tmp_path, sim.url, WTF_CSRF_ENABLED=True, API_TOKEN="right-token-0123456789"))
    with app.app_context():
        set_setting(PASSWORD_KEY, generate_password_hash(PASSWORD))
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    client_id = add_account(app, sim, "Alpha")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    yield app, client_id
    app.extensions["replication"].executor.shutdown()


logged_in = operator_client  # the shared helper in tests/conftest.py


def csrf_token(test_client, path: str = "/settings") -> str:
    match = TOKEN_RE.search(test_client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def test_every_state_changing_route_needs_login_and_a_csrf_token(guarded, sim):
    app, client_id = guarded
    routes = write_routes(app, client_id)
    assert len(routes) >= 25, routes  # the enumeration really found the app's routes
    before, fills = dump_db(app), len(sim.exchange.order_log_rows())

    for method, url, endpoint in routes:
        anonymous = app.test_client()
        answer = send(anonymous, method, url, endpoint, client_id)
        where = f"{method} {url} without login"
        if endpoint in PUBLIC_FORMS:
            assert answer.status_code in (302, 403), (where, answer.status_code)
            assert answer.status_code == 403 or "/login" in answer.headers["Location"], where
        elif url.startswith("/api/"):
            assert answer.status_code == 401 and answer.json["error"]["code"] == "unauthorized", where
            wrong = send(anonymous, method, url, endpoint, client_id, {"Authorization": "Bearer wrong-token"})
            assert wrong.status_code == 401, f"{where} with a wrong bearer token"
        else:
            assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/login", where

        operator = logged_in(app)
        for headers in ({}, {"X-CSRFToken": "forged-token"}):
            answer = send(operator, method, url, endpoint, client_id, headers)
            where = f"{method} {url} logged in, CSRF token {headers or 'missing'}"
            if endpoint == "auth.setup":
                assert answer.status_code == 302, where  # already configured: nothing to set up
            else:
                assert answer.status_code == 403, (where, answer.status_code)
                if url.startswith("/api/"):
                    assert answer.json["error"]["code"] == "csrf", where

    assert dump_db(app) == before, "a refused request changed the database"
    assert len(sim.exchange.order_log_rows()) == fills, "a refused request reached the exchange"
    assert held(sim, "Master") == {(BTC, "long"): held(sim, "Master")[(BTC, "long")]}


def test_the_right_token_is_accepted_so_the_refusals_above_mean_something(guarded):
    app, _ = guarded
    operator = logged_in(app)
    token = csrf_token(operator)
    assert operator.post("/api/auto-follow", json={"on": True}, headers={"X-CSRFToken": token}).json == {"on": True}
    assert operator.post("/actions/auto-follow", data={"on": "0", "csrf_token": token}).status_code == 302
    assert operator.get("/api/auto-follow").json == {"on": False}
    anonymous = app.test_client()  # a bearer-token API caller needs no cookie and therefore no CSRF token
    answer = anonymous.post("/api/auto-follow", json={"on": True},
                            headers={"Authorization": "Bearer right-token-0123456789"})
    assert answer.status_code == 200
    page = anonymous.post("/actions/auto-follow", data={"on": "0"},
                          headers={"Authorization": "Bearer right-token-0123456789"})
    assert page.status_code == 302 and urlsplit(page.headers["Location"]).path == "/login"  # pages need a login
    assert anonymous.get("/api/auto-follow", headers={"Authorization": "Bearer right-token-0123456789"}).json == \
        {"on": True}  # the page action was refused, the API call was not


def csp_directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = [w.lower() for w in words[1:]]
    return out


@pytest.mark.parametrize("path", ["/", "/accounts/", "/accounts/new", "/history", "/settings", "/login",
                                  "/api/state", "/runs/1"])
def test_security_headers_and_no_inline_script(guarded, path):
    app, client_id = guarded
    operator = logged_in(app)
    operator.post("/api/replicate", headers={"X-CSRFToken": csrf_token(operator)})
    answer = (app.test_client() if path == "/login" else operator).get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    csp = csp_directives(answer.headers.get("Content-Security-Policy", ""))
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts, "no script policy"
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(scripts), scripts
    assert csp.get("frame-ancestors") == ["'none'"] or answer.headers.get("X-Frame-Options") == "DENY"
    assert answer.headers.get("X-Frame-Options") == "DENY"
    assert csp.get("object-src") == ["'none'"] or "object-src" not in csp and csp.get("default-src") == ["'self'"]
    assert answer.headers.get("X-Content-Type-Options") == "nosniff"
    assert answer.headers.get("Referrer-Policy") in ("no-referrer", "same-origin", "strict-origin",
                                                     "strict-origin-when-cross-origin")
    if answer.mimetype == "text/html":
        page = answer.get_data(as_text=True)
        inline = [m for m in re.findall(r"<script\b[^>]*>", page, re.I)
                  if "src=" not in m.lower() and "application/json" not in m.lower()]
        assert not inline, f"inline <script> on {path} would be blocked by the CSP: {inline}"
        handlers = re.findall(r"<[^>]+\son[a-z]+\s*=", page, re.I)
        assert not handlers, f"inline event handlers on {path}: {handlers[:3]}"
        assert "javascript:" not in page.lower()
        for src in re.findall(r'<script\b[^>]*\bsrc="([^"]+)"', page, re.I):
            assert src.startswith("/") and not src.startswith("//"), f"foreign script {src}"


def test_login_locks_after_repeated_failures_even_for_the_right_password(tmp_path, sim):
    app = create_app(app_config(tmp_path, sim.url, WTF_CSRF_ENABLED=True, LOGIN_MAX_FAILURES=3,
                                LOGIN_LOCK_SECONDS=1))
    with app.app_context():
        set_setting(PASSWORD_KEY, generate_password_hash(PASSWORD))
    browser = app.test_client()
    token = csrf_token(browser, "/login")
    for _ in range(3):
        answer = browser.post("/login", data={"password": "guess-" + "x" * 8, "csrf_token": token})
        assert answer.status_code == 401 and "Wrong password" in answer.get_data(as_text=True)
    locked = browser.post("/login", data={"password": PASSWORD, "csrf_token": token})
    assert locked.status_code == 429 and "Too many failed attempts" in locked.get_data(as_text=True)
    assert browser.get("/api/state").status_code == 401  # the right password did not log in during the lock
    other = app.test_client()  # the lock is per address
    other.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert other.post("/login", data={"password": PASSWORD, "csrf_token": csrf_token(other, "/login")}) \
        .status_code == 302
    time.sleep(1.1)
    answer = browser.post("/login", data={"password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302  # the lock expires
    assert browser.get("/api/state").status_code == 200
    app.extensions["replication"].executor.shutdown()


def test_password_is_stored_hashed_and_the_session_cookie_is_locked_down(tmp_path, sim):
    app = create_app(app_config(tmp_path, sim.url, WTF_CSRF_ENABLED=True))
    browser = app.test_client()
    assert urlsplit(browser.get("/").headers["Location"]).path == "/setup"
    password = "Tr0ub4dor&3-horse-staple"
    answer = browser.post("/setup", data={"password": password, "confirm": password,
                                          "csrf_token": csrf_token(browser, "/setup")})
    assert answer.status_code == 302
    stored = dict(dump_db(app, ("setting",))["setting"])[PASSWORD_KEY]
    assert stored != password and re.match(r"^(scrypt|pbkdf2):", stored), stored[:20]
    assert check_password_hash(stored, password)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):  # the file's bytes, free pages too
        assert password.encode() not in db_path(app).read_bytes()
    assert password not in repr(dump_db(app))

    cookie = answer.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
    relog = app.test_client()
    answer = relog.post("/login", data={"password": password, "csrf_token": csrf_token(relog, "/login")})
    assert answer.status_code == 302
    cookie = answer.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
    app.extensions["replication"].executor.shutdown()


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                    "/\t/evil.example", "javascript:alert(1)", "\\\\evil.example"])
def test_login_never_redirects_off_site(guarded, target):
    app, _ = guarded
    browser = app.test_client()
    answer = browser.post("/login", query_string={"next": target},
                          data={"password": PASSWORD, "csrf_token": csrf_token(browser, "/login")})
    assert answer.status_code == 302
    location = answer.headers["Location"]
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc and not location.startswith(("//", "/\\")), location
    assert "\\" not in location and "\t" not in location, location


def test_server_binds_loopback_unless_configured(tmp_path, sim, monkeypatch):
    assert Defaults.HOST == "127.0.0.1"
    import waitress

    import app.feeds.background as background
    from app.web.serve import serve

    served = []
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: served.append(kw))
    monkeypatch.setattr(background, "start_background", lambda app: None)
    monkeypatch.delenv("FLASK_HOST", raising=False)
    default = create_app(app_config(tmp_path / "a", sim.url))
    serve(default)
    assert served[-1]["host"] == "127.0.0.1"
    monkeypatch.setenv("FLASK_HOST", "0.0.0.0")
    monkeypatch.setenv("FLASK_PORT", "5099")
    chosen = create_app(app_config(tmp_path / "b", sim.url))
    serve(chosen)
    assert (served[-1]["host"], served[-1]["port"]) == ("0.0.0.0", 5099)
    for app in (default, chosen):
        app.extensions["replication"].executor.shutdown()

    from app.sim.server import start_simulator

    assert inspect.signature(start_simulator).parameters["host"].default == "127.0.0.1"
    assert sim.host == "127.0.0.1"


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/_sim/accounts", None), ("POST", "/_sim/accounts", {"name": "Evil"}),
    ("PUT", "/_sim/faults", {"": {"p_5xx": 1}}), ("POST", "/_sim/trade", {"account": "Victim", "action": "close_all"}),
    ("POST", "/_sim/price", {"symbol": BTC, "price": "1"}), ("POST", "/_sim/reset", None), ("GET", "/_sim/", None),
    ("GET", "/_sim/orders", None), ("POST", "/_sim/accounts/Victim", {"balance": "0"}),
])
def test_simulator_admin_refuses_non_loopback_callers(sim, method, path, body):
    sim.exchange.set_price(BTC, "80000")
    sim.exchange.create_account("Victim")
    sim.exchange.open_position("Victim", BTC, "long", "0.1")
    before = (sim.exchange.list_accounts(), sim.faults.config(), sim.exchange.prices_snapshot())
    remote = sim.app.test_client()
    remote.environ_base["REMOTE_ADDR"] = "10.0.0.5"
    answer = remote.open(path, method=method, json=body)
    assert answer.status_code == 403, (method, path, answer.status_code)
    assert "loopback" in answer.get_json()["error"]["msg"]
    assert (sim.exchange.list_accounts(), sim.faults.config(), sim.exchange.prices_snapshot()) == before
    local = sim.app.test_client()
    local.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    assert local.get("/_sim/accounts").status_code == 200  # the same request from this machine works
