"""JSON-safe encoding of what crosses the broker: the master snapshot and the accounts' outcomes.

Decimals travel as strings and come back as Decimals (never floats); datetimes as ISO text.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.bitget.models import Position
from app.engine.replication.recording import AccountOutcome
from app.engine.replication.state import MasterState


def encode(value: Any) -> Any:
    """A JSON-able copy: Decimal -> {"$d": text}, datetime -> {"$t": iso}, dataclasses and tuples opened."""
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """The inverse of encode (dataclasses come back as dicts; the callers rebuild them)."""
    if isinstance(value, dict):
        if set(value) == {"$d"}:
            return Decimal(value["$d"])
        if set(value) == {"$t"}:
            return datetime.fromisoformat(value["$t"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def master_to_wire(master: MasterState) -> dict[str, Any]:
    """The master snapshot a shard task carries."""
    return encode(master)


def master_from_wire(data: dict[str, Any]) -> MasterState:
    """Rebuild the master snapshot."""
    plain = decode(data)
    return MasterState(equity=plain["equity"], positions=tuple(Position(**p) for p in plain["positions"]))


def outcome_to_wire(outcome: AccountOutcome) -> dict[str, Any]:
    """One account's outcome as a shard answers it."""
    return encode(outcome)


def outcome_from_wire(data: dict[str, Any]) -> AccountOutcome:
    """Rebuild an outcome (unknown keys from a newer worker are ignored)."""
    plain = decode(data)
    names = {f.name for f in dataclasses.fields(AccountOutcome)}
    return AccountOutcome(**{k: v for k, v in plain.items() if k in names})
