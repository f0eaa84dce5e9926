"""Simulator mode: start the embedded exchange on loopback (once per process) and seed demo accounts."""
from __future__ import annotations

import logging
import socket
import threading
from decimal import Decimal
from pathlib import Path

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


class SimRunner:
    """Owns the embedded simulator of this process, or points at the one another process already runs."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server = None
        self.url: str | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> str:
        """Start the simulator if needed and return its base URL."""
        with self._lock:
            if self.url:
                return self.url
            port = int(self.app.config["SIM_PORT"])
            if port and port_in_use(port):
                # another process of ours (e.g. `make run` while a CLI command runs) already serves it
                self.url = f"http://127.0.0.1:{port}"
                return self.url
            from .sim.server import start_simulator

            state_file = self.app.config.get("SIM_STATE_FILE")
            state_path = str(Path(self.app.instance_path) / state_file) if state_file else None
            self.server = start_simulator(
                port=port,
                state_path=state_path,
                seed=int(self.app.config["SIM_SEED"]),
                price_walk=bool(self.app.config["SIM_PRICE_WALK"]),
                rate_limits=bool(self.app.config.get("SIM_RATE_LIMITS", True)),
            )
            self.url = self.server.url
            log.info("simulated exchange listening on %s", self.url)
            return self.url

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
    from .extensions import db
    from .models import Account

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
