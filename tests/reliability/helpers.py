"""Helpers shared by the reliability and security tests: database dumps, held sizes, a recording HTTP receiver."""
from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

BTC = "BTCUSDT"
TABLES = ("account", "position_link", "run", "run_result", "setting", "snapshot")


def db_path(app) -> Path:
    """The SQLite file of an app."""
    return Path(str(app.config["SQLALCHEMY_DATABASE_URI"]).removeprefix("sqlite:///"))


@contextmanager
def separate_connection(app) -> Iterator[sa.Connection]:
    """A connection of its own to the app's database (SQLite or PostgreSQL): it sees only what is committed."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def query_rows(app, sql: str) -> list[tuple]:
    """The rows of one query, read with a separate connection."""
    with separate_connection(app) as connection:
        return [tuple(row) for row in connection.execute(sa.text(sql))]


def dump_db(app, tables: tuple[str, ...] = TABLES) -> dict[str, list[tuple]]:
    """Every row of the given tables, read with a separate connection (what is really committed)."""
    with separate_connection(app) as connection:
        existing = set(sa.inspect(connection).get_table_names())
        return {t: sorted((tuple(row) for row in connection.execute(sa.text(f'SELECT * FROM "{t}"'))), key=repr)
                for t in tables if t in existing}


def held(sim, name: str) -> dict[tuple[str, str], Decimal]:
    """What an account holds on the simulator, by (symbol, side)."""
    account = sim.exchange.account(name)
    return {key: pos.size for key, pos in account.positions.items()}


def max_held(sim) -> dict[tuple[str, str, str], Decimal]:
    """The largest size each (account, symbol, side) ever held, from the simulator's max-held table."""
    return {(r["account"], r["symbol"], r["holdSide"]): Decimal(r["maxSize"]) for r in sim.exchange.max_held_rows()}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RefusedPort:
    """A loopback port that refuses connections and that nobody else can take: bound, never listening."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def release(self) -> int:
        """Free the port (e.g. to start a server on it); returns it."""
        self.sock.close()
        return self.port


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> Any:
    """Poll until predicate() is truthy; return its value or raise AssertionError."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)


class Receiver:
    """A tiny threaded HTTP server on 127.0.0.1 that records every POST (path, JSON body, time).

    `behaviour(path, attempt_no)` returns (status, delay_seconds) for each request; default (200, 0).
    """

    def __init__(self, behaviour: Callable[[str, int], tuple[int, float]] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.behaviour = behaviour or (lambda path, n: (200, 0.0))
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    n = receiver.attempts[self.path] = receiver.attempts.get(self.path, 0) + 1
                status, delay = receiver.behaviour(self.path, n)
                if delay:
                    time.sleep(delay)
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "status": status, "raw": raw.decode("utf-8"),
                                              "body": _json_or_none(raw), "at": time.monotonic()})
                body = b'{"ok": true}' if status < 300 else b'{"ok": false}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def delivered(self, prefix: str) -> list[dict[str, Any]]:
        """Requests to paths starting with prefix that were answered with success."""
        with self._lock:
            return [r for r in self.requests if r["path"].startswith(prefix) and r["status"] < 300]

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
