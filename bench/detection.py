"""Auto-follow detection delay: the master trades on the simulator -> every client's order is acknowledged.

    .venv/bin/python bench/detection.py [--trials 20] [--clients 20] [--latency-ms 50] [--poll-interval S]

The copier runs as the real server (`python wsgi.py`: waitress, scheduler and poller, own process) against
the simulator (own process, L ms per request). Accounts are added through the JSON API, auto-follow is
turned on, the cache is refreshed, then each trial makes the master open (even trials) or close (odd trials)
a BTCUSDT position directly on the simulator after a random pause (so the change lands at a random point of
the poll cycle). The delay is measured on the simulator's own clock: from the master's fill to the last
client's fill (a market order is filled when the simulator acknowledges it). The poll interval is the
product default (2 s) unless --poll-interval is given.
"""
from __future__ import annotations

import os
import sys

# bench/ goes last on the path: bench/requests.py must not shadow the requests library
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

import argparse  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import requests  # noqa: E402
from common import (  # noqa: E402
    API_TOKEN,
    AUTH,
    ROOT,
    SYMBOL,
    SimProcess,
    emit_json,
    free_port,
    machine,
    median,
    pct,
    print_table,
)
from cryptography.fernet import Fernet  # noqa: E402


class CopierServer:
    """`python wsgi.py` in its own process, configured through FLASK_* environment variables."""

    def __init__(self, sim_url: str, poll_interval: float | None, prefix: str = "bench-detect-",
                 extra_env: dict[str, str] | None = None) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "COPIER_INSTANCE_PATH": self.tmp.name, "FLASK_EXCHANGE": "bitget",
               "FLASK_BITGET_BASE_URL": sim_url, "FLASK_HOST": "127.0.0.1", "FLASK_PORT": str(self.port),
               "FLASK_API_TOKEN": API_TOKEN, "FLASK_SECRET_KEY": "bench-secret-key",
               "FLASK_VAULT_KEY": Fernet.generate_key().decode(), "FLASK_LOG_LEVEL": "WARNING",
               "FLASK_SCHEDULER_ENABLED": "true"}
        if poll_interval is not None:
            env["FLASK_POLL_INTERVAL_SECONDS"] = str(poll_interval)
        env.update(extra_env or {"FLASK_WS_ENABLED": "false"})  # this bench measures polling alone
        self.log = open(os.path.join(self.tmp.name, "server.log"), "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "wsgi.py"], cwd=str(ROOT), env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.http = requests.Session()
        self.http.headers.update(AUTH)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.http.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("copier server did not start:\n" + self.tail())
            time.sleep(0.1)

    def tail(self) -> str:
        """The end of the server's log."""
        self.log.flush()
        with open(self.log.name, "rb") as fh:
            return fh.read()[-3000:].decode(errors="replace")

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the JSON API with the bearer token."""
        resp = self.http.request(method, self.url + path, json=body, timeout=120)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def follow(self, master: dict[str, Any], clients: list[dict[str, Any]]) -> None:
        """Add the master and the clients through the JSON API (keys unchecked), refresh, turn auto-follow on."""
        for role, creds in [("master", master)] + [("client", c) for c in clients]:
            self.api("POST", "/api/accounts", {"role": role, "name": creds["name"], "api_key": creds["api_key"],
                                               "api_secret": creds["api_secret"], "passphrase": creds["passphrase"],
                                               "verify": False})
        self.api("POST", "/api/refresh")
        self.api("POST", "/api/auto-follow", {"on": True})

    def stop(self) -> None:
        """Terminate the server process we started."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        self.tmp.cleanup()


def trade_and_wait(sim: SimProcess, master: str, kind: str, clients: set[str], timeout: float) -> tuple[int, dict]:
    """The master opens (0.5 long at 10x) or closes its long; returns wait_fills' answer for that trade."""
    since = int(time.time() * 1000) - 5
    if kind == "open":
        sim.trade(master, "open", symbol=SYMBOL, side="long", size="0.5", leverage="10", margin_mode="crossed")
    else:
        sim.trade(master, "close", symbol=SYMBOL, side="long")
    return wait_fills(sim, since, master, clients, timeout=timeout)


def wait_fills(sim: SimProcess, since_ms: int, master: str, clients: set[str], timeout: float) -> tuple[int, dict]:
    """The master's fill time and each client's first fill after it (sim clock, ms)."""
    deadline = time.monotonic() + timeout
    master_ts: int | None = None
    got: dict[str, int] = {}
    while time.monotonic() < deadline:
        for row in sim.orders(since_ms):
            name, ts = row["account"], int(row["ts"])
            if name == master and master_ts is None:
                master_ts = ts
            elif name in clients and name not in got and (master_ts is None or ts >= master_ts):
                got[name] = ts
        if master_ts is not None and len(got) == len(clients):
            break
        time.sleep(0.02)
    return master_ts or since_ms, got


def copier_split(server: CopierServer) -> float | None:
    """Of the newest poller run: the slowest client's detect -> ack time in seconds (from its order records)."""
    runs = [r for r in server.api("GET", "/api/runs")["runs"] if r["trigger"] == "poller"]
    if not runs:
        return None
    run = server.api("GET", f"/api/runs/{runs[0]['run_id']}")
    spans = [o["detect_to_submit_ms"] + o["submit_to_ack_ms"] for r in run["results"] for o in r.get("orders") or []
             if o.get("detect_to_submit_ms") is not None and o.get("submit_to_ack_ms") is not None]
    return max(spans) / 1000 if spans else None


def main() -> None:
    from app.config import Defaults

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--poll-interval", type=float, default=None,
                        help=f"seconds (default: the product default, {Defaults.POLL_INTERVAL_SECONDS})")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    poll = args.poll_interval or float(Defaults.POLL_INTERVAL_SECONDS)
    target = poll / 2 + 0.5
    rng = random.Random(args.seed)
    info = machine()
    print(f"detection delay; {info['date']}, nproc={info['nproc']}, Python {info['python']}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"copier = wsgi.py (waitress + poller) in its own process, poll interval {poll:g}s, "
          f"{args.clients} clients, simulator latency {args.latency_ms} ms/request")
    delays, splits, kinds = [], [], []
    with SimProcess() as sim:
        master = sim.create_account("t-master", "100000")
        clients = [sim.create_account(f"t-c{i:03d}", "5000") for i in range(args.clients)]
        sim.set_latency(args.latency_ms)
        server = CopierServer(sim.url, args.poll_interval)
        try:
            server.follow(master, clients)
            time.sleep(2 * poll + 0.5)  # the poller has seen the (flat) master at least once
            names = {c["name"] for c in clients}
            for trial in range(args.trials):
                time.sleep(rng.uniform(0, poll))
                kind = "open" if trial % 2 == 0 else "close"
                master_ts, got = trade_and_wait(sim, "t-master", kind, names, timeout=20 + 5 * poll)
                if len(got) < len(names):
                    print(f"  trial {trial + 1}: only {len(got)}/{len(names)} clients acknowledged in time",
                          file=sys.stderr)
                    print(server.tail(), file=sys.stderr)
                    continue
                delay = (max(got.values()) - master_ts) / 1000
                time.sleep(0.3)  # let the run be recorded
                split = copier_split(server)
                delays.append(delay)
                splits.append(split)
                kinds.append(kind)
                print(f"  trial {trial + 1:2d} {kind:5s}: {delay:.3f}s  (after detection {split:.3f}s)"
                      if split is not None else f"  trial {trial + 1:2d} {kind:5s}: {delay:.3f}s", flush=True)
        finally:
            server.stop()
    after = [s for s in splits if s is not None]
    rows = [["all", len(delays), f"{median(delays):.3f}", f"{pct(delays, 95):.3f}", f"{min(delays):.3f}",
             f"{max(delays):.3f}", f"{median(after):.3f}" if after else "-"]]
    for kind in ("open", "close"):
        sel = [d for d, k in zip(delays, kinds, strict=True) if k == kind]
        sel_after = [s for s, k in zip(splits, kinds, strict=True) if k == kind and s is not None]
        if sel:
            rows.append([kind, len(sel), f"{median(sel):.3f}", f"{pct(sel, 95):.3f}", f"{min(sel):.3f}",
                         f"{max(sel):.3f}", f"{median(sel_after):.3f}" if sel_after else "-"])
    print()
    print_table(["trials", "n", "median s", "p95 s", "min s", "max s", "detect->last ack s (median)"], rows)
    med = median(delays)
    print(f"target: median <= poll/2 + 0.5 = {target:.2f}s: {'MET' if med <= target else 'MISSED'} ({med:.3f}s)")
    emit_json({"bench": "detection", "clients": args.clients, "latency_ms": args.latency_ms, "poll_interval_s": poll,
               "trials": len(delays), **{k: info[k] for k in ("date", "nproc", "python", "load")},
               "median_s": round(med, 3), "p95_s": round(pct(delays, 95), 3), "min_s": round(min(delays), 3),
               "max_s": round(max(delays), 3),
               "after_detection_median_s": round(median(after), 3) if after else None,
               "target_s": target, "target_met": med <= target})


if __name__ == "__main__":
    main()
