"""Mark prices: a seeded, deterministic random walk per symbol plus manual overrides and 24h stats."""
from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from .contracts import CONTRACTS
from .numbers import ZERO, fmt, round_to

BPS = Decimal("0.0001")


class PriceBook:
    """Current mark price per symbol and simple session statistics; not thread-safe (the exchange locks)."""

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self.ticks = 0
        self.prices: dict[str, Decimal] = {s: c.start_price for s, c in CONTRACTS.items()}
        self.open: dict[str, Decimal] = dict(self.prices)
        self.high: dict[str, Decimal] = dict(self.prices)
        self.low: dict[str, Decimal] = dict(self.prices)
        self.base_volume: dict[str, Decimal] = {s: ZERO for s in CONTRACTS}
        self.quote_volume: dict[str, Decimal] = {s: ZERO for s in CONTRACTS}

    def step(self) -> dict[str, Decimal]:
        """Advance every symbol by one tick of the walk; returns the new prices."""
        self.ticks += 1
        for symbol in sorted(self.prices):
            spec = CONTRACTS[symbol]
            price = self.prices[symbol]
            noise = sum(self._rng.randint(-5, 5) for _ in range(3))
            pull = int((price / spec.start_price - 1) * 20)  # mild pull back towards the start price
            moved = price * (1 + (noise - pull) * BPS)
            self._apply(symbol, max(spec.tick * 10, round_to(moved, spec.tick)))
        return dict(self.prices)

    def set(self, symbol: str, price: Decimal) -> Decimal:
        """Force a symbol's mark price (rounded to its tick)."""
        spec = CONTRACTS[symbol]
        rounded = max(spec.tick, round_to(price, spec.tick))
        self._apply(symbol, rounded)
        return rounded

    def _apply(self, symbol: str, price: Decimal) -> None:
        self.prices[symbol] = price
        self.high[symbol] = max(self.high[symbol], price)
        self.low[symbol] = min(self.low[symbol], price)

    def record_trade(self, symbol: str, size: Decimal, price: Decimal) -> None:
        """Count a fill in the session volume."""
        self.base_volume[symbol] += size
        self.quote_volume[symbol] += size * price

    def ticker(self, symbol: str, ts: int) -> dict[str, Any]:
        """One row of GET /api/v2/mix/market/ticker(s)."""
        spec = CONTRACTS[symbol]
        price = self.prices[symbol]
        change = ((price - self.open[symbol]) / self.open[symbol]).quantize(Decimal("0.00001"))
        return {
            "symbol": symbol, "lastPr": fmt(price), "askPr": fmt(price + spec.tick), "bidPr": fmt(price),
            "bidSz": "1.5", "askSz": "1.5", "high24h": fmt(self.high[symbol]), "low24h": fmt(self.low[symbol]),
            "ts": str(ts), "change24h": fmt(change), "baseVolume": fmt(self.base_volume[symbol]),
            "quoteVolume": fmt(self.quote_volume[symbol]), "usdtVolume": fmt(self.quote_volume[symbol]),
            "openUtc": fmt(self.open[symbol]), "changeUtc24h": fmt(change), "indexPrice": fmt(price),
            "fundingRate": "0.0001", "holdingAmount": "0", "deliveryStartTime": None, "deliveryTime": None,
            "deliveryStatus": "", "open24h": fmt(self.open[symbol]), "markPrice": fmt(price),
        }

    def symbol_price(self, symbol: str, ts: int) -> dict[str, Any]:
        """One row of GET /api/v2/mix/market/symbol-price."""
        price = fmt(self.prices[symbol])
        return {"symbol": symbol, "price": price, "indexPrice": price, "markPrice": price, "ts": str(ts)}

    def to_json(self) -> dict[str, Any]:
        """Prices and statistics for the state file."""
        return {"seed": self.seed, "ticks": self.ticks,
                "prices": {s: fmt(p) for s, p in self.prices.items()},
                "open": {s: fmt(p) for s, p in self.open.items()}}

    def load_json(self, data: dict[str, Any]) -> None:
        """Restore prices saved by to_json (unknown symbols are ignored)."""
        for key, target in (("prices", self.prices), ("open", self.open)):
            for symbol, value in data.get(key, {}).items():
                if symbol in target:
                    target[symbol] = Decimal(value)
        for symbol, price in self.prices.items():
            self.high[symbol] = max(price, self.open[symbol])
            self.low[symbol] = min(price, self.open[symbol])
        self.ticks = int(data.get("ticks", 0))
