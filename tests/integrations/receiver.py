"""A real webhook receiver for the tests and the benchmark: an HTTP server on 127.0.0.1 in a thread, which
records every request it gets and answers as it is told ("ok", "fail" with 500, "slow", or down: the port
closed, so connections are refused)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    delivery_id: int
    event_id: int | None
    event_type: str
    mention_id: int | None
    body: bytes
    signature: str
    at: float  # time.time() when it arrived
    status: int  # what the receiver answered


@dataclass
class Receiver:
    """Start it with ``start()``; ``url`` is where to subscribe. ``mode`` may change at any time."""

    mode: str = "ok"
    slow_seconds: float = 0.3
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers
            # The answer's headers and body go out in two writes; with Nagle's algorithm the second waits
            # for the client's delayed ACK (40 ms). Web servers turn it off; so does this one.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                mode = receiver.mode
                status = {"fail": 500, "redirect": 302}.get(mode, 200)
                payload: dict[str, Any] = json.loads(body)
                mention = payload.get("mention") or {}
                with receiver._lock:  # on arrival: a request in flight when its sender dies counts
                    receiver.received.append(
                        Received(
                            delivery_id=int(self.headers["Socialops-Webhook-Id"]),
                            event_id=payload.get("id"),
                            event_type=payload["type"],
                            mention_id=mention.get("id"),
                            body=body,
                            signature=self.headers["Socialops-Signature"],
                            at=time.time(),
                            status=status,
                        )
                    )
                if mode == "slow":
                    time.sleep(receiver.slow_seconds)
                answer = b'{"ok": true}' if status == 200 else b"receiver error " + b"x" * 10000
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 302:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # http.server's 5 refuses a burst of new connections; web servers do not

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a sender gone mid-answer (a killed worker, a timeout) is what some tests do

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: the port closes, so connections are refused (``start()`` opens the same port again)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.status == 200]
