"""Production serving: one waitress process with many threads, so the poller and state cache live in it."""
from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)


def serve(app: Flask) -> None:
    """Start the background work, then serve on HOST:PORT (127.0.0.1:5000 by default)."""
    from waitress import serve as waitress_serve

    from ..feeds.background import start_background
    from ..sim_mode import SimPortTaken

    try:
        start_background(app)
    except SimPortTaken as exc:  # something else answers on SIM_PORT: say so instead of trading against it
        raise SystemExit(f"Cannot start: {exc}") from None
    host, port = app.config["HOST"], int(app.config["PORT"])
    log.info("dashboard on http://%s:%s (exchange: %s)", host, port, app.config["EXCHANGE"])
    print(f"\n  Bitget copier dashboard: http://{host}:{port}\n", flush=True)
    waitress_serve(app, host=host, port=port, threads=int(app.config.get("SERVER_THREADS", 32)), ident="copier")
