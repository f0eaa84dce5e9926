"""Something other than the embedded simulator on SIM_PORT is refused with a message naming the port and
FLASK_SIM_PORT; the copier's own simulator (run by another process of the copier) is recognised and used."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask

from app import sim_mode
from app.sim.server import start_simulator

ROOT = Path(__file__).resolve().parents[2]


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def foreign_server():
    """A plain HTTP server (not the simulator) on a free loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def runner_for(port: int) -> sim_mode.SimRunner:
    app = Flask("sim-port-test")
    app.config.update(SIM_PORT=port, SIM_SEED=1, SIM_PRICE_WALK=False, SIM_STATE_FILE=None, SIM_RATE_LIMITS=False)
    return sim_mode.SimRunner(app)


def test_a_foreign_server_on_sim_port_is_refused_with_a_clear_message(foreign_server):
    runner = runner_for(foreign_server)
    with pytest.raises(sim_mode.SimPortTaken) as refused:
        runner.ensure_started()
    message = str(refused.value)
    assert f"Port {foreign_server} (SIM_PORT)" in message
    assert "not the copier's simulator" in message and "HTTP 404" in message
    assert "FLASK_SIM_PORT=" in message
    assert runner.url is None and runner.server is None
    with pytest.raises(sim_mode.SimPortTaken):  # asked again (e.g. by the exchange gateway): still refused
        runner.ensure_started()


def test_a_silent_listener_is_refused_too():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        reason = sim_mode.identify_simulator(port, timeout=0.5)
    assert reason and "0.5 s" in reason


def test_the_copiers_own_simulator_in_another_process_is_used():
    own = start_simulator(port=0, price_walk=False, rate_limits=False)
    try:
        runner = runner_for(own.port)
        assert runner.ensure_started() == f"http://127.0.0.1:{own.port}"
        assert runner.server is None  # not a second simulator: the running one
    finally:
        own.stop()


def test_make_run_refuses_to_start_on_a_foreign_sim_port(tmp_path, foreign_server):
    env = {**os.environ, "COPIER_INSTANCE_PATH": str(tmp_path / "instance"), "FLASK_PORT": str(free_port()),
           "FLASK_SIM_PORT": str(foreign_server), "FLASK_SCHEDULER_ENABLED": "false",
           "FLASK_TELEGRAM_API_URL": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "wsgi.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert f"Cannot start: Port {foreign_server} (SIM_PORT) is taken by another program" in done.stderr, done.stderr
    assert "FLASK_SIM_PORT=" in done.stderr
    assert "Bitget copier dashboard" not in done.stdout  # it did not serve against the foreign server


def test_flask_run_answers_every_page_with_the_reason_instead_of_using_it(tmp_path, foreign_server):
    from app import create_app
    from tests.conftest import app_config, operator_client

    app = create_app(app_config(tmp_path, "", EXCHANGE="sim", SIM_PORT=foreign_server, SIM_STATE_FILE=None,
                                START_BACKGROUND_ON_REQUEST=True, TESTING=False))
    test_client = operator_client(app)
    for path in ("/", "/accounts/", "/settings"):
        answer = test_client.get(path)
        assert answer.status_code == 503, path
        assert f"Port {foreign_server} (SIM_PORT) is taken" in answer.get_data(as_text=True)
    api = test_client.get("/api/state")
    assert api.status_code == 503 and api.json["error"]["code"] == "sim_port_taken"
    assert "FLASK_SIM_PORT=" in api.json["error"]["message"]
    assert app.extensions["sim_runner"].server is None  # no simulator of ours, and the foreign one unused
