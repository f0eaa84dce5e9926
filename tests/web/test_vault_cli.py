"""CLI account commands, vault key rotation, and the refusal to start with a wrong vault key."""
from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet

from app import create_app
from app.store.extensions import db
from app.store.models import Account
from tests.conftest import app_config, sim_account


def test_cli_add_list_verify_remove(app, sim):
    creds = sim_account(sim, "cli-client", "3000")
    runner = app.test_cli_runner()
    added = runner.invoke(args=["accounts", "add", "--name", "Dave", "--api-key", creds["api_key"]],
                          input=f"{creds['api_secret']}\n{creds['passphrase']}\n")
    assert added.exit_code == 0, added.output
    assert creds["api_secret"] not in added.output and creds["passphrase"] not in added.output
    listed = runner.invoke(args=["accounts", "list"])
    assert "Dave" in listed.output and creds["api_key"] not in listed.output
    verified = runner.invoke(args=["accounts", "verify", "Dave"])
    assert verified.exit_code == 0 and "equity 3000" in verified.output
    removed = runner.invoke(args=["accounts", "remove", "Dave", "--yes"])
    assert removed.exit_code == 0
    with app.app_context():
        assert db.session.query(Account).count() == 0


def test_cli_refuses_bad_input_clearly(app):
    runner = app.test_cli_runner()
    answer = runner.invoke(args=["accounts", "add", "--name", "", "--api-key", "k", "--api-secret", "s",
                                 "--passphrase", "p"])
    assert answer.exit_code != 0 and "Name is required" in answer.output
    missing = runner.invoke(args=["accounts", "verify", "nobody"])
    assert missing.exit_code != 0 and "No account" in missing.output


def test_rotate_vault_key_keeps_accounts_readable(tmp_path, sim):
    config = app_config(tmp_path, sim.url)
    config.pop("VAULT_KEY")  # generated into instance/vault.key
    app = create_app(config)
    key_file = tmp_path / "instance" / "vault.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    creds = sim_account(sim, "rot")
    runner = app.test_cli_runner()
    runner.invoke(args=["accounts", "add", "--name", "R", "--api-key", creds["api_key"], "--api-secret",
                        creds["api_secret"], "--passphrase", creds["passphrase"]])
    old_key = key_file.read_text().strip()
    rotated = runner.invoke(args=["rotate-vault-key"])
    assert rotated.exit_code == 0, rotated.output
    new_key = key_file.read_text().strip()
    assert new_key != old_key and "," not in new_key
    assert runner.invoke(args=["accounts", "verify", "R"]).exit_code == 0
    # a fresh process with only the new key reads everything
    again = create_app(config)
    assert again.test_cli_runner().invoke(args=["accounts", "verify", "R"]).exit_code == 0
    app.extensions["replication"].executor.shutdown()
    again.extensions["replication"].executor.shutdown()


def test_wrong_vault_key_refuses_to_start_with_clear_message(tmp_path, sim):
    config = app_config(tmp_path, sim.url)
    app = create_app(config)
    creds = sim_account(sim, "wrongkey")
    app.test_cli_runner().invoke(args=["accounts", "add", "--name", "W", "--api-key", creds["api_key"],
                                       "--api-secret", creds["api_secret"], "--passphrase", creds["passphrase"]])
    config["VAULT_KEY"] = Fernet.generate_key().decode()
    with pytest.raises(SystemExit) as stopped:
        create_app(config)
    assert "vault key cannot decrypt" in str(stopped.value.code)
    config["VAULT_KEY"] = "not-a-key"
    with pytest.raises(SystemExit) as malformed:
        create_app(config)
    assert "malformed" in str(malformed.value.code)


def test_secrets_generated_once_with_mode_0600(tmp_path, sim):
    config = app_config(tmp_path, sim.url)
    config.pop("SECRET_KEY")
    config.pop("VAULT_KEY")
    first = create_app(config)
    second = create_app(config)
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    for name in ("secret_key", "vault.key"):
        assert stat.S_IMODE(os.stat(tmp_path / "instance" / name).st_mode) == 0o600
