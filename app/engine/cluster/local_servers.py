"""Debian's PostgreSQL on this machine, the way `make run-cluster` and the test suite both start it: the
newest installed binaries, run as the `postgres` user when we are root, on loopback only."""
from __future__ import annotations

import glob
import os
import pwd
from pathlib import Path


def postgres_bin() -> Path:
    """The newest PostgreSQL bin directory Debian installed (/usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise FileNotFoundError("PostgreSQL (initdb, pg_ctl) not found under /usr/lib/postgresql")
    return Path(found[-1]).parent


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run the command as Debian's `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def hand_to_postgres(directory: Path) -> None:
    """As root, give a directory to the `postgres` user (it holds the data and the socket); KeyError when
    there is no such user."""
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)


def initdb_command(bin_dir: Path, data: Path, *, durable: bool = True) -> list[str]:
    """initdb with trust auth (the server listens on loopback only), UTF-8, the C locale."""
    command = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
               "--locale=C"]
    return as_postgres(command if durable else [*command, "--no-sync"])


def server_options(port: int, socket_dir: Path, *, durable: bool = True) -> str:
    """pg_ctl's -o: the port, loopback only, the socket beside the data, room for the workers' pools."""
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {socket_dir} -c max_connections=300"
    return options if durable else f"{options} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
