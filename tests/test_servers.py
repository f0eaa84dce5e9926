"""The test servers themselves (tests/servers.py): real Redis and PostgreSQL on loopback, one per worker."""
from __future__ import annotations

import psycopg
import redis


def test_redis_server_answers_on_loopback_without_persistence(redis_server):
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    connection = redis.Redis.from_url(redis_server.url)
    assert connection.ping()
    connection.set("copier:probe", "1")
    assert connection.config_get("save") == {"save": ""} and connection.config_get("appendonly")["appendonly"] == "no"
    assert connection.config_get("bind")["bind"] == "127.0.0.1"
    connection.delete("copier:probe")
    connection.close()


def test_postgres_server_hands_out_fresh_empty_databases(postgres_server):
    first, second = postgres_server.new_database(), postgres_server.new_database()
    assert first != second and postgres_server.url.endswith("/copier_test")
    dsn = first.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE probe (id integer)")
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    with psycopg.connect(second.replace("postgresql+psycopg://", "postgresql://")) as conn:
        assert conn.execute("SELECT to_regclass('probe')").fetchone() == (None,)  # nothing shared
