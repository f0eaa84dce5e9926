"""Seeded fault injection per endpoint path prefix: latency, 429, 5xx, and lost responses."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .numbers import to_decimal

KEYS = ("latency_ms", "jitter_ms", "p_429", "p_5xx", "p_lost")
SCALE = 1_000_000


@dataclass(frozen=True)
class Decision:
    """What to do to one request: sleep, answer with an error status, or run it and drop the reply."""

    latency_ms: int = 0
    status: int | None = None
    lose: bool = False


def normalise(config: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Validate a fault config {prefix: {latency_ms, jitter_ms, p_429, p_5xx, p_lost}}; raises ValueError."""
    clean: dict[str, dict[str, Any]] = {}
    for prefix, rule in (config or {}).items():
        if not isinstance(rule, dict):
            raise ValueError(f"fault rule for {prefix!r} must be an object")
        unknown = set(rule) - set(KEYS)
        if unknown:
            raise ValueError(f"unknown fault keys {sorted(unknown)}; allowed: {', '.join(KEYS)}")
        out: dict[str, Any] = {}
        for key, value in rule.items():
            number = to_decimal(value)
            if number is None or number < 0 or (key.startswith("p_") and number > 1):
                raise ValueError(f"{prefix!r}.{key} must be a number (probabilities within 0..1)")
            out[key] = int(number) if key.endswith("_ms") else number
        clean[str(prefix)] = out
    return clean


class FaultInjector:
    """Decides per request, from a seeded RNG, which fault (if any) to inject."""

    def __init__(self, config: dict[str, Any] | None = None, seed: int = 1) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rules: list[tuple[str, dict[str, Any]]] = []
        self.configure(config)

    def configure(self, config: dict[str, Any] | None) -> dict[str, Any]:
        """Replace the whole configuration; returns it as JSON-friendly data."""
        clean = normalise(config)
        with self._lock:
            self._rules = sorted(clean.items(), key=lambda kv: len(kv[0]))
        return self.config()

    def config(self) -> dict[str, Any]:
        """The current configuration (probabilities as strings)."""
        with self._lock:
            return {prefix: {k: (str(v) if isinstance(v, Decimal) else v) for k, v in rule.items()}
                    for prefix, rule in self._rules}

    def decide(self, path: str) -> Decision:
        """Merge the rules whose prefix matches (longer prefixes win per key) and roll the dice."""
        rules = self._rules
        if not rules:
            return Decision()
        merged: dict[str, Any] = {}
        for prefix, rule in rules:
            if path.startswith(prefix):
                merged.update(rule)
        if not merged:
            return Decision()
        with self._lock:
            latency = merged.get("latency_ms", 0) + self._rng.randint(0, merged.get("jitter_ms", 0))
            if self._hit(merged.get("p_429")):
                return Decision(latency, 429)
            if self._hit(merged.get("p_5xx")):
                return Decision(latency, self._rng.choice((500, 502, 503)))
            return Decision(latency, None, self._hit(merged.get("p_lost")))

    def _hit(self, probability: Decimal | None) -> bool:
        if not probability:
            return False
        return Decimal(self._rng.randrange(SCALE)) < probability * SCALE
