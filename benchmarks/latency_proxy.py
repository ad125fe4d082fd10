"""A loopback HTTP proxy that adds a fixed delay to every request before forwarding it,
and with --throttle enforces AWS's published request rates (benchmarks/aws_limits.py).

Stands in for the network distance to AWS (moto answers in microseconds; real AWS is tens
of milliseconds away), so the fan-out benchmark measures what a real scan waits on; moto
throttles nothing, so with --throttle a request that finds its account-region's token
bucket empty is answered RequestLimitExceeded / Throttling, as AWS answers it, and the
tool under test retries as it would. Listens on 127.0.0.1 only.
Run: python -m benchmarks.latency_proxy UPSTREAM_PORT DELAY_S [--throttle]
(prints the port it listens on, then serves until stdin closes or it is terminated).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.aws_limits import TokenBuckets

COUNT_PATH = "/__latency_proxy_requests__"
# Answers when (time.time(), seconds since the epoch) the first request since the previous
# ask arrived, then forgets it: the time to a tool's first AWS request, from its start.
FIRST_REQUEST_PATH = "/__latency_proxy_first_request__"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def _scope(authorization: str) -> list[str]:
    """SigV4's credential scope: key/date/region/service/aws4_request."""
    return authorization.partition("Credential=")[2].partition(",")[0].split("/")


def _service_of(authorization: str) -> str:
    """The signing service from SigV4's credential scope, e.g. "monitoring" for CloudWatch:
    counts per service without parsing any protocol."""
    scope = _scope(authorization)
    return scope[3] if len(scope) > 3 else "unsigned"


def operation_of(path: str, headers: dict[str, str], body: bytes) -> tuple[str, dict[str, str]]:
    """(operation, form parameters) of a request in any of the protocols botocore speaks:
    JSON (X-Amz-Target), Smithy RPC v2 CBOR (/service/X/operation/Op), query and EC2 (an
    Action form field)."""
    target = headers.get("x-amz-target", "")
    if target:
        return target.rpartition(".")[2], {}
    if "/operation/" in path:
        return path.rstrip("/").rpartition("/")[2], {}
    form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
    return form.get("Action", ""), form


def _cbor_text(text: str) -> bytes:
    raw = text.encode()
    return (bytes([0x60 + len(raw)]) if len(raw) < 24 else bytes([0x78, len(raw)])) + raw


def throttled_reply(
    service: str, path: str, headers: dict[str, str]
) -> tuple[int, list[tuple[str, str]], bytes]:
    """What AWS answers a request over its rate, in the request's protocol."""
    if service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            "<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
            "</Error></Errors><RequestID>benchmark-throttled</RequestID></Response>"
        )
        return 503, [("Content-Type", "text/xml;charset=UTF-8")], body.encode()
    code = "ThrottlingException" if service == "cloudtrail" else "Throttling"
    query_error = [("x-amzn-query-error", f"{code};Sender")]
    if "/operation/" in path:  # Smithy RPC v2 CBOR: a map of __type and message
        cbor = b"\xa2" + _cbor_text("__type") + _cbor_text(code)
        cbor += _cbor_text("message") + _cbor_text("Rate exceeded")
        return (
            400,
            [
                ("Content-Type", "application/cbor"),
                ("smithy-protocol", "rpc-v2-cbor"),
                *query_error,
            ],
            cbor,
        )
    if headers.get("x-amz-target"):
        payload = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
        return 400, [("Content-Type", "application/x-amz-json-1.1"), *query_error], payload
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        "<Message>Rate exceeded</Message></Error><RequestId>benchmark-throttled</RequestId>"
        "</ErrorResponse>"
    )
    return 400, [("Content-Type", "text/xml")], body.encode()


class LatencyProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int, delay: float, throttle: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream_port = upstream_port
        self.delay = delay
        self.buckets = TokenBuckets() if throttle else None
        self.requests: dict[str, int] = {}
        self.first_request_at: float | None = None
        self._count_lock = threading.Lock()
        self._local = threading.local()

    def count(self, service: str) -> None:
        arrived = time.time()
        with self._count_lock:
            self.requests[service] = self.requests.get(service, 0) + 1
            if self.first_request_at is None:
                self.first_request_at = arrived

    def take_first_request(self) -> float | None:
        with self._count_lock:
            first, self.first_request_at = self.first_request_at, None
        return first

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
    # The reply goes out in two writes (headers, then body). With Nagle's algorithm on, the
    # body waits for the client's delayed ACK of the headers: ~40 ms added to every request
    # on Linux, which a "0 s" proxy must not add (measured: 51 ms vs 7.5 ms a call).
    disable_nagle_algorithm = True
    server: LatencyProxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        if self.path == COUNT_PATH:  # the harness asks how many requests went through
            counts = dict(self.server.requests)
            if self.server.buckets is not None:
                counts.update(
                    {f"throttled:{k}": v for k, v in self.server.buckets.throttled.items()}
                )
            self._reply(200, [], json.dumps(counts).encode())
            return
        if self.path == FIRST_REQUEST_PATH:
            first = self.server.take_first_request()
            self._reply(200, [], json.dumps({"first_request_at": first}).encode())
            return
        authorization = self.headers.get("Authorization", "")
        service = _service_of(authorization)
        self.server.count(service)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        time.sleep(self.server.delay)
        if self.server.buckets is not None:
            scope = _scope(authorization)
            lowered = {k.lower(): v for k, v in headers.items()}
            operation, params = operation_of(self.path, lowered, body or b"")
            account, region = scope[0], scope[2] if len(scope) > 2 else ""
            if not self.server.buckets.admit(account, region, service, operation, params):
                self._reply(*throttled_reply(service, self.path, lowered))
                return
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


def serve(upstream_port: int, delay: float, throttle: bool = False) -> LatencyProxy:
    proxy = LatencyProxy(upstream_port, delay, throttle)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    return proxy


if __name__ == "__main__":
    running = serve(int(sys.argv[1]), float(sys.argv[2]), "--throttle" in sys.argv[3:])
    print(running.server_address[1], flush=True)
    sys.stdin.read()  # until the parent closes our stdin, or dies
    os._exit(0)
