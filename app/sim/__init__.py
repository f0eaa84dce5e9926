"""An embedded simulated Bitget v2 USDT-M futures exchange that speaks the real wire protocol."""
from __future__ import annotations

from typing import Any

__all__ = ["start_simulator"]


def start_simulator(*args: Any, **kwargs: Any) -> Any:
    """Start the simulator (see app.sim.server.start_simulator); imported lazily to keep `import app.sim` light."""
    from .server import start_simulator as start

    return start(*args, **kwargs)
