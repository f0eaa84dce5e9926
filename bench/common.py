"""Shared harness for the benchmarks: a simulator in its own process, copier apps in this one, timing helpers.

Nothing here is imported by the product; the scripts in bench/ are plain Python run with the project venv:

    .venv/bin/python bench/fanout.py --clients 100 --latency-ms 100
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

API_TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
SYMBOL = "BTCUSDT"


# ----- small utilities ---------------------------------------------------------------------------------
def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    """Median (NaN for no values)."""
    return statistics.median(values) if values else float("nan")


def r3(x: float | None) -> float | None:
    """Round to ms precision for the JSON line."""
    return None if x is None else round(float(x), 3)


def machine() -> dict[str, Any]:
    """Date, cores and Python for the result tables."""
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "nproc": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform(terse=True),
            "load": round(os.getloadavg()[0], 2)}


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def emit_json(payload: dict[str, Any]) -> None:
    """The last line of every script: one JSON object with the figures."""
    sys.stdout.flush()
    print(json.dumps(payload, separators=(",", ":")), flush=True)


def quiet_logs() -> None:
    """Keep the product's INFO lines off the bench output (they go to the instance log file)."""
    logging.getLogger("app").setLevel(logging.WARNING)


def proc_cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of a process (default: this one), from /proc."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


# ----- the simulator, as its own process ------------------------------------------------------------------
class SimProcess:
    """`python -m app.sim` in a subprocess (own GIL, own core), driven through its /_sim/ admin API."""

    def __init__(self, latency_ms: int = 0, limits: bool = True) -> None:
        """limits=False serves every request (benches that measure fan-out mechanics, not the budget)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="bench-sim-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.sim", "--port", str(self.port), "--no-walk", "--seed", "1",
             *([] if limits else ["--no-limits"])],
            cwd=str(ROOT), stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.http = requests.Session()
        deadline = time.monotonic() + 30
        while True:
            try:
                self.http.get(self.url + "/_sim/prices", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"simulator did not start; see {self._log.name}") from None
                time.sleep(0.05)
        self.set_latency(latency_ms)

    # admin helpers
    def _post(self, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        resp = self.http.request(method, self.url + path, json=body or {}, timeout=60)
        if resp.status_code >= 400:
            raise RuntimeError(f"sim {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def set_latency(self, latency_ms: int) -> None:
        """Latency added by the simulator to every /api/ request."""
        self._post("/_sim/faults", {"": {"latency_ms": int(latency_ms)}} if latency_ms else {}, method="PUT")
        self.latency_ms = int(latency_ms)

    def reset(self) -> None:
        """Drop every account (prices restart from the seed)."""
        self._post("/_sim/reset")

    def create_account(self, name: str, balance: str = "10000", pos_mode: str = "hedge_mode") -> dict[str, Any]:
        """A new simulated account; returns its credentials."""
        return self._post("/_sim/accounts", {"name": name, "balance": balance, "pos_mode": pos_mode})

    def trade(self, account: str, action: str, **params: Any) -> Any:
        """Operate an account directly (stands in for the master trading in the Bitget app)."""
        return self._post("/_sim/trade", {"account": account, "action": action, **params})

    def set_price(self, symbol: str, price: str) -> Any:
        """Move a mark price."""
        return self._post("/_sim/price", {"symbol": symbol, "price": price})

    def prices(self) -> dict[str, Any]:
        """Every mark price."""
        return self.http.get(self.url + "/_sim/prices", timeout=10).json()

    def stats(self) -> dict[str, Any]:
        """Request counts per key and path since the last reset."""
        return self.http.get(self.url + "/_sim/stats", timeout=10).json()

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self._post("/_sim/stats/reset")

    def orders(self, since_ms: int | None = None) -> list[dict[str, Any]]:
        """Executed orders (fills), optionally since a sim timestamp in ms."""
        params = {"since": str(since_ms)} if since_ms is not None else {}
        return self.http.get(self.url + "/_sim/orders", params=params, timeout=10).json()

    def positions(self, name: str) -> Any:
        """An account's positions in the all-position shape."""
        return self.http.get(self.url + f"/_sim/accounts/{name}/positions", timeout=10).json()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the simulator process has used so far."""
        return proc_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        """Terminate the simulator process we started."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ----- the copier, in this process ------------------------------------------------------------------------
def copier_config(sim_url: str, instance: str, workers: int, **overrides: Any) -> dict[str, Any]:
    """The bench configuration: bitget mode pointed at the simulator, no IP cap (see README)."""
    config: dict[str, Any] = {
        "INSTANCE_PATH": instance,
        "EXCHANGE": "bitget",
        "BITGET_BASE_URL": sim_url,
        "SCHEDULER_ENABLED": False,
        "START_BACKGROUND_ON_REQUEST": False,
        "SECRET_KEY": "bench-secret-key",
        "VAULT_KEY": Fernet.generate_key().decode(),
        "API_TOKEN": API_TOKEN,
        # The bench sends thousands of requests per minute from one process to a local simulator; the
        # product's process-wide Bitget IP cap (5000/min by default) is switched off so it measures fan-out.
        "BITGET_IP_LIMIT_PER_MINUTE": 0,
        "EXECUTOR_MAX_WORKERS": workers,
        "LOG_LEVEL": "WARNING",
    }
    config.update(overrides)
    return config


class Copier:
    """One copier app (own instance folder and SQLite DB) with a master and N clients on the simulator."""

    def __init__(self, sim: SimProcess, *, clients: int, workers: int, prefix: str, master: dict[str, Any],
                 client_pos_mode: str = "hedge_mode", client_balance: str = "5000", **overrides: Any) -> None:
        from app import create_app

        self.sim = sim
        self.tmp = tempfile.TemporaryDirectory(prefix=f"bench-{prefix}-")
        self.app = create_app(copier_config(sim.url, self.tmp.name, workers, **overrides))
        quiet_logs()
        self.http = self.app.test_client()
        self.master_key = master["api_key"]
        self.master_name = master.get("name", "")
        self.client_names: list[str] = []
        self.client_keys: list[str] = []
        rows = [("master", "Master", master)]
        for i in range(clients):
            name = f"{prefix}-c{i:04d}"
            creds = sim.create_account(name, client_balance, client_pos_mode)
            self.client_names.append(name)
            self.client_keys.append(creds["api_key"])
            rows.append(("client", name, creds))
        self._store_accounts(rows)

    def _store_accounts(self, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
        from app.accounts import service

        with self.app.app_context():
            for role, name, creds in rows:
                service.create_account({"role": role, "name": name, "api_key": creds["api_key"],
                                        "api_secret": creds["api_secret"], "passphrase": creds["passphrase"]})

    def warm(self) -> float:
        """What the running app does on start: read every account into the state cache (and the contracts)."""
        from app.feeds.refresh import refresh_accounts

        started = time.perf_counter()
        failed = refresh_accounts(self.app)
        self.app.extensions["gateway"].contracts()
        if failed:
            raise RuntimeError(f"{failed} accounts failed to refresh")
        return time.perf_counter() - started

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[float, dict[str, Any]]:
        """POST an API route with the bearer token; returns (seconds until the response, JSON)."""
        started = time.perf_counter()
        resp = self.http.post(path, json=body, headers=AUTH) if body is not None else self.http.post(path, headers=AUTH)
        elapsed = time.perf_counter() - started
        if resp.status_code != 200:
            raise RuntimeError(f"{path}: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        return elapsed, resp.get_json()

    def settle(self, timeout: float = 120.0) -> None:
        """Wait for the background work an action starts (state refresh, fill measurement) so it never
        overlaps the next measurement."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tasks = [t for t in self.app.extensions.get("background_tasks", ()) if t.is_alive()]
            tasks += [t for t in threading.enumerate() if t.name == "refresh-soon" and t.is_alive()]
            if not tasks:
                return
            for thread in tasks:
                thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop this app's executor and drop its files."""
        self.settle()
        self.app.extensions["replication"].executor.shutdown()
        from app.store.extensions import db

        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        self.tmp.cleanup()


class Followups:
    """Defer the product's after-action background work (state refresh, fill measurement).

    While installed, the refresh and fill measurement an action starts in the background after finishing are
    recorded instead of started; `run()` then does them synchronously. This keeps their requests out of the
    action's request count and out of the next measurement.
    """

    def __init__(self) -> None:
        import app.feeds.refresh as refresh_mod

        self.calls: list[tuple[str, Any]] = []
        self._patched: list[tuple[Any, str, Any]] = []
        self._patch(refresh_mod, "refresh_soon", lambda app, ids: self.calls.append(("refresh", app, list(ids))))
        try:
            import app.engine.replication.quality as quality
        except ImportError:  # fill measurement not present in this version
            return
        self._patch(quality, "measure_soon", lambda app, run_id, orders=0: self.calls.append(("measure", app, run_id)))

    def _patch(self, module: Any, name: str, fn: Any) -> None:
        if hasattr(module, name):
            self._patched.append((module, name, getattr(module, name)))
            setattr(module, name, fn)

    def run(self) -> None:
        """Do the held-back work now, synchronously."""
        from app.feeds.refresh import refresh_accounts

        calls, self.calls = self.calls, []
        for kind, app, arg in calls:
            if kind == "refresh":
                refresh_accounts(app, arg)
            else:
                from app.engine.replication.quality import measure_run

                measure_run(app, arg)

    def restore(self) -> None:
        """Undo the patches."""
        for module, name, fn in self._patched:
            setattr(module, name, fn)
        self._patched = []

    def __enter__(self) -> Followups:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.restore()
        self.run()



def check_results(report: dict[str, Any], expect: int) -> tuple[int, int]:
    """(ok, failed) account results of a run; raises when fewer results came back than expected."""
    results = report.get("results") or []
    if len(results) < expect:
        raise RuntimeError(f"expected {expect} results, got {len(results)}")
    ok = sum(1 for r in results if r["status"] == "ok")
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        print(f"  ! {len(failed)} failed, e.g. {failed[0]['account_name']}: {failed[0]['message']}", file=sys.stderr)
    return ok, len(failed)
