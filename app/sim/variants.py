"""Switchable variants: behaviours no source settles (REFERENCE 15.3 and silent cases), one setting each.

The default of each is the behaviour judged most likely; the product must work under every option, and its
integration tests run once per option (see tests/conftest.py, the `sim_variants` marker).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV_VAR = "SIM_VARIANTS"  # e.g. "second_pos_tpsl=replace,oversized_close=shrink"


@dataclass(frozen=True)
class Variant:
    """One unconfirmed behaviour: its options (the first is the default) and what they mean."""

    name: str
    options: tuple[str, ...]
    reference: str
    meaning: str

    @property
    def default(self) -> str:
        """The option used unless told otherwise."""
        return self.options[0]


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("second_pos_tpsl", ("refuse", "replace"), "10.1",
            "a second pos_profit/pos_loss on the same position side: refused with 43030/43031, or it replaces "
            "the first (the first is cancelled)"),
    Variant("cancel_plan_profit_loss", ("refuse", "accept"), "10.5",
            "cancel-plan-order with planType=profit_loss: refused with 400172 'planType Illegal type' (the doc "
            "lists only the specific kinds), or accepted for every TP/SL kind"),
    Variant("margin_mode_mismatch", ("refuse", "follow"), "9.1",
            "an opening place-order whose marginMode differs from the symbol's: refused with 400172, or "
            "executed in the symbol's own margin mode"),
    Variant("default_trigger_type", ("fill_price", "mark_price"), "10.1",
            "triggerType of a TP/SL placed without one"),
    Variant("one_way_plan_side", ("position", "close_trade"), "10.4",
            "side/tradeSide of one-way TP/SL rows in orders-plan-pending: the position's direction as holdSide "
            "names it (buy for a long) with tradeSide close, or the closing trade's direction (sell for a long) "
            "with tradeSide sell_single/buy_single"),
    Variant("oversized_close", ("refuse", "shrink"), "9.1, 12.5",
            "a market close (hedge close or one-way reduce-only) larger than the whole position: refused with "
            "40757, or shrunk to the position"),
    Variant("one_way_close_ack", ("no_order_id", "order_id"), "9.1",
            "the answer to a one-way reduce-only order that made Bitget cancel older reduce-only orders: "
            "without orderId (look it up by clientOid), or with it"),
)}


def parse_variants(spec: str | Mapping[str, Any] | None) -> dict[str, str]:
    """Validate `name=option,...` text or a mapping; raises ValueError naming the allowed values."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        pairs = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            name, sep, option = item.partition("=")
            if not sep:
                raise ValueError(f"variant {item!r} must be name=option")
            pairs[name.strip()] = option.strip()
        spec = pairs
    clean: dict[str, str] = {}
    for name, option in spec.items():
        variant = VARIANTS.get(str(name))
        if variant is None:
            raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        if str(option) not in variant.options:
            raise ValueError(f"variant {name} must be one of {', '.join(variant.options)}")
        clean[variant.name] = str(option)
    return clean


class VariantSettings:
    """The options in force (thread-safe); attribute access reads one: `settings.oversized_close`."""

    def __init__(self, spec: str | Mapping[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._chosen: dict[str, str] = {}
        self._initial = parse_variants(spec)
        self.configure(self._initial, replace=True)

    @classmethod
    def from_env(cls, spec: str | Mapping[str, Any] | None = None) -> VariantSettings:
        """Explicit options when given, else those of the SIM_VARIANTS environment variable."""
        return cls(spec if spec is not None else os.environ.get(ENV_VAR) or None)

    def configure(self, spec: str | Mapping[str, Any] | None, *, replace: bool = False) -> dict[str, str]:
        """Change the options named (every other keeps its value, or goes back to its default if replace)."""
        clean = parse_variants(spec)
        with self._lock:
            base = {} if replace else dict(self._chosen)
            self._chosen = {**base, **clean}
        return self.snapshot()

    def reset(self) -> dict[str, str]:
        """Every variant back to the options given at start (the defaults when none were)."""
        return self.configure(self._initial, replace=True)

    def snapshot(self) -> dict[str, str]:
        """Every variant's option in force."""
        with self._lock:
            return {name: self._chosen.get(name, v.default) for name, v in VARIANTS.items()}

    def describe(self) -> list[dict[str, Any]]:
        """Every variant with its options, default, current value and meaning (the admin API shows this)."""
        current = self.snapshot()
        return [{"name": v.name, "options": list(v.options), "default": v.default, "value": current[v.name],
                 "reference": v.reference, "meaning": v.meaning} for v in VARIANTS.values()]

    def __getattr__(self, name: str) -> str:
        variant = VARIANTS.get(name)
        if variant is None:
            raise AttributeError(name)
        with self._lock:
            return self._chosen.get(name, variant.default)
