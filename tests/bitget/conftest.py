"""Shared helpers for the Bitget client tests: fixtures on disk, a frozen server clock, no-wait limiters."""
from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import responses

from app.bitget.client import BitgetClient, Credentials, ServerClock

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bitget"
# .invalid never resolves: even a request the mock did not catch cannot leave this machine
BASE = "https://bitget.invalid"
SECRET = "f3b9c2a1d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d"
API_KEY = "bg_0123456789abcdef0123456789abcdef"  # the fake key of the shared reference fixtures
PASSPHRASE = "Sup3r-Secret-Pass"
NOW_MS = 1740834947195


def load(name: str) -> Any:
    """One fixture file parsed as JSON."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def frozen_clock(now_ms: int = NOW_MS) -> ServerClock:
    """A synced ServerClock that always reads `now_ms` (wall time 0 plus an offset of now_ms)."""
    clock = ServerClock(wall=lambda: 0.0, monotonic=lambda: 0.0)
    clock.sync(lambda: now_ms)
    return clock


class NoLimit:
    """Account limiter stand-in that never waits."""

    def acquire(self, path: str) -> float:
        return 0.0


class Sleeps(list):
    """Records requested sleeps instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(*, secret: str = SECRET, demo: bool = False, now_ms: int = NOW_MS, sleep: Any = None,
                credentials: Credentials | None | bool = True, **overrides: Any) -> BitgetClient:
    """A client on BASE with a frozen clock, no limiter waits and a seeded jitter source."""
    creds = Credentials(API_KEY, secret, PASSPHRASE, demo=demo) if credentials is True else credentials
    kwargs: dict[str, Any] = dict(clock=frozen_clock(now_ms), sleep=Sleeps() if sleep is None else sleep, rng=random.Random(7),
                                  rate_limiter=NoLimit(), server_limiter=None)
    kwargs.update(overrides)
    return BitgetClient(creds or None, BASE, **kwargs)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@contextmanager
def mock_http(**kwargs: Any) -> Iterator[responses.RequestsMock]:
    """Like `responses.RequestsMock()` but keeps `.calls` after the block so tests can inspect them."""
    mock = responses.RequestsMock(**kwargs)
    mock.start()
    finished = False
    try:
        yield mock
        finished = True
    finally:
        mock.stop(allow_assert=finished)
