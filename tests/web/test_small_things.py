"""Small things a careful product gets right: a styled 404 for unknown pages, and a delete confirmation that
says how many positions the account holds and that they stay open."""
from __future__ import annotations

from tests.conftest import add_account


def test_an_unknown_url_gets_the_styled_not_found_page(client):
    answer = client.get("/no/such/page")
    assert answer.status_code == 404
    page = answer.get_data(as_text=True)
    assert "Not found" in page and "There is no such page" in page and 'href="/"' in page
    assert client.get("/api/no-such-route").json["error"]["code"] == "not_found"  # the API keeps JSON


def test_the_delete_confirmation_counts_the_positions_that_stay_open(app, client, sim):
    from app.feeds.refresh import refresh_accounts

    account_id = add_account(app, sim, "A", balance="5000")
    page = client.get(f"/accounts/{account_id}/delete").get_data(as_text=True)
    assert "has not read this account's positions yet" in page
    sim.exchange.open_position("A", "BTCUSDT", "long", "0.01")
    sim.exchange.open_position("A", "ETHUSDT", "short", "1")
    refresh_accounts(app)
    page = client.get(f"/accounts/{account_id}/delete").get_data(as_text=True)
    assert "holds 2 open positions" in page and "stay open" in page
    assert "BTCUSDT long 0.01" in page and "ETHUSDT short 1" in page
    sim.exchange.close_all("A")
    refresh_accounts(app)
    assert "holds no open position" in client.get(f"/accounts/{account_id}/delete").get_data(as_text=True)
