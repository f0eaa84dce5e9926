"""Schema upgrades on start: Alembic migrations (also `flask --app wsgi db upgrade`)."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask_migrate import Migrate, stamp, upgrade

from .extensions import db

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
migrate = Migrate(directory=str(MIGRATIONS), render_as_batch=True)


def upgrade_database(app: Flask) -> None:
    """Bring the database schema to the newest revision, keeping every row."""
    from . import models  # noqa: F401  (register tables)

    migrate.init_app(app, db)
    tables = set(sa.inspect(db.engine).get_table_names())
    if "account" in tables and "alembic_version" not in tables:
        # created by an early build with create_all(): it already has today's columns
        stamp(directory=str(MIGRATIONS), revision="head")
    upgrade(directory=str(MIGRATIONS))
