"""Simulator mode: start the embedded exchange on loopback (once per process) and seed demo accounts."""
from __future__ import annotations

import logging
import socket
import threading
import time
from decimal import Decimal
from pathlib import Path

import requests
from flask import Flask

log = logging.getLogger(__name__)

SEED_ACCOUNTS = (
    # name, role, equity (USDT), position mode
    ("Master", "master", Decimal("10000"), "hedge_mode"),
    ("Client A", "client", Decimal("5000"), "hedge_mode"),
    ("Client B", "client", Decimal("2500"), "one_way_mode"),
    ("Client C", "client", Decimal("1000"), "hedge_mode"),
)


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class SimPortTaken(RuntimeError):
    """SIM_PORT is held by a server that is not the copier's simulator (or cannot be bound)."""


def identify_simulator(port: int, timeout: float = 2.0) -> str | None:
    """None when the server on 127.0.0.1:port is the copier's simulator; otherwise what it answered instead."""
    import requests

    from .sim import IDENTITY

    session = requests.Session()
    session.trust_env = False  # loopback: never through a proxy from the environment
    try:
        answer = session.get(f"http://127.0.0.1:{port}/_sim/identity", timeout=timeout)
    except requests.Timeout:
        return f"it did not answer GET /_sim/identity within {timeout:g} s"
    except requests.RequestException as exc:
        return f"it does not answer HTTP like the simulator ({type(exc).__name__})"
    finally:
        session.close()
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code == 200 and isinstance(body, dict) and body.get("service") == IDENTITY["service"]:
        return None
    server = (answer.headers.get("Server") or "").strip()[:80]
    return f"GET /_sim/identity answered HTTP {answer.status_code}" + (f" from {server!r}" if server else "")


def port_taken_message(port: int, reason: str) -> str:
    """The operator-facing explanation: which port, what answered, how to choose another."""
    return (f"Port {port} (SIM_PORT) is taken by another program that is not the copier's simulator: {reason}. "
            f"The copier will not use it as its exchange. Stop that program, or choose another port: "
            f"FLASK_SIM_PORT={port + 1 if port < 65535 else 5056} make run (or SIM_PORT in instance/config.py).")


class SimRunner:
    """Owns the embedded simulator of this process, or points at the one another process already runs."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server = None
        self.url: str | None = None
        self.error: SimPortTaken | None = None
        self._error_at = 0.0
        self._lock = threading.Lock()
        app.before_request(self.refuse_foreign_simulator)

    def refuse_foreign_simulator(self):
        """While SIM_PORT is held by something else, every page and API call answers 503 saying so.

        (`make run` refuses to start instead; this covers `flask run` and a port taken later.) Static files
        still load; once the port is free or the simulator identifies itself, requests go through again.
        """
        if self.url:
            return None
        from flask import jsonify, request
        from markupsafe import escape

        if request.endpoint == "static":
            return None
        try:
            self.ensure_started()
        except SimPortTaken as exc:
            if request.path.startswith("/api/") or request.path == "/healthz":
                answer = jsonify({"error": {"code": "sim_port_taken", "message": str(exc), "field": None}})
                answer.status_code = 503
                return answer
            page = ("<!doctype html><html lang=en><meta charset=utf-8><title>Simulator port taken</title>"
                    "<body>"
                    f"<h1>The simulator cannot start</h1><p id=sim-port-error>{escape(str(exc))}</p>"
                    "<p>Reload this page once the port is free (then restart the copier, so its poller runs).</p>")
            return page, 503, {"Content-Type": "text/html; charset=utf-8", "Retry-After": "5"}
        return None

    def ensure_started(self) -> str:
        """Start the simulator if needed and return its base URL.

        A server already listening on SIM_PORT is used only when it identifies itself as the copier's
        simulator (GET /_sim/identity), e.g. `make run` while a CLI command runs; anything else raises
        SimPortTaken naming the port and FLASK_SIM_PORT (re-checked at most every 5 s).
        """
        with self._lock:
            if self.url:
                return self.url
            if self.error is not None and time.monotonic() - self._error_at < 5.0:
                raise self.error
            port = int(self.app.config["SIM_PORT"])
            if port and port_in_use(port):
                reason = identify_simulator(port)
                if reason is not None:
                    raise self._fail(port_taken_message(port, reason))
                self.error = None
                self.url = f"http://127.0.0.1:{port}"
                log.info("using the simulator another process of the copier runs on %s", self.url)
                return self.url
            from .sim.server import start_simulator

            state_file = self.app.config.get("SIM_STATE_FILE")
            state_path = str(Path(self.app.instance_path) / state_file) if state_file else None
            try:
                self.server = start_simulator(
                    port=port,
                    state_path=state_path,
                    seed=int(self.app.config["SIM_SEED"]),
                    price_walk=bool(self.app.config["SIM_PRICE_WALK"]),
                    rate_limits=bool(self.app.config.get("SIM_RATE_LIMITS", True)),
                    ws_port=int(self.app.config.get("SIM_WS_PORT") or 0),
                )
            except OSError as exc:  # taken in between, or not ours to bind
                raise self._fail(f"Cannot start the simulator on port {port} (SIM_PORT): {exc.strerror or exc}. "
                                 f"Choose another port: FLASK_SIM_PORT={port + 1 if port < 65535 else 5056} make run "
                                 f"(or SIM_PORT in instance/config.py).") from None
            self.error = None
            self.url = self.server.url
            log.info("simulated exchange listening on %s", self.url)
            return self.url

    def _fail(self, message: str) -> SimPortTaken:
        if self.error is None or str(self.error) != message:
            log.error("%s", message)
        self.error, self._error_at = SimPortTaken(message), time.monotonic()
        return self.error

    def ws_url(self) -> str | None:
        """The simulator's private WebSocket URL (asked of the other process when it runs the simulator)."""
        base = self.ensure_started()
        if self.server is not None:
            return self.server.ws_url
        session = requests.Session()
        session.trust_env = False  # loopback: never through a proxy from the environment
        try:
            answer = session.get(f"{base}/_sim/identity", timeout=2)
            return answer.json().get("ws_url") if answer.ok else None
        except (requests.RequestException, ValueError, AttributeError):
            return None
        finally:
            session.close()

    @property
    def page_url(self) -> str:
        """The simulator's manual trading page."""
        return f"{self.ensure_started()}/_sim/"

    def stop(self) -> None:
        """Stop the simulator this process started."""
        if self.server is not None:
            self.server.stop()
            self.server = None
            self.url = None


def seed_demo_accounts(app: Flask) -> int:
    """On a first run in sim mode, create a master and three clients on the simulator and store them."""
    from .accounts import service
    from .store.extensions import db
    from .store.models import Account

    runner: SimRunner = app.extensions["sim_runner"]
    runner.ensure_started()
    if runner.server is None or db.session.query(Account.id).first() is not None:
        return 0
    exchange = runner.server.exchange
    existing = {a["name"]: a for a in exchange.list_accounts()}  # a kept sim state already has them
    created = 0
    for name, role, equity, pos_mode in SEED_ACCOUNTS:
        creds = existing.get(name) or exchange.create_account(name=name, balance=equity, pos_mode=pos_mode)
        service.create_account({
            "role": role, "name": name, "api_key": creds["api_key"], "api_secret": creds["api_secret"],
            "passphrase": creds["passphrase"], "demo": False,
        })
        created += 1
    log.info("seeded %d simulator accounts", created)
    return created
