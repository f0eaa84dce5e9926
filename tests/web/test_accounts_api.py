"""Accounts through the JSON API against the simulator: create, validate, verify, edit, delete."""
from __future__ import annotations

import pytest

from app.store.extensions import db
from app.store.models import Account
from tests.conftest import sim_account


def payload(creds: dict, **overrides) -> dict:
    body = {"role": "client", "name": "Alice", "api_key": creds["api_key"], "api_secret": creds["api_secret"],
            "passphrase": creds["passphrase"], "demo": False, "sizing_mode": "equity_ratio", "sizing_value": "1"}
    body.update(overrides)
    return body


def count(app) -> int:
    with app.app_context():
        return db.session.query(Account).count()


def test_create_list_get_patch_delete(app, client, sim):
    creds = sim_account(sim, "alice", "5000")
    created = client.post("/api/accounts", json=payload(creds, max_leverage=10, allowed_symbols=["btcusdt"]))
    assert created.status_code == 201, created.json
    body = created.json
    assert body["api_key"] == creds["api_key"][:4] + "…" + creds["api_key"][-4:]
    assert "api_secret" not in body and "passphrase" not in body
    assert body["max_leverage"] == 10 and body["allowed_symbols"] == ["BTCUSDT"]

    listed = client.get("/api/accounts").json["accounts"]
    assert [a["name"] for a in listed] == ["Alice"]

    patched = client.patch(f"/api/accounts/{body['id']}", json={"sizing_value": "0.5", "api_secret": ""})
    assert patched.status_code == 200 and patched.json["sizing_value"] == "0.5"
    verified = client.post(f"/api/accounts/{body['id']}/verify")
    assert verified.status_code == 200, verified.json  # blank secret on edit kept the stored one

    assert client.delete(f"/api/accounts/{body['id']}").status_code == 200
    assert client.get(f"/api/accounts/{body['id']}").status_code == 404


def test_verify_reports_equity_and_position_mode(app, client, sim):
    creds = sim_account(sim, "bob", "2500", pos_mode="one_way_mode")
    account_id = client.post("/api/accounts", json=payload(creds, name="Bob")).json["id"]
    answer = client.post(f"/api/accounts/{account_id}/verify")
    assert answer.status_code == 200
    assert answer.json["ok"] is True
    assert answer.json["equity"] == "2500"
    assert answer.json["position_mode"] == "one_way_mode"
    assert answer.json["can_trade"] is True
    assert client.get(f"/api/accounts/{account_id}/balance").json["equity"] == "2500"
    assert client.get(f"/api/accounts/{account_id}/positions").json == {"positions": []}


def test_verify_wrong_passphrase_gives_502_with_bitget_code(app, client, sim):
    creds = sim_account(sim, "carol")
    # keys the exchange refuses are only stored when the operator says so
    account_id = client.post("/api/accounts", json=payload(dict(creds, passphrase="wrong-pass"), name="Carol",
                                                            verify=False)).json["id"]
    answer = client.post(f"/api/accounts/{account_id}/verify")
    assert answer.status_code == 502
    assert answer.json["error"]["bitget_code"] == "40012"
    assert "passphrase" in answer.json["error"]["message"].lower()
    account = client.get(f"/api/accounts/{account_id}").json
    assert account["verify_ok"] is False and "40012" in account["verify_message"]


def test_read_only_key_is_reported(app, client, sim):
    creds = sim_account(sim, "reader", read_only=True)
    account_id = client.post("/api/accounts", json=payload(creds, name="Reader")).json["id"]
    answer = client.post(f"/api/accounts/{account_id}/verify").json
    assert answer["ok"] is False and answer["can_trade"] is False
    assert "read-only" in answer["message"]


def test_one_master_and_unique_names(app, client, sim):
    a, b = sim_account(sim, "m1"), sim_account(sim, "m2")
    assert client.post("/api/accounts", json=payload(a, role="master", name="M")).status_code == 201
    second = client.post("/api/accounts", json=payload(b, role="master", name="M2"))
    assert second.status_code == 409 and second.json["error"]["field"] == "role"
    dup = client.post("/api/accounts", json=payload(b, name="M"))
    assert dup.status_code == 409 and dup.json["error"]["field"] == "name"
    assert count(app) == 1


@pytest.mark.parametrize("field,value", [
    ("name", ""), ("name", "x" * 65), ("name", 12), ("role", "boss"), ("api_key", ""), ("api_key", "has space"),
    ("api_secret", None), ("passphrase", "\u00e9t\u00e9"), ("demo", "maybe"), ("sizing_mode", "yolo"),
    ("sizing_value", "abc"), ("sizing_value", "-1"), ("sizing_value", "0"), ("sizing_value", "1e400"),
    ("sizing_value", "NaN"), ("sizing_value", True), ("max_leverage", "0"), ("max_leverage", "126"),
    ("max_leverage", "2.5"), ("max_notional", "-5"), ("max_open_positions", "x"), ("allowed_symbols", "BTC-USDT"),
    ("allowed_symbols", 5), ("slippage_pct", "101"), ("below_min_rule", "always"), ("unexpected", 1),
    ("daily_loss_limit", [1]), ("round_up_max_factor", "0.5"),
])
def test_bad_values_are_refused_field_by_field_and_nothing_is_stored(app, client, sim, field, value):
    creds = sim_account(sim, f"v{abs(hash((field, str(value)))) % 10**8}")
    body = payload(creds)
    body[field] = value
    answer = client.post("/api/accounts", json=body)
    assert answer.status_code == 422, answer.json
    assert answer.json["error"]["field"] == field
    assert answer.json["error"]["message"]
    assert count(app) == 0


def test_missing_required_and_non_object_bodies(app, client):
    assert client.post("/api/accounts", json={"role": "client"}).status_code == 422
    assert client.post("/api/accounts", data="not json", content_type="application/json").status_code == 422
    assert client.post("/api/accounts", json=[1, 2]).status_code == 422
    assert client.patch("/api/accounts/999", json={"name": "x"}).status_code == 404
    assert count(app) == 0


def test_api_needs_login_or_token(app, sim):
    anonymous = app.test_client()
    assert anonymous.get("/api/accounts").status_code == 401
    app.config["API_TOKEN"] = "s3cret-token-value"
    assert anonymous.get("/api/accounts", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = anonymous.get("/api/accounts", headers={"Authorization": "Bearer s3cret-token-value"})
    assert ok.status_code == 200
    creds = sim_account(sim, "tok")
    created = anonymous.post("/api/accounts", json=payload(creds), headers={"Authorization": "Bearer s3cret-token-value"})
    assert created.status_code == 201  # token callers need no CSRF token (no cookies involved)


def test_session_writes_need_csrf_token(app, client, sim):
    app.config["WTF_CSRF_ENABLED"] = True
    creds = sim_account(sim, "csrf")
    refused = client.post("/api/accounts", json=payload(creds))
    assert refused.status_code == 403 and refused.json["error"]["code"] == "csrf"
    assert count(app) == 0
