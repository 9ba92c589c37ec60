"""Each environment's sandbox names on a loopback address of its own (processes/sandbox_hosts.py `own_loopback`).

AWS's sample telemetry extensions all listen on sandbox.localdomain:4243. In Lambda each sandbox has its own
network; here the environments share the host's, and with the names on 127.0.0.1 the second environment's listener
failed with EADDRINUSE (Extension.Crash, its invoke failed), and a host process on that port got the environment's
records. Found by running AWS's samples.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, write_file
from sandbox_support import expected_sandbox

FIXED_PORT_EXTENSION = '''#!/usr/bin/env python3
import http.client, http.server, json, os, socket, threading

PORT = int(os.environ["LISTENER_PORT"])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        for event in events:
            if event["type"] == "platform.start":
                print("got the start of", event["record"]["requestId"], flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("sandbox.localdomain", PORT), Handler)  # as AWS's samples do
threading.Thread(target=server.serve_forever, daemon=True).start()
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
api.request("POST", "/2020-01-01/extension/register", json.dumps({"events": ["INVOKE"]}),
            {"Lambda-Extension-Name": "fixedport"})
answer = api.getresponse()
answer.read()
ext_id = answer.getheader("Lambda-Extension-Identifier")
body = {"schemaVersion": "2022-12-13", "types": ["platform"], "buffering": {"timeoutMs": 25},
        "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:%d" % PORT}}
api.request("PUT", "/2022-07-01/telemetry", json.dumps(body), {"Lambda-Extension-Identifier": ext_id})
api.getresponse().read()
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": ext_id})
    api.getresponse().read()
'''

HANDLER = "import time\n\ndef handler(event, context):\n    time.sleep(event['sleep'])\n    return 'ok'\n"


def test_two_environments_listen_on_one_fixed_port_and_each_gets_only_its_own_records(code_dir: Path) -> None:
    if expected_sandbox(code_dir).hosts_file is None:
        pytest.skip("no mount namespace here: sandbox.localdomain cannot resolve to the sandbox's own address")
    write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "fixedport", FIXED_PORT_EXTENSION, executable=True)
    with socket.socket() as on_the_host:  # a host process on 127.0.0.1 at that port: it must get nothing
        on_the_host.bind(("127.0.0.1", 0))
        on_the_host.listen(8)
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
            ids = {answer.headers["x-amzn-requestid"] for answer in answers}
            for request_id in ids:
                served.wait_for_line(rf"#\d \[fixedport\]\s+got the start of {request_id}", timeout=15)
            output = served.output()
        assert [answer.status_code for answer in answers] == [200, 200] and len(ids) == 2, output
        assert all(json.loads(answer.content) == "ok" for answer in answers), [a.text for a in answers]
        assert "Extension.Crash" not in output and "Address already in use" not in output, output
        # Each environment's listener got its own invoke's start only.
        heard = [line for line in output.splitlines() if "[fixedport]" in line and "got the start of" in line]
        assert len({line[:2] for line in heard}) == 2 and len(heard) == 2, heard
        # Connections to the host's port that carry no telemetry are other tests' (xdist): a client polling for a
        # server at a port it chose, which the kernel then gave this listener. A misdirected record was sent before
        # its environment's listener said it got one, so it is here already.
        on_the_host.setblocking(False)
        received: list[bytes] = []
        while select.select([on_the_host], [], [], 0)[0]:
            connection, _ = on_the_host.accept()
            with connection:
                connection.setblocking(False)
                try:
                    received.append(connection.recv(65536))
                except BlockingIOError:
                    received.append(b"")
        assert not any(b"platform." in data for data in received), f"a host process got telemetry: {received}"
