"""A loopback HTTP proxy that adds a fixed delay to every request before forwarding it.

Stands in for the network distance to AWS (moto answers in microseconds; real AWS is tens
of milliseconds away), so the fan-out benchmark measures what a real scan waits on.
Listens on 127.0.0.1 only. Run: python -m benchmarks.latency_proxy UPSTREAM_PORT DELAY_S
(prints the port it listens on, then serves until stdin closes or it is terminated).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNT_PATH = "/__latency_proxy_requests__"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def _service_of(authorization: str) -> str:
    """The signing service from SigV4's credential scope (key/date/region/SERVICE/aws4_request),
    e.g. "monitoring" for CloudWatch: counts per service without parsing any protocol."""
    scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    return scope[3] if len(scope) > 3 else "unsigned"


class LatencyProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream_port = upstream_port
        self.delay = delay
        self.requests: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self._local = threading.local()

    def count(self, service: str) -> None:
        with self._count_lock:
            self.requests[service] = self.requests.get(service, 0) + 1

    def upstream(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=120)
            self._local.connection = connection
        return connection

    def drop_upstream(self) -> None:
        self._local.connection = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LatencyProxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        if self.path == COUNT_PATH:  # the harness asks how many requests went through
            self._reply(200, [], json.dumps(self.server.requests).encode())
            return
        self.server.count(_service_of(self.headers.get("Authorization", "")))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        time.sleep(self.server.delay)
        for attempt in (1, 2):
            connection = self.server.upstream()
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.server.drop_upstream()
                if attempt == 2:
                    raise
        self._reply(response.status, response.getheaders(), payload)

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward


def serve(upstream_port: int, delay: float) -> LatencyProxy:
    proxy = LatencyProxy(upstream_port, delay)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    return proxy


if __name__ == "__main__":
    running = serve(int(sys.argv[1]), float(sys.argv[2]))
    print(running.server_address[1], flush=True)
    sys.stdin.read()  # until the parent closes our stdin, or dies
    os._exit(0)
