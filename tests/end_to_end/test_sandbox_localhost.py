"""`localhost` is each environment's own loopback address, the same one as its sandbox names (processes/sandbox_hosts.py
`write_hosts_file`).

In Lambda `localhost` and `sandbox.localdomain` are both the sandbox's loopback: AWS's go-example-ipc-extension
listens on `sandbox.localdomain:2772` and its function calls `localhost:2772`. Here the sandbox names had an
address of the environment's own (so that several environments can listen on one port) while `localhost` stayed
the host's 127.0.0.1: the function's call was refused, and a second environment's extension listening on
`localhost` at the same port as the first crashed with EADDRINUSE. Found by running AWS's samples.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, write_file
from sandbox_support import expected_sandbox

NAMES = ("localhost", "localhost.localdomain", "sandbox.localdomain", "sandbox")

# An extension like the IPC sample's, listening on `localhost` rather than `sandbox.localdomain`; its listener also
# takes its telemetry, subscribed to as `localhost`.
LOCALHOST_EXTENSION = f"#!{sys.executable}\n" + r'''
import http.client, http.server, json, os, threading

PORT = int(os.environ["LISTENER_PORT"])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = self.server.server_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        for event in json.loads(self.rfile.read(int(self.headers["Content-Length"]))):
            if event["type"] == "platform.start":
                print("got the start of", event["record"]["requestId"], flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("localhost", PORT), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
api.request("POST", "/2020-01-01/extension/register", json.dumps({"events": ["INVOKE"]}),
            {"Lambda-Extension-Name": "companion"})
answer = api.getresponse()
answer.read()
ext_id = answer.getheader("Lambda-Extension-Identifier")
body = {"schemaVersion": "2022-12-13", "types": ["platform"], "buffering": {"timeoutMs": 25},
        "destination": {"protocol": "HTTP", "URI": "http://localhost:%d" % PORT}}
api.request("PUT", "/2022-07-01/telemetry", json.dumps(body), {"Lambda-Extension-Identifier": ext_id})
api.getresponse().read()
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": ext_id})
    api.getresponse().read()
'''

HANDLER = f"NAMES = {NAMES!r}\n" + '''import http.client, os, socket, time


def handler(event, context):
    time.sleep(event["sleep"])  # both invokes at once: two environments
    resolved = {name: [ai[4][0] for ai in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)] for name in NAMES}
    conn = http.client.HTTPConnection("sandbox.localdomain", int(os.environ["LISTENER_PORT"]), timeout=5)
    conn.request("GET", "/")
    return {"resolved": resolved, "extension_at": conn.getresponse().read().decode()}
'''


def test_localhost_is_the_sandbox_s_own_address_in_each_of_two_environments_at_once(code_dir: Path) -> None:
    if expected_sandbox(code_dir).hosts_file is None:
        pytest.skip("no mount namespace here: the environments share the host's names and 127.0.0.1")
    write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "companion", LOCALHOST_EXTENSION, executable=True)
    with socket.socket() as on_the_host:  # the host's 127.0.0.1 at that port: never the environment's localhost
        on_the_host.bind(("127.0.0.1", 0))
        port = on_the_host.getsockname()[1]
        with ServeProcess(code_dir / "handler.py", "--env", f"LISTENER_PORT={port}") as served:
            answers: list[httpx.Response] = []

            def invoke() -> None:
                answers.append(httpx.post(served.invoke_url(), content=b'{"sleep": 1}', timeout=30))

            callers = [threading.Thread(target=invoke) for _ in range(2)]
            for caller in callers:
                caller.start()
            for caller in callers:
                caller.join(30)
            ids = {answer.headers.get("x-amzn-requestid") for answer in answers}
            output = served.output()
            assert [answer.status_code for answer in answers] == [200, 200] and len(ids) == 2, output
            for request_id in ids:  # each listener, bound and subscribed as `localhost`, gets its telemetry
                served.wait_for_line(rf"#\d \[companion\]\s+got the start of {request_id}", timeout=15)
            output = served.output()
    assert "Extension.Crash" not in output and "Address already in use" not in output, output
    results = [json.loads(answer.content) for answer in answers]
    addresses = set()
    for result in results:
        resolved = result["resolved"]
        # One IPv4 address for every name, the environment's own: neither the host's 127.0.0.1 nor ::1.
        assert len({tuple(found) for found in resolved.values()}) == 1, resolved
        [address] = resolved["localhost"]
        assert address.startswith("127.") and address != "127.0.0.1", resolved
        assert result["extension_at"] == address, result
        addresses.add(address)
    assert len(addresses) == 2, results
    heard = [line for line in output.splitlines() if "[companion]" in line and "got the start of" in line]
    assert len({line[:2] for line in heard}) == 2 and len(heard) == 2, heard
