"""Upgrades keep data: a database at the first migration is upgraded in place; backups are consistent copies."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from app.store.extensions import db
from app.store.migrations_runner import MIGRATIONS, migrate
from app.store.models import Account, PositionLink, Run
from app.store.vault import Vault
from tests.conftest import POSTGRES_MODE, app_config


def old_database(path, vault: Vault) -> None:
    """Create the schema at revision 0001 and fill it the way that version would have."""
    bare = Flask("old")
    bare.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    db.init_app(bare)
    migrate.init_app(bare, db)
    with bare.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0001")
        db.session.remove()
        db.engine.dispose()
    now = datetime(2026, 1, 2, 3, 4, 5).isoformat(" ")
    con = sqlite3.connect(path)
    con.execute(
        "INSERT INTO account (id, role, name, api_key_enc, api_secret_enc, passphrase_enc, api_key_masked, demo,"
        " enabled, created_at, updated_at, following_since, sizing_mode, sizing_value, allowed_symbols, paused)"
        " VALUES (1, 'client', 'Old client', ?, ?, ?, 'key1…5678', 0, 1, ?, ?, ?, 'multiplier', '0.5', 'BTCUSDT', 0)",
        (vault.encrypt("key12345678"), vault.encrypt("old-secret"), vault.encrypt("old-pass"), now, now, now))
    con.execute("INSERT INTO position_link (account_id, symbol, hold_side, factor, created_at)"
                " VALUES (1, 'BTCUSDT', 'long', '0.25', ?)", (now,))
    con.execute("INSERT INTO run (uid, action, trigger, status, started_at) VALUES ('abc', 'replicate', 'button', 'ok', ?)",
                (now,))
    con.commit()
    con.close()


def test_old_database_is_upgraded_on_start_and_keeps_everything(tmp_path, sim):
    key = Fernet.generate_key().decode()
    config = app_config(tmp_path, sim.url, VAULT_KEY=key)
    db_path = tmp_path / "old.db"
    config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_path}"
    old_database(db_path, Vault([key]))
    app = create_app(config)
    with app.app_context():
        account = db.session.get(Account, 1)
        assert account.name == "Old client" and str(account.sizing_value) == "0.5"
        assert account.allowed_symbol_set == {"BTCUSDT"}
        assert account.below_min_rule == "skip" and account.copy_existing is False  # new columns got defaults
        assert str(account.slippage_pct) == "0.5" and account.loss_action == "close_only"
        assert app.extensions["gateway"].credentials_for(account).api_secret == "old-secret"
        assert str(db.session.query(PositionLink).one().factor) == "0.25"
        assert db.session.query(Run).one().uid == "abc"
    app.extensions["replication"].executor.shutdown()


def database_at_0003(path, vault: Vault) -> None:
    """Create the schema at revision 0003 and fill it with a client, an open copy with the copier's TP, a run."""
    bare = Flask("old3")
    bare.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    db.init_app(bare)
    migrate.init_app(bare, db)
    with bare.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0003")
        db.session.remove()
        db.engine.dispose()
    now = datetime(2026, 11, 2, 3, 4, 5).isoformat(" ")
    con = sqlite3.connect(path)
    con.execute(
        "INSERT INTO account (id, role, name, api_key_enc, api_secret_enc, passphrase_enc, api_key_masked, demo,"
        " enabled, created_at, updated_at, following_since, sizing_mode, sizing_value, max_leverage, allowed_symbols,"
        " paused) VALUES (1, 'client', 'Three', ?, ?, ?, 'key1…5678', 0, 1, ?, ?, ?, 'fixed_margin', '75', 20, '', 0)",
        (vault.encrypt("key12345678"), vault.encrypt("s3"), vault.encrypt("p3"), now, now, now))
    con.execute("INSERT INTO position_link (account_id, symbol, hold_side, factor, created_at, generation, opened,"
                " tp_order_id) VALUES (1, 'BTCUSDT', 'long', '0.25', ?, 7, 1, 'tp-42')", (now,))
    con.commit()
    con.close()


def test_upgrade_to_0004_keeps_data_and_todays_behaviour(tmp_path, sim):
    key = Fernet.generate_key().decode()
    config = app_config(tmp_path, sim.url, VAULT_KEY=key)
    db_path = tmp_path / "three.db"
    config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_path}"
    database_at_0003(db_path, Vault([key]))
    app = create_app(config)
    with app.app_context():
        account = db.session.get(Account, 1)
        assert (account.name, account.sizing_mode, str(account.sizing_value), account.max_leverage) == (
            "Three", "fixed_margin", "75", 20)
        # the new settings default to what the copier did before them
        assert (account.leverage_mode, account.fixed_leverage, account.margin_mode, account.tpsl_mode) == (
            "follow", None, "follow", "follow")
        assert (account.tp_pct, account.sl_pct, account.fixed_quantities, account.max_margin) == (None, None, {}, None)
        link = db.session.query(PositionLink).one()
        assert (str(link.factor), link.generation, link.tp_order_id) == ("0.25", 7, "tp-42")
        assert (link.tpsl_mode, link.tp_pct, link.sl_pct) == ("follow", None, None)  # an open copy keeps following
    app.extensions["replication"].executor.shutdown()


@pytest.mark.skipif(POSTGRES_MODE, reason="`flask backup` is SQLite's online backup; PostgreSQL has pg_dump")
def test_backup_writes_a_consistent_copy(app, sim):
    from tests.conftest import add_account

    add_account(app, sim, "Backed up")
    result = app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    backups = list(Path(app.instance_path, "backups").glob("*.db"))
    assert len(backups) == 1
    con = sqlite3.connect(backups[0])
    assert con.execute("SELECT name FROM account").fetchall() == [("Backed up",)]
    con.close()
