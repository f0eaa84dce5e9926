"""Blueprints, and the URL converter their ids use."""
from __future__ import annotations

from werkzeug.routing import IntegerConverter

SQLITE_MAX_INT = 2**63 - 1


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` limited to what SQLite can store: a larger id is a 404, not an OverflowError (500)."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("max", SQLITE_MAX_INT)
        super().__init__(map, *args, **kwargs)
