"""The app's routes, enumerated from its URL map, with request bodies that would be accepted."""
from __future__ import annotations

from flask import url_for

BTC = "BTCUSDT"
PASSWORD = "correct horse battery"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def body_for(endpoint: str, client_id: int) -> dict:
    """A request body that would be accepted if the caller were allowed (so a refusal is about access)."""
    account = {"role": "client", "name": "Intruder", "api_key": "bg_intruder", "api_secret": "intruder-secret",
               "passphrase": "intruderpass", "sizing_mode": "equity_ratio", "sizing_value": "1",
               "loss_action": "close_only", "below_min_rule": "skip", "round_up_max_factor": "2"}
    return {
        "api.create_account": account, "api.update_account": {"sizing_value": "3"},
        "api.close_all": {"confirm": True}, "api.close_symbol": {"symbol": BTC, "confirm": True},
        "api.auto_follow": {"on": True},
        "accounts.new": account, "accounts.edit": {**account, "name": "Hijacked"},
        "actions.close_all": {"confirm_text": "CLOSE"}, "actions.close_symbol": {"symbol": BTC, "confirm": "yes"},
        "actions.auto_follow": {"on": "1"}, "dashboard.settings": {"WEBHOOK_URL": "http://127.0.0.1:9/steal",
                                                                   "auto_follow": "1"},
        "auth.login": {"password": PASSWORD}, "auth.setup": {"password": "x" * 12, "confirm": "x" * 12},
    }.get(endpoint, {})


def routes(app, methods: set[str], values: dict[str, list]) -> list[tuple[str, str, str]]:
    """(method, url, endpoint) for every route of the app answering one of `methods`, once per argument value."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) & methods):
            key = sorted(rule.arguments)[0] if rule.arguments else None
            for value in values.get(key, [None]) if key else [None]:
                args = {arg: value for arg in rule.arguments}
                with app.test_request_context():
                    out.append((method, url_for(rule.endpoint, **args), rule.endpoint))
    return out


def write_routes(app, client_id: int) -> list[tuple[str, str, str]]:
    """(method, url, endpoint) for every state-changing route of the app (ids: the given client)."""
    return routes(app, WRITE_METHODS, {"account_id": [client_id]})


def send(test_client, method: str, url: str, endpoint: str, client_id: int, headers: dict | None = None):
    body = body_for(endpoint, client_id)
    if url.startswith("/api/"):
        return test_client.open(url, method=method, json=body or None, headers=headers or {})
    return test_client.open(url, method=method, data=body, headers=headers or {})
