"""Extensions on Lambda Managed Instances, with real processes (lambda-spec §11.3): an extension that crashes ends
its environment (no reset: the fleet drops it and the next invoke starts another), and a Telemetry API subscriber
(schema 2025-01-29) receives each concurrent invoke's platform.start and platform.report, no platform.runtimeDone,
and the function's JSON log records as objects.
"""

from __future__ import annotations

import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model.fleet import FleetOptions
from lambdatui.runner import open_environment
from sandbox_support import expected_sandbox

from e2e_support import ServeProcess, write_file

BOUND = 30

# The extension writes its pid where the function can find it: /tmp is the environment's, shared by everyone in it.
HANDLER = '''import logging, os, signal, tempfile, time


def handler(event, context):
    logging.getLogger().warning("working")
    if event.get("kill_extension"):
        with open(os.path.join(tempfile.gettempdir(), "extension.pid")) as fh:
            os.kill(int(fh.read()), signal.SIGKILL)
    time.sleep(event.get("sleep", 0))
    return os.getpid()
'''

# Registers for SHUTDOWN (all it may), subscribes to the Telemetry API when LISTEN is set, and keeps what it gets.
EXTENSION = '''#!{python}
import http.client, http.server, json, os, socket, tempfile, threading

TMP = tempfile.gettempdir()
with open(os.path.join(TMP, "extension.pid"), "w") as fh:
    fh.write(str(os.getpid()))


class Keep(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(os.path.join(TMP, "received.jsonl"), "a") as fh:
            for event in json.loads(body):
                fh.write(json.dumps(event) + "\\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)


def call(method, path, headers, body=None):
    api.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    answer = api.getresponse()
    return answer, answer.read()


answer, _ = call("POST", "/2020-01-01/extension/register", {{"Lambda-Extension-Name": os.path.basename(__file__)}},
                 {{"events": ["SHUTDOWN"]}})
ident = answer.getheader("Lambda-Extension-Identifier")
if os.environ.get("LISTEN"):
    listener = socket.socket()
    listener.bind(("sandbox.localdomain", 0))
    listener.listen(16)
    server = http.server.ThreadingHTTPServer(listener.getsockname(), Keep, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = "http://sandbox.localdomain:%d/" % listener.getsockname()[1]
    answer, raw = call("PUT", "/2022-07-01/telemetry", {{"Lambda-Extension-Identifier": ident}},
                       {{"schemaVersion": "2025-01-29", "types": ["platform", "function"],
                         "buffering": {{"timeoutMs": 25}}, "destination": {{"protocol": "HTTP", "URI": uri}}}})
    print("subscribed:", answer.status, raw.decode(), flush=True)
while True:
    _, raw = call("GET", "/2020-01-01/extension/event/next", {{"Lambda-Extension-Identifier": ident}})
    if json.loads(raw)["eventType"] == "SHUTDOWN":
        break
'''


def function(code_dir: Path) -> Path:
    write_file(code_dir / "extensions" / "keeper", EXTENSION.format(python=sys.executable), executable=True)
    return write_file(code_dir / "handler.py", HANDLER)


def invoke(served: ServeProcess, event: dict) -> httpx.Response:
    return httpx.post(served.invoke_url(), content=json.dumps(event).encode(), timeout=BOUND)


def test_an_extension_crash_ends_the_environment_and_the_next_invoke_starts_another(code_dir: Path) -> None:
    # One environment at a time: both invokes go to env #1 even while its second worker is still starting (an invoke
    # goes only where a worker waits on /next, else, below the limit, to a new environment).
    with ServeProcess(function(code_dir), "--max-concurrency", "2", "--concurrency", "1", "--timeout", "10") as served:
        with ThreadPoolExecutor(2) as pool:
            bystander = pool.submit(invoke, served, {"sleep": 8})
            served.wait_for_line(r"#1 \[function\]\s+\{.*working")
            crashing = invoke(served, {"kill_extension": True, "sleep": 8})
            answers = [crashing, bystander.result()]
        # Every invoke in flight hears why its environment ended, at once (not at its deadline).
        for answer in answers:
            request_id = answer.headers["X-Amzn-RequestId"]
            assert answer.json() == {
                "errorMessage": f"RequestId: {request_id} Error: Extension 'keeper' exited (signal: killed)",
                "errorType": "Extension.Crash"}, answer.text
        served.wait_for_line(r"#1 \[lambdatui\].*ends the environment", timeout=10)
        following = invoke(served, {})
        assert following.status_code == 200 and "X-Amz-Function-Error" not in following.headers
        served.wait_for_line(rf"#2 \[platform\]\s+START RequestId: {following.headers['X-Amzn-RequestId']}")
    starts = [m.group(1) for line in served.lines if (m := re.match(r"#(\d+) \[platform\]\s+INIT_START", line))]
    assert starts == ["1", "2"]  # env #1 was not re-initialised: it ended, and env #2 took over


@pytest.mark.trio
async def test_a_telemetry_subscriber_gets_each_invokes_records_and_no_runtime_done(code_dir: Path) -> None:
    if expected_sandbox(code_dir).hosts_file is None:
        pytest.skip("no mount namespace here: sandbox.localdomain cannot resolve inside the environment")
    config = resolve_function(str(function(code_dir)), env_pairs=["LISTEN=1"])
    async with open_environment(config, fleet=FleetOptions(concurrency=1, max_concurrency=2)) as running:
        host = running.fleet.first
        assert host is not None
        results = []

        async def one() -> None:
            result, _ = await running.fleet.invoke(b'{"sleep": 0.5}')
            results.append(result)

        with trio.fail_after(BOUND):
            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    nursery.start_soon(one)
            received = host.sandbox.tmp_dir / "received.jsonl"  # type: ignore[union-attr]
            wanted = {r.request_id for r in results}
            while True:  # delivery is off the invoke's path: until both reports are in (bounded above)
                got = [json.loads(line) for line in received.read_text().splitlines()] if received.exists() else []
                if {e["record"]["requestId"] for e in got if e["type"] == "platform.report"} >= wanted:
                    break
                await host.wait_changed()
    assert all(not r.function_error for r in results) and len({r.payload for r in results}) == 2
    kinds = [e["type"] for e in got]
    init_start = next(e for e in got if e["type"] == "platform.initStart")
    assert init_start["record"]["initializationType"] == "lambda-managed-instances"
    assert {e["record"]["requestId"] for e in got if e["type"] == "platform.start"} == wanted
    assert "platform.runtimeDone" not in kinds  # not sent on Managed Instances (lambda-spec §3.5)
    records = [e["record"] for e in got if e["type"] == "function"]
    assert {r["requestId"] for r in records if isinstance(r, dict) and r.get("message") == "working"} == wanted
