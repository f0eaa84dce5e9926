"""python -m app.sim: run the simulated Bitget exchange alone (for demos and benchmarks)."""
from __future__ import annotations

import argparse
import logging
import threading

from .server import start_simulator

DEMO_ACCOUNTS = (("Master", "10000", "hedge_mode"), ("Client A", "5000", "hedge_mode"),
                 ("Client B", "2500", "one_way_mode"), ("Client C", "1000", "hedge_mode"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m app.sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--state", default=None, help="JSON state file (loaded at start, saved on change)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the price walk and fault dice")
    parser.add_argument("--latency-ms", type=int, default=0, help="latency added to every API call")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between price ticks")
    parser.add_argument("--no-walk", action="store_true", help="keep prices still (move them on the page)")
    parser.add_argument("--no-limits", action="store_true",
                        help="do not enforce Bitget's rate limits (per UID and endpoint, 6000/min per IP)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=OPTION",
                        help="an unconfirmed behaviour's option (repeatable; see app/sim/variants.py)")
    parser.add_argument("--ws-port", type=int, default=0,
                        help="port of the private WebSocket /v2/ws/private (0: a free one, printed)")
    parser.add_argument("--no-ws", action="store_true", help="serve no private WebSocket")
    parser.add_argument("--demo-accounts", action="store_true",
                        help="create a master and three clients when there are no accounts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start the server and block until interrupted."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faults = {"": {"latency_ms": args.latency_ms}} if args.latency_ms else None
    server = start_simulator(args.host, args.port, state_path=args.state, seed=args.seed,
                             price_walk=not args.no_walk, tick_seconds=args.tick, faults=faults,
                             rate_limits=not args.no_limits, variants=",".join(args.variant) or None,
                             ws=not args.no_ws, ws_port=args.ws_port)
    if args.demo_accounts and not server.exchange.accounts:
        for name, balance, mode in DEMO_ACCOUNTS:
            server.exchange.create_account(name, balance, pos_mode=mode)
    limits = "on" if server.limits.enabled else "off (--no-limits)"
    print(f"Simulated Bitget on {server.url}  (page: {server.url}/_sim/; rate limits {limits})", flush=True)
    if server.ws_url:
        print(f"Private WebSocket on {server.ws_url}", flush=True)
    for acc in server.exchange.list_accounts():
        print(f"  {acc['name']}: key={acc['api_key']} secret={acc['api_secret']} passphrase={acc['passphrase']}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
