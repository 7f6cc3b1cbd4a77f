"""A loopback HTTP server that answers a scripted sequence: a stand-in vendor for retry tests."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Scripted:
    def __init__(self, script: list[dict]):
        self.script = list(script)
        self.seen: list[dict] = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                outer.seen.append({"path": self.path, "headers": dict(self.headers), "at": time.monotonic()})
                step = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                time.sleep(step.get("sleep", 0))
                body = step.get("body", "{}")
                body = body if isinstance(body, bytes) else body.encode()
                self.send_response(step.get("status", 200))
                for k, v in step.get("headers", {"Content-Type": "application/json"}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if step.get("truncate"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def do_POST(self):  # GraphQL: the same script, whatever the query
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.do_GET()

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
