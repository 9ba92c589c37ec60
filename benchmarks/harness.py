"""What the benchmark scripts share: a free port, a keep-alive client for the Invoke API, percentiles, host RSS."""

from __future__ import annotations

import http.client
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The tests' port picker, below the ephemeral range (its docstring says why): one took RIE's port in a compare.py run
# while both servers started (a sandbox API's bind to port 0 got it), and the invokes meant for RIE had a 403.
sys.path.insert(0, str(ROOT / "tests"))
from free_ports import free_port  # noqa: E402,F401  (the benchmarks import it from here)

PATH = "/2015-03-31/functions/function/invocations"


def connect(port: int, deadline: float, *, timeout: float = 30, what: str = "lambdatui serve") -> http.client.HTTPConnection:
    """One keep-alive connection (TCP_NODELAY), polling every 2 ms until the port opens or `deadline` passes."""
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return conn
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start listening on port {port} in time")
            time.sleep(0.002)  # polling for the port is the measurement itself, not synchronisation


def post(conn: http.client.HTTPConnection, body: bytes = b"{}") -> tuple[int, str | None, bytes]:
    """(status, X-Amz-Function-Error, body) of one invoke, whatever its outcome."""
    conn.request("POST", PATH, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.getheader("X-Amz-Function-Error"), response.read()


def invoke(conn: http.client.HTTPConnection, body: bytes = b"{}") -> bytes:
    """The response body of an invoke that must succeed."""
    status, function_error, data = post(conn, body)
    if status != 200 or function_error:
        raise SystemExit(f"invoke failed: {status} {data[:200]!r}")
    return data


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def host_figures(pid: int) -> tuple[int, int]:
    """(resident memory in MB, open file descriptors) of process `pid`."""
    return rss_kb(pid) // 1024, len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
