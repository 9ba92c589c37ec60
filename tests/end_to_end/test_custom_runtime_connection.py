"""A custom runtime that keeps ONE Runtime API connection for its whole life, as Lambda lets it (lambda-spec §1).

Lambda never closes the runtime's keep-alive connection, so a custom runtime may open one socket and never
reconnect. This one speaks HTTP/1.1 by hand on a single socket; if the server ever closes that socket, it
says so and exits 1 (instead of hanging until the function timeout), which shows as a Runtime.ExitError
and a second Init.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from e2e_support import platform_lines, run_cli, write_file

INVOKES = 2000  # 4,000 requests on one connection: past any per-connection request cap of 1,000

RAW_SOCKET_BOOTSTRAP = '''#!{python}
import json
import os
import socket
import sys

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
sock = socket.create_connection((host, int(port)))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buffered = b""
requests = 0


def fill():
    global buffered
    chunk = sock.recv(65536)
    if not chunk:
        print(f"[raw] the server closed the connection after {{requests}} requests", flush=True)
        sys.exit(1)
    buffered += chunk


def read_until(separator):
    global buffered
    while separator not in buffered:
        fill()
    head, buffered = buffered.split(separator, 1)
    return head


def read_exactly(size):
    global buffered
    while len(buffered) < size:
        fill()
    data, buffered = buffered[:size], buffered[size:]
    return data


def call(method, path, body=b""):
    global requests
    requests += 1
    sock.sendall(f"{{method}} {{path}} HTTP/1.1\\r\\nHost: {{host}}\\r\\nContent-Length: {{len(body)}}\\r\\n\\r\\n".encode()
                 + body)
    status_line, *header_lines = read_until(b"\\r\\n\\r\\n").decode("latin-1").split("\\r\\n")
    headers = {{}}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        payload = b""
        while True:
            size = int(read_until(b"\\r\\n").split(b";")[0], 16)
            payload += read_exactly(size)
            read_until(b"\\r\\n")
            if size == 0:
                break
    else:
        payload = read_exactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, payload


while True:
    status, headers, event = call("GET", "/2018-06-01/runtime/invocation/next")
    request_id = headers["lambda-runtime-aws-request-id"]
    result = json.dumps({{"pid": os.getpid(), "requests": requests}}).encode()
    call("POST", f"/2018-06-01/runtime/invocation/{{request_id}}/response", result)
'''


@pytest.mark.slow  # ~5 s: 2,000 invokes through the real CLI
def test_a_runtime_on_one_keep_alive_connection_is_never_cut_off(code_dir: Path) -> None:
    bootstrap = write_file(code_dir / "bootstrap", RAW_SOCKET_BOOTSTRAP.format(python=sys.executable), executable=True)

    result = run_cli("invoke", str(bootstrap), "--repeat", str(INVOKES), timeout=120)

    lines = platform_lines(result.stderr)
    tail = "\n".join(result.stderr.splitlines()[-20:])
    cut_off = "the server closed the connection" in result.stderr
    assert not cut_off, tail
    assert result.returncode == 0, tail
    bodies = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(bodies) == INVOKES, tail
    assert len({body["pid"] for body in bodies}) == 1, "the runtime was restarted"
    # The n-th invoke's event is the runtime's (2n-1)-th request on its one connection.
    assert [body["requests"] for body in bodies] == list(range(1, 2 * INVOKES, 2))
    assert sum(line.startswith("INIT_START ") for line in lines) == 1, tail
    assert not [line for line in lines if "Status: " in line and line.startswith("REPORT ")], tail
