"""Blueprints, and the URL converter their ids use."""
from __future__ import annotations

from werkzeug.routing import IntegerConverter

# ids are INTEGER columns: 32 bits on PostgreSQL (a larger parameter is an error there), 64 on SQLite
MAX_DATABASE_ID = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` limited to what an id column can hold: a larger id is a 404, not a database error (500)."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(map, *args, **kwargs)
