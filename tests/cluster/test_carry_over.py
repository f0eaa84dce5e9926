"""`make run` -> `make run-cluster` keeps accounts and history: the SQLite file is copied into the cluster's
empty PostgreSQL database once, and the copied accounts still decrypt and still take new rows."""
from __future__ import annotations

from cryptography.fernet import Fernet

from app import create_app
from app.accounts import service
from app.engine.cluster.carry_over import carry_over
from app.store.extensions import db
from app.store.models import Account, Run
from tests.conftest import app_config, sim_account


def test_sqlite_data_is_carried_into_an_empty_postgres_once(tmp_path, sim, postgres_server):
    vault = Fernet.generate_key().decode()
    local = create_app(app_config(tmp_path, sim.url, VAULT_KEY=vault, SQLALCHEMY_DATABASE_URI=None))
    creds = {name: sim_account(sim, name) for name in ("M", "A")}
    with local.app_context():
        for name, role in (("M", "master"), ("A", "client")):
            service.create_account({"role": role, "name": name, "api_key": creds[name]["api_key"],
                                    "api_secret": creds[name]["api_secret"], "passphrase": creds[name]["passphrase"]})
        local.extensions["replication"].replicate("test")
        runs = db.session.query(Run).count()
        sqlite_path = local.instance_path + "/copier.db"
    url = postgres_server.new_database()
    cluster = create_app(app_config(tmp_path / "c", sim.url, VAULT_KEY=vault, SQLALCHEMY_DATABASE_URI=url))
    with cluster.app_context():
        from pathlib import Path

        assert carry_over(Path(sqlite_path), url) > 0
        assert carry_over(Path(sqlite_path), url) == 0  # never twice, never a merge
        accounts = {a.name: a for a in db.session.query(Account)}
        assert set(accounts) == {"M", "A"} and db.session.query(Run).count() == runs
        gateway = cluster.extensions["gateway"]
        assert gateway.credentials_for(accounts["A"]).api_key == creds["A"]["api_key"]  # still decrypts
        b = sim_account(sim, "B")
        new = service.create_account({"role": "client", "name": "B", "api_key": b["api_key"],
                                      "api_secret": b["api_secret"], "passphrase": b["passphrase"]})
        assert new.id > max(a.id for a in accounts.values())  # the id sequence moved past the copied rows
