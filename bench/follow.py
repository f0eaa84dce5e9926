"""Auto-follow copy delay with the master's WebSocket and with REST polling alone, side by side in one run.

    .venv/bin/python bench/follow.py [--trials 20] [--clients 20] [--latency-ms 50] [--modes ws,poll]

The copier runs as the real server (`python wsgi.py`: waitress, scheduler, poller and the master's private
WebSocket, own process) against the simulator (own process: REST with L ms per request, its private
WebSocket without added delay). Accounts are added through the JSON API and auto-follow is turned on; then
each trial waits a random pause and makes the master open (--trials times) or close (--trials times) a
BTCUSDT position on the simulator, trades spaced to stay within Bitget's 6000 requests a minute per IP
(at N=100 one trade every ~7.5 s). Measured on the simulator's clock:
- copy delay: the master's fill -> the last client's acknowledged (filled) order;
- detection: the master's fill -> the first request any client account sends.
"ws" is the product default (pushes start a run; REST reconciles every RECONCILE_INTERVAL_SECONDS);
"poll" turns the WebSocket off (FLASK_WS_ENABLED=false: the poller reads REST every POLL_INTERVAL_SECONDS).
"""
from __future__ import annotations

import os
import sys

# bench/ goes last on the path: bench/requests.py must not shadow the requests library
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

import argparse  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

from common import SimProcess, emit_json, machine, median, pct, print_table  # noqa: E402
from detection import CopierServer, trade_and_wait  # noqa: E402


def first_client_request(sim: SimProcess, since_ms: int, clients: set[str]) -> int | None:
    """Sim time of the first request by any client account at or after `since_ms`."""
    rows = sim.http.get(sim.url + "/_sim/requests", params={"since": str(since_ms)}, timeout=10).json()
    return next((int(r["ts"]) for r in rows if r["account"] in clients), None)


def run_mode(mode: str, args: argparse.Namespace, rng: random.Random) -> dict[str, list[float]]:
    """All trials of one mode on a fresh simulator and copier; delays in seconds by kind."""
    out: dict[str, list[float]] = {"open": [], "close": [], "detect_open": [], "detect_close": []}
    with SimProcess() as sim:
        ws_url = sim.http.get(sim.url + "/_sim/identity", timeout=5).json().get("ws_url")
        master = sim.create_account("f-master", "100000")
        clients = [sim.create_account(f"f-c{i:03d}", "5000") for i in range(args.clients)]
        sim.set_latency(args.latency_ms)
        env = {"FLASK_WS_ENABLED": "true", "FLASK_BITGET_WS_URL": ws_url} if mode == "ws" else \
            {"FLASK_WS_ENABLED": "false"}
        env["FLASK_LOG_LEVEL"] = args.log_level
        server = CopierServer(sim.url, None, prefix=f"bench-follow-{mode}-", extra_env=env)
        try:
            server.follow(master, clients)
            deadline = time.monotonic() + 30
            while mode == "ws" and not (server.api("GET", "/healthz").get("master_stream") or {}).get("live"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the master's WebSocket did not go live:\n" + server.tail())
                time.sleep(0.1)
            time.sleep(2.5)  # the first reconcile after the start has run
            names = {c["name"] for c in clients}
            # a trade costs about 4 requests per client (positions + account, set-leverage, order) plus the
            # refresh after it: spaced so the copier stays inside Bitget's 6000/min per IP (its budget would
            # otherwise hold the orders back, and the bench would measure the budget, not the follow delay)
            spacing = 60.0 * (5 * args.clients + 4) / (0.7 * 5700)
            for trial in range(2 * args.trials):
                time.sleep(max(rng.uniform(0.3, 2.0), spacing))
                kind = "open" if trial % 2 == 0 else "close"
                master_ts, got = trade_and_wait(sim, "f-master", kind, names, timeout=30)
                if len(got) < len(names):
                    print(f"  {mode} trial {trial + 1}: only {len(got)}/{len(names)} clients in time", file=sys.stderr)
                    print(server.tail(), file=sys.stderr)
                    missing = sorted(names - set(got))
                    print(f"  missing: {missing}", file=sys.stderr)
                    if os.environ.get("FOLLOW_DEBUG"):
                        for run in server.api("GET", "/api/runs")["runs"][:6]:
                            detail = server.api("GET", f"/api/runs/{run['run_id']}")
                            print("   run", run["run_id"], run["trigger"], run["status"], [
                                (r["account_name"], r["status"], r["message"][:150]) for r in detail["results"]
                                if r["account_name"] in missing], file=sys.stderr)
                        rows = sim.http.get(sim.url + "/_sim/orders", params={"account": missing[0]}, timeout=10).json()
                        print("   fills of", missing[0], [(r["ts"], r["tradeSide"], r["size"], r["clientOid"], r["source"])
                                                         for r in rows], file=sys.stderr)
                        sys.exit(3)
                    continue
                delay = (max(got.values()) - master_ts) / 1000
                first = first_client_request(sim, master_ts, names)
                detect = (first - master_ts) / 1000 if first is not None else None
                out[kind].append(delay)
                if detect is not None:
                    out[f"detect_{kind}"].append(detect)
                print(f"  {mode:4s} trial {trial + 1:2d} {kind:5s}: copy {delay:.3f}s  detect "
                      f"{detect:.3f}s" if detect is not None else f"  {mode} trial {trial + 1}: {delay:.3f}s",
                      flush=True)
                time.sleep(0.3)  # let the run be recorded before the next trade
        finally:
            server.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="opens and as many closes per mode")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--modes", default="ws,poll")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log-level", default="WARNING", help="the copier's log level (its log tail is printed on a miss)")
    args = parser.parse_args()
    info = machine()
    print(f"follow delay; {info['date']}, nproc={info['nproc']}, Python {info['python']}, "
          f"load {os.getloadavg()[0]:.1f}; {args.clients} clients, REST latency {args.latency_ms} ms/request")
    results = {}
    for mode in args.modes.split(","):
        results[mode] = run_mode(mode, args, random.Random(args.seed))
    rows, summary = [], {}
    for mode, out in results.items():
        for kind in ("open", "close"):
            copy, detect = out[kind], out[f"detect_{kind}"]
            if not copy:
                continue
            rows.append([mode, kind, len(copy), f"{median(copy):.3f}", f"{pct(copy, 95):.3f}", f"{max(copy):.3f}",
                         f"{median(detect):.3f}" if detect else "-"])
            summary[f"{mode}_{kind}"] = {"n": len(copy), "median_s": round(median(copy), 3),
                                         "p95_s": round(pct(copy, 95), 3),
                                         "detect_median_s": round(median(detect), 3) if detect else None}
        both = out["open"] + out["close"]
        if both:
            detect_all = out["detect_open"] + out["detect_close"]
            rows.append([mode, "all", len(both), f"{median(both):.3f}", f"{pct(both, 95):.3f}", f"{max(both):.3f}",
                         f"{median(detect_all):.3f}" if detect_all else "-"])
            summary[f"{mode}_all"] = {"n": len(both), "median_s": round(median(both), 3),
                                      "p95_s": round(pct(both, 95), 3),
                                      "detect_median_s": round(median(detect_all), 3) if detect_all else None}
    print()
    print_table(["mode", "trades", "n", "copy median s", "copy p95 s", "copy max s", "detect median s"], rows)
    emit_json({"bench": "follow", "clients": args.clients, "latency_ms": args.latency_ms,
               **{k: info[k] for k in ("date", "nproc", "python", "load")}, "results": summary})


if __name__ == "__main__":
    main()
