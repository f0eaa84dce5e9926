"""Shared fixtures: a simulator over real HTTP, an app on a temporary instance folder, a logged-in client."""
from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from app import create_app
from app.accounts import service
from app.sim.server import start_simulator
from app.sim.variants import VARIANTS
from tests import servers

# COPIER_TEST_DB=postgresql: every app a test builds uses a fresh PostgreSQL database instead of SQLite
POSTGRES_MODE = os.environ.get("COPIER_TEST_DB", "sqlite") == "postgresql"
_test_postgres: list[servers.PostgresServer] = []  # this worker's cluster, once started in PostgreSQL mode
_test_databases: dict[str, str] = {}  # test temp dir -> its database URL (a restarted app finds its data)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`@pytest.mark.sim_variants("name", ...)`: run the test on the defaults, then once per other option of each
    named variant (app/sim/variants.py), so the copier is right whichever behaviour Bitget really has."""
    marker = metafunc.definition.get_closest_marker("sim_variants")
    if marker is None or "sim_variant" not in metafunc.fixturenames:
        return
    cases: list[dict[str, str] | None] = [None]
    cases += [{name: option} for name in marker.args for option in VARIANTS[name].options[1:]]
    ids = ["default"] + [f"{name}={option}" for case in cases[1:] for name, option in case.items()]
    metafunc.parametrize("sim_variant", cases, ids=ids, indirect=True)


@pytest.fixture
def sim_variant(request: pytest.FixtureRequest) -> dict[str, str] | None:
    """The variant options of this test's simulator (None: the defaults, or the SIM_VARIANTS variable)."""
    return getattr(request, "param", None)


@pytest.fixture
def sim(sim_variant):
    """A fresh simulated exchange on a free loopback port (prices move only when a test says so)."""
    server = start_simulator(port=0, price_walk=False, variants=sim_variant)
    yield server
    server.stop()


def app_config(tmp_path, sim_url: str, **overrides: Any) -> dict[str, Any]:
    """Test configuration: bitget mode pointed at the test simulator, no scheduler."""
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "EXCHANGE": "bitget",
        "BITGET_BASE_URL": sim_url,
        "SCHEDULER_ENABLED": False,
        "START_BACKGROUND_ON_REQUEST": False,
        "SECRET_KEY": "test-secret-key",
        "VAULT_KEY": Fernet.generate_key().decode(),
        "WTF_CSRF_ENABLED": False,
        "BITGET_IP_LIMIT_PER_MINUTE": 0,
        "EXECUTOR_MAX_WORKERS": 32,
        # never the real Telegram: a closed loopback port unless a test points it at its own receiver
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
    }
    if _test_postgres:
        config["SQLALCHEMY_DATABASE_URI"] = database_for(tmp_path)
    config.update(overrides)
    return config


def database_for(tmp_path: Path) -> str:
    """The PostgreSQL database of this temp dir: created on first use, the same one for every app built on it."""
    key = str(tmp_path)
    if key not in _test_databases:
        _test_databases[key] = _test_postgres[0].new_database()
    return _test_databases[key]


@pytest.fixture(scope="session")
def redis_server():
    """A redis-server of this worker's own on a free loopback port (no persistence); `.url` is db 0."""
    server = start_or_fail(servers.start_redis)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL cluster of this worker's own on loopback; `.url` its copier_test db, `.new_database()` more."""
    server = start_or_fail(servers.start_postgres)
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=POSTGRES_MODE)
def postgres_mode(request: pytest.FixtureRequest):
    """In PostgreSQL mode, hand this worker's cluster to app_config (autouse only in that mode)."""
    _test_postgres.append(request.getfixturevalue("postgres_server"))
    yield _test_postgres[0]
    _test_postgres.clear()


def start_or_fail(start):
    """Start a test server; a missing binary fails the test with the reason (never a silent skip)."""
    try:
        return start()
    except servers.ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def receiver():
    """A local HTTP receiver standing in for Discord, Telegram and webhooks (never the real services)."""
    from tests.receiver import Receiver

    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def app(tmp_path, sim):
    """The copier app talking to the test simulator."""
    application = create_app(app_config(tmp_path, sim.url))
    yield application
    shutdown(application)


def shutdown(application) -> None:
    """Let background tasks finish while the simulator is still up, then stop the pool."""
    from app.engine.tasks import wait_for_background

    wait_for_background(application)
    application.extensions["replication"].executor.shutdown()
    if POSTGRES_MODE:
        from app.store.extensions import db

        with application.app_context():
            db.engine.dispose()  # PostgreSQL counts connections: an ended test's pool holds none


@pytest.fixture
def client(app):
    """A test client with an operator session."""
    from werkzeug.security import generate_password_hash

    from app.store.models import set_setting
    from app.web.security import PASSWORD_KEY

    with app.app_context():
        set_setting(PASSWORD_KEY, generate_password_hash("correct horse battery"))
    return operator_client(app)


def operator_client(app):
    """A test client whose session is logged in as the operator."""
    test_client = app.test_client()
    with test_client.session_transaction() as session:
        session["operator"] = True
    return test_client


def sim_account(sim, name: str, balance: str | Decimal = "10000", pos_mode: str = "hedge_mode", **kw: Any) -> dict:
    """Create an account on the simulator; returns its credentials."""
    return sim.exchange.create_account(name=name, balance=Decimal(str(balance)), pos_mode=pos_mode, **kw)


def add_account(app, sim, name: str, role: str = "client", balance: str = "10000", pos_mode: str = "hedge_mode",
                **settings: Any) -> int:
    """Create the account on the simulator and store it in the copier; returns the copier's account id."""
    creds = sim_account(sim, name, balance, pos_mode)
    with app.app_context():
        account = service.create_account({
            "role": role, "name": name, "api_key": creds["api_key"], "api_secret": creds["api_secret"],
            "passphrase": creds["passphrase"], **settings,
        })
        return account.id
