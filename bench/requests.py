"""Requests per action: HTTP requests the copier sends to the exchange, per client, counted by the simulator.

    .venv/bin/python bench/requests.py [--clients 5]

Each scenario runs once on the same copier (state carries over, as in real use). The simulator counts every
request by API key, so the per-client numbers are exact. Work the product starts after answering (state
refresh, fill measurement) is held back while the action is counted and then counted on its own, as
"follow-up", so the table shows both the critical path and the total.
"""
from __future__ import annotations

import os
import sys

# bench/ goes last on the path: bench/requests.py must not shadow the requests library
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

import argparse  # noqa: E402
from collections import Counter  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import Any  # noqa: E402

from common import (  # noqa: E402
    SYMBOL,
    Copier,
    Followups,
    SimProcess,
    check_results,
    emit_json,
    machine,
    print_table,
)

MIX = "/api/v2/mix/"


def short(path: str) -> str:
    """/api/v2/mix/order/place-order -> order/place-order."""
    return path[len(MIX):] if path.startswith(MIX) else path


def per_client(stats: dict[str, Any], keys: list[str]) -> tuple[list[int], Counter]:
    """Requests of each client key, and all their paths summed."""
    by_key = stats["by_key"]
    totals, paths = [], Counter()
    for key in keys:
        entry = by_key.get(key, {"total": 0, "paths": {}})
        totals.append(entry["total"])
        paths.update({short(p): n for p, n in entry["paths"].items()})
    return totals, paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5)
    args = parser.parse_args()
    n = args.clients
    info = machine()
    print(f"requests per action; {info['date']}, nproc={info['nproc']}, Python {info['python']}")
    print(f"{n} hedge-mode clients at 20x crossed (simulator default); cache warmed first, as on app start")
    rows, figures = [], {}
    with SimProcess() as sim:
        master = sim.create_account("r-master", "100000")
        copier = Copier(sim, clients=n, workers=32, prefix="r", master=master)
        copier.warm()
        held = Followups()
        try:
            scenarios = [
                ("replicate_new_leverage_differs", "replicate: new position, client leverage differs (10x vs 20x)",
                 lambda: sim.trade("r-master", "open", symbol=SYMBOL, side="long", size="0.5", leverage="10",
                                   margin_mode="crossed"), "/api/replicate", None),
                ("replicate_in_sync", "replicate again: already in sync", None, "/api/replicate", None),
                ("replicate_new_settings_match", "replicate: new position, leverage and margin mode already match",
                 lambda: sim.trade("r-master", "open", symbol=SYMBOL, side="short", size="0.3", leverage="10",
                                   margin_mode="crossed"), "/api/replicate", None),
                ("replicate_new_symbol_unknown", "replicate: new position on a symbol not read yet (ETHUSDT)",
                 lambda: sim.trade("r-master", "open", symbol="ETHUSDT", side="long", size="5", leverage="10",
                                   margin_mode="crossed"), "/api/replicate", None),
                ("replicate_increase", "replicate: master increases a position",
                 lambda: sim.trade("r-master", "open", symbol=SYMBOL, side="long", size="0.2"),
                 "/api/replicate", None),
                ("tpsl_copy", "TP/SL copy: master sets TP and SL (POST /api/tpsl)",
                 lambda: sim.trade("r-master", "set_tpsl", symbol=SYMBOL, side="long",
                                   **_tpsl(sim, "1.10", "0.90")), "/api/tpsl", None),
                ("tpsl_move", "TP/SL copy: master moves its TP",
                 lambda: sim.trade("r-master", "set_tpsl", symbol=SYMBOL, side="long", tp=_tpsl(sim, "1.15")["tp"]),
                 "/api/tpsl", None),
                ("replicate_reduce", "replicate: master closes part of a position",
                 lambda: sim.trade("r-master", "close", symbol=SYMBOL, side="long", size="0.3"),
                 "/api/replicate", None),
                ("close_all", "close-all (POST /api/close-all, master included)", None, "/api/close-all",
                 {"confirm": True}),
            ]
            for key, label, before, route, body in scenarios:
                if before is not None:
                    before()
                sim.reset_stats()
                _, report = copier.post(route, body)
                check_results(report, n)
                stats = sim.stats()
                totals, paths = per_client(stats, copier.client_keys)
                master_reqs = stats["by_key"].get(copier.master_key, {}).get("total", 0)
                public = stats["by_key"].get("", {}).get("total", 0)
                sim.reset_stats()
                held.run()
                follow, _ = per_client(sim.stats(), copier.client_keys)
                per = sorted(totals)[len(totals) // 2]
                figures[key] = {"per_client": per, "per_client_max": max(totals), "master": master_reqs,
                                "public": public, "followup_per_client": sorted(follow)[len(follow) // 2],
                                "paths_per_client": {p: round(c / n, 2) for p, c in sorted(paths.items())}}
                rows.append([label, per, f"{min(totals)}-{max(totals)}", master_reqs,
                             figures[key]["followup_per_client"],
                             ", ".join(f"{p} {c / n:g}" for p, c in sorted(paths.items()))])
        finally:
            held.restore()
            copier.close()
    print()
    print_table(["action", "req/client", "range", "master", "follow-up/client", "per client by endpoint"], rows)
    print("follow-up = requests started after the answer (state refresh for the dashboard; fill-price measurement)")
    new = figures["replicate_new_leverage_differs"]["per_client"]
    match = figures["replicate_new_settings_match"]["per_client"]
    worst = max(f["per_client"] for k, f in figures.items() if k.startswith("replicate_new"))
    ok = worst <= 4 and match < new
    print(f"target: a new position <= 4 requests per client (worst {worst}), fewer when settings match "
          f"({match} < {new}): {'MET' if ok else 'MISSED'}")
    emit_json({"bench": "requests", "clients": n, **{k: info[k] for k in ("date", "nproc", "python", "load")},
               "new_position_per_client": new, "new_position_settings_match_per_client": match,
               "new_position_worst_per_client": worst, "target_met": ok, "scenarios": figures})


def _tpsl(sim: SimProcess, tp_factor: str, sl_factor: str | None = None) -> dict[str, str]:
    """TP/SL prices around the current mark (Decimal arithmetic, like every price in the project)."""
    mark = Decimal(str(sim.prices()[SYMBOL]))
    out = {"tp": f"{mark * Decimal(tp_factor):.1f}"}
    if sl_factor is not None:
        out["sl"] = f"{mark * Decimal(sl_factor):.1f}"
    return out


if __name__ == "__main__":
    sys.exit(main())
