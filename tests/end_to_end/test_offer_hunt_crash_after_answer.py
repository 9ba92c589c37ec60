"""Hunt: a runtime that crashes after answering its invoke, before asking for its next event, while the caller's next
invoke is offered to its environment: that invoke runs once (after the reset's re-Init), and is answered."""

from __future__ import annotations

import collections
import re
import signal
import socket
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess
from late_next_runtime import late_next_bootstrap

pytestmark = pytest.mark.timeout(120)

def raw_request(address: str, body: bytes) -> socket.socket:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(b"POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


def read_response(sock: socket.socket) -> httpx.Response:
    data = b""
    with sock:
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        while len(body) < length:
            body += sock.recv(65536)
    status = int(head.split()[1])
    return httpx.Response(status, content=body)


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_crash_between_the_answer_and_next_while_an_invoke_is_offered(code_dir: Path, concurrency: int) -> None:
    path = late_next_bootstrap(code_dir, crash=True)
    with ServeProcess(path, "--concurrency", str(concurrency), "--timeout", "30") as served:
        first = httpx.post(served.invoke_url(), content=b'{"first": 1}', timeout=30)
        assert first.status_code == 200 and first.json() == {"n": 1, "after_crash": False}, first.text
        second = raw_request(served.address, b'{"second": 1}')
        (code_dir / "go").touch()
        answer = read_response(second)
        assert answer.status_code == 200, (answer.text, served.output())
        assert answer.json() == {"n": 1, "after_crash": True}, (answer.text, served.output())
        served.wait_for_lines(r"\[platform\]\s+REPORT RequestId", 2, timeout=30)
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0, served.output()
        output = served.output()
    runs = collections.Counter(re.findall(r"ran (\S+) ", output))
    assert sorted(runs.values()) == [1, 1], output
    assert not re.search(r"#2 \[platform\]\s+INIT_START", output), output
