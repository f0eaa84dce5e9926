"""PooledTransport: the lean HTTP transport behaves like requests.Session for everything BitgetClient relies on."""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from app.bitget.client import BitgetClient, Credentials, PooledTransport
from app.bitget.errors import NetworkError
from app.engine.exchange import http_session


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/slow":
            time.sleep(0.5)
        if self.path == "/drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        body = b"<html>bad gateway</html>" if self.path == "/html" else (
            b'{"code":"00000","msg":"success","data":{"serverTime":"%d","ua":"%s"}}'
            % (int(time.time() * 1000), self.headers.get("User-Agent", "").encode()))
        self.send_response(502 if self.path == "/html" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_answers_status_json_and_text_and_sends_requests_default_headers(server):
    transport = PooledTransport()
    ok = transport.request("POST", server + "/ok", data='{"a":1}', headers={"Content-Type": "application/json"},
                           timeout=(3.05, 10))
    assert ok.status_code == 200 and ok.json()["code"] == "00000"
    assert ok.json()["data"]["ua"] == requests.utils.default_user_agent()
    bad = transport.request("GET", server + "/html", timeout=5)
    assert bad.status_code == 502 and "bad gateway" in bad.text
    with pytest.raises(ValueError):
        bad.json()


def test_transport_failures_raise_requests_exceptions(server):
    transport = PooledTransport()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(requests.ConnectionError) as refused:
        transport.request("GET", dead + "/x", timeout=(1, 1))
    assert not isinstance(refused.value, requests.Timeout)  # refused is not a timeout
    with pytest.raises(requests.ReadTimeout):
        transport.request("GET", server + "/slow", timeout=(1, 0.1))
    with pytest.raises(requests.ConnectionError):
        transport.request("GET", server + "/drop", timeout=(1, 2))


def test_bitget_client_on_the_transport_reports_refused_as_failed(server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    client = BitgetClient(Credentials("k", "s", "p"), dead, session=PooledTransport(), max_retries=0,
                          server_limiter=None)
    with pytest.raises(NetworkError) as err:
        client.server_time()
    assert "failed" in str(err.value) and "timed out" not in str(err.value)
    live = BitgetClient(None, server, session=PooledTransport(), server_limiter=None)
    assert live.server_time() > 0


def test_http_session_uses_requests_when_a_proxy_is_configured(monkeypatch):
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = http_session("https://bitget.invalid")
    assert isinstance(session, requests.Session)
    assert session.proxies["https"] == "http://proxy.example:3128" and session.trust_env is False
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    assert isinstance(http_session("https://bitget.invalid"), PooledTransport)
