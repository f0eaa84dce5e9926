"""Dashboard: server time to render the main page (GET /) and the state JSON (GET /api/state) with 200 clients.

    .venv/bin/python bench/dashboard.py [--clients 200] [--repeat 30] [--history-runs 50]

The copier holds a realistic state first: the master has three positions that every client mirrors (real
replicate runs), TP/SL copied, the state cache warm, and a run history (--history-runs extra runs with one
result per client, inserted directly). Times are measured around the Flask test client, so they are the
server's time to build and render the response (no network, no browser).
"""
from __future__ import annotations

import os
import sys

# bench/ goes last on the path: bench/requests.py must not shadow the requests library
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import secrets  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

from common import (  # noqa: E402
    AUTH,
    SYMBOL,
    Copier,
    SimProcess,
    check_results,
    emit_json,
    machine,
    median,
    pct,
    print_table,
)

TARGET_MS = 150.0


def seed_history(copier: Copier, runs: int) -> None:
    """Older runs with one result per client, as weeks of auto-follow would leave them."""
    from app.store.extensions import db
    from app.store.models import Account, Run, RunResult, utcnow

    with copier.app.app_context():
        clients = db.session.query(Account).filter_by(role="client").all()
        now = utcnow()
        for i in range(runs):
            at = now - timedelta(minutes=10 * (runs - i))
            run = Run(uid=secrets.token_hex(5), action="replicate", trigger="poller", status="ok", started_at=at,
                      finished_at=at + timedelta(seconds=1), duration_ms=900)
            run.results = [RunResult(account_id=a.id, account_name=a.name, status="ok",
                                     message="open BTCUSDT long 0.01", latency_ms=300,
                                     orders_json=json.dumps([{"kind": "open", "symbol": SYMBOL, "order_id": "1"}]))
                           for a in clients]
            db.session.add(run)
        db.session.commit()


def login(copier: Copier):
    """A test client with an operator session (as a logged-in browser)."""
    from werkzeug.security import generate_password_hash

    from app.store.models import set_setting
    from app.web.security import PASSWORD_KEY

    with copier.app.app_context():
        set_setting(PASSWORD_KEY, generate_password_hash("bench password"))
    browser = copier.app.test_client()
    with browser.session_transaction() as session:
        session["operator"] = True
    return browser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--history-runs", type=int, default=50)
    args = parser.parse_args()
    info = machine()
    print(f"dashboard render time; {info['date']}, nproc={info['nproc']}, Python {info['python']}, "
          f"load {os.getloadavg()[0]:.1f}")
    with SimProcess() as sim:
        master = sim.create_account("d-master", "100000")
        copier = Copier(sim, clients=args.clients, workers=64, prefix="d", master=master)
        try:
            copier.warm()
            for symbol, side, size in ((SYMBOL, "long", "0.5"), ("ETHUSDT", "short", "8"), ("SOLUSDT", "long", "90")):
                sim.trade("d-master", "open", symbol=symbol, side=side, size=size, leverage="10", margin_mode="crossed")
            mark = Decimal(str(sim.prices()[SYMBOL]))
            sim.trade("d-master", "set_tpsl", symbol=SYMBOL, side="long", tp=f"{mark * Decimal('1.1'):.1f}",
                      sl=f"{mark * Decimal('0.9'):.1f}")
            _, report = copier.post("/api/replicate")
            check_results(report, args.clients)
            copier.settle()
            seed_history(copier, args.history_runs)
            copier.warm()
            browser = login(copier)
            state = browser.get("/api/state").get_json()
            syncs = {}
            for c in state["clients"]:
                syncs[c["sync"]] = syncs.get(c["sync"], 0) + 1
            print(f"state: {len(state['clients'])} clients, master positions "
                  f"{len(state['master']['positions'])}, sync states {syncs}, "
                  f"history {args.history_runs + 1} runs x {args.clients} results")
            times: dict[str, list[float]] = {"/": [], "/api/state": []}
            sizes: dict[str, int] = {}
            for path in times:  # warm-up: templates compiled, caches filled
                for _ in range(3):
                    browser.get(path)
            for _ in range(args.repeat):
                for path in times:
                    started = time.perf_counter()
                    resp = browser.get(path, headers=AUTH if path.startswith("/api") else None)
                    times[path].append((time.perf_counter() - started) * 1000)
                    if resp.status_code != 200:
                        raise RuntimeError(f"GET {path}: {resp.status_code}")
                    sizes[path] = len(resp.get_data())
        finally:
            copier.close()
    rows, out = [], {}
    for path, values in times.items():
        med, p95 = median(values), pct(values, 95)
        key = "page" if path == "/" else "state"
        out[f"{key}_median_ms"], out[f"{key}_p95_ms"] = round(med, 1), round(p95, 1)
        out[f"{key}_bytes"] = sizes[path]
        rows.append([f"GET {path}", args.clients, f"{med:.1f}", f"{p95:.1f}", f"{min(values):.1f}",
                     f"{max(values):.1f}", f"{sizes[path] / 1024:.0f} KiB",
                     "MET" if med <= TARGET_MS else "MISSED"])
    print()
    print_table(["request", "clients", "median ms", "p95 ms", "min ms", "max ms", "size", f"<= {TARGET_MS:.0f} ms"],
                rows)
    emit_json({"bench": "dashboard", "clients": args.clients, "repeat": args.repeat,
               "history_runs": args.history_runs, **{k: info[k] for k in ("date", "nproc", "python")},
               "load_start": info["load"], "load_end": round(os.getloadavg()[0], 2), **out,
               "target_met": out["page_median_ms"] <= TARGET_MS and out["state_median_ms"] <= TARGET_MS})


if __name__ == "__main__":
    main()
