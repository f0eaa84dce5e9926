"""Runs one function per account concurrently; every account's outcome is captured, none can abort the batch."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """The result of one account's work, or the exception it raised."""

    item: T
    value: R | None
    error: BaseException | None


class AccountExecutor:
    """Bounded thread pool for fan-out across accounts (a swap point for a task queue later)."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max(1, int(max_workers))
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="acct")
            return self._pool

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[Outcome[T, R]]:
        """Run fn(item) for every item concurrently; return outcomes in input order."""
        items = list(items)
        if not items:
            return []
        if self.max_workers == 1:
            return [self._call(fn, item) for item in items]
        pool = self._get_pool()
        futures = [pool.submit(self._call, fn, item) for item in items]
        return [f.result() for f in futures]

    def submit(self, fn: Callable[[], R]) -> Future[R]:
        """Start fn() in the pool and return its future (run at once, inline, with one worker)."""
        if self.max_workers == 1:
            done: Future[R] = Future()
            try:
                done.set_result(fn())
            except Exception as exc:
                done.set_exception(exc)
            return done
        return self._get_pool().submit(fn)

    @staticmethod
    def _call(fn: Callable[[T], R], item: T) -> Outcome[T, R]:
        try:
            return Outcome(item, fn(item), None)
        except Exception as exc:  # one account's failure must never stop the others
            log.warning("account task failed: %s", exc, exc_info=not isinstance(exc, RuntimeError))
            return Outcome(item, None, exc)

    def shutdown(self) -> None:
        """Stop the pool's threads."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
