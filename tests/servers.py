"""Real Redis and PostgreSQL servers for the tests: free loopback ports, temporary data directories.

`make test` installs Debian's redis-server and postgresql; each pytest(-xdist) worker starts its own servers
(session fixtures in tests/conftest.py), so workers never share a port, a data directory or a database.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from app.engine.cluster import local_servers
from app.engine.cluster.local_servers import as_postgres

INSTALL_HINT = "`make test` installs it (Debian packages redis-server and postgresql)"
START_TIMEOUT_S = 30.0


class ServerUnavailable(RuntimeError):
    """A server binary is missing or the server did not come up; the message says why."""


def free_port() -> int:
    """A loopback port nothing listens on right now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(ready: Callable[[], bool], what: str, log: Path | None = None, timeout: float = START_TIMEOUT_S) -> None:
    """Poll `ready` until it returns True; raise with the server's log when it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise ServerUnavailable(f"{what} did not start within {timeout:.0f} s\n{tail}")


@dataclass
class RedisServer:
    """A redis-server subprocess without persistence, in its own temporary directory."""

    port: int
    directory: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        """Database 0 of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        """True when the server answers PING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate the server and delete its directory."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_redis() -> RedisServer:
    """Start redis-server on a free loopback port; returns once it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable(f"redis-server not found: {INSTALL_HINT}")
    return on_free_port(lambda port: launch_redis(binary, port))


def on_free_port(start: Callable[[int], object], attempts: int = 3):
    """Start a server on a free port, with a new port when another process took it in between."""
    for attempt in range(attempts):
        try:
            return start(free_port())
        except ServerUnavailable:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def launch_redis(binary: str, port: int) -> RedisServer:
    """One attempt at running redis-server on `port`."""
    directory = Path(tempfile.mkdtemp(prefix="copier-redis-"))
    log = directory / "redis.log"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory), "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    server = RedisServer(port=port, directory=directory, process=process)
    try:
        wait_until(lambda: process.poll() is None and server.ping(), f"redis-server on port {port}", log)
    except ServerUnavailable:
        server.stop()
        raise
    return server


def postgres_bin() -> Path:
    """The newest PostgreSQL bin directory Debian installed (/usr/lib/postgresql/N/bin)."""
    try:
        return local_servers.postgres_bin()
    except FileNotFoundError as exc:
        raise ServerUnavailable(f"{exc}: {INSTALL_HINT}") from None


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster (trust auth on loopback only) with one database per caller."""

    port: int
    directory: Path
    bin_dir: Path
    database: str = "copier_test"
    _names: count = field(default_factory=lambda: count(1))

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's default test database."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of one database on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """CREATE DATABASE name; returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def new_database(self) -> str:
        """A fresh, empty database (its own name), so tests never share state; returns its URL."""
        return self.create_database(f"test_{os.getpid()}_{next(self._names)}")

    def admin_dsn(self) -> str:
        """libpq DSN of the maintenance database."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=5"

    def accepts_connections(self) -> bool:
        """True when the server answers a login."""
        import psycopg

        try:
            psycopg.connect(self.admin_dsn()).close()
        except psycopg.OperationalError:
            return False
        return True

    def halt(self) -> None:
        """Stop the cluster at once (nothing in it is kept), leaving its data directory."""
        pg_ctl = [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.directory / "data"), "-m", "immediate", "-w"]
        subprocess.run(as_postgres(pg_ctl), capture_output=True, check=False, timeout=60)

    def stop(self) -> None:
        """Stop the cluster and delete its data directory."""
        self.halt()
        shutil.rmtree(self.directory, ignore_errors=True)


def prepare_directory() -> Path:
    """A temporary directory the server's user owns (root's pytest temp dirs are closed to `postgres`)."""
    directory = Path(tempfile.mkdtemp(prefix="copier-pg-"))
    try:
        local_servers.hand_to_postgres(directory)
    except KeyError:
        shutil.rmtree(directory)
        raise ServerUnavailable(f"no `postgres` system user to run PostgreSQL as: {INSTALL_HINT}") from None
    return directory


def start_postgres(database: str = "copier_test") -> PostgresServer:
    """initdb + pg_ctl start on a free loopback port (no fsync: the data is thrown away), then CREATE DATABASE."""
    bin_dir = postgres_bin()
    directory = prepare_directory()
    try:
        run_checked(local_servers.initdb_command(bin_dir, directory / "data", durable=False), "initdb")
        return on_free_port(lambda port: launch_postgres(PostgresServer(port, directory, bin_dir, database)))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def launch_postgres(server: PostgresServer) -> PostgresServer:
    """One attempt at starting the initialised cluster on `server.port` and creating its database."""
    directory, bin_dir, database = server.directory, server.bin_dir, server.database
    data, log = directory / "data", directory / "postgres.log"
    options = local_servers.server_options(server.port, directory, durable=False)  # the data is thrown away
    try:
        run_checked(as_postgres([str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w",
                                 "-t", str(int(START_TIMEOUT_S)), "-o", options]), "pg_ctl start", log)
        wait_until(server.accepts_connections, f"PostgreSQL on port {server.port}", log)
        server.create_database(database)
    except BaseException:
        server.halt()
        raise
    return server


def run_checked(command: list[str], what: str, log: Path | None = None) -> None:
    """Run a setup command; raise with its output (and the server log) when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise ServerUnavailable(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}\n{tail}")
