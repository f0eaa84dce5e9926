"""Alembic environment: runs inside the Flask app, batch mode so SQLite can alter tables."""
from __future__ import annotations

from alembic import context
from flask import current_app

config = context.config
target_db = current_app.extensions["migrate"].db


def run_migrations_offline() -> None:
    """Emit SQL without a database connection."""
    context.configure(url=str(target_db.engine.url), target_metadata=target_db.metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply migrations on the app's engine."""
    with target_db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # batch migrations rebuild tables (copy, drop, rename): with foreign keys on, the drop would
            # cascade-delete dependent rows (links, results), so keys are off while migrating
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(connection=connection, target_metadata=target_db.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
