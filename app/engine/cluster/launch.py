"""`make run-cluster`: Redis, PostgreSQL, the web process (coordinator) and K shard workers on this machine.

    .venv/bin/python -m app.engine.cluster.launch [--workers 2] [--port 5000]

Redis and PostgreSQL keep their data in instance/cluster/ (PostgreSQL on 127.0.0.1:55432, Redis on
127.0.0.1:56379), so accounts and history survive a restart. Worker K sends from 127.0.0.(2+K): on one
machine each shard gets its own loopback source address, as each host gets its own IP in production.
Ctrl-C stops everything. On several hosts run the same pieces by hand: README "Scale out".
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import local_servers
from .local_servers import as_postgres

ROOT = Path(__file__).resolve().parents[3]
PG_PORT, REDIS_PORT = 55432, 56379


def postgres_bin() -> Path:
    """Debian's newest PostgreSQL binaries (exits with the reason when there are none)."""
    try:
        return local_servers.postgres_bin()
    except FileNotFoundError as exc:
        sys.exit(f"{exc}: `make run-cluster` installs it (apt-get)")


def start_postgres(folder: Path) -> str:
    """Initialise (once) and start the cluster's database; returns its SQLAlchemy URL."""
    bin_dir, data = postgres_bin(), folder / "pg"
    folder.mkdir(parents=True, exist_ok=True)
    local_servers.hand_to_postgres(folder)
    if not (data / "PG_VERSION").exists():
        subprocess.run(local_servers.initdb_command(bin_dir, data), check=True, capture_output=True)
    subprocess.run(as_postgres([str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(folder / "pg.log"),
                                "-w", "-o", local_servers.server_options(PG_PORT, folder)]),
                   check=True, capture_output=True)
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={PG_PORT} user=postgres dbname=postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'copier'").fetchone():
            conn.execute("CREATE DATABASE copier")
    return f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/copier"


def stop_postgres(folder: Path) -> None:
    """Stop the cluster's database (its data stays)."""
    subprocess.run(as_postgres([str(postgres_bin() / "pg_ctl"), "stop", "-D", str(folder / "pg"), "-m", "fast",
                                "-w"]), check=False, capture_output=True)


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """Redis for the broker, results, heartbeats and the lock (append-only file in instance/cluster)."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found: `make run-cluster` installs it (apt-get)")
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([binary, "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--dir", str(folder),
                             "--appendonly", "yes", "--logfile", str(folder / "redis.log")])
    return proc, f"redis://127.0.0.1:{REDIS_PORT}/0"


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def carry_over_once(instance: Path, database: str) -> None:
    """Migrate the cluster's database, and fill it from `make run`'s SQLite file the first time."""
    from app import create_app

    from .carry_over import carry_over

    sqlite = instance / "copier.db"
    if sqlite.exists():
        create_app({"INSTANCE_PATH": str(instance), "SCHEDULER_ENABLED": False})  # brings SQLite to head
    app = create_app({"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": database,
                      "SCHEDULER_ENABLED": False})
    with app.app_context():
        copied = carry_over(sqlite, database)
    if copied:
        print(f"carried {copied} rows over from {sqlite} (accounts, links, runs, history)", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Start everything and wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m app.engine.cluster.launch", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="shards, one worker each (default 2)")
    parser.add_argument("--port", type=int, default=None, help="the dashboard's port (default PORT, 5000)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` or a service manager stops the cluster cleanly too
    instance = Path(os.environ.get("COPIER_INSTANCE_PATH") or ROOT / "instance")
    folder = instance / "cluster"
    database = start_postgres(folder)
    redis_proc: subprocess.Popen | None = None
    procs: list[subprocess.Popen] = []
    try:
        carry_over_once(instance, database)
        redis_proc, redis_url = start_redis(folder)
        env = {**os.environ, "FLASK_ENGINE": "celery", "FLASK_REDIS_URL": redis_url,
               "FLASK_SQLALCHEMY_DATABASE_URI": database, "FLASK_CLUSTER_SHARDS": str(args.workers),
               "COPIER_INSTANCE_PATH": str(instance)}
        if args.port:
            env["FLASK_PORT"] = str(args.port)
        procs.append(subprocess.Popen([sys.executable, "wsgi.py"], cwd=str(ROOT), env=env))
        time.sleep(3)  # the web process migrates the database (and starts the simulator in sim mode) first
        for shard in range(args.workers):
            worker_env = {**env, "FLASK_EGRESS_SOURCE_ADDRESS": f"127.0.0.{2 + shard}"}
            procs.append(subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--shard",
                                           str(shard)], cwd=str(ROOT), env=worker_env))
        print(f"cluster: web + {args.workers} shard workers; Redis {redis_url}; PostgreSQL {database}", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        print("a process of the cluster ended: stopping the others", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
        stop_postgres(folder)


if __name__ == "__main__":
    main()
