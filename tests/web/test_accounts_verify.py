"""Keys are verified before they are stored (API, form, CLI), unless the operator saves without checking; the
accounts page shows what the copier last read of each account; typed JSON input is strict and never a 500."""
from __future__ import annotations

import json
import re

import pytest

from app import create_app
from app.accounts import service
from app.feeds.refresh import refresh_accounts
from app.store.extensions import db
from app.store.models import Account
from tests.conftest import add_account, app_config, operator_client, shutdown, sim_account
from tests.reliability.helpers import BTC, dump_db


def payload(creds: dict, **overrides) -> dict:
    body = {"role": "client", "name": "Alice", "api_key": creds["api_key"], "api_secret": creds["api_secret"],
            "passphrase": creds["passphrase"]}
    body.update(overrides)
    return body


def count(app) -> int:
    with app.app_context():
        return db.session.query(Account).count()


def stored(app, account_id: int) -> Account:
    with app.app_context():
        account = db.session.get(Account, account_id)
        db.session.expunge(account)
        return account


def row(page: str, account_id: int) -> str:
    """The accounts-table row of one account (HTML)."""
    match = re.search(rf'<tr data-account-id="{account_id}">(.*?)</tr>', page, re.S)
    assert match, f"no row for account {account_id}"
    return match.group(1)


def cell(page: str, account_id: int, name: str) -> str:
    """The text of one cell of an account's row, tags and extra spaces removed."""
    match = re.search(rf'<td class="{name}">(.*?)</td>', row(page, account_id), re.S)
    assert match, f"no {name} for account {account_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


# ----- 4. verify before saving ------------------------------------------------------------------------------
def test_adding_an_account_verifies_it_and_records_uid_and_position_mode(app, client, sim):
    creds = sim_account(sim, "oneway", "2500", pos_mode="one_way_mode")
    answer = client.post("/api/accounts", json=payload(creds))
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert body["verify_ok"] is True and body["verified_at"] and body["verify_message"] == "keys work"
    assert body["position_mode"] == "one_way_mode"
    assert body["bitget_uid"] == sim.exchange.account("oneway").user_id
    account = stored(app, body["id"])
    assert account.bitget_uid == sim.exchange.account("oneway").user_id and account.verify_ok is True


@pytest.mark.parametrize("change,code,words", [
    ({"passphrase": "wrong-pass"}, "40012", "passphrase is the one you typed"),
    ({"api_secret": "not-the-secret"}, "40009", "secret is probably wrong"),
    ({"api_key": "sim_doesnotexist"}, "40006", "does not know this API key"),
    ({"demo": True}, "40099", "demo trading key"),
])
def test_keys_the_exchange_refuses_are_not_stored_unless_asked(app, client, sim, change, code, words):
    creds = sim_account(sim, "refused")
    before = dump_db(app)
    answer = client.post("/api/accounts", json=payload(creds, **change))
    assert answer.status_code == 502, answer.json
    assert answer.json["error"]["bitget_code"] == code
    message = answer.json["error"]["message"]
    assert words in message and "Nothing was saved" in message and '"verify": false' in message
    assert dump_db(app) == before and count(app) == 0
    # the operator insists: stored, and shown as not verified
    unchecked = client.post("/api/accounts", json=payload(creds, **change, verify=False))
    assert unchecked.status_code == 201, unchecked.json
    assert unchecked.json["verify_ok"] is None and unchecked.json["verified_at"] is None
    page = client.get("/accounts/").get_data(as_text=True)
    assert cell(page, unchecked.json["id"], "verify-cell") == "not verified"


def test_changing_keys_verifies_the_new_ones_and_keeps_the_old_ones_when_refused(app, client, sim):
    first, other = sim_account(sim, "first", "1000"), sim_account(sim, "other", "2000", pos_mode="one_way_mode")
    account_id = client.post("/api/accounts", json=payload(first)).json["id"]
    original = stored(app, account_id)
    refused = client.patch(f"/api/accounts/{account_id}", json={"passphrase": "wrong-pass"})
    assert refused.status_code == 502 and refused.json["error"]["bitget_code"] == "40012"
    assert "passphrase" in refused.json["error"]["message"].lower()
    kept = stored(app, account_id)
    assert (kept.passphrase_enc, kept.bitget_uid, kept.verify_ok) == (original.passphrase_enc, original.bitget_uid, True)
    assert client.post(f"/api/accounts/{account_id}/verify").status_code == 200  # the old keys still work

    switched = client.patch(f"/api/accounts/{account_id}", json={k: other[k] for k in ("api_key", "api_secret",
                                                                                       "passphrase")})
    assert switched.status_code == 200, switched.json
    assert switched.json["bitget_uid"] == sim.exchange.account("other").user_id != original.bitget_uid
    assert switched.json["position_mode"] == "one_way_mode" and switched.json["verify_ok"] is True

    unchecked = client.patch(f"/api/accounts/{account_id}", json={"passphrase": "wrong-pass", "verify": False})
    assert unchecked.status_code == 200
    assert unchecked.json["verify_ok"] is None and unchecked.json["verified_at"] is None
    # other changes never need the exchange
    assert client.patch(f"/api/accounts/{account_id}", json={"sizing_value": "2"}).status_code == 200


def test_exchange_down_refuses_clearly_and_stores_only_when_told(tmp_path, sim):
    creds = sim_account(sim, "down")
    app = create_app(app_config(tmp_path, "http://127.0.0.1:9"))  # nothing listens there: connection refused
    try:
        client = operator_client(app)
        answer = client.post("/api/accounts", json=payload(creds))
        assert answer.status_code == 502, answer.json
        message = answer.json["error"]["message"]
        assert "could not be reached" in message and "Nothing was saved" in message
        assert count(app) == 0
        page = client.post("/accounts/new", data=payload(creds))
        assert page.status_code == 502 and "could not be reached" in page.get_data(as_text=True)
        assert 'id="unchecked-hint"' in page.get_data(as_text=True)
        assert count(app) == 0
        saved = client.post("/api/accounts", json=payload(creds, verify=False))
        assert saved.status_code == 201 and saved.json["verify_ok"] is None
    finally:
        shutdown(app)


@pytest.mark.parametrize("value", ["no", "", 0, None, "false"])
def test_the_verify_flag_is_a_json_boolean(app, client, sim, value):
    creds = sim_account(sim, f"flag{value!r}")
    answer = client.post("/api/accounts", json=payload(creds, passphrase="wrong-pass", verify=value))
    assert answer.status_code == 422 and answer.json["error"]["field"] == "verify"
    assert count(app) == 0


def test_the_form_verifies_and_has_a_save_without_checking_button(app, client, sim):
    creds = sim_account(sim, "formed", "3000")
    form = payload(creds, api_secret="0" * 64, sizing_mode="equity_ratio", sizing_value="1")
    page = client.get("/accounts/new").get_data(as_text=True)
    assert 'name="verify" value="skip"' in page and "Save without checking" in page
    refused = client.post("/accounts/new", data=form)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 502
    assert "secret is probably wrong" in text and 'id="unchecked-hint"' in text
    assert count(app) == 0
    added = client.post("/accounts/new", data={**form, "verify": "skip"}, follow_redirects=True)
    assert added.status_code == 200 and "Added Alice: keys not checked" in added.get_data(as_text=True)
    account_id = client.get("/api/accounts").json["accounts"][0]["id"]
    assert cell(added.get_data(as_text=True), account_id, "verify-cell") == "not verified"
    # the right secret through the edit form: checked, and the row shows it
    edit = {**form, "api_key": "", "api_secret": creds["api_secret"], "passphrase": ""}
    saved = client.post(f"/accounts/{account_id}/edit", data=edit, follow_redirects=True)
    text = saved.get_data(as_text=True)
    assert "Saved Alice: keys work (hedge mode)" in text
    assert cell(text, account_id, "verify-cell").startswith("ok keys work")
    # a wrong passphrase through the edit form: refused, nothing changed
    before = dump_db(app)
    refused = client.post(f"/accounts/{account_id}/edit", data={**edit, "api_secret": "", "passphrase": "nope-nope"})
    assert refused.status_code == 502 and "passphrase" in refused.get_data(as_text=True).lower()
    assert dump_db(app) == before


def test_cli_add_verifies_unless_no_verify(app, sim):
    creds = sim_account(sim, "cli", "3000")
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["accounts", "add", "--name", "Eve", "--api-key", creds["api_key"]],
                            input=f"{creds['api_secret']}\nwrong-pass\n")
    assert refused.exit_code != 0 and "Passphrase is wrong" in refused.output and "--no-verify" in refused.output
    assert count(app) == 0
    unchecked = runner.invoke(args=["accounts", "add", "--name", "Eve", "--api-key", creds["api_key"], "--no-verify"],
                              input=f"{creds['api_secret']}\nwrong-pass\n")
    assert unchecked.exit_code == 0 and "not verified" in unchecked.output
    good = runner.invoke(args=["accounts", "add", "--name", "Fay", "--api-key", creds["api_key"]],
                         input=f"{creds['api_secret']}\n{creds['passphrase']}\n")
    assert good.exit_code == 0 and "keys work" in good.output
    assert "unverified" in runner.invoke(args=["accounts", "list"]).output


# ----- 5. the accounts page shows the cached state ---------------------------------------------------------------
def test_accounts_page_shows_position_mode_last_read_and_last_error_from_the_cache(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    master_id = add_account(app, sim, "Master", role="master")
    client_id = add_account(app, sim, "OneWay", pos_mode="one_way_mode")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    page = client.get("/accounts/").get_data(as_text=True)
    assert cell(page, client_id, "verify-cell") == "not verified"  # nothing known yet
    assert cell(page, client_id, "mode-cell") == "—"

    assert refresh_accounts(app) == 0
    page = client.get("/accounts/").get_data(as_text=True)
    assert cell(page, client_id, "mode-cell") == "one-way"
    assert cell(page, master_id, "mode-cell") == "hedge"  # from the master's open positions
    for account_id in (master_id, client_id):
        assert cell(page, account_id, "verify-cell") == "ok keys work (read by the copier)"
        assert re.fullmatch(r"\d\d:\d\d:\d\d UTC", cell(page, account_id, "read-cell"))

    with app.app_context():  # the key stops working (stored without checking, as a revoked key would behave)
        service.update_account(client_id, {"passphrase": "nolongervalid"})
    refresh_accounts(app)
    page = client.get("/accounts/").get_data(as_text=True)
    assert cell(page, client_id, "verify-cell") == "not verified"
    assert cell(page, client_id, "read-cell").startswith("error Passphrase is wrong")
    assert "Passphrase is wrong" not in row(page, master_id)


# ----- 11. strict JSON, no 500 --------------------------------------------------------------------------------
SURROGATE = "\ud800"
STRING_FIELDS = ("role", "name", "api_key", "api_secret", "passphrase", "sizing_mode", "loss_action",
                 "below_min_rule", "allowed_symbols", "sizing_value", "max_leverage", "demo")


def raw_json(test_client, method: str, path: str, body: dict):
    return test_client.open(path, method=method, data=json.dumps(body), content_type="application/json")


def test_a_lone_surrogate_is_refused_with_422_never_a_500(app, client, sim):
    creds = sim_account(sim, "surrogate")
    answer = raw_json(client, "POST", "/api/accounts", payload(creds, name=f"A{SURROGATE}b"))
    assert answer.status_code == 422 and answer.json["error"]["field"] == "name", answer.get_data(as_text=True)
    assert count(app) == 0
    account_id = add_account(app, sim, "Plain")
    before = dump_db(app)
    for field in STRING_FIELDS:
        for method, path in (("POST", "/api/accounts"), ("PATCH", f"/api/accounts/{account_id}")):
            body = payload(creds) if method == "POST" else {}
            body[field] = SURROGATE
            answer = raw_json(client, method, path, body)
            assert answer.status_code == 422, (method, field, answer.status_code)
            assert answer.json["error"]["field"] == field
    unknown = raw_json(client, "POST", "/api/accounts", {**payload(creds), SURROGATE: 1})
    assert unknown.status_code == 422
    assert dump_db(app) == before
    runner = app.test_cli_runner()
    assert "No account" in runner.invoke(args=["accounts", "verify", "\udcff"]).output
    refused = runner.invoke(args=["accounts", "add", "--name", "x\udcff", "--api-key", "k", "--api-secret", "s",
                                  "--passphrase", "p"])
    assert refused.exit_code != 0 and "valid Unicode" in refused.output


@pytest.mark.parametrize("field", ["demo", "enabled", "paused", "copy_existing", "reenter_after_external_close"])
@pytest.mark.parametrize("value", ["yes", "", "true", "on", 1, 0, None])
def test_json_flags_accept_true_or_false_only(app, client, sim, field, value):
    creds = sim_account(sim, f"b{field}{value!r}")
    answer = client.post("/api/accounts", json=payload(creds, **{field: value}))
    assert answer.status_code == 422 and answer.json["error"]["field"] == field, answer.json
    assert "true or false" in answer.json["error"]["message"]
    assert count(app) == 0


@pytest.mark.parametrize("field", ["max_leverage", "max_notional", "max_open_positions", "daily_loss_limit",
                                   "drawdown_limit_pct", "slippage_pct"])
def test_json_optional_numbers_are_a_number_or_null(app, client, sim, field):
    creds = sim_account(sim, f"n{field}")
    for blank in ("", " "):
        answer = client.post("/api/accounts", json=payload(creds, **{field: blank}))
        assert answer.status_code == 422 and answer.json["error"]["field"] == field, answer.json
        assert "null" in answer.json["error"]["message"]
    assert count(app) == 0
    created = client.post("/api/accounts", json=payload(creds, **{field: 5}))
    assert created.status_code == 201 and created.json[field] in (5, "5")
    account_id = created.json["id"]
    assert client.patch(f"/api/accounts/{account_id}", json={field: " "}).status_code == 422
    assert client.patch(f"/api/accounts/{account_id}", json={field: "7"}).json[field] in (7, "7")
    assert client.patch(f"/api/accounts/{account_id}", json={field: None}).json[field] is None  # no limit


def test_the_form_keeps_its_text_semantics(app, client, sim):
    account_id = add_account(app, sim, "Formy", max_leverage=10, paused=True)
    form = {"name": "Formy", "sizing_mode": "equity_ratio", "sizing_value": "1", "loss_action": "close_only",
            "below_min_rule": "skip", "round_up_max_factor": "2", "max_leverage": "", "slippage_pct": " ",
            "enabled": "on"}
    assert client.post(f"/accounts/{account_id}/edit", data=form).status_code == 302
    account = client.get(f"/api/accounts/{account_id}").json
    assert account["max_leverage"] is None and account["slippage_pct"] is None  # empty field = no limit
    assert account["paused"] is False and account["demo"] is False and account["enabled"] is True  # checkboxes
