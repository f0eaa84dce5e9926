"""Optional private WebSockets for clients: a client's own stop, liquidation or manual trade shows at once.

Up to WS_CLIENT_LIMIT enabled clients (lowest ids first; Bitget allows 100 connections per IP, the master
takes one) get a connection (on ENGINE=celery: up to WS_CLIENT_LIMIT of each shard's clients, opened by the
shard's worker from its own address; the coordinator opens none) subscribed to `positions`, `orders-algo` and `account`. Each push replaces the
client's cached positions (with their position TP/SL), so the dashboard shows it without waiting for a REST
read. A push never makes the cache look fresher than it is: the paced REST refresh still reads every client
(positions, account, fills) and stamps the view with the time its reads left, and runs read every client's
positions over REST before they act. (Sparing the all-position read for streamed clients was tried and
dropped: a refresh that reused positions the run had written before its own fill could leave a copy that
the master closed looking in sync for good.)
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from ..bitget.stream import PrivateConnection, Push, StreamError, StreamLoginError
from .master_feed import MasterBook, backoff_seconds, listen, login_retry_seconds, stream_url

log = logging.getLogger(__name__)
CHANNELS = ("positions", "orders-algo", "account")
RESYNC_SECONDS = 10.0  # how often the set of client connections is matched to the accounts


class ClientStream:
    """One client's connection, kept open by one daemon thread."""

    def __init__(self, app: Flask, account_id: int, url: str, creds, version: tuple) -> None:
        self.app = app
        self.account_id = account_id
        self.url = url
        self.version = version
        self._creds = creds
        self.book = MasterBook()
        self.live = False
        self.reason: str | None = None
        self.pushed_at: float | None = None
        self._stopping = threading.Event()
        self._conn: PrivateConnection | None = None
        self._thread = threading.Thread(target=self._run, name=f"client-feed-{account_id}", daemon=True)

    def start(self) -> None:
        """Connect (and keep reconnecting) in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Close the connection; the thread ends."""
        self._stopping.set()
        conn = self._conn
        if conn is not None:
            conn.close()

    def _run(self) -> None:
        failures = login_failures = 0
        while not self._stopping.is_set():
            conn = PrivateConnection(self.url, self._creds.api_key, self._creds.api_secret, self._creds.passphrase,
                                     channels=CHANNELS, timeout=float(self.app.config.get("WS_TIMEOUT_SECONDS", 10)),
                                     source_address=self.app.config.get("EGRESS_SOURCE_ADDRESS") or None)
            self._conn = conn
            try:
                early = conn.open()
                failures = login_failures = 0
                self.book.clear()
                for push in early:
                    self._on_push(push)
                self.live, self.reason = True, None
                listen(conn, self._stopping, float(self.app.config.get("WS_PING_SECONDS", 25)), self._on_push,
                       lambda: True)
                wait = 0.0
            except StreamLoginError as exc:
                login_failures += 1
                self.reason = str(exc)
                wait = login_retry_seconds(login_failures)
            except StreamError as exc:
                failures += 1
                self.reason = str(exc)
                wait = backoff_seconds(failures)
            except Exception as exc:  # the thread must live on: the paced REST refresh covers meanwhile
                log.exception("client stream %s crashed", self.account_id)
                failures += 1
                self.reason = f"internal error: {exc}"
                wait = backoff_seconds(failures)
            finally:
                self.live = False
                conn.close()
                self._conn = None
            if not self._stopping.is_set() and wait:
                self._stopping.wait(wait)

    def _on_push(self, push: Push) -> None:
        self.pushed_at = push.received_at
        self.book.apply(push)
        state = self.book.state()
        if state is not None:
            self.app.extensions["state"].update(self.account_id, positions=state.positions)


class ClientStreams:
    """The set of client connections, matched to the enabled clients every RESYNC_SECONDS."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._streams: dict[int, ClientStream] = {}
        self._lock = threading.Lock()

    def live_ids(self) -> set[int]:
        """Clients whose positions the stream keeps current."""
        with self._lock:
            return {i for i, s in self._streams.items() if s.live and s.book.state() is not None}

    def status(self) -> dict:
        """For /healthz and the state JSON."""
        with self._lock:
            streams = list(self._streams.values())
        return {"limit": int(self.app.config.get("WS_CLIENT_LIMIT", 50)), "connections": len(streams),
                "live": sum(1 for s in streams if s.live)}

    def sync(self) -> None:
        """Open connections for the first WS_CLIENT_LIMIT enabled clients, close the others."""
        from ..engine.cluster.shards import clients_read_elsewhere, served_shard
        from ..store.extensions import db
        from ..store.models import Account

        limit = int(self.app.config.get("WS_CLIENT_LIMIT", 50))
        wanted: dict[int, tuple] = {}
        with self.app.app_context():
            try:
                accounts = []
                if limit > 0 and not clients_read_elsewhere(self.app):  # the celery coordinator: the shards do
                    query = db.session.query(Account).filter_by(role="client", enabled=True)
                    if served_shard(self.app) is not None:  # a shard worker streams its own clients, from its IP
                        query = query.filter(Account.shard == served_shard(self.app))
                    accounts = query.order_by(Account.id).limit(limit).all()
                gateway = self.app.extensions["gateway"]
                for account in accounts:
                    url, _ = stream_url(self.app, account.demo)
                    if url is None:
                        continue
                    version = (account.api_key_enc, account.api_secret_enc, account.passphrase_enc, account.demo)
                    wanted[account.id] = (url, version, account)
                with self._lock:
                    current = dict(self._streams)
                for account_id, stream in current.items():
                    keep = wanted.get(account_id)
                    if keep is None or keep[1] != stream.version or keep[0] != stream.url:
                        stream.stop()
                        with self._lock:
                            self._streams.pop(account_id, None)
                for account_id, (url, version, account) in wanted.items():
                    with self._lock:
                        if account_id in self._streams:
                            continue
                    stream = ClientStream(self.app, account_id, url, gateway.credentials_for(account), version)
                    with self._lock:
                        self._streams[account_id] = stream
                    stream.start()
            finally:
                db.session.remove()

    def stop(self) -> None:
        """Close every client connection."""
        with self._lock:
            streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            stream.stop()

    def wait_live(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until `count` clients have a live stream with a snapshot (tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.live_ids()) >= count:
                return True
            time.sleep(0.05)
        return False
