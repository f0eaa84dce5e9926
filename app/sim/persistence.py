"""Save the exchange state to a JSON file atomically (debounced) and load it back at start."""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .exchange import Exchange

log = logging.getLogger(__name__)


def write_atomic(path: Path, text: str) -> None:
    """Write text to a temporary file beside `path`, fsync it, then os.replace it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class StateSaver:
    """Loads the state file once, then saves after mutations, at most every `interval` seconds."""

    def __init__(self, exchange: Exchange, path: str | os.PathLike[str], interval: float = 0.5) -> None:
        self.exchange = exchange
        self.path = Path(path)
        self.interval = interval
        self._saved_version = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._save_lock = threading.Lock()

    def load(self) -> bool:
        """Load the file into the exchange if it exists; False when there was nothing to load."""
        if not self.path.exists():
            return False
        try:
            with self.path.open(encoding="utf-8") as handle:
                self.exchange.load_json(json.load(handle))
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            log.warning("simulator state %s unreadable (%s); moved to %s and starting empty", self.path, exc, aside)
            self.exchange.reset()
            return False
        self._saved_version = self.exchange.version
        log.info("simulator state loaded from %s", self.path)
        return True

    def save_now(self) -> None:
        """Snapshot under the exchange lock, then serialise and write outside it."""
        with self._save_lock:
            version = self.exchange.version
            snapshot = self.exchange.to_json()
            write_atomic(self.path, json.dumps(snapshot, separators=(",", ":")))
            self._saved_version = version

    def start(self) -> None:
        """Start the background saver thread."""
        self._thread = threading.Thread(target=self._run, name="sim-state-saver", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.exchange.version != self._saved_version:
                try:
                    self.save_now()
                except OSError:
                    log.exception("could not save simulator state to %s", self.path)

    def stop(self) -> None:
        """Stop the thread and write a final snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.save_now()
