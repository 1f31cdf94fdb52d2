"""A real HTTP server on 127.0.0.1 that answers every request 200 with a long chunked body (no
Content-Length, so that only counting what arrives can stop a reader), and counts the bytes it
managed to send before the reader hung up: how a client that bounds its reads is tested.

    with Flood(total=256 * MiB) as flood:
        ...                               # GET or POST flood.url
        assert flood.sent < 2 * MiB       # the client stopped reading early
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

MiB = 1024 * 1024
CHUNK = 64 * 1024


class Flood:
    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0
        flood = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._flood()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._flood()

            def _flood(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                line = b"x" * (CHUNK - 1) + b"\n"
                frame = f"{len(line):x}\r\n".encode() + line + b"\r\n"
                try:
                    while flood.sent < flood.total:
                        self.wfile.write(frame)
                        flood.sent += len(line)
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client hung up
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-flood", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/checkpoints"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
