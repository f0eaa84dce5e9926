"""Schema creation and upgrades on start."""
from __future__ import annotations

from flask import Flask

from .extensions import db


def upgrade_database(app: Flask) -> None:
    """Bring the database schema up to date."""
    from . import models  # noqa: F401  (register tables)

    db.create_all()
