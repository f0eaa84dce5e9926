"""An embedded simulated Bitget v2 USDT-M futures exchange that speaks the real wire protocol."""
from __future__ import annotations

from typing import Any

__all__ = ["IDENTITY", "start_simulator"]

# What GET /_sim/identity answers: the copier checks it before it takes a server on SIM_PORT for its simulator.
IDENTITY = {"service": "bitget-copier-simulator", "protocol": 1}


def start_simulator(*args: Any, **kwargs: Any) -> Any:
    """Start the simulator (see app.sim.server.start_simulator); imported lazily to keep `import app.sim` light."""
    from .server import start_simulator as start

    return start(*args, **kwargs)
