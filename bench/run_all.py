"""Run every benchmark in turn and check the targets of issue 7.

    .venv/bin/python bench/run_all.py            # full grids (about 6-8 minutes on the 2-core machine)
    .venv/bin/python bench/run_all.py --quick    # only the cells that carry a target (about 2 minutes)
    .venv/bin/python bench/run_all.py --out results.json

Each script runs in its own process with the venv's Python; its output is shown as it comes and its last line
(one JSON object) is collected. The summary prints every target with MET / MISSED, and, last, one JSON line.
"""
from __future__ import annotations

import os
import sys

# bench/ goes last on the path: bench/requests.py must not shadow the requests library
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from common import ROOT, emit_json, machine, print_table  # noqa: E402


def run(script: str, *args: str) -> dict[str, Any]:
    """Run one bench script, echo its output, return its final JSON line."""
    cmd = [sys.executable, os.path.join(_HERE, script), *args]
    print(f"\n=== {' '.join([os.path.relpath(cmd[1], ROOT), *args])}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=subprocess.PIPE, text=True)
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.strip():
            last = line
    if proc.wait() != 0:
        raise SystemExit(f"{script} failed (exit {proc.returncode})")
    print(f"=== {script}: {time.monotonic() - started:.0f}s", flush=True)
    return json.loads(last)


def cell(result: dict[str, Any], clients: int, latency_ms: int) -> dict[str, Any]:
    """One (N, L) cell of a grid result (single-cell runs are the cell itself)."""
    cells = result.get("cells") or [result]
    return next(c for c in cells if c["clients"] == clients and c["latency_ms"] == latency_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the cells that carry a target")
    parser.add_argument("--out", help="also write every script's JSON to this file")
    args = parser.parse_args()
    info = machine()
    started = time.monotonic()
    grid_args = ["--clients", "100", "--clients", "500", "--latency-ms", "100"] if args.quick else []
    results = {
        "fanout": run("fanout.py", *grid_args),
        "closeall": run("closeall.py", *(["--clients", "100", "--latency-ms", "100"] if args.quick else [])),
        "detection": run("detection.py"),
        "dashboard": run("dashboard.py"),
        "requests": run("requests.py"),
    }
    f100, f500 = cell(results["fanout"], 100, 100), cell(results["fanout"], 500, 100)
    c100 = cell(results["closeall"], 100, 100)
    det, dash, req = results["detection"], results["dashboard"], results["requests"]
    targets = [
        ("fan-out N=100, L=100 ms", "<= 0.6 s", f"{f100['replicate_s']:.3f} s", f100["replicate_s"] <= 0.6),
        ("fan-out N=500, L=100 ms", "<= 2.5 s", f"{f500['replicate_s']:.3f} s", f500["replicate_s"] <= 2.5),
        ("close-all N=100, L=100 ms", "<= 0.5 s", f"{c100['closeall_s']:.3f} s", c100["closeall_s"] <= 0.5),
        (f"detection median, L={det['latency_ms']} ms, poll {det['poll_interval_s']:g} s",
         f"<= {det['target_s']:.2f} s", f"{det['median_s']:.3f} s (p95 {det['p95_s']:.3f})", det["target_met"]),
        ("page GET / with 200 clients, median", "<= 150 ms", f"{dash['page_median_ms']:.1f} ms (p95 "
         f"{dash['page_p95_ms']:.1f})", dash["page_median_ms"] <= 150),
        ("state GET /api/state with 200 clients, median", "<= 150 ms", f"{dash['state_median_ms']:.1f} ms (p95 "
         f"{dash['state_p95_ms']:.1f})", dash["state_median_ms"] <= 150),
        ("requests/client, new position", "<= 4, fewer if settings match",
         f"{req['new_position_per_client']} (match {req['new_position_settings_match_per_client']}, "
         f"unknown symbol {req['new_position_worst_per_client']})", req["target_met"]),
    ]
    print(f"\n=== summary: {info['date']}, nproc={info['nproc']}, Python {info['python']}, "
          f"{time.monotonic() - started:.0f}s")
    print_table(["target", "goal", "measured", "result"],
                [[name, goal, got, "MET" if ok else "MISSED"] for name, goal, got, ok in targets])
    summary = {"bench": "all", **{k: info[k] for k in ("date", "nproc", "python", "load")},
               "targets": {name: {"goal": goal, "measured": got, "met": ok} for name, goal, got, ok in targets},
               "all_met": all(t[3] for t in targets)}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"summary": summary, "results": results}, fh, indent=1)
    emit_json(summary)


if __name__ == "__main__":
    main()
