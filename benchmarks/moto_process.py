"""moto's ThreadedMotoServer on 127.0.0.1 in a process of its own, so the server's work
does not share a GIL with the tool being measured. Prints its port; stops when stdin closes.
Run: python -m benchmarks.moto_process"""

from __future__ import annotations

import os
import socket
import sys

from moto.server import ThreadedMotoServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(port, flush=True)
    sys.stdin.read()  # returns when the parent closes our stdin, or dies
    os._exit(0)  # do not wait for in-flight requests of a parent that is gone
