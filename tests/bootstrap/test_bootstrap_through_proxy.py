"""The runtime behind a Runtime API proxy: AWS_LAMBDA_RUNTIME_API (set by an exec wrapper) names another address than
the host's own (LAMBDATUI_SANDBOX_API), as AWS's runtime-api-proxy extension samples set it up.

Lambda's Python runtime sends each call once the previous one is answered, and none but the Runtime API's: a proxy
that handles requests read together at once (Node's HTTP server) must never get a /next ahead of the /response
before it, and must see no call of lambdatui's own.
"""

from __future__ import annotations

import socket
import threading
from typing import List

from bootstrap_harness import (FUNCTION_INIT_PATH, GLOBALS_PATH, INSPECTION_PATH, NEXT_PATH, Event, FakeRuntimeApi,
                               response_path, run_bootstrap, write)
from lambdatui.bootstrap.client import RuntimeClient

NEXT_OK = b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: %s\r\nContent-Length: 2\r\n\r\n{}"
ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
WAIT_S = 10


def _read_one_request(conn: socket.socket) -> bytes:
    """What the peer has sent once a whole request (head and body, by Content-Length) is in: that request, and
    whatever came in the same writes after it."""
    data = b""
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode("latin-1").lower()
            length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0]) if "content-length:" in head else 0
            if len(data) >= end + 4 + length:
                return data
        chunk = conn.recv(65536)
        assert chunk, "the client closed the connection: %r" % data
        data += chunk


def test_through_a_proxy_a_response_is_answered_before_the_next_is_sent():
    """A small response with then_next: to the host itself the /next leaves in the same write (pipelined); to a
    proxy it leaves only once the 202 is read. Whatever the client wrote with its response is in the proxy's first
    read (one system call: send_with_next), so a /next there would show."""
    listener = socket.create_server(("127.0.0.1", 0))
    address = "127.0.0.1:%d" % listener.getsockname()[1]
    seen: List[bytes] = []

    def proxy() -> None:
        conn, _ = listener.accept()
        listener.close()
        conn.settimeout(WAIT_S)
        try:
            seen.append(_read_one_request(conn))  # the first /next
            conn.sendall(NEXT_OK % b"r1")
            seen.append(_read_one_request(conn))  # the response, and anything sent with it
            conn.sendall(ACCEPTED)
            seen.append(_read_one_request(conn))  # the /next, on its own
            conn.sendall(NEXT_OK % b"r2")
        finally:
            conn.close()

    server = threading.Thread(target=proxy, daemon=True)
    server.start()
    # The host's own address is never called here: nothing listens on it.
    client = RuntimeClient(address, private=True, sandbox_api="127.0.0.1:1")
    try:
        assert client.next_invocation().request_id == "r1"
        client.post_response("r1", b'{"ok": 1}', "application/json", then_next=True)
        assert client.next_invocation().request_id == "r2"
    finally:
        client.close()
    server.join(WAIT_S)
    assert seen[1].startswith(b"POST /2018-06-01/runtime/invocation/r1/response ")
    assert seen[1].endswith(b'\r\n\r\n{"ok": 1}'), seen[1]  # the response alone: no /next behind it
    assert seen[2].startswith(b"GET /2018-06-01/runtime/invocation/next ")


def test_the_proxy_sees_only_runtime_api_calls_and_the_host_gets_the_private_ones(api, code_dir):
    """The function-init gate, the globals reports and their inspections go to the host's own address; the proxy
    (here a second fake Runtime API) gets the Runtime API calls, every /next among them. The host's address is a
    private setting: the function does not see it."""
    write(code_dir, "app.py", """
        import os

        def handler(event, context):
            return {"seen": sorted(k for k in os.environ if k.startswith("LAMBDATUI_"))}
    """)
    proxy = FakeRuntimeApi().start()
    try:
        proxy.events.extend([Event(request_id="r1"), Event(request_id="r2")])
        run = run_bootstrap(api, code_dir, "app.handler", AWS_LAMBDA_RUNTIME_API=proxy.address,
                            LAMBDATUI_SANDBOX_API=api.address, LAMBDATUI_PRIVATE_API="1",
                            LAMBDATUI_REPORT_GLOBALS="1")
    finally:
        proxy.stop()
    assert run.returncode != 0, run.stderr  # the proxy's 500 after the last event ends the run
    assert proxy.paths() == [NEXT_PATH, response_path("r1"), NEXT_PATH, response_path("r2"), NEXT_PATH], run.stderr
    assert proxy.one(response_path("r1")).json() == {"seen": []}
    assert api.paths() == [FUNCTION_INIT_PATH] + [INSPECTION_PATH, GLOBALS_PATH] * 3, run.stderr
