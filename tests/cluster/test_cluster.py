"""ENGINE=celery on this machine, for real: Redis and PostgreSQL started by the suite, two shard workers as
their own processes sending from 127.0.0.2 and 127.0.0.3, the simulator with Bitget's per-IP limits on.

A replicate lands on both shards; a shard killed with SIGKILL in the middle of a run is redelivered and
leaves every client exact with no duplicate fill; a shard that is down is reported by name while the other
shard's clients are copied.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app import create_app
from app.accounts import service
from app.sim.server import start_simulator
from app.store.extensions import db
from app.store.models import Account
from tests.conftest import app_config, shutdown

ROOT = Path(__file__).resolve().parents[2]
BTC = "BTCUSDT"
EGRESS = {0: "127.0.0.2", 1: "127.0.0.3"}


class Worker:
    """`flask --app wsgi worker --shard K` in its own process."""

    def __init__(self, shard: int, env: dict[str, str], folder: Path) -> None:
        self.shard = shard
        self.log_path = folder / f"worker{shard}.log"
        folder.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "ab")  # noqa: SIM115  (a restarted worker appends)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--shard", str(shard), "--loglevel", "INFO"],
            cwd=str(ROOT), env={**env, "FLASK_EGRESS_SOURCE_ADDRESS": EGRESS[shard],
                                "COPIER_INSTANCE_PATH": str(folder / f"instance{shard}")},
            stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]


class Cluster:
    def __init__(self, tmp_path: Path, redis_server, postgres_server) -> None:
        import redis

        self.sim = start_simulator(port=0, price_walk=False)  # Bitget's per-IP limits on
        self.sim.exchange.set_price(BTC, "80000")
        redis.Redis.from_url(redis_server.url).flushdb()
        database = postgres_server.new_database()
        vault_key = Fernet.generate_key().decode()
        common = {"ENGINE": "celery", "REDIS_URL": redis_server.url, "SQLALCHEMY_DATABASE_URI": database,
                  "CLUSTER_SHARDS": 2, "CLUSTER_DEADLINE_SECONDS": 25, "CLUSTER_REDELIVERY_SECONDS": 3,
                  "VAULT_KEY": vault_key, "MEASURE_FILLS": False}
        self.app = create_app(app_config(tmp_path, self.sim.url, **common))
        self.env = {**os.environ, "FLASK_EXCHANGE": "bitget", "FLASK_BITGET_BASE_URL": self.sim.url,
                    "FLASK_SECRET_KEY": "test-secret-key", "FLASK_SCHEDULER_ENABLED": "false",
                    "FLASK_BITGET_IP_LIMIT_PER_MINUTE": "5700", "FLASK_LOG_LEVEL": "INFO",
                    **{f"FLASK_{k}": str(v) for k, v in common.items()}}
        self.folder = tmp_path / "workers"
        self.workers: dict[int, Worker] = {}

    def start_worker(self, shard: int) -> Worker:
        worker = self.workers[shard] = Worker(shard, self.env, self.folder)
        return worker

    def wait_alive(self, shards, timeout: float = 40.0) -> None:
        engine = self.app.extensions["replication"].cluster
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.app.app_context():
                rows = {r["shard"]: r for r in engine.shards()}
            if all(rows[s]["alive"] for s in shards):
                time.sleep(1.0)  # the heartbeat thread starts just before the consumer: let it subscribe
                return
            time.sleep(0.2)
        raise AssertionError("workers did not come up:\n" + "\n".join(w.tail() for w in self.workers.values()))

    def add(self, name: str, role: str = "client", balance: str = "10000") -> int:
        creds = self.sim.exchange.create_account(name=name, balance=Decimal(balance))
        with self.app.app_context():
            return service.create_account({"role": role, "name": name, "api_key": creds["api_key"],
                                           "api_secret": creds["api_secret"], "passphrase": creds["passphrase"]}).id

    def seed(self, clients: tuple[str, ...], workers: tuple[int, ...]) -> None:
        """A master with 10000 USDT, clients with 5000 each, and the named shards' workers up."""
        self.add("Master", "master", "10000")
        for name in clients:
            self.add(name, balance="5000")
        for shard in workers:
            self.start_worker(shard)
        self.wait_alive(list(workers))

    def held(self, name: str) -> dict:
        return {key: pos.size for key, pos in self.sim.exchange.account(name).positions.items()}

    def replicate(self) -> dict:
        with self.app.app_context():
            try:
                return self.app.extensions["replication"].replicate("test", wait=30)
            finally:
                db.session.remove()

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        shutdown(self.app)
        self.sim.stop()


@pytest.fixture
def cluster(tmp_path, redis_server, postgres_server):
    made = Cluster(tmp_path, redis_server, postgres_server)
    yield made
    made.stop()


def shards_of(cluster: Cluster) -> dict[str, int]:
    with cluster.app.app_context():
        return {a.name: a.shard for a in db.session.query(Account).filter_by(role="client")}


def test_a_replicate_lands_on_both_shards_each_from_its_own_address(cluster):
    cluster.seed(("A", "B", "C", "D"), workers=(0, 1))
    cluster.sim.exchange.open_position("Master", BTC, "long", "0.1")
    report = cluster.replicate()
    assert sorted(r["status"] for r in report["results"]) == ["ok"] * 4, [r["message"] for r in report["results"]]
    for name in ("A", "B", "C", "D"):
        assert cluster.held(name) == {(BTC, "long"): Decimal("0.05")}
    assert sorted(shards_of(cluster).values()) == [0, 0, 1, 1]
    seen = cluster.sim.limits.snapshot()["ip_requests"]
    assert seen.get("127.0.0.2", 0) > 0 and seen.get("127.0.0.3", 0) > 0  # each shard from its own IP
    with cluster.app.app_context():
        rows = cluster.app.extensions["replication"].cluster.shards()
    assert [r["clients"] for r in rows] == [2, 2] and all(r["alive"] for r in rows)
    assert {r["egress"] for r in rows} == {"127.0.0.2", "127.0.0.3"}
    health = cluster.app.test_client().get("/healthz").get_json()
    assert [s["alive"] for s in health["cluster"]["shards"]] == [True, True]
    from tests.conftest import operator_client

    page = operator_client(cluster.app).get("/").get_data(as_text=True)
    assert 'id="shards-panel"' in page and "127.0.0.3" in page  # the dashboard shows the shards
    assert cluster.replicate()["status"] in ("ok", "partial")  # a second run sends nothing new
    for name in ("A", "B", "C", "D"):
        assert cluster.held(name) == {(BTC, "long"): Decimal("0.05")}


def test_a_shard_killed_mid_run_is_redelivered_and_no_fill_is_doubled(cluster):
    cluster.app.config["CLUSTER_DEADLINE_SECONDS"] = 90  # a restarted worker takes a while on a loaded machine
    cluster.seed(("A", "B", "C", "D"), workers=(0, 1))
    shard0 = [n for n, s in shards_of(cluster).items() if s == 0]
    cluster.sim.exchange.open_position("Master", BTC, "long", "0.1")
    # orders of shard 0 wait 2 s at the exchange: the worker is killed while they are in flight
    cluster.sim.faults.configure({"/api/v2/mix/order/place-order": {"latency_ms": 2000}})
    answer: dict = {}
    runner = threading.Thread(target=lambda: answer.update(cluster.replicate()))
    runner.start()
    time.sleep(1.2)
    cluster.workers[0].kill()
    cluster.sim.faults.configure(None)
    cluster.start_worker(0)  # a new worker on the queue gets the unacknowledged task again
    runner.join(120)
    assert answer, "the run did not finish"
    by_name = {r["account_name"]: r for r in answer["results"]}
    assert all(by_name[n]["status"] == "ok" for n in shard0), by_name  # answered by the redelivered task
    for name in ("A", "B", "C", "D"):
        assert cluster.held(name) == {(BTC, "long"): Decimal("0.05")}, (name, answer)
    for name in shard0:
        fills = [r for r in cluster.sim.exchange.order_log_rows(account=name) if r["tradeSide"] == "open"]
        assert len(fills) == 1, fills  # redelivered, and the intent clientOid kept it to one order
    held_max = {r["account"]: Decimal(r["maxSize"]) for r in cluster.sim.exchange.max_held_rows()}
    assert all(held_max[n] == Decimal("0.05") for n in ("A", "B", "C", "D"))


def test_a_shard_that_is_down_is_reported_by_name_and_the_other_shard_copies(cluster):
    cluster.app.config["CLUSTER_DEADLINE_SECONDS"] = 4
    cluster.seed(("A", "B"), workers=(0,))  # shard 1 has no worker
    cluster.sim.exchange.open_position("Master", BTC, "long", "0.1")
    report = cluster.replicate()
    by_name = {r["account_name"]: r for r in report["results"]}
    shards = shards_of(cluster)
    up = next(n for n, s in shards.items() if s == 0)
    down = next(n for n, s in shards.items() if s == 1)
    assert by_name[up]["status"] == "ok" and cluster.held(up) == {(BTC, "long"): Decimal("0.05")}
    assert by_name[down]["status"] == "failed" and "shard 1 did not answer" in by_name[down]["message"]
    assert cluster.held(down) == {}
    # the task expired with the run: a worker that starts later does not act on that old snapshot
    cluster.start_worker(1)
    cluster.wait_alive([1])
    time.sleep(2)
    assert cluster.held(down) == {}


def test_close_all_sweeps_each_shard_from_its_own_address(cluster):
    cluster.seed(("A", "B", "C", "D"), workers=(0, 1))
    cluster.sim.exchange.open_position("Master", BTC, "long", "0.1")
    cluster.replicate()
    cluster.sim.exchange.set_tpsl("A", BTC, "long", sl="70000")  # a plan the sweep must cancel too
    before = dict(cluster.sim.limits.snapshot()["ip_requests"])
    with cluster.app.app_context():
        try:
            report = cluster.app.extensions["replication"].close_all("test")
        finally:
            db.session.remove()
    assert sorted(r["status"] for r in report["results"]) == ["ok"] * 5, [r["message"] for r in report["results"]]
    for name in ("Master", "A", "B", "C", "D"):
        assert cluster.held(name) == {} and not cluster.sim.exchange.account(name).plans
    after = cluster.sim.limits.snapshot()["ip_requests"]
    for ip in ("127.0.0.2", "127.0.0.3"):  # the clients were swept by their shards
        assert after.get(ip, 0) > before.get(ip, 0)


def test_each_shard_reads_its_own_clients_and_the_web_process_shows_what_they_read(cluster):
    """The dashboard's state cache is shared in Redis: the shards' runs and paced refreshes fill it, from their
    own addresses and budgets; the web process sends no request for a client."""
    cluster.env.update(FLASK_SCHEDULER_ENABLED="true", FLASK_CLIENT_REFRESH_SECONDS="1")  # the workers' refresh
    started_ms = int(time.time() * 1000)
    cluster.seed(("A", "B"), workers=(0, 1))
    with cluster.app.app_context():
        ids = {a.name: a.id for a in db.session.query(Account)}
    cache = cluster.app.extensions["state"]
    wait_for(lambda: all(cache.get(ids[n]) and cache.get(ids[n]).equity == Decimal("5000") for n in ("A", "B")),
             "the shards' paced refresh to fill the shared cache")
    cluster.sim.exchange.open_position("Master", BTC, "long", "0.1")
    report = cluster.replicate()
    assert sorted(r["status"] for r in report["results"]) == ["ok", "ok"], report["results"]
    wait_for(lambda: all([p.total for p in cache.get(ids[n]).positions] == [Decimal("0.05")] for n in ("A", "B")),
             "the copies to show in the web process's view")
    seen = [r for r in cluster.sim.stats.requests_since(started_ms, cluster.sim.exchange.key_names())
            if r["account"] in ("A", "B")]
    assert seen and {r["ip"] for r in seen} <= {"127.0.0.2", "127.0.0.3"}, seen  # never from the web process
    from tests.conftest import operator_client

    web = operator_client(cluster.app)
    state = web.get("/api/state").get_json()
    clients = {c["name"]: c for c in state["clients"]}
    assert [p["size"] for p in clients["A"]["positions"]] == ["0.05"], clients["A"]
    assert all(s["client_refresh_interval_s"] == 1 for s in state["cluster"]["shards"])
    answer = web.post("/api/refresh").get_json()
    assert answer["clients_on_shards"] is True and answer["failed"] == 0


def wait_for(check, what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_each_shard_streams_its_own_clients_from_its_own_address(cluster):
    """The clients' own WebSockets (a stop or a manual trade shows at once) are opened by their shard's worker,
    from its address; the coordinator opens none, and a push reaches the dashboard through the shared cache."""
    cluster.env.update(FLASK_SCHEDULER_ENABLED="true", FLASK_CLIENT_REFRESH_SECONDS="600",  # no REST refresh soon
                       FLASK_BITGET_WS_URL=cluster.sim.ws_url, FLASK_WS_CLIENT_LIMIT="5")
    cluster.seed(("A", "B"), workers=(0, 1))
    with cluster.app.app_context():
        ids = {a.name: a.id for a in db.session.query(Account)}
    coordinator_streams = cluster.app.extensions["client_streams"]
    coordinator_streams.sync()
    assert coordinator_streams.status()["connections"] == 0  # the coordinator opens none
    cluster.replicate()  # gives both clients their shard (the workers stream the clients of their shard)
    with cluster.app.app_context():
        shard_of = {a.name: a.shard for a in db.session.query(Account).filter_by(role="client")}
    wait_for(lambda: {n for n, _ in cluster.sim.ws.status()["logged_in_from"]} >= {"A", "B"},
             "both clients' streams to log in")
    assert {n: ip for n, ip in cluster.sim.ws.status()["logged_in_from"]} == {
        n: EGRESS[shard_of[n]] for n in ("A", "B")}
    cache = cluster.app.extensions["state"]
    cluster.sim.exchange.open_position("A", BTC, "short", "0.02")  # the client trades by hand
    wait_for(lambda: [(p.hold_side, p.total) for p in (cache.get(ids["A"]).positions if cache.get(ids["A"]) else ())]
             == [("short", Decimal("0.02"))], "the push to reach the web process", timeout=15)
