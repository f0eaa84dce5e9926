"""The Bitget trade copier: Flask app factory."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from .config import Defaults
from .store.extensions import csrf, db
from .store.instance_files import new_secret_key, read_or_create_secret
from .store.vault import Vault, VaultError, new_key, parse_keys

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults -> instance/config.py -> FLASK_* env -> test_config."""
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("COPIER_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=str(instance_path or ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    load_config(app, test_config)
    ensure_secrets(app)
    from .logging_setup import configure_logging

    configure_logging(app)
    db.init_app(app)
    csrf.init_app(app)
    init_database(app)
    check_vault(app)
    from .engine.exchange import ExchangeGateway

    app.extensions["gateway"] = ExchangeGateway.from_app(app)
    register_services(app)
    register_blueprints(app)
    from .cli import register_cli
    from .feeds.background import register_lazy_start
    from .web.security import register_security

    register_lazy_start(app)  # first, so even a redirected first request starts the poller
    register_security(app)
    register_cli(app)
    return app


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Layer the configuration sources in order."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'copier.db'}"
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
    else:
        # a server database (PostgreSQL) may close idle connections or restart: test each one before use
        options.setdefault("pool_pre_ping", True)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def ensure_secrets(app: Flask) -> None:
    """Take SECRET_KEY and VAULT_KEY from the config or create them once in instance/ (mode 0600)."""
    instance = Path(app.instance_path)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = read_or_create_secret(instance / "secret_key", new_secret_key)
    if not app.config.get("VAULT_KEY"):
        app.config["VAULT_KEY"] = read_or_create_secret(instance / "vault.key", new_key)
        app.config["VAULT_KEY_FILE"] = str(instance / "vault.key")
    try:
        app.extensions["vault"] = Vault(parse_keys(str(app.config["VAULT_KEY"])))
    except VaultError as exc:
        raise SystemExit(f"Cannot start: {exc}") from None


def init_database(app: Flask) -> None:
    """Create or upgrade the schema (Alembic migrations)."""
    from .store.migrations_runner import upgrade_database

    with app.app_context():
        upgrade_database(app)


def check_vault(app: Flask) -> None:
    """Refuse to start, with a clear message, when the vault key cannot read the stored credentials."""
    from .store.models import Account

    with app.app_context():
        row = db.session.query(Account).order_by(Account.id).first()
        if row is None:
            return
        try:
            app.extensions["vault"].decrypt(row.api_secret_enc)
        except VaultError as exc:
            raise SystemExit(f"Cannot start: {exc}") from None


def register_services(app: Flask) -> None:
    """State cache, replication service and master poller (the poller is only scheduled by start_background)."""
    from .engine.replication.service import ReplicationService
    from .feeds.client_feeds import ClientStreams
    from .feeds.master_feed import Follower, MasterBook, MasterFeed
    from .feeds.poller import MasterPoller
    from .feeds.refresh_pacer import RefreshPacer
    from .store.state import StateCache

    if app.config.get("ENGINE", "local") == "celery":  # one cache for the web process and every shard worker
        from .store.shared_state import RedisStateCache

        app.extensions["state"] = RedisStateCache(app.config["REDIS_URL"])
    else:
        app.extensions["state"] = StateCache()
    app.extensions["replication"] = ReplicationService(app)
    poller = app.extensions["poller"] = MasterPoller(app)
    # the master's WebSocket: started beside the scheduler (start_background), idle until then
    follower = Follower(rest_pass=lambda: poller.tick(force=True), book_pass=poller.follow_book)
    app.extensions["master_feed"] = MasterFeed(app, follower, MasterBook())
    app.extensions["client_streams"] = ClientStreams(app)
    app.extensions["refresh_pacer"] = RefreshPacer(app)


def register_blueprints(app: Flask) -> None:
    """Attach the web and API blueprints."""
    from .web.blueprints import DatabaseIdConverter, accounts, actions, api, auth, dashboard

    app.url_map.converters["int"] = DatabaseIdConverter  # before the routes are added
    for module in (auth, dashboard, accounts, actions, api):
        app.register_blueprint(module.bp)
