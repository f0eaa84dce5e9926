"""Scale-out: one master change copied to N clients by ENGINE=celery shard workers, beside the local engine.

    .venv/bin/python bench/scale.py                                   # N=2000 on 4 shards, then the local engine
    .venv/bin/python bench/scale.py --clients 5000 --shards 8 --no-local

The simulator runs as its own process with Bitget's rate limits ON (per UID and endpoint, 6000/min per source
IP, 5-minute lockout) and L ms per /api/ request. For each N:

1. cluster: Redis and PostgreSQL (tests/servers.py, temporary, loopback), the coordinator = the web app's
   ReplicationService in this process (ENGINE=celery, CLUSTER_SHARDS=K), K shard workers
   (`python -m flask --app wsgi worker --shard k`, own processes) sending from 127.0.0.(2+k), each with the
   product's default request budget (5700/min). The master and N clients are created on the simulator and
   stored in the copier (keys encrypted by its vault, not verified);
2. warm-up: one replicate with the master flat, so every client is read once (positions, account: equity,
   position mode) by the worker that owns it, as the running app's refresh would have done;
3. the master opens BTCUSDT long 0.5 at 10x (clients sit at the simulator's 20x: positions + account read,
   set-leverage, order = 3 round trips) and `replicate("bench")` is timed; every client's position is read
   back from the simulator (exact = holds its target, one open fill), the simulator's 429s and lockouts are
   counted, and the CPU seconds of every process (simulator, each worker, this process, Redis, PostgreSQL)
   over the timed run are reported;
4. local: the same N on fresh simulator accounts with ENGINE=local (SQLite, one process, one egress IP
   127.0.0.1, the default 5700/min budget), same warm-up, then the budget window is let to empty
   (--settle, default 61 s) so the timed run starts with the whole budget; capped at --timeout.

The follow-up refresh each run starts after answering is held back (it would read every acted client again
from the coordinator); the count it asked for is reported. The last line is one JSON object.
"""
from __future__ import annotations

import os
import sys

# bench/ goes last on the path: bench/requests.py must not shadow the requests library
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import requests  # noqa: E402
from common import ROOT, SYMBOL, SimProcess, emit_json, machine, pct, print_table, proc_cpu_seconds  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

MASTER_BALANCE = "100000"
CLIENT_BALANCE = "5000"
MASTER_SIZE = Decimal("0.5")
EXPECTED = MASTER_SIZE * Decimal(CLIENT_BALANCE) / Decimal(MASTER_BALANCE)  # equity ratio -> 0.025
SECRET_KEY = "bench-secret-key"


# ----- processes and their CPU ------------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process with its reaped children and its live children (PostgreSQL: postmaster + backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    own = _stat(pid)
    if own is None:
        return float("nan")
    total = sum(int(own[i]) for i in (11, 12, 13, 14)) / tick
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and fields[1] == str(pid):
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Worker:
    """`python -m flask --app wsgi worker --shard K` in its own process, sending from its own source address."""

    def __init__(self, shard: int, env: dict[str, str], folder: Path) -> None:
        self.shard = shard
        self.egress = f"127.0.0.{2 + shard}"
        self.log_path = folder / f"worker{shard}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--shard", str(shard), "--loglevel", "WARNING"],
            cwd=str(ROOT), env={**env, "FLASK_EGRESS_SOURCE_ADDRESS": self.egress,
                                "COPIER_INSTANCE_PATH": str(folder / f"instance{shard}")},
            stdout=self.log, stderr=subprocess.STDOUT)

    def cpu(self) -> float:
        return proc_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(30)
        self.log.close()

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-2000:]


# ----- accounts -------------------------------------------------------------------------------------------
def make_sim_accounts(sim: SimProcess, prefix: str, clients: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The master and N clients on the simulator (admin API, 8 threads)."""
    local = threading.local()

    def create(i: int) -> dict[str, Any]:
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        resp = session.post(sim.url + "/_sim/accounts", json={"name": f"{prefix}-c{i:05d}", "balance": CLIENT_BALANCE,
                                                              "pos_mode": "hedge_mode"}, timeout=60)
        resp.raise_for_status()
        return resp.json()

    master = sim.create_account(f"{prefix}-master", MASTER_BALANCE)
    with ThreadPoolExecutor(8) as pool:
        return master, list(pool.map(create, range(clients)))


def store_accounts(app: Any, master: dict[str, Any], clients: list[dict[str, Any]]) -> None:
    """Into the copier's database the product's way (validated, keys encrypted by its vault), then the Bitget
    uid and position mode a verified add records (the simulator's admin API knows them: no key check sent)."""
    from app.accounts import service
    from app.store.extensions import db

    with app.app_context():
        for role, creds in [("master", master)] + [("client", c) for c in clients]:
            account = service.create_account({"role": role, "name": creds["name"], "api_key": creds["api_key"],
                                              "api_secret": creds["api_secret"], "passphrase": creds["passphrase"]},
                                             verify=False)
            account.bitget_uid = str(creds["user_id"])
            account.position_mode = creds["pos_mode"]
            db.session.commit()
        db.session.remove()


def sim_stats(sim: SimProcess) -> dict[str, Any]:
    """/_sim/stats with a long timeout (a simulator under load answers its admin API late)."""
    return sim.http.get(sim.url + "/_sim/stats", timeout=180).json()


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process."""
    fields = _stat(pid)
    if fields is None:
        return float("nan"), float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def threads_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


class Sampler:
    """Every second: the simulator's thread count and user/system CPU (shows how the bound looks)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples, self._stop = pid, [], threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        t0 = time.perf_counter()
        while not self._stop.wait(1.0):
            user, system = cpu_split(self.pid)
            self.samples.append((round(time.perf_counter() - t0, 1), threads_of(self.pid), round(user, 1),
                                 round(system, 1)))

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(3)
        return {"max_threads": max((s[1] for s in self.samples), default=None), "samples": self.samples}


def deltas(before: dict[str, Any], after: dict[str, Any], key: str) -> dict[str, int]:
    """Per-path (or per-status) request counts sent between two stats snapshots."""
    b, a = before.get(key) or {}, after.get(key) or {}
    out = {k: int(v) - int(b.get(k, 0)) for k, v in a.items() if isinstance(v, (int, float))}
    return {k: v for k, v in sorted(out.items()) if v}


def limited(before: dict[str, Any], after: dict[str, Any]) -> tuple[int, int]:
    """(429s the simulator answered for a rate limit, lockouts it started) between two stats snapshots."""
    def refused(s: dict[str, Any]) -> int:
        return int((s.get("rate_limited") or {}).get("total", 0))
    return refused(after) - refused(before), int(after.get("lockouts_started", 0)) - int(before.get("lockouts_started", 0))


def check_exact(sim: SimProcess, names: list[str], since_ms: int, started_ms: int) -> dict[str, Any]:
    """Each client's position read back, its open fills since the master's change, and when the first and the
    last client fill came (seconds after the timed replicate started, simulator clock = this machine's)."""
    local = threading.local()

    def held(name: str) -> Decimal:
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        rows = session.get(f"{sim.url}/_sim/accounts/{name}/positions", timeout=60).json() or []
        return sum((Decimal(r["total"]) for r in rows if r["symbol"] == SYMBOL and r["holdSide"] == "long"), Decimal(0))

    with ThreadPoolExecutor(8) as pool:
        sizes = dict(zip(names, pool.map(held, names), strict=True))
    wanted = set(names)
    rows = [r for r in sim.orders(since_ms) if r["account"] in wanted and r.get("tradeSide") == "open"]
    fills = Counter(r["account"] for r in rows if Decimal(str(r["size"])) == EXPECTED)
    stamps = sorted(int(r["ts"]) for r in rows)
    exact = sum(1 for n in names if sizes[n] == EXPECTED)
    one_fill = sum(1 for n in names if fills.get(n, 0) == 1)
    doubled = sum(1 for n in names if fills.get(n, 0) > 1)
    wrong = [n for n in names if sizes[n] != EXPECTED]
    return {"exact": exact, "one_fill": one_fill, "doubled": doubled,
            "wrong_example": f"{wrong[0]} holds {sizes[wrong[0]]}" if wrong else None,
            "first_fill_s": round((stamps[0] - started_ms) / 1000, 3) if stamps else None,
            "last_fill_s": round((stamps[-1] - started_ms) / 1000, 3) if stamps else None}


class HeldRefresh:
    """Hold back the refresh a run starts after answering (counted, not done)."""

    def __init__(self) -> None:
        import app.feeds.refresh as refresh_mod

        self.module = refresh_mod
        self.original = refresh_mod.refresh_soon
        self.asked = 0
        refresh_mod.refresh_soon = self._record

    def _record(self, app: Any, ids: Any) -> None:
        self.asked += len(list(ids))

    def restore(self) -> None:
        self.module.refresh_soon = self.original


def timed_replicate(app: Any, timeout: float) -> tuple[dict[str, Any] | None, float, BaseException | None]:
    """replicate("bench") in a thread with an app context; (report or None when not done, seconds, error)."""
    from app.store.extensions import db

    box: dict[str, Any] = {}

    def run() -> None:
        with app.app_context():
            try:
                box["report"] = app.extensions["replication"].replicate("bench", wait=30)
            except BaseException as exc:  # noqa: BLE001 - reported
                box["error"] = exc
            finally:
                box["elapsed"] = time.perf_counter() - started
                db.session.remove()

    thread = threading.Thread(target=run, name="bench-replicate", daemon=True)
    timed_replicate.started_ms = int(time.time() * 1000)  # type: ignore[attr-defined]
    started = time.perf_counter()
    thread.start()
    thread.join(timeout)
    elapsed = box.get("elapsed", time.perf_counter() - started)
    box["thread"] = thread
    timed_replicate.last_thread = thread  # type: ignore[attr-defined]
    return box.get("report"), elapsed, box.get("error")


def summarize(report: dict[str, Any] | None) -> dict[str, Any]:
    """Statuses and client latencies of a run's report."""
    if report is None:
        return {"status": None, "ok": None, "failed": None, "client_p50_ms": None, "client_max_ms": None}
    results = report.get("results") or []
    statuses = Counter(r["status"] for r in results)
    lat = [float(r["latency_ms"]) for r in results if r.get("latency_ms") is not None]
    failed = [r for r in results if r["status"] == "failed"]
    return {"status": report.get("status"), "ok": statuses.get("ok", 0), "failed": len(failed),
            "statuses": dict(statuses), "client_p50_ms": round(pct(lat, 50)) if lat else None,
            "client_max_ms": round(max(lat)) if lat else None,
            "first_failure": failed[0]["message"][:200] if failed else None}


def base_config(sim: SimProcess, instance: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "INSTANCE_PATH": instance, "EXCHANGE": "bitget", "BITGET_BASE_URL": sim.url,
        "SCHEDULER_ENABLED": False, "START_BACKGROUND_ON_REQUEST": False, "MEASURE_FILLS": False,
        "SECRET_KEY": SECRET_KEY, "VAULT_KEY": Fernet.generate_key().decode(), "LOG_LEVEL": "WARNING",
    }
    config.update(overrides)
    return config


def open_master(sim: SimProcess, prefix: str) -> int:
    """The master's change; returns a simulator-clock ms just before it."""
    since = int(time.time() * 1000) - 5
    sim.trade(f"{prefix}-master", "open", symbol=SYMBOL, side="long", size=str(MASTER_SIZE), leverage="10",
              margin_mode="crossed")
    return since


def fresh_sim(sim: SimProcess) -> None:
    sim.reset()
    sim._post("/_sim/orders/reset")
    sim.reset_stats()  # also forgets the limiter's windows and lockouts
    sim.set_price(SYMBOL, "80000")


# ----- the cluster -------------------------------------------------------------------------------------------
def run_cluster(sim: SimProcess, servers: tuple[Any, Any], n: int, shards: int, timeout: float) -> dict[str, Any]:
    import redis as redis_lib

    from app import create_app
    from app.store.extensions import db

    redis_server, pg = servers
    fresh_sim(sim)
    redis_lib.Redis.from_url(redis_server.url).flushdb()
    prefix = f"k{shards}n{n}"
    tmp = tempfile.TemporaryDirectory(prefix="bench-scale-cluster-")
    folder = Path(tmp.name)
    t = time.perf_counter()
    master, clients = make_sim_accounts(sim, prefix, n)
    sim_setup_s = time.perf_counter() - t
    database = pg.new_database()
    vault_key = Fernet.generate_key().decode()
    common = {"ENGINE": "celery", "REDIS_URL": redis_server.url, "SQLALCHEMY_DATABASE_URI": database,
              "CLUSTER_SHARDS": shards, "CLUSTER_DEADLINE_SECONDS": max(120, int(timeout)), "VAULT_KEY": vault_key,
              "MEASURE_FILLS": False}
    app = create_app(base_config(sim, str(folder / "coordinator"), **common))
    logging_quiet()
    t = time.perf_counter()
    store_accounts(app, master, clients)
    store_s = time.perf_counter() - t
    env = {**os.environ, "FLASK_EXCHANGE": "bitget", "FLASK_BITGET_BASE_URL": sim.url,
           "FLASK_SECRET_KEY": SECRET_KEY, "FLASK_SCHEDULER_ENABLED": "false",
           "FLASK_BITGET_IP_LIMIT_PER_MINUTE": "5700", "FLASK_LOG_LEVEL": "WARNING",
           **{f"FLASK_{k}": str(v) for k, v in common.items()}}
    workers: list[Worker] = []
    held = HeldRefresh()
    try:
        t = time.perf_counter()
        workers = [Worker(k, env, folder) for k in range(shards)]
        engine = app.extensions["replication"].cluster
        end = time.monotonic() + 120
        while True:
            with app.app_context():
                rows = engine.shards()
                db.session.remove()
            if all(r["alive"] for r in rows):
                break
            dead = [w for w in workers if w.proc.poll() is not None]
            if dead or time.monotonic() > end:
                raise RuntimeError("workers did not come up:\n" + "\n".join(w.tail() for w in workers))
            time.sleep(0.3)
        time.sleep(1.0)  # the heartbeat starts just before the consumer subscribes
        workers_up_s = time.perf_counter() - t
        print(f"  cluster N={n} K={shards}: sim accounts {sim_setup_s:.1f} s, stored {store_s:.1f} s, "
              f"workers up {workers_up_s:.1f} s", flush=True)

        # warm-up: every client read once by the worker that owns it
        warm, warm_s, warm_err = timed_replicate(app, timeout)
        if warm_err is not None or warm is None:
            raise RuntimeError(f"warm-up did not finish: {warm_err}")
        warm_sum = summarize(warm)
        with app.app_context():
            per_shard = {r["shard"]: r["clients"] for r in engine.shards()}
            db.session.remove()
        print(f"    warm-up {warm_s:.2f} s ({warm_sum['statuses']}), clients per shard {per_shard}", flush=True)

        # the measured change
        since = open_master(sim, prefix)
        before = sim_stats(sim)
        cpu0 = {"sim": sim.cpu_seconds(), "coordinator": proc_cpu_seconds(),
                "redis": proc_cpu_seconds(redis_server.process.pid), "postgres": pg_cpu(pg),
                **{f"worker{w.shard}": w.cpu() for w in workers}}
        sim_us0, sampler = cpu_split(sim.proc.pid), Sampler(sim.proc.pid)
        report, elapsed, error = timed_replicate(app, timeout)
        ended = time.perf_counter()
        sim_us1, sampled = cpu_split(sim.proc.pid), sampler.stop()
        cpu1 = {"sim": sim.cpu_seconds(), "coordinator": proc_cpu_seconds(),
                "redis": proc_cpu_seconds(redis_server.process.pid), "postgres": pg_cpu(pg),
                **{f"worker{w.shard}": w.cpu() for w in workers}}
        after = sim_stats(sim)
        done = report is not None
        if not done:
            timed_replicate.last_thread.join(max(60.0, timeout))  # type: ignore[attr-defined]
        exactness = check_exact(sim, [c["name"] for c in clients], since,
                                timed_replicate.started_ms)  # type: ignore[attr-defined]
        refused, lockouts = limited(before, after)
        cpu = {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0}
        ip_requests = {ip: c for ip, c in (after.get("ip_requests") or {}).items()}
        time.sleep(max(0.0, 6.0 - (time.perf_counter() - ended)))  # one heartbeat after the run
        with app.app_context():
            beats = {r["shard"]: (r.get("budget") or {}).get("requests_last_minute") for r in engine.shards()}
            db.session.remove()
        return {"engine": "celery", "clients": n, "shards": shards, "replicate_s": round(elapsed, 3),
                "done": done, "timeout_s": timeout, "error": repr(error) if error else None, **summarize(report), **exactness,
                "requests": after["total"] - before["total"],
                "by_path": deltas(before, after, "by_path"), "by_status": deltas(before, after, "by_status"), "429": refused, "lockouts": lockouts,
                "cpu_s": cpu, "sim_user_sys_s": [round(sim_us1[0] - sim_us0[0], 2),
                                                   round(sim_us1[1] - sim_us0[1], 2)],
                "sim_threads_max": sampled["max_threads"], "sim_samples": sampled["samples"], "cpu_total_s": round(sum(v for v in cpu.values() if v == v), 2),
                "ip_window_requests": ip_requests, "worker_budget_last_minute": beats,
                "clients_per_shard": per_shard, "warm_s": round(warm_s, 3), "warm_statuses": warm_sum["statuses"],
                "refresh_asked": held.asked, "setup": {"sim_accounts_s": round(sim_setup_s, 1),
                                                       "store_s": round(store_s, 1),
                                                       "workers_up_s": round(workers_up_s, 1)}}
    finally:
        held.restore()
        for w in workers:  # SIGTERM to all first (they stop in parallel), then wait for each
            with contextlib.suppress(OSError):
                w.proc.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.stop()
            except Exception as exc:  # noqa: BLE001 - never leave a worker behind
                print(f"  ! worker {w.shard}: {exc!r}; killing", file=sys.stderr)
                with contextlib.suppress(OSError):
                    w.proc.kill()
        close_app(app)
        tmp.cleanup()


def pg_cpu(pg: Any) -> float:
    try:
        pid = int((pg.directory / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return tree_cpu_seconds(pid)


def logging_quiet() -> None:
    import logging

    for name in ("app", "celery", "kombu"):
        logging.getLogger(name).setLevel(logging.WARNING)


def close_app(app: Any) -> None:
    from app.store.extensions import db

    with contextlib.suppress(Exception):
        app.extensions["replication"].executor.shutdown()
    with contextlib.suppress(Exception), app.app_context():
        db.session.remove()
        db.engine.dispose()


# ----- the local engine ---------------------------------------------------------------------------------------
def run_local(sim: SimProcess, n: int, timeout: float, settle: float) -> dict[str, Any]:
    from app import create_app

    fresh_sim(sim)
    prefix = f"local-n{n}"
    tmp = tempfile.TemporaryDirectory(prefix="bench-scale-local-")
    t = time.perf_counter()
    master, clients = make_sim_accounts(sim, prefix, n)
    sim_setup_s = time.perf_counter() - t
    app = create_app(base_config(sim, tmp.name, ENGINE="local"))  # default budget 5700/min, egress 127.0.0.1
    logging_quiet()
    t = time.perf_counter()
    store_accounts(app, master, clients)
    store_s = time.perf_counter() - t
    held = HeldRefresh()
    try:
        print(f"  local N={n}: sim accounts {sim_setup_s:.1f} s, stored {store_s:.1f} s", flush=True)
        warm, warm_s, warm_err = timed_replicate(app, timeout)
        if warm is None:
            raise RuntimeError(f"warm-up did not finish within {timeout} s: {warm_err}")
        warm_sum = summarize(warm)
        budget = app.extensions["gateway"].budget
        print(f"    warm-up {warm_s:.2f} s ({warm_sum['statuses']}), budget window "
              f"{budget.snapshot().per_minute}/min; settling {settle:.0f} s", flush=True)
        time.sleep(settle)
        window_at_start = budget.snapshot().per_minute
        since = open_master(sim, prefix)
        before = sim_stats(sim)
        cpu0 = {"sim": sim.cpu_seconds(), "copier": proc_cpu_seconds()}
        sim_us0, sampler = cpu_split(sim.proc.pid), Sampler(sim.proc.pid)
        report, elapsed, error = timed_replicate(app, timeout)
        sim_us1, sampled = cpu_split(sim.proc.pid), sampler.stop()
        cpu1 = {"sim": sim.cpu_seconds(), "copier": proc_cpu_seconds()}
        after = sim_stats(sim)
        done = report is not None
        exactness = check_exact(sim, [c["name"] for c in clients], since,
                                timed_replicate.started_ms)  # type: ignore[attr-defined]  # at the cap, if not done
        refused, lockouts = limited(before, after)
        cpu = {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0}
        result = {"engine": "local", "clients": n, "shards": 1, "replicate_s": round(elapsed, 3), "done": done,
                  "timeout_s": timeout, "error": repr(error) if error else None, **summarize(report), **exactness,
                  "requests": after["total"] - before["total"],
                "by_path": deltas(before, after, "by_path"), "by_status": deltas(before, after, "by_status"), "429": refused, "lockouts": lockouts,
                  "cpu_s": cpu, "sim_user_sys_s": [round(sim_us1[0] - sim_us0[0], 2),
                                                   round(sim_us1[1] - sim_us0[1], 2)],
                "sim_threads_max": sampled["max_threads"], "sim_samples": sampled["samples"], "cpu_total_s": round(sum(cpu.values()), 2),
                  "ip_window_requests": after.get("ip_requests"), "budget_window_at_start": window_at_start,
                  "budget_waits": budget.snapshot().to_dict(), "warm_s": round(warm_s, 3),
                  "warm_statuses": warm_sum["statuses"], "refresh_asked": held.asked,
                  "setup": {"sim_accounts_s": round(sim_setup_s, 1), "store_s": round(store_s, 1)}}
        if not done:
            print(f"    not done within {timeout:.0f} s: {exactness['exact']} of {n} exact; waiting for it to end",
                  flush=True)
            timed_replicate.last_thread.join(600)  # type: ignore[attr-defined]
        return result
    finally:
        held.restore()
        close_app(app)
        tmp.cleanup()


# ----- main ---------------------------------------------------------------------------------------------------
def row_of(r: dict[str, Any]) -> list[Any]:
    cpu = r["cpu_s"]
    workers = [v for k, v in cpu.items() if k.startswith("worker")]
    time_cell = f"{r['replicate_s']:.2f}" if r["done"] else f">{r['timeout_s']:.0f} (not done)"
    return [r["engine"], r["clients"], r["shards"], time_cell, r["first_fill_s"], r["last_fill_s"],
            f"{r['exact']}/{r['clients']}",
            r["doubled"], r["failed"], r["requests"], r["429"], r["lockouts"], cpu.get("sim"),
            "/".join(f"{v:.1f}" for v in workers) if workers else "-",
            cpu.get("coordinator", cpu.get("copier")), cpu.get("redis", "-"), cpu.get("postgres", "-"),
            r["cpu_total_s"], r["client_p50_ms"], r["client_max_ms"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, action="append", help="N (repeatable; default 2000)")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--local", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the local engine on the same N (default on)")
    parser.add_argument("--timeout", type=float, default=240.0, help="cap on one timed replicate, seconds")
    parser.add_argument("--settle", type=float, default=61.0,
                        help="local engine: seconds to let the warm-up leave the budget window before the change")
    args = parser.parse_args()
    ns = args.clients or [2000]
    info = machine()
    print(f"scale-out; {info['date']}, nproc={info['nproc']}, Python {info['python']}, load {info['load']}")
    print(f"simulator limits ON, {args.latency_ms} ms per request; cluster = {args.shards} shard workers "
          f"(127.0.0.2-{1 + args.shards}), each 5700/min; local = one process, 127.0.0.1, 5700/min", flush=True)
    from tests.servers import start_postgres, start_redis

    results: list[dict[str, Any]] = []
    redis_server = pg = None
    with SimProcess(latency_ms=0) as sim:
        try:
            redis_server = start_redis()
            pg = start_postgres()
            sim.set_latency(args.latency_ms)
            for n in ns:
                r = run_cluster(sim, (redis_server, pg), n, args.shards, args.timeout)
                results.append(r)
                print(f"    -> {r}", flush=True)
                if args.local:
                    r = run_local(sim, n, args.timeout, args.settle)
                    results.append(r)
                    print(f"    -> {r}", flush=True)
        finally:
            if pg is not None:
                pg.stop()
            if redis_server is not None:
                redis_server.stop()
    print()
    print_table(["engine", "N", "shards", "replicate s", "1st fill s", "last fill s", "exact", "doubled", "failed", "requests", "429",
                 "lockouts", "CPU sim", "CPU workers", "CPU coord", "CPU redis", "CPU pg", "CPU total",
                 "client p50 ms", "client max ms"], [row_of(r) for r in results])
    emit_json({"bench": "scale", **info, "latency_ms": args.latency_ms, "results": results})


if __name__ == "__main__":
    main()
