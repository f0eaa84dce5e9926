"""Property-based hostile input over every JSON route and form that takes input: random types, huge numbers,
unicode, missing and extra fields. Always a 4xx with a clear message, never a 5xx, and the database unchanged."""
from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from werkzeug.security import generate_password_hash

from app import create_app
from app.accounts.validation import FIELD_PARSERS, clean_account_input
from app.errors import ValidationError
from app.sim.server import start_simulator
from app.store.models import set_setting
from app.web.security import PASSWORD_KEY
from app.web.settings_validation import clean_notification_settings
from tests.conftest import app_config, operator_client, sim_account
from tests.reliability.helpers import BTC, dump_db, held

from .strategies import (
    CREDENTIALS,
    bad_account_form,
    bad_account_json,
    encode,
    form_values,
    json_values,
    raw_bodies,
    unknown_keys,
)

PASSWORD = "correct horse battery"
HOSTILE = settings(max_examples=50, deadline=None, derandomize=False,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.filter_too_much])
FEW = settings(HOSTILE, max_examples=25)
ACTION_ROUTES = ("/api/replicate", "/api/replicate/preview", "/api/tpsl", "/api/refresh")
FORM_BOXES = ("demo", "enabled", "paused", "copy_existing")
text_ids = st.text(alphabet=st.characters(exclude_characters="/\\?#%.", exclude_categories=["Cs"]), min_size=1,
                   max_size=12).filter(lambda s: not s.isdigit())
bad_ids = st.one_of(st.integers(min_value=10_000, max_value=10**30), st.integers(max_value=-1), text_ids,
                    # beyond PostgreSQL's and SQLite's integers
                    st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30, "9" * 40]))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One app for the whole module (each example must leave it unchanged): a master with a position and two clients."""
    sim = start_simulator(port=0, price_walk=False)
    app = create_app(app_config(tmp_path_factory.mktemp("hostile"), sim.url, LOGIN_MAX_FAILURES=10**9))
    from app.accounts import service

    ids = {}
    with app.app_context():
        set_setting(PASSWORD_KEY, generate_password_hash(PASSWORD))
        for role, name in (("master", "Master"), ("client", "Alpha"), ("client", "Beta")):
            creds = sim_account(sim, name)
            ids[name] = service.create_account({"role": role, "name": name, **{k: creds[k] for k in CREDENTIALS},
                                                "sizing_mode": "multiplier", "sizing_value": "0.5"}).id
    sim.exchange.set_price(BTC, "80000")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    yield app, sim, ids
    app.extensions["replication"].executor.shutdown()
    sim.stop()


@pytest.fixture
def client(world):
    return operator_client(world[0])


class Unchanged:
    """Snapshot of the database and of the exchange; `check()` asserts neither moved."""

    def __init__(self, world) -> None:
        self.app, self.sim, _ = world
        self.db = dump_db(self.app)
        self.fills = len(self.sim.exchange.order_log_rows())
        self.master = held(self.sim, "Master")

    def check(self) -> None:
        assert dump_db(self.app) == self.db, "the database changed on refused input"
        assert len(self.sim.exchange.order_log_rows()) == self.fills, "an order was sent on refused input"
        assert held(self.sim, "Master") == self.master


def api_refused(response, *statuses: int) -> str:
    """A 4xx JSON error with a short, readable message; returns the message."""
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), response.get_data(as_text=True)[:300]
    message = body["error"]["message"]
    assert isinstance(message, str) and 5 <= len(message) <= 300, message
    return message


def page_refused(response, message: str | None = None) -> None:
    """A 4xx page that shows the reason."""
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert 400 <= response.status_code < 500, response.status_code
    if message:
        assert str(escape(message)) in response.get_data(as_text=True), message


def post_raw(test_client, path: str, raw: bytes, content_type: str = "application/json", method: str = "post"):
    return getattr(test_client, method)(path, data=raw, content_type=content_type)


# ----- JSON API -----------------------------------------------------------------------------------------------
NEW_ACCOUNT = {"role": "client", "name": "Fresh", "api_key": "bg_fresh_key", "api_secret": "fresh-secret",
               "passphrase": "freshpass"}


@HOSTILE
@given(body=bad_account_json(NEW_ACCOUNT, creating=True))
def test_create_account_refuses_bad_json(world, client, body):
    before = Unchanged(world)
    api_refused(post_raw(client, "/api/accounts", encode(body)), 409, 422)
    before.check()


@HOSTILE
@given(body=bad_account_json({}, creating=False), who=st.sampled_from(["Master", "Alpha"]))
def test_update_account_refuses_bad_json(world, client, body, who):
    before = Unchanged(world)
    api_refused(post_raw(client, f"/api/accounts/{world[2][who]}", encode(body), method="patch"), 409, 422)
    before.check()


@HOSTILE
@given(path=st.sampled_from(["/api/accounts", "/api/accounts/{Alpha}", "/api/close-all", "/api/close-symbol",
                             "/api/auto-follow", *ACTION_ROUTES, "/api/sync/{Alpha}"]),
       payload=st.one_of(json_values.filter(lambda v: not isinstance(v, dict)).map(encode), raw_bodies),
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"]))
def test_every_json_route_refuses_bodies_that_are_not_a_json_object(world, client, path, payload, content_type):
    path = path.format(**world[2])
    assume(payload.strip() != b"" or path in ("/api/accounts", "/api/close-all", "/api/close-symbol")
           or path.startswith("/api/accounts/"))  # an empty body means "no options" for the action routes
    try:
        parsed = json.loads(payload)
    except (ValueError, RecursionError):
        parsed = None
    assume(not (isinstance(parsed, dict) and "json" in content_type))  # objects are the other tests' business
    method = "patch" if re.fullmatch(r"/api/accounts/\d+", path) else "post"
    before = Unchanged(world)
    api_refused(post_raw(client, path, payload, content_type, method), 422)
    before.check()


@HOSTILE
@given(path=st.sampled_from([*ACTION_ROUTES, "/api/sync/{Alpha}"]),
       body=st.dictionaries(unknown_keys, json_values, min_size=1, max_size=4))
def test_action_routes_refuse_any_field(world, client, path, body):
    before = Unchanged(world)
    message = api_refused(post_raw(client, path.format(**world[2]), encode(body)), 422)
    assert "Unknown field" in message
    before.check()


@HOSTILE
@given(data=st.dictionaries(st.sampled_from(["confirm", "symbol"]) | unknown_keys, json_values, max_size=4),
       which=st.sampled_from(["/api/close-all", "/api/close-symbol"]))
def test_close_routes_refuse_anything_but_an_explicit_confirmation(world, client, data, which):
    allowed = {"confirm"} if which == "/api/close-all" else {"confirm", "symbol"}
    assume(data.get("confirm") is not True or not set(data) <= allowed)
    before = Unchanged(world)
    api_refused(post_raw(client, which, encode(data)), 422)
    before.check()


@HOSTILE
@given(data=st.dictionaries(st.just("on") | unknown_keys, json_values, max_size=3))
def test_auto_follow_refuses_anything_but_a_boolean(world, client, data):
    assume(not (set(data) == {"on"} and isinstance(data["on"], bool)))
    before = Unchanged(world)
    api_refused(post_raw(client, "/api/auto-follow", encode(data)), 422)
    before.check()


@HOSTILE
@given(account_id=bad_ids, route=st.sampled_from([
    ("get", "/api/accounts/{}"), ("patch", "/api/accounts/{}"), ("delete", "/api/accounts/{}"),
    ("post", "/api/accounts/{}/verify"), ("get", "/api/accounts/{}/balance"), ("post", "/api/sync/{}"),
    ("get", "/api/runs/{}"), ("get", "/runs/{}"), ("get", "/accounts/{}/edit"), ("post", "/accounts/{}/edit"),
    ("get", "/accounts/{}/delete"), ("post", "/accounts/{}/delete"), ("post", "/accounts/{}/verify"),
    ("post", "/actions/sync/{}"),
]))
def test_unknown_huge_negative_or_text_ids_are_404(world, client, account_id, route):
    method, template = route
    before = Unchanged(world)
    kwargs = {"json": {"name": "Renamed"}} if method == "patch" else {}
    response = getattr(client, method)(template.format(quote(str(account_id), safe="")), **kwargs)
    assert response.status_code < 500, (route, account_id)
    if template.startswith("/actions/") and response.status_code == 302:
        with client.session_transaction() as session:
            flashed = [(c, m) for c, m in session.get("_flashes", [])]
        assert flashed and flashed[-1][0] == "error" and flashed[-1][1], flashed
    else:
        assert response.status_code in (404, 405), (route, account_id, response.status_code)
    before.check()


@FEW
@example(value="99999999999999999999999")
@example(value="²")
@example(value="١٢")
@given(value=st.one_of(form_values(), st.sampled_from(["-1", "1.5", "2024-02-30", "9999-12-31", "0001-01-01"])))
def test_history_filters_never_crash(world, client, value):
    before = Unchanged(world)
    for key in ("account", "action", "status", "from", "to"):
        for path in ("/api/runs", "/history", "/history.csv"):
            response = client.get(path, query_string={key: value})
            assert response.status_code == 200, (path, key, value, response.status_code)
    before.check()


# ----- forms -----------------------------------------------------------------------------------------------------
def expected_form_error(app, form: dict, creating: bool) -> str:
    """What the validator says about a form (the page must show it)."""
    data = {k: v for k, v in form.items() if k in FIELD_PARSERS}
    for box in FORM_BOXES:
        data[box] = box in form
    with app.app_context():
        try:
            clean_account_input(data, creating=creating)
        except ValidationError as exc:
            return exc.message
    raise AssertionError(f"the strategy produced a valid form: {form}")


@HOSTILE
@given(form=bad_account_form(NEW_ACCOUNT, creating=True))
def test_new_account_form_refuses_bad_input(world, client, form):
    before = Unchanged(world)
    message = expected_form_error(world[0], form, creating=True)
    page_refused(client.post("/accounts/new", data=form), message)
    before.check()


@HOSTILE
@given(form=bad_account_form({"name": "Alpha", "sizing_mode": "multiplier", "sizing_value": "0.5",
                              "loss_action": "close_only", "below_min_rule": "skip", "round_up_max_factor": "2"},
                             creating=False))
def test_edit_account_form_refuses_bad_input(world, client, form):
    before = Unchanged(world)
    message = expected_form_error(world[0], form, creating=False)
    page_refused(client.post(f"/accounts/{world[2]['Alpha']}/edit", data=form), message)
    before.check()


bad_urls = st.one_of(
    st.sampled_from(["ftp://example.com/x", "javascript:alert(1)", "http://", "https://", "example.com/hook",
                     "http://exa mple.com/", "http://a\x00b/", "http://[::1", "http://x/" + "a" * 600,
                     "file:///etc/passwd", "//example.com", "http:\\\\example.com"]),
    st.text(max_size=30).filter(lambda s: s.strip() and not s.strip().lower().startswith("http")),
)
bad_chat_ids = st.text(min_size=1, max_size=30).filter(
    lambda s: s.strip() and not re.fullmatch(r"-?[0-9]{1,20}|@[A-Za-z0-9_]{4,64}", s.strip()))
bad_tokens = st.text(min_size=1, max_size=80).filter(
    lambda s: s.strip() and not re.fullmatch(r"[0-9]{3,15}:[A-Za-z0-9_-]{20,64}", s.strip()))


SETTINGS_FIELDS = ("DISCORD_WEBHOOK_URL", "WEBHOOK_URL", "TELEGRAM_CHAT_ID", "TELEGRAM_BOT_TOKEN")


@HOSTILE
@given(field=st.sampled_from(SETTINGS_FIELDS),
       data=st.data(),
       noise=st.dictionaries(st.sampled_from(["auto_follow", "event_run_summary", "event_failures",
                                              "clear_telegram_token"]) | unknown_keys.filter(lambda k: k != "test"),
                             form_values(), max_size=4))
def test_settings_form_refuses_bad_destinations(world, client, field, data, noise):
    value = data.draw({"TELEGRAM_CHAT_ID": bad_chat_ids, "TELEGRAM_BOT_TOKEN": bad_tokens}.get(field, bad_urls))
    form = {k: v for k, v in noise.items() if k not in ("test", "csrf_token", *SETTINGS_FIELDS)}
    form[field] = value
    with pytest.raises(ValidationError) as refused:  # what the page must say
        clean_notification_settings(form)
    assert refused.value.field == field
    before = Unchanged(world)
    page_refused(client.post("/settings", data=form), refused.value.message)
    before.check()


@FEW  # each attempt costs a password hash check
@given(password=st.one_of(st.text(max_size=50), st.sampled_from(["", " " * 1000, "\x00", PASSWORD + " ",
                                                                  PASSWORD.upper(), "x" * 100_000])),
       extra=st.dictionaries(unknown_keys.filter(lambda k: k not in ("password", "csrf_token")), form_values(),
                             max_size=3))
def test_login_refuses_wrong_passwords_of_any_shape(world, password, extra):
    assume(password != PASSWORD)
    before = Unchanged(world)
    anonymous = world[0].test_client()
    response = anonymous.post("/login", data={"password": password, **extra})
    page_refused(response, "Wrong password.")
    with anonymous.session_transaction() as session:
        assert not session.get("operator")
    before.check()


@FEW
@given(confirm_text=form_values().filter(lambda s: s.strip() != "CLOSE"),
       symbol=form_values(), confirm=form_values().filter(lambda s: s != "yes"),
       which=st.sampled_from(["/actions/close-all", "/actions/close-symbol"]))
def test_close_buttons_refuse_without_the_typed_confirmation(world, client, confirm_text, symbol, confirm, which):
    before = Unchanged(world)
    response = client.post(which, data={"confirm_text": confirm_text, "symbol": symbol, "confirm": confirm})
    assert response.status_code == 302
    with client.session_transaction() as session:
        flashed = session.pop("_flashes", [])
    assert flashed and flashed[-1][0] == "error" and ("CLOSE" in flashed[-1][1] or "confirm" in flashed[-1][1])
    before.check()


@FEW
@given(on=form_values())
def test_auto_follow_button_only_ever_sets_the_toggle(world, client, on):
    before = dump_db(world[0])
    assert client.post("/actions/auto-follow", data={"on": on}).status_code == 302
    after = dump_db(world[0])
    expected = "1" if on == "1" else "0"
    assert ("auto_follow", expected) in after["setting"]
    strip = lambda rows: [r for r in rows if r[0] != "auto_follow"]  # noqa: E731
    assert strip(after["setting"]) == strip(before["setting"])
    assert {k: v for k, v in after.items() if k != "setting"} == {k: v for k, v in before.items() if k != "setting"}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """An app on its very first start: no operator password yet."""
    sim = start_simulator(port=0, price_walk=False)
    app = create_app(app_config(tmp_path_factory.mktemp("fresh"), sim.url))
    yield app, sim, {}
    app.extensions["replication"].executor.shutdown()
    sim.stop()


@HOSTILE
@given(password=st.one_of(st.text(max_size=30), st.sampled_from(["", "short", "x" * 100_000])),
       confirm=st.one_of(st.text(max_size=30), st.none()))
def test_first_run_setup_refuses_short_or_mismatched_passwords(fresh, password, confirm):
    form = {"password": password}
    if confirm is not None:
        form["confirm"] = confirm
    assume(len(password) < 10 or form.get("confirm", "") != password)
    before = dump_db(fresh[0])
    response = fresh[0].test_client().post("/setup", data=form)
    page_refused(response)
    page = response.get_data(as_text=True)
    assert "at least 10 characters" in page or "passwords differ" in page
    assert dump_db(fresh[0]) == before
