"""The operator page /_sim/ creates an account (name, balance, position mode) and shows its API key, secret and
passphrase once, on the answer to that form only; the keys then work against the simulator's Bitget API."""
from __future__ import annotations

import re

import requests

from .conftest import PT, SignedClient


def page_token(sim) -> str:
    html = requests.get(f"{sim.url}/_sim/", timeout=5).text
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found, "the page has no form token"
    return found.group(1)


def test_the_page_creates_an_account_and_shows_its_keys_once(sim) -> None:
    page = requests.get(f"{sim.url}/_sim/", timeout=5)
    assert 'id="create-account-form"' in page.text and "Create an account" in page.text
    token = page_token(sim)
    answer = requests.post(f"{sim.url}/_sim/ui/account", timeout=5, allow_redirects=False,
                           data={"token": token, "name": "Client D", "balance": "2500", "pos_mode": "one_way_mode"})
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers.get("Cache-Control") == "no-store"
    created = next(a for a in sim.exchange.list_accounts() if a["name"] == "Client D")
    assert (created["balance"], created["pos_mode"]) == ("2500", "one_way_mode")
    for secret in (created["api_key"], created["api_secret"], created["passphrase"]):
        assert secret in answer.text  # shown right after creation...
        assert secret not in answer.url
        assert secret not in requests.get(f"{sim.url}/_sim/?account=Client+D", timeout=5).text  # ...and only then
    assert 'id="new-credentials"' in answer.text and "Client D" in answer.text

    # the keys shown are the account's working Bitget keys
    signed = SignedClient(sim.url, created)
    rows = signed.get("/api/v2/mix/account/accounts", productType=PT)  # asserts code 00000
    assert rows[0]["available"] == "2500"


def test_bad_input_and_a_wrong_token_create_nothing(sim) -> None:
    token = page_token(sim)
    url = f"{sim.url}/_sim/ui/account"
    assert requests.post(url, data={"token": "wrong", "name": "X"}, timeout=5).status_code == 403
    remote = sim.app.test_client()
    remote.environ_base["REMOTE_ADDR"] = "10.0.0.5"  # the page and its forms are for this machine only
    assert remote.post("/_sim/ui/account", data={"token": token, "name": "X"}).status_code == 403
    for form, says in (({"name": ""}, "Give the account a name"),
                       ({"name": "Y", "balance": "-5"}, "the balance must be a number"),
                       ({"name": "Y", "balance": "lots"}, "the balance must be a number"),
                       ({"name": "Y", "pos_mode": "sideways"}, "hedge or one-way")):
        answer = requests.post(url, data={"token": token, **form}, timeout=5)
        assert answer.status_code == 200 and says in answer.text, (form, answer.text[:300])
    assert sim.exchange.list_accounts() == []
    requests.post(url, data={"token": token, "name": "Z"}, timeout=5)
    again = requests.post(url, data={"token": token, "name": "Z"}, timeout=5)
    assert "Account not created" in again.text and "already exists" in again.text
    assert [a["name"] for a in sim.exchange.list_accounts()] == ["Z"]
    assert next(a for a in sim.exchange.list_accounts())["balance"] == "10000"  # the default balance


def test_identity_endpoint_names_the_simulator(sim) -> None:
    from app.sim import IDENTITY

    body = requests.get(f"{sim.url}/_sim/identity", timeout=5).json()
    assert body["service"] == IDENTITY["service"] == "bitget-copier-simulator"
