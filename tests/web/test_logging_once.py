"""Each log event is printed once, in one format, by the server `make run` starts (wsgi.py -> app.web.serve ->
waitress). Before: waitress.serve() calls logging.basicConfig(), which added a root handler next to the app's own
console handler, and every line appeared twice ("... level=INFO logger=app.x msg=..." and "INFO:app.x:...")."""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import app_config

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import logging, threading, time, urllib.request
from app import create_app
from app.web.serve import serve

app = create_app()
threading.Thread(target=serve, args=(app,), daemon=True).start()
url = "http://%s:%s/healthz" % (app.config["HOST"], app.config["PORT"])
for _ in range(200):
    try:
        urllib.request.urlopen(url, timeout=1).read()
        break
    except OSError:
        time.sleep(0.05)
logging.getLogger("app.probe").warning("probe warning MARK-W")
logging.getLogger("app.probe").info("probe info MARK-I")
logging.getLogger("waitress.probe").warning("waitress-side MARK-S")
print("probe done", flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_started_server_prints_every_log_event_once(tmp_path):
    env = {**os.environ, "COPIER_INSTANCE_PATH": str(tmp_path / "instance"), "FLASK_PORT": str(free_port()),
           "FLASK_SIM_PORT": str(free_port()), "FLASK_SCHEDULER_ENABLED": "false", "PYTHONPATH": str(ROOT),
           "FLASK_TELEGRAM_API_URL": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=90)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "probe done" in done.stdout, output
    for mark in ("MARK-W", "MARK-I", "MARK-S", "dashboard on http://", "simulated exchange listening on"):
        lines = [line for line in output.splitlines() if mark in line]
        assert len(lines) == 1, (mark, lines)
        assert " level=" in lines[0] and " logger=" in lines[0], lines[0]  # the copier's one format
    assert "WARNING:app." not in output and "INFO:app." not in output, output  # no basicConfig duplicates
    log_file = (tmp_path / "instance" / "logs" / "copier.log").read_text()
    assert log_file.count("MARK-W") == 1 and log_file.count("MARK-I") == 1


def test_logging_configuration_leaves_basic_config_nothing_to_add(tmp_path, sim):
    from app import create_app

    root = logging.getLogger()
    create_app(app_config(tmp_path / "one", sim.url))
    create_app(app_config(tmp_path / "two", sim.url))  # a second app replaces, never adds, the console handler
    consoles = [h for h in root.handlers if getattr(h, "_copier_console", False)]
    assert len(consoles) == 1
    assert not any(getattr(h, "_copier_console", False) for h in logging.getLogger("app").handlers)
    before = list(root.handlers)
    logging.basicConfig()  # what waitress.serve() does
    assert root.handlers == before
