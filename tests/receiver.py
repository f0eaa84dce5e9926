"""A local HTTP receiver standing in for Discord, Telegram and webhook endpoints (never the real services)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Records every POST; can answer with chosen statuses first and sleep before answering."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        self.delay = delay
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if owner.delay:
                    time.sleep(owner.delay)
                status = owner.statuses.pop(0) if owner.statuses else 200
                owner.requests.append({"path": self.path, "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path_part: str = "") -> list[dict[str, Any]]:
        """JSON bodies of successful requests whose path contains path_part."""
        return [json.loads(r["body"]) for r in self.requests if path_part in r["path"] and r["status"] < 300]

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least `count` requests arrived."""
        end = time.time() + timeout
        while time.time() < end and len(self.requests) < count:
            time.sleep(0.02)
        return len(self.requests) >= count

    def stop(self) -> None:
        """Shut the server down."""
        self.server.shutdown()
        self.server.server_close()
