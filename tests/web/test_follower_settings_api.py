"""Follower settings through the JSON API and the account form: round trip, 422 per field, nothing stored on error."""
from __future__ import annotations

import pytest
from markupsafe import escape

from app.store.extensions import db
from app.store.models import Account
from tests.conftest import sim_account
from tests.web.test_accounts_api import count, payload

FOLLOWER = {"leverage_mode": "fixed", "fixed_leverage": 5, "margin_mode": "isolated", "tpsl_mode": "own",
            "tp_pct": "5", "sl_pct": "2", "sizing_mode": "fixed_quantity",
            "fixed_quantities": {"btcusdt": "0.01", "ETHUSDT": 0.5}, "max_margin": "250"}


def stored(app, account_id: int) -> dict:
    with app.app_context():
        a = db.session.get(Account, account_id)
        return {"leverage_mode": a.leverage_mode, "fixed_leverage": a.fixed_leverage, "margin_mode": a.margin_mode,
                "tpsl_mode": a.tpsl_mode, "tp_pct": a.tp_pct, "sl_pct": a.sl_pct, "sizing_mode": a.sizing_mode,
                "fixed_quantities": a.fixed_quantities, "max_margin": a.max_margin}


def test_defaults_keep_todays_behaviour(app, client, sim):
    body = client.post("/api/accounts", json=payload(sim_account(sim, "d"))).json
    assert {k: body[k] for k in ("leverage_mode", "fixed_leverage", "margin_mode", "tpsl_mode", "tp_pct", "sl_pct",
                                 "fixed_quantities", "max_margin")} == {
        "leverage_mode": "follow", "fixed_leverage": None, "margin_mode": "follow", "tpsl_mode": "follow",
        "tp_pct": None, "sl_pct": None, "fixed_quantities": {}, "max_margin": None}


def test_every_follower_setting_round_trips_as_decimal_text(app, client, sim):
    created = client.post("/api/accounts", json=payload(sim_account(sim, "f"), **FOLLOWER))
    assert created.status_code == 201, created.json
    body = client.get(f"/api/accounts/{created.json['id']}").json
    assert body["leverage_mode"] == "fixed" and body["fixed_leverage"] == 5 and body["margin_mode"] == "isolated"
    assert (body["tpsl_mode"], body["tp_pct"], body["sl_pct"]) == ("own", "5", "2")
    assert body["sizing_mode"] == "fixed_quantity"
    assert body["fixed_quantities"] == {"BTCUSDT": "0.01", "ETHUSDT": "0.5"} and body["max_margin"] == "250"
    patched = client.patch(f"/api/accounts/{body['id']}", json={"sizing_mode": "fixed_notional", "sizing_value": "300",
                                                                "tpsl_mode": "none", "max_margin": None})
    assert patched.status_code == 200
    assert (patched.json["sizing_mode"], patched.json["tpsl_mode"], patched.json["max_margin"]) == (
        "fixed_notional", "none", None)


@pytest.mark.parametrize("field,value", [
    ("leverage_mode", "max"), ("leverage_mode", None), ("fixed_leverage", 0), ("fixed_leverage", 126),
    ("fixed_leverage", "2.5"), ("fixed_leverage", ""), ("margin_mode", "cross"), ("margin_mode", 1),
    ("tpsl_mode", "mine"), ("tp_pct", "-1"), ("tp_pct", "1001"), ("tp_pct", "NaN"), ("sl_pct", "99.5"),
    ("sl_pct", True), ("max_margin", "0"), ("max_margin", "-5"), ("max_margin", ""), ("sizing_mode", "fixed_size"),
    ("fixed_quantities", "BTCUSDT=0.01"), ("fixed_quantities", ["BTCUSDT"]), ("fixed_quantities", {"BTC-USDT": "1"}),
    ("fixed_quantities", {"BTCUSDT": "0"}), ("fixed_quantities", {"BTCUSDT": "abc"}),
    ("fixed_quantities", {"BTCUSDT": None}),
])
def test_bad_values_are_refused_by_field_and_nothing_is_stored(app, client, sim, field, value):
    creds = sim_account(sim, f"b{abs(hash((field, str(value)))) % 10**8}")
    answer = client.post("/api/accounts", json=payload(creds, **{field: value}))
    assert answer.status_code == 422, answer.json
    assert answer.json["error"]["field"] == field and answer.json["error"]["message"]
    assert count(app) == 0


@pytest.mark.parametrize("change,field", [
    ({"leverage_mode": "fixed"}, "fixed_leverage"),
    ({"tpsl_mode": "own"}, "tp_pct"),
    ({"tpsl_mode": "own", "tp_pct": "0", "sl_pct": None}, "tp_pct"),
    ({"sizing_mode": "fixed_quantity"}, "fixed_quantities"),
    ({"sizing_mode": "fixed_quantity", "fixed_quantities": {}}, "fixed_quantities"),
])
def test_incomplete_combinations_are_refused_and_change_nothing(app, client, sim, change, field):
    assert client.post("/api/accounts", json=payload(sim_account(sim, "c"), **change)).status_code == 422
    assert count(app) == 0
    account_id = client.post("/api/accounts", json=payload(sim_account(sim, "c2"))).json["id"]
    before = stored(app, account_id)
    answer = client.patch(f"/api/accounts/{account_id}", json={**change, "max_margin": "10"})
    assert answer.status_code == 422 and answer.json["error"]["field"] == field, answer.json
    assert stored(app, account_id) == before


def test_a_stored_value_completes_a_later_change(app, client, sim):
    account_id = client.post("/api/accounts", json=payload(sim_account(sim, "s"), fixed_leverage=8)).json["id"]
    assert client.patch(f"/api/accounts/{account_id}", json={"leverage_mode": "fixed"}).status_code == 200
    assert client.patch(f"/api/accounts/{account_id}", json={"fixed_leverage": None}).status_code == 422
    assert stored(app, account_id)["fixed_leverage"] == 8


def form(creds: dict, **overrides) -> dict:
    data = {"role": "client", "name": "Formy", "api_key": creds["api_key"], "api_secret": creds["api_secret"],
            "passphrase": creds["passphrase"], "enabled": "on", "sizing_mode": "fixed_quantity", "sizing_value": "1",
            "fixed_quantities": "BTCUSDT=0.01, ethusdt: 0.5", "leverage_mode": "fixed", "fixed_leverage": "4",
            "margin_mode": "crossed", "tpsl_mode": "own", "tp_pct": "5", "sl_pct": "", "max_margin": "120",
            "below_min_rule": "skip", "round_up_max_factor": "2", "loss_action": "close_only", "slippage_pct": "0.5"}
    data.update(overrides)
    return data


def test_the_form_explains_saves_and_shows_the_follower_settings(app, client, sim):
    page = client.get("/accounts/new").get_data(as_text=True)
    for name in ("leverage_mode", "fixed_leverage", "margin_mode", "tpsl_mode", "tp_pct", "sl_pct",
                 "fixed_quantities", "max_margin"):
        assert f'name="{name}"' in page, name
    assert "apply from the next copy the copier opens" in page
    assert "A copy that is already open keeps" in page
    saved = client.post("/accounts/new", data=form(sim_account(sim, "form")), follow_redirects=True)
    assert saved.status_code == 200
    with app.app_context():
        account = db.session.query(Account).filter_by(name="Formy").one()
        account_id = account.id
    values = stored(app, account_id)
    assert {k: str(v) for k, v in values["fixed_quantities"].items()} == {"BTCUSDT": "0.01", "ETHUSDT": "0.5"}
    assert (values["leverage_mode"], values["fixed_leverage"], values["tpsl_mode"], str(values["tp_pct"]),
            values["sl_pct"], str(values["max_margin"])) == ("fixed", 4, "own", "5", None, "120")
    edit = client.get(f"/accounts/{account_id}/edit").get_data(as_text=True)
    assert 'value="BTCUSDT=0.01, ETHUSDT=0.5"' in edit
    assert '<option value="own" selected>' in edit and '<option value="crossed" selected>' in edit
    assert "fixed quantity BTCUSDT 0.01, ETHUSDT 0.5" in client.get("/accounts/").get_data(as_text=True)


def test_the_form_shows_a_bad_combination_next_to_its_field(app, client, sim):
    refused = client.post("/accounts/new", data=form(sim_account(sim, "bad"), tp_pct="", sl_pct="0"))
    assert refused.status_code == 422
    message = "Own TP/SL needs a take-profit % or a stop-loss % (or both)."
    assert str(escape(message)) in refused.get_data(as_text=True)
    bad_quantity = client.post("/accounts/new", data=form(sim_account(sim, "bad2"), fixed_quantities="BTCUSDT"))
    assert bad_quantity.status_code == 422 and "write SYMBOL=SIZE" in bad_quantity.get_data(as_text=True)
    assert count(app) == 0
