"""Command line: `flask --app wsgi accounts add|list|remove|verify`, `set-password`, `rotate-vault-key`, `backup`."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .accounts import service
from .accounts.validation import SIZING_MODES, has_surrogates
from .errors import CopierError
from .store.extensions import db
from .store.instance_files import write_secret
from .store.models import Account
from .store.vault import Vault, new_key
from .web.security import password_problem, set_operator_password

accounts_cli = AppGroup("accounts", help="Manage the master and client accounts.")


def find_account(ref: str) -> Account:
    """An account by id or by name."""
    if ref.isascii() and ref.isdigit() and len(ref) < 19:
        return service.get_account(int(ref))
    if has_surrogates(ref):  # undecodable bytes on the command line: no stored name can match them
        raise click.ClickException(f"No account with id or name {ref!r}.")
    account = db.session.query(Account).filter_by(name=ref).one_or_none()
    if account is None:
        raise click.ClickException(f"No account with id or name {ref!r}.")
    return account


@accounts_cli.command("add")
@click.option("--role", type=click.Choice(["master", "client"]), default="client", show_default=True)
@click.option("--name", required=True)
@click.option("--api-key", required=True)
@click.option("--api-secret", prompt=True, hide_input=True, help="Prompted (hidden) when omitted.")
@click.option("--passphrase", prompt=True, hide_input=True, help="Prompted (hidden) when omitted.")
@click.option("--demo/--live", default=False, help="Bitget demo-trading key.")
@click.option("--sizing-mode", type=click.Choice(list(SIZING_MODES)), default="equity_ratio")
@click.option("--sizing-value", default="1")
@click.option("--max-leverage", default=None)
@click.option("--verify/--no-verify", "verify", default=True, show_default=True,
              help="Check the keys with the exchange before storing them (--no-verify: store them unchecked).")
def add_account(verify: bool, **options: str) -> None:
    """Add an account (secret and passphrase are asked for without echo); its keys are checked first."""
    data = {k: v for k, v in options.items() if v is not None}
    try:
        account = service.create_account(data, verify=verify)
    except CopierError as exc:
        hint = " (--no-verify stores the keys without checking them)" if verify and exc.code == "exchange_error" else ""
        raise click.ClickException(exc.message + hint) from None
    if account.verify_ok is None:
        keys = "keys not checked: not verified"
    else:
        keys = "keys work" if account.verify_ok else f"PROBLEM: {account.verify_message}"
    click.echo(f"Added {account.role} {account.name} (id {account.id}, key {account.api_key_masked}; {keys}).")


@accounts_cli.command("list")
def list_accounts() -> None:
    """List accounts (keys masked)."""
    rows = service.list_accounts()
    if not rows:
        click.echo("No accounts.")
    for a in rows:
        state = "ok" if a.verify_ok else ("failed" if a.verify_ok is False else "unverified")
        flags = "".join([" demo" if a.demo else "", " disabled" if not a.enabled else "", " paused" if a.paused else ""])
        click.echo(f"{a.id:>4}  {a.role:<6}  {a.name:<24} {a.api_key_masked:<12} {state}{flags}")


@accounts_cli.command("remove")
@click.argument("ref")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove_account(ref: str, yes: bool) -> None:
    """Delete an account by id or name."""
    account = find_account(ref)
    if not yes:
        click.confirm(f"Delete {account.name}? Positions on the exchange are not closed.", abort=True)
    service.delete_account(account.id)
    click.echo(f"Deleted {account.name}.")


@accounts_cli.command("verify")
@click.argument("ref")
def verify_account(ref: str) -> None:
    """Check an account's keys against the exchange."""
    account = find_account(ref)
    try:
        result = service.verify_account(account.id)
    except CopierError as exc:
        raise click.ClickException(f"{account.name}: {exc.message}") from None
    click.echo(
        f"{account.name}: {'OK' if result['ok'] else 'PROBLEM'} - equity {result['equity']} {result['margin_coin']}, "
        f"available {result['available']}, {result['position_mode']}; {result['message']}"
    )


@click.command("set-password")
@with_appcontext
def set_password() -> None:
    """Choose a new operator password (asked twice, without echo); every open session is logged out."""
    password = click.prompt("New operator password", hide_input=True, default="", show_default=False)
    confirm = click.prompt("Repeat it", hide_input=True, default="", show_default=False)
    problem = password_problem(password, confirm)
    if problem:
        raise click.ClickException(f"{problem} The password was not changed.")
    set_operator_password(password)
    click.echo("Operator password changed. Every open session has been logged out: log in with the new password.")


@click.command("rotate-vault-key")
@with_appcontext
def rotate_vault_key() -> None:
    """Re-encrypt every stored credential with a new vault key."""
    app = current_app
    old: Vault = app.extensions["vault"]
    fresh = new_key()
    vault = Vault([fresh, *old.keys])
    rows = db.session.query(Account).all()
    for row in rows:
        row.api_key_enc = vault.rotate(row.api_key_enc)
        row.api_secret_enc = vault.rotate(row.api_secret_enc)
        row.passphrase_enc = vault.rotate(row.passphrase_enc)
    key_file = app.config.get("VAULT_KEY_FILE")
    if key_file:
        # keep the old key next to the new one until the commit is done, so a crash loses nothing
        write_secret(Path(key_file), ",".join([fresh, *old.keys]))
    db.session.commit()
    if key_file:
        write_secret(Path(key_file), fresh)
        old.set_keys([fresh])
        click.echo(f"Rotated the vault key for {len(rows)} account(s); the new key is in {key_file}.")
    else:
        old.set_keys([fresh])
        click.echo(
            f"Rotated {len(rows)} account(s). VAULT_KEY comes from your environment: set it to the new key now.\n"
            f"New key: {fresh}"
        )


@click.command("worker")
@click.option("--shard", type=int, required=True, help="the shard this worker serves (0 .. CLUSTER_SHARDS-1)")
@click.option("--loglevel", default="INFO", show_default=True)
def shard_worker(shard: int, loglevel: str) -> None:
    """Run one shard's worker (ENGINE=celery): it copies to that shard's clients from its own egress address."""
    from .engine.cluster.worker import run_worker

    app = current_app._get_current_object()
    if not 0 <= shard < int(app.config.get("CLUSTER_SHARDS", 2)):
        raise click.BadParameter(f"there are {app.config.get('CLUSTER_SHARDS', 2)} shards (CLUSTER_SHARDS)",
                                 param_hint="--shard")
    try:
        run_worker(app, shard, loglevel)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("rebalance-shards")
def rebalance_shards() -> None:
    """Spread the clients evenly over CLUSTER_SHARDS (run it with no replication running)."""
    from .engine.cluster.shards import rebalance

    load = rebalance(current_app._get_current_object())
    click.echo("clients per shard: " + ", ".join(f"{k}: {n}" for k, n in sorted(load.items())))


def register_cli(app: Flask) -> None:
    """Attach the CLI commands."""
    app.cli.add_command(accounts_cli)
    app.cli.add_command(shard_worker)
    app.cli.add_command(rebalance_shards)
    app.cli.add_command(set_password)
    app.cli.add_command(rotate_vault_key)
    app.cli.add_command(backup_database)


@click.command("backup")
@with_appcontext
def backup_database() -> None:
    """Write a consistent copy of the SQLite database into instance/backups/ (online backup API)."""
    path = make_backup(current_app)
    click.echo(f"Backup written to {path}")


def make_backup(app: Flask) -> Path:
    """Copy the live database with SQLite's online backup (safe while the copier runs)."""
    import sqlite3
    from datetime import UTC, datetime

    uri = str(app.config["SQLALCHEMY_DATABASE_URI"])
    if not uri.startswith("sqlite:///"):
        raise click.ClickException("backup supports SQLite databases; use your database's own tools otherwise.")
    source_path = Path(uri.removeprefix("sqlite:///"))
    target_dir = Path(app.instance_path) / "backups"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"copier-{datetime.now(UTC):%Y%m%d-%H%M%S-%f}.db"
    source = sqlite3.connect(source_path)
    try:
        dest = sqlite3.connect(target)
        with dest:
            source.backup(dest)
        dest.close()
    finally:
        source.close()
    target.chmod(0o600)
    return target
