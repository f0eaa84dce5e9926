"""From `make run` to `make run-cluster` without losing anything: copy the SQLite database (accounts, keys
as encrypted, links, intents, runs, history, settings) into the cluster's empty PostgreSQL database once.
"""
from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa

log = logging.getLogger(__name__)


def carry_over(sqlite_path: Path, target_url: str) -> int:
    """Copy every row when the target has no accounts yet and the SQLite file has some; returns rows copied.

    The target's schema must already be at the newest migration, as the SQLite file must be (both are
    migrated by starting the app on them). Id sequences are moved past the copied ids.
    """
    if not sqlite_path.exists():
        return 0
    from ...store.extensions import db

    source = sa.create_engine(f"sqlite:///{sqlite_path}")
    target = sa.create_engine(target_url)
    tables = [t for t in db.metadata.sorted_tables]
    try:
        with source.connect() as src, target.begin() as dst:
            if dst.execute(sa.text("SELECT count(*) FROM account")).scalar():
                return 0  # the cluster has its own data already: never merge
            if not src.execute(sa.text("SELECT count(*) FROM account")).scalar():
                return 0
            copied = 0
            for table in tables:
                rows = [dict(r._mapping) for r in src.execute(sa.select(table))]
                if rows:
                    dst.execute(table.insert(), rows)
                    copied += len(rows)
            if target.dialect.name == "postgresql":
                for table in tables:
                    if "id" in table.c:
                        dst.execute(sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"))
            log.info("carried %d rows over from %s", copied, sqlite_path)
            return copied
    finally:
        source.dispose()
        target.dispose()
