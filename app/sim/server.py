"""Run the simulator on a loopback port: a threaded HTTP/1.1 keep-alive server, price ticker and saver."""
from __future__ import annotations

import io
import logging
import socket
import threading
from typing import Any

from werkzeug.serving import DechunkedInput, ThreadedWSGIServer, WSGIRequestHandler

from .api import MAX_BODY
from .exchange import Exchange
from .faults import FaultInjector
from .limits import LimitConfig, RateLimiter
from .persistence import StateSaver
from .variants import VariantSettings
from .webapp import create_sim_app

log = logging.getLogger(__name__)
IDLE_TIMEOUT_S = 120


class KeepAliveHandler(WSGIRequestHandler):
    """Werkzeug's handler with real HTTP/1.1 keep-alive (werkzeug 3 always sends Connection: close)."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    server: SimHTTPServer

    def setup(self) -> None:
        """Track the connection so stop() can close it."""
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        """Untrack the connection."""
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def run_wsgi(self) -> None:
        """Read the whole body, run the app, write one framed response (or drop the connection)."""
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._write(413, "Payload Too Large", [("Content-Type", "text/plain")], b"request body too large")
            return
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        dropped: list[bool] = []
        environ["sim.drop_connection"] = lambda: dropped.append(True)
        status, headers, payload = self._call_app(environ)
        if dropped:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        code, _, reason = status.partition(" ")
        self._write(int(code), reason, headers, b"" if self.command == "HEAD" else payload, len(payload))

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = DechunkedInput(self.rfile).read(MAX_BODY + 1)
            return None if len(data) > MAX_BODY else data
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        started: list[Any] = ["500 Internal Server Error", []]
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[0], started[1] = status, headers
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception:
            log.exception("simulator app failed")
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b"internal error"
        return started[0], started[1], b"".join(chunks)

    def _write(self, code: int, reason: str, headers: list[tuple[str, str]], payload: bytes,
               length: int | None = None) -> None:
        lines = [f"HTTP/1.1 {code} {reason or 'OK'}", f"Server: {self.server_version}",
                 f"Date: {self.date_time_string()}"]
        skip = {"content-length", "connection", "transfer-encoding", "server", "date"}
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in skip]
        lines.append(f"Content-Length: {len(payload) if length is None else length}")
        lines.append(f"Connection: {'close' if self.close_connection else 'keep-alive'}")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Quiet: no access log line per request."""

    def log_error(self, format: str, *args: Any) -> None:
        """Connection-level problems go to debug."""
        log.debug("http: " + format, *args)


class SimHTTPServer(ThreadedWSGIServer):
    """Thread per connection, big listen backlog, and a registry of open connections."""

    request_queue_size = 2048
    daemon_threads = True

    def __init__(self, host: str, port: int, app: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(host, port, app, handler=KeepAliveHandler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        """Remember or forget an open client connection."""
        with self._conns_lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def close_connections(self) -> None:
        """Shut every open client connection (keep-alive sockets would outlive the listener)."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SimServer:
    """A running simulator: .url, .port, .exchange, .faults, .limits, .stats, .app and .stop()."""

    def __init__(self, httpd: SimHTTPServer, app: Any, exchange: Exchange, saver: StateSaver | None,
                 price_walk: bool, tick_seconds: float) -> None:
        self.httpd = httpd
        self.app = app
        self.exchange = exchange
        self.faults = app.extensions["sim"].faults
        self.stats = app.extensions["sim"].stats
        self.limits = app.extensions["sim"].limits
        self.host = httpd.server_address[0]
        self.port = int(httpd.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        self._saver = saver
        self.ws = app.extensions["sim"].ws
        self.ws_url = self.ws.url if self.ws else None
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                          name="sim-http", daemon=True)]
        if price_walk:
            self._threads.append(threading.Thread(target=self._walk, args=(tick_seconds,),
                                                  name="sim-ticker", daemon=True))

    def start(self) -> SimServer:
        """Start serving (and ticking, and saving)."""
        for thread in self._threads:
            thread.start()
        if self.ws is not None:
            self.ws.start()
        if self._saver is not None:
            self._saver.start()
        return self

    def _walk(self, tick_seconds: float) -> None:
        while not self._stopping.wait(tick_seconds):
            try:
                self.exchange.tick()
            except Exception:
                log.exception("price tick failed")

    def stop(self) -> None:
        """Stop serving, close client connections, and save the state one last time."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self.ws is not None:
            self.ws.stop()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.close_connections()
        if self._saver is not None:
            self._saver.stop()


def start_simulator(host: str = "127.0.0.1", port: int = 0, *, state_path: str | None = None, seed: int = 1,
                    price_walk: bool = True, tick_seconds: float = 1.0,
                    faults: dict[str, Any] | None = None,
                    rate_limits: bool | dict[str, Any] | LimitConfig = True,
                    variants: str | dict[str, str] | None = None,
                    ws: bool = True, ws_port: int = 0) -> SimServer:
    """Start the simulated exchange in daemon threads and return its handle.

    `rate_limits`: True (Bitget's limits, the default), False (none), or a dict of changes to the defaults
    (`ip_per_minute`, `lockout_seconds`, `window_seconds`, `public_rate`, `default_rate`, `grace_ms`,
    `uid_rates`, `enabled`) or a LimitConfig; see app.sim.limits.
    `variants`: options of the unconfirmed behaviours ({name: option} or "name=option,..."; default: the
    SIM_VARIANTS environment variable, else every default); see app.sim.variants.
    `ws`: also serve Bitget's private WebSocket at ws://host:ws_port/v2/ws/private (0 picks a free port).
    """
    limits = RateLimiter(rate_limits)
    exchange = Exchange(seed, VariantSettings.from_env(variants))
    saver = None
    if state_path:
        saver = StateSaver(exchange, state_path)
        saver.load()
    app = create_sim_app(exchange, FaultInjector(faults, seed), limits=limits)
    if ws:
        from .ws import PrivateStream

        app.extensions["sim"].ws = PrivateStream(exchange, host, ws_port)
    httpd = SimHTTPServer(host, port, app)
    server = SimServer(httpd, app, exchange, saver, price_walk, tick_seconds).start()
    log.info("simulated Bitget listening on %s", server.url)
    return server
