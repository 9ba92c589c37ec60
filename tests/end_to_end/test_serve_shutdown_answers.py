"""`lambdatui serve` stopped by a signal answers every invoke it took, before its servers close.

Lambda answers a request whose environment went away with an error; it never drops the connection. Here
one invoke is in flight (its handler sleeps) and one waits in the queue behind it when the signal comes:
both callers must get an HTTP answer, the environment's shutdown error.
"""

from __future__ import annotations

import json
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, write_file

HTTP_TIMEOUT = 30.0

SLOW = '''import time


def handler(event, context):
    print("started", event.get("n"), flush=True)
    time.sleep(event.get("sleep", 0))
    return {"n": event.get("n")}
'''


def raw_request(address: str, body: bytes) -> socket.socket:
    """A whole invoke request written on a new connection: once connect() returns, the listener holds it."""
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=HTTP_TIMEOUT)
    sock.sendall(b"POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: " + address.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                 + b"\r\n\r\n" + body)
    return sock


def read_response(sock: socket.socket) -> httpx.Response | None:
    """The response on `sock`, read until the server closes it; None when it closed without one."""
    data = b""
    with sock:
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    if not data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
    return httpx.Response(status, headers=headers, content=body)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_invokes_in_flight_and_queued_at_a_signal_are_answered(code_dir: Path, sig: signal.Signals) -> None:
    handler = write_file(code_dir / "handler.py", SLOW)
    with ServeProcess(handler, "--timeout", "120") as served, ThreadPoolExecutor(1) as pool:
        running = pool.submit(httpx.post, served.invoke_url(), content=b'{"n": 1, "sleep": 60}',
                              timeout=HTTP_TIMEOUT)
        served.wait_for_line(r"\[function\]\s+started 1")
        # The first environment is busy: the second invoke cold-starts a second one, and is in flight there.
        queued = raw_request(served.address, b'{"n": 2, "sleep": 60}')
        served.wait_for_line(r"#2 \[function\]\s+started 2")

        served.signal(sig)

        assert served.wait(timeout=20) == 0, served.output()
        try:
            in_flight: object = running.result(HTTP_TIMEOUT)
        except httpx.HTTPError as exc:
            in_flight = exc
        waiting = read_response(queued)
        output = served.output()
    assert "Traceback" not in output, output
    for what, answer in (("in flight", in_flight), ("in flight in env #2", waiting)):
        assert isinstance(answer, httpx.Response), f"the {what} invoke got no HTTP answer: {answer!r}"
        assert answer.status_code == 200, answer.text
        assert answer.headers.get("X-Amz-Function-Error") == "Unhandled", answer.headers
        assert json.loads(answer.content)["errorType"] == "Sandbox.Failure", answer.text
    assert "started 2" in output  # it ran in its own environment, and was cut by the shutdown as the first was
