"""Request budget: the copier idling and replicating under Bitget's rate limits, enforced by the simulator.

    .venv/bin/python bench/budget.py                       # N = 200, 500, 1000; 2 minutes idle each
    .venv/bin/python bench/budget.py --clients 500 --idle-seconds 60 --follow-seconds 120 --follow-clients 300

The simulator runs as its own process with its rate limits ON (per UID and endpoint, 6000/min per source IP
with a 5-minute lockout) and L ms per request. The copier runs as the real server (`python wsgi.py`:
waitress, scheduler, poller, paced client refresh), with its request budget at the product default. For each
N the bench:
1. adds a master and N clients through the JSON API, lets the copier start up, then measures the requests
   per minute the simulator receives from the copier's IP while nothing trades (idle background load);
2. has the master open a position and times POST /api/replicate; checks every client holds its exact copy,
   and that the simulator refused nothing (no 429, no lockout).
Then (optional, --follow-seconds) the follow test: auto-follow on, the master changes its position every
10 s, for the given time, with --follow-clients clients; it reports lockouts, 429s and the lag of each change.
The last line is one JSON object with the figures.
"""
from __future__ import annotations

import os
import sys

# bench/ goes last on the path: bench/requests.py must not shadow the requests library
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

import argparse  # noqa: E402
import time  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import Any  # noqa: E402

from common import SYMBOL, SimProcess, emit_json, machine, print_table  # noqa: E402
from detection import CopierServer  # noqa: E402

MASTER_BALANCE = "100000"
CLIENT_BALANCE = "5000"
MASTER_SIZE = Decimal("0.5")
EXPECTED = MASTER_SIZE * Decimal(CLIENT_BALANCE) / Decimal(MASTER_BALANCE)  # equity ratio -> 0.025


def add_accounts(sim: SimProcess, server: CopierServer, prefix: str, clients: int) -> list[str]:
    """A master and N clients on the simulator, stored in the copier through its API."""
    master = sim.create_account(f"{prefix}-master", MASTER_BALANCE)
    server.api("POST", "/api/accounts", {"role": "master", "name": master["name"], "api_key": master["api_key"],
                                         "api_secret": master["api_secret"], "passphrase": master["passphrase"]})
    names = []
    for i in range(clients):
        creds = sim.create_account(f"{prefix}-c{i:04d}", CLIENT_BALANCE)
        server.api("POST", "/api/accounts", {"role": "client", "name": creds["name"], "api_key": creds["api_key"],
                                             "api_secret": creds["api_secret"], "passphrase": creds["passphrase"],
                                             "copy_existing": True})  # verified, as an operator adds them
        names.append(creds["name"])
    return names


def limited(stats: dict[str, Any]) -> tuple[int, int]:
    """(requests the simulator refused with 429 for a rate limit, lockouts it started)."""
    refused = int((stats.get("rate_limited") or {}).get("total", 0))
    return refused, int(stats.get("lockouts_started", 0))


def held(sim: SimProcess, name: str) -> Decimal:
    rows = sim.positions(name) or []
    return sum((Decimal(r["total"]) for r in rows if r["symbol"] == SYMBOL and r["holdSide"] == "long"), Decimal(0))


def run_n(sim: SimProcess, clients: int, idle_s: float) -> dict[str, Any]:
    """Idle load and one replicate for N clients."""
    sim.reset()
    sim.reset_stats()  # also forgets the previous copier's requests in the IP window (as a quiet minute would)
    server = CopierServer(sim.url, None, prefix="bench-budget-")
    try:
        names = add_accounts(sim, server, f"n{clients}", clients)
        time.sleep(5)  # start-up: the first refreshes and master polls
        sim.reset_stats()
        started = time.monotonic()
        time.sleep(idle_s)
        idle = sim.stats()
        elapsed = time.monotonic() - started
        per_min = idle["total"] / elapsed * 60
        budget = server.api("GET", "/healthz")["request_budget"]
        refused_idle, lockouts_idle = limited(idle)
        sim.trade(f"n{clients}-master", "open", symbol=SYMBOL, side="long", size=str(MASTER_SIZE), leverage="10",
                  margin_mode="crossed")
        sim.reset_stats()
        t0 = time.perf_counter()
        report = server.api("POST", "/api/replicate")
        replicate_s = time.perf_counter() - t0
        after = sim.stats()
        exact = sum(1 for name in names if held(sim, name) == EXPECTED)
        refused, lockouts = limited(after)
        failed = [r for r in report["results"] if r["status"] == "failed"]
        return {"clients": clients, "idle_per_min": round(per_min), "idle_pct": round(100 * per_min / 6000, 1),
                "refresh_interval_s": budget.get("client_refresh_interval_s"),
                "idle_429": refused_idle, "idle_lockouts": lockouts_idle,
                "replicate_s": round(replicate_s, 3), "exact": exact, "failed": len(failed),
                "replicate_429": refused, "replicate_lockouts": lockouts, "replicate_requests": after["total"],
                "first_failure": failed[0]["message"][:200] if failed else None}
    finally:
        server.stop()


def follow(sim: SimProcess, clients: int, seconds: float, every: float) -> dict[str, Any]:
    """Auto-follow a master that changes its position every `every` seconds, for `seconds`."""
    sim.reset()
    sim.reset_stats()
    server = CopierServer(sim.url, None, prefix="bench-follow-")
    try:
        names = add_accounts(sim, server, f"f{clients}", clients)
        server.api("POST", "/api/auto-follow", {"on": True})
        time.sleep(5)
        sim.reset_stats()
        master = f"f{clients}-master"
        lags, misses, changes = [], 0, 0
        end = time.monotonic() + seconds
        size = MASTER_SIZE
        sim.trade(master, "open", symbol=SYMBOL, side="long", size=str(size), leverage="10", margin_mode="crossed")
        while time.monotonic() < end:
            changed_at = time.monotonic()
            goal = size * Decimal(CLIENT_BALANCE) / Decimal(MASTER_BALANCE)
            probe = names[-1]
            while time.monotonic() - changed_at < every and held(sim, probe) != goal:
                time.sleep(0.2)
            if held(sim, probe) == goal:
                lags.append(time.monotonic() - changed_at)
            else:
                misses += 1
            time.sleep(max(0.0, every - (time.monotonic() - changed_at)))
            step = Decimal("0.1")
            if changes % 2 == 0:
                sim.trade(master, "open", symbol=SYMBOL, side="long", size=str(step), leverage="10",
                          margin_mode="crossed")
                size += step
            else:
                sim.trade(master, "close", symbol=SYMBOL, side="long", size=str(step))
                size -= step
            changes += 1
        stats = sim.stats()
        refused, lockouts = limited(stats)
        minutes = seconds / 60
        return {"clients": clients, "seconds": seconds, "changes": changes, "per_min": round(stats["total"] / minutes),
                "lag_median_s": round(sorted(lags)[len(lags) // 2], 2) if lags else None,
                "lag_max_s": round(max(lags), 2) if lags else None, "missed": misses, "429": refused,
                "lockouts": lockouts}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="*", default=[200, 500, 1000])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=120)
    parser.add_argument("--follow-seconds", type=float, default=0)
    parser.add_argument("--follow-clients", type=int, default=300)
    parser.add_argument("--follow-every", type=float, default=10)
    args = parser.parse_args()
    info = machine()
    print(f"request budget; {info['date']}, nproc={info['nproc']}, Python {info['python']}, load {info['load']}")
    print(f"simulator limits ON, {args.latency_ms} ms per request; copier = wsgi.py with its default budget")
    rows, results = [], []
    with SimProcess() as sim:
        sim.set_latency(args.latency_ms)
        for n in args.clients:
            r = run_n(sim, n, args.idle_seconds)
            results.append(r)
            rows.append([n, r["idle_per_min"], f"{r['idle_pct']}%", r["refresh_interval_s"], r["idle_429"],
                         r["replicate_s"], f"{r['exact']}/{n}", r["replicate_429"], r["replicate_lockouts"]])
            print(f"  N={n}: {r}", flush=True)
        follow_result = follow(sim, args.follow_clients, args.follow_seconds, args.follow_every) \
            if args.follow_seconds else None
    print()
    print_table(["N", "idle req/min", "% of 6000", "refresh s", "idle 429", "replicate s", "exact", "429",
                 "lockouts"], rows)
    if follow_result:
        print(f"\nfollow: {follow_result}")
    emit_json({"bench": "budget", **info, "latency_ms": args.latency_ms, "results": results,
               "follow": follow_result})


if __name__ == "__main__":
    main()
