"""PostgreSQL support: the migrations, money and times on a real PostgreSQL server (tests/servers.py)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from flask import Flask
from flask_migrate import Migrate, upgrade

from app import create_app
from app.store.extensions import db
from app.store.migrations_runner import MIGRATIONS, migrate
from app.store.models import Account, PositionLink, Run, Setting, Snapshot
from app.store.vault import Vault
from tests.conftest import POSTGRES_MODE, add_account, app_config, shutdown


def postgres_app(tmp_path, sim, postgres_server):
    """The copier on a fresh PostgreSQL database of the test cluster (whatever COPIER_TEST_DB says)."""
    return create_app(app_config(tmp_path, sim.url, SQLALCHEMY_DATABASE_URI=postgres_server.new_database()))


def head_revision() -> str:
    """The newest migration in migrations/versions/."""
    return ScriptDirectory.from_config(Migrate(directory=str(MIGRATIONS)).get_config()).get_current_head()


def test_the_app_fixture_runs_on_the_database_the_run_asked_for(app):
    with app.app_context():
        assert db.engine.dialect.name == ("postgresql" if POSTGRES_MODE else "sqlite")


def test_migrations_upgrade_a_fresh_postgres_database_to_head(tmp_path, sim, postgres_server):
    app = postgres_app(tmp_path, sim, postgres_server)
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"account", "position_link", "order_intent", "run", "run_result", "snapshot", "setting"} <= tables
    shutdown(app)


def postgres_at_0003(url: str, vault: Vault) -> None:
    """A PostgreSQL database at revision 0003 holding a client and an open copy (what a live install has)."""
    bare = Flask("old3")
    bare.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(bare)
    migrate.init_app(bare, db)
    with bare.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0003")
        now = datetime(2026, 11, 2, 3, 4, 5)
        db.session.execute(sa.text(
            "INSERT INTO account (id, role, name, api_key_enc, api_secret_enc, passphrase_enc, api_key_masked, demo,"
            " enabled, created_at, updated_at, following_since, sizing_mode, sizing_value, allowed_symbols, paused)"
            " VALUES (1, 'client', 'Three', :k, :s, :p, 'key1…5678', false, true, :now, :now, :now, 'multiplier',"
            " '0.5', '', false)"), {"k": vault.encrypt("key12345678"), "s": vault.encrypt("s3"),
                                    "p": vault.encrypt("p3"), "now": now})
        db.session.execute(sa.text(
            "INSERT INTO position_link (account_id, symbol, hold_side, factor, created_at, generation, opened)"
            " VALUES (1, 'BTCUSDT', 'long', '0.25', :now, 7, true)"), {"now": now})
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def test_upgrading_a_postgres_database_keeps_its_rows(tmp_path, sim, postgres_server):
    key = Fernet.generate_key().decode()
    url = postgres_server.new_database()
    postgres_at_0003(url, Vault([key]))
    app = create_app(app_config(tmp_path, sim.url, SQLALCHEMY_DATABASE_URI=url, VAULT_KEY=key))
    with app.app_context():
        account = db.session.get(Account, 1)
        assert (account.name, str(account.sizing_value), account.leverage_mode, account.fixed_quantities) == (
            "Three", "0.5", "follow", {})
        assert account.created_at == datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC)
        link = db.session.query(PositionLink).one()
        assert (str(link.factor), link.generation, link.tpsl_mode) == ("0.25", 7, "follow")
        assert app.extensions["gateway"].credentials_for(account).api_secret == "s3"
    shutdown(app)


def test_only_one_master_but_many_clients_on_postgres(tmp_path, sim, postgres_server):
    app = postgres_app(tmp_path, sim, postgres_server)
    add_account(app, sim, "Master", role="master")
    add_account(app, sim, "One")
    add_account(app, sim, "Two")  # the partial unique index covers masters only
    with app.app_context():
        assert db.session.query(Account).filter_by(role="client").count() == 2
        db.session.add(Account(role="master", name="Second", api_key_enc="k", api_secret_enc="s",
                               passphrase_enc="p", api_key_masked="k…"))
        try:
            db.session.commit()
            raise AssertionError("a second master was stored")
        except sa.exc.IntegrityError:
            db.session.rollback()
    shutdown(app)


def test_money_and_aware_times_round_trip_exactly_on_postgres(tmp_path, sim, postgres_server):
    app = postgres_app(tmp_path, sim, postgres_server)
    account_id = add_account(app, sim, "Exact", sizing_mode="multiplier", sizing_value="0.123456789012345678")
    taken = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with app.app_context():
        db.session.add(Snapshot(account_id=account_id, taken_at=taken, equity=Decimal("12345678901234.000000000001")))
        db.session.commit()
        db.session.expunge_all()
        snapshot = db.session.query(Snapshot).one()
        account = db.session.get(Account, account_id)
        assert snapshot.equity == Decimal("12345678901234.000000000001")
        assert str(account.sizing_value) == "0.123456789012345678"
        assert snapshot.taken_at == taken and snapshot.taken_at.tzinfo is UTC  # the same instant, in UTC
        assert account.created_at.tzinfo is UTC
    shutdown(app)


def test_settings_and_runs_use_the_declared_lengths_on_postgres(tmp_path, sim, postgres_server):
    app = postgres_app(tmp_path, sim, postgres_server)
    with app.app_context():
        db.session.add(Setting(key="k" * 64, value="v" * 10_000))
        db.session.add(Run(uid="u" * 16, action="a" * 24, trigger="t" * 16, status="s" * 12))
        db.session.commit()
        assert len(db.session.get(Setting, "k" * 64).value) == 10_000
    shutdown(app)
