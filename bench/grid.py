"""The fan-out grid shared by fanout.py (replicate one new position) and closeall.py (close all on N+1 accounts).

One cell = one (N clients, L ms) pair, measured on fresh simulator accounts:

* setup at L=0: simulator accounts, copier accounts, cache warm-up (what the running app does on start);
* the parallel product (EXECUTOR_MAX_WORKERS default) and the one-worker baseline (EXECUTOR_MAX_WORKERS=1)
  each get their own copier app, master and clients, so both start from the same state;
* the simulator's latency is switched to L only for the timed request, which is the whole HTTP request
  (`POST /api/replicate` or `POST /api/close-all`) through the Flask app, in this process;
* the baseline runs every client when that fits the time budget, otherwise a sample of k clients, and is
  then EXTRAPOLATED to N: fixed part (master read, run bookkeeping) + per-client part x N/k, labelled so.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from common import (
    SYMBOL,
    Copier,
    Followups,
    SimProcess,
    check_results,
    emit_json,
    machine,
    print_table,
    proc_cpu_seconds,
    r3,
)

GRID_N = (1, 10, 100, 500)
GRID_L = (0, 50, 100)
MASTER_SIZE = "0.5"          # BTC; clients size by equity ratio (5000 / 100000) -> 0.025
MASTER_BALANCE = "100000"
PER_CLIENT_CPU_S = 0.004      # rough per-client CPU cost used only to size the baseline sample
CLOSEALL_ROUND_TRIPS = 2      # a flat-after-close account: the flash close, then its four reads together


def parse_args(kind: str) -> argparse.Namespace:
    """Options shared by fanout.py and closeall.py."""
    parser = argparse.ArgumentParser(description=f"{kind} fan-out benchmark (see bench/README.md)")
    parser.add_argument("--clients", type=int, action="append", help="N (repeatable); default grid 1,10,100,500")
    parser.add_argument("--latency-ms", type=int, action="append", help="L (repeatable); default grid 0,50,100")
    parser.add_argument("--baseline-budget", type=float, default=15.0,
                        help="seconds the one-worker baseline may take per cell before it is sampled and "
                             "extrapolated (default 15)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-worker baseline")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measure the parallel product this many times (fresh accounts each), report the "
                             "median (default 3); the baseline runs once")
    parser.add_argument("--leverage-matches", action="store_true",
                        help="(fanout) master opens at the clients' leverage, so no set-leverage is needed")
    parser.add_argument("--workers", type=int, default=None,
                        help="EXECUTOR_MAX_WORKERS of the parallel product (default: the product default)")
    return parser.parse_args()


def master_leverage(args: argparse.Namespace) -> int:
    """Clients start at the simulator's default 20x crossed; the master opens at 10x unless told to match."""
    return 20 if args.leverage_matches else 10


def open_master(sim: SimProcess, copier: Copier, leverage: int) -> None:
    """The master opens one BTCUSDT long (crossed) on the simulator: stands in for a trade in the Bitget app."""
    sim.trade(copier.master_name, "open", symbol=SYMBOL, side="long", size=MASTER_SIZE, leverage=str(leverage),
              margin_mode="crossed")


def client_requests(sim: SimProcess, copier: Copier) -> tuple[float, float]:
    """(median, max) requests per client of the last measured action, from the simulator's counters."""
    by_key = sim.stats()["by_key"]
    counts = [by_key.get(key, {}).get("total", 0) for key in copier.client_keys]
    counts.sort()
    return (counts[len(counts) // 2] if counts else 0), (counts[-1] if counts else 0)


def prepare(sim: SimProcess, kind: str, prefix: str, clients: int, workers: int, leverage: int) -> Copier:
    """A copier with its own master and clients, warmed, in the cell's starting state (at L=0)."""
    master = sim.create_account(f"{prefix}-master", MASTER_BALANCE)
    copier = Copier(sim, clients=clients, workers=workers, prefix=prefix, master=master)
    copier.warm()
    open_master(sim, copier, leverage)
    if kind == "closeall":
        # every client holds its copy first (replicated at L=0), then the close-all is timed
        _, report = copier.post("/api/replicate")
        check_results(report, clients)
        copier.settle()
        copier.warm()
    return copier


def timed(sim: SimProcess, copier: Copier, kind: str, latency_ms: int, expect: int) -> tuple[float, dict, tuple]:
    """Switch the simulator to L, run the action, switch back to 0; returns (seconds, report, requests).

    The background work the product starts after answering (state refresh, fill measurement) is deferred
    until the time and the request counts are taken, then done before returning (see Followups)."""
    with Followups():
        sim.reset_stats()
        sim.set_latency(latency_ms)
        cpu_app, cpu_sim = proc_cpu_seconds(), sim.cpu_seconds()
        try:
            if kind == "fanout":
                elapsed, report = copier.post("/api/replicate")
            else:
                elapsed, report = copier.post("/api/close-all", {"confirm": True})
        finally:
            cpu_app, cpu_sim = proc_cpu_seconds() - cpu_app, sim.cpu_seconds() - cpu_sim
            sim.set_latency(0)
        copier.cpu = (cpu_app, cpu_sim)
        reqs = client_requests(sim, copier)
    ok, failed = check_results(report, expect)
    if failed:
        raise RuntimeError(f"{failed} of {expect} accounts failed; the measurement is not valid")
    copier.settle()
    return elapsed, report, reqs


def run_cell(sim: SimProcess, kind: str, clients: int, latency_ms: int, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one (N, L) cell: parallel product, one-worker baseline, ideal and efficiency."""
    from app.config import Defaults

    sim.reset()
    sim.set_latency(0)
    workers = args.workers or Defaults.EXECUTOR_MAX_WORKERS
    leverage = master_leverage(args)
    expect = clients + (1 if kind == "closeall" else 0)

    runs = []
    for rep in range(max(1, args.repeat)):  # fresh accounts for every repetition, same starting state
        if rep:
            sim.reset()
        par = prepare(sim, kind, "p", clients, workers, leverage)
        try:
            elapsed, report, reqs = timed(sim, par, kind, latency_ms, expect)
            lat = sorted(r["latency_ms"] or 0 for r in report["results"] if r["account_name"] != par.master_name)
            runs.append((elapsed, reqs, lat, par.cpu))
        finally:
            par.close()
    runs.sort(key=lambda r: r[0])
    measured, (req_med, req_max), lat, (cpu_app, cpu_sim) = runs[len(runs) // 2]  # the median run
    # critical path of one client: replicate = master read (positions || balance: 1 RT) + the client's own
    # sequential requests; close-all = flash close, then positions, orders and both plan lists read together
    round_trips = req_med + 1 if kind == "fanout" else min(req_med, CLOSEALL_ROUND_TRIPS)
    ideal = round_trips * latency_ms / 1000

    baseline = None
    baseline_note = "skipped"
    sample = 0
    if not args.no_baseline:
        per_client = req_med * latency_ms / 1000 + PER_CLIENT_CPU_S
        sample = clients if clients * per_client <= args.baseline_budget else max(
            min(clients, 5), int(args.baseline_budget / per_client))
        base = prepare(sim, kind, "b", sample, 1, leverage)
        try:
            b_elapsed, b_report, _ = timed(sim, base, kind, latency_ms, sample + (1 if kind == "closeall" else 0))
        finally:
            base.close()
        if sample == clients:
            baseline, baseline_note = b_elapsed, "measured"
        else:
            per_acc = [r["latency_ms"] / 1000 for r in b_report["results"] if r["account_name"] != base.master_name]
            fixed = max(0.0, b_elapsed - sum(per_acc))
            baseline = fixed + sum(per_acc) / len(per_acc) * clients
            baseline_note = f"EXTRAPOLATED from {sample} of {clients} clients"
    return {
        "bench": kind, "clients": clients, "latency_ms": latency_ms, "workers": workers,
        ("replicate_s" if kind == "fanout" else "closeall_s"): r3(measured),
        "runs_s": [r3(r[0]) for r in runs],
        "baseline_s": r3(baseline), "baseline": baseline_note, "baseline_sample": sample,
        "speedup": r3(baseline / measured) if baseline and measured else None,
        "round_trips": round_trips, "ideal_s": r3(ideal),
        "efficiency": r3(ideal / measured) if ideal and measured else None,
        "requests_per_client": req_med, "requests_per_client_max": req_max,
        "client_latency_ms_p50": lat[len(lat) // 2] if lat else None,
        "client_latency_ms_max": lat[-1] if lat else None,
        "cpu_app_s": r3(cpu_app), "cpu_sim_s": r3(cpu_sim),
        "leverage_matches": bool(args.leverage_matches) if kind == "fanout" else None,
    }


def main(kind: str) -> None:
    """Run the requested cells (default: the whole grid) and print the table and the JSON line."""
    args = parse_args(kind)
    grid_n = args.clients or list(GRID_N)
    grid_l = args.latency_ms or list(GRID_L)
    info = machine()
    key = "replicate_s" if kind == "fanout" else "closeall_s"
    what = ("replicate one new position (POST /api/replicate)" if kind == "fanout"
            else "close all on N+1 accounts (POST /api/close-all)")
    print(f"{kind}: {what}; {info['date']}, nproc={info['nproc']}, Python {info['python']}, "
          f"load {info['load']}")
    print("setup: simulator in its own process; cache warmed as on app start (refresh_accounts); "
          "BITGET_IP_LIMIT_PER_MINUTE=0 (IP cap off)")
    started = time.perf_counter()
    cells = []
    with SimProcess(limits=False) as sim:  # fan-out mechanics; bench/budget.py measures under the limits
        # throw-away run so one-time imports and code paths do not land in the first cell
        warm = prepare(sim, kind, "w", 2, 4, master_leverage(args))
        timed(sim, warm, kind, 0, 2 + (1 if kind == "closeall" else 0))
        warm.close()
        for n in grid_n:
            for latency in grid_l:
                cell = run_cell(sim, kind, n, latency, args)
                cells.append(cell)
                print(f"  N={n:<4} L={latency:<4} {key}={cell[key]:.3f}s (runs {cell['runs_s']}) "
                      f"baseline={cell['baseline_s']}s "
                      f"({cell['baseline']})", flush=True)
    print()
    rows = [[c["clients"], c["latency_ms"], f"{c[key]:.3f}", f"{min(c['runs_s']):.3f}-{max(c['runs_s']):.3f}",
             "-" if c["baseline_s"] is None else f"{c['baseline_s']:.2f}" + ("*" if "EXTRA" in c["baseline"] else ""),
             "-" if c["speedup"] is None else f"{c['speedup']:.1f}x", c["round_trips"],
             f"{c['ideal_s']:.3f}", "-" if c["efficiency"] is None else f"{c['efficiency']:.0%}",
             c["requests_per_client"], c["client_latency_ms_p50"], c["client_latency_ms_max"],
             f"{c['cpu_app_s']:.2f}/{c['cpu_sim_s']:.2f}"] for c in cells]
    print_table(["N", "L ms", f"{key[:-2]} s", "range s", "baseline s", "speedup", "RTs", "ideal s", "eff.",
                 "req/client", "client p50 ms", "client max ms", "CPU s app/sim"], rows)
    if any("EXTRA" in c["baseline"] for c in cells):
        print("  * baseline EXTRAPOLATED from a sample of clients (one-worker time is linear in N): "
              + "; ".join(f"N={c['clients']} L={c['latency_ms']}: {c['baseline']}"
                          for c in cells if "EXTRA" in c["baseline"]))
    print(f"total bench time {time.perf_counter() - started:.1f}s")
    if len(cells) == 1:
        emit_json({**cells[0], **{k: info[k] for k in ("date", "nproc", "python", "load")}})
    else:
        emit_json({"bench": kind, **{k: info[k] for k in ("date", "nproc", "python", "load")}, "cells": cells})
