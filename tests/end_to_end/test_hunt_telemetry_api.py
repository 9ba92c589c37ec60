"""The Telemetry API as an external extension sees it, through `lambdatui serve` and `lambdatui invoke` (a bug hunt,
lambda-spec §3, §4.5).

The extension here (FORWARDER, standard library only) listens on sandbox.localdomain, subscribes, and forwards every
batch its listener is sent, and every event its /event/next returns, to a collector in the test process (`Sink`, on
the host's 127.0.0.1: the environments share the host's network). A forwarded note is taken before the extension goes
on, so once lambdatui has exited (its extensions exited before it), every note is in. Waits are on those notes, on
lambdatui's lines or on the host's facts, and bounded.
"""

from __future__ import annotations

import http.server
import json
import re
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.runner import open_environment
from sandbox_support import expected_sandbox

from e2e_support import ServeProcess, platform_lines, run_cli, write_file

BOUND = 30

# Tells the sink (SINK, host:port) what it was sent, as {"kind", "instance", ...}: "subscribed" (the answer to its
# subscription), "batch" (the events one delivery carried), "event" (what /event/next returned). FORWARDER (JSON):
# "types" to subscribe to; "answer_after": seconds its listener takes to answer each batch (it tells the sink first).
# At SHUTDOWN it waits (at most 1.8 s) for the platform.report of the last invoke it was told of, then exits.
FORWARDER = '''#!/usr/bin/env python3
import http.client, http.server, json, os, threading, time, uuid

CONFIG = json.loads(os.environ.get("FORWARDER", "{}"))
INSTANCE = uuid.uuid4().hex  # one per process: a reset launches the extension again
reported = set()
changed = threading.Condition()


def tell(kind, **fields):
    sink = http.client.HTTPConnection(os.environ["SINK"], timeout=10)
    sink.request("POST", "/", json.dumps({"kind": kind, "instance": INSTANCE, **fields}))
    sink.getresponse().read()
    sink.close()


class Listener(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        tell("batch", events=events)
        with changed:
            reported.update(e["record"]["requestId"] for e in events if e["type"] == "platform.report")
            changed.notify_all()
        time.sleep(CONFIG.get("answer_after", 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass  # its stderr would come back as extension records


server = http.server.ThreadingHTTPServer(("sandbox.localdomain", 0), Listener)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])


def call(method, path, headers, body=None):
    api.request(method, path, body=body, headers=headers)
    answer = api.getresponse()
    return answer, answer.read()


answer, _ = call("POST", "/2020-01-01/extension/register", {"Lambda-Extension-Name": "forwarder"},
                 json.dumps({"events": ["INVOKE", "SHUTDOWN"]}))
ext_id = answer.getheader("Lambda-Extension-Identifier")
print("forwarder registered", flush=True)
body = {"schemaVersion": "2022-12-13", "types": CONFIG.get("types", ["platform"]), "buffering": {"timeoutMs": 25},
        "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:%d" % server.server_port}}
answer, raw = call("PUT", "/2022-07-01/telemetry", {"Lambda-Extension-Identifier": ext_id}, json.dumps(body))
tell("subscribed", status=answer.status, body=raw.decode())
last = None
while True:
    _, raw = call("GET", "/2020-01-01/extension/event/next", {"Lambda-Extension-Identifier": ext_id})
    event = json.loads(raw)
    tell("event", event=event)
    if event["eventType"] == "INVOKE":
        last = event["requestId"]
    else:
        with changed:
            changed.wait_for(lambda: last is None or last in reported, timeout=1.8)
        break
'''


class Sink:
    """The test's collector of what the forwarder extensions tell, on the host's loopback."""

    def __init__(self) -> None:
        self.notes: list[dict] = []
        self._changed = threading.Condition()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                note = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with sink._changed:
                    sink.notes.append(note)
                    sink._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return "127.0.0.1:%d" % self.server.server_port

    def clear(self) -> None:
        with self._changed:
            self.notes.clear()

    def wait_for(self, done: Callable[[list[dict]], bool], timeout: float = BOUND) -> list[dict]:
        with self._changed:
            if not self._changed.wait_for(lambda: done(self.notes), timeout):
                raise AssertionError(f"not within {timeout} s; notes so far: {json.dumps(self.notes)[:4000]}")
            return list(self.notes)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    collector = Sink()
    try:
        yield collector
    finally:
        collector.close()


def needs_sandbox_names(code_dir: Path) -> None:
    if expected_sandbox(code_dir).hosts_file is None:
        pytest.skip("no mount namespace here: sandbox.localdomain cannot resolve inside the environment")


def with_forwarder(code_dir: Path, handler_source: str) -> Path:
    needs_sandbox_names(code_dir)
    write_file(code_dir / "extensions" / "forwarder", FORWARDER, executable=True)
    return write_file(code_dir / "handler.py", handler_source)


def by_instance(notes: list[dict]) -> dict[str, list[dict]]:
    """Each extension process's notes, in the order its processes started (dicts keep insertion order)."""
    out: dict[str, list[dict]] = {}
    for note in notes:
        out.setdefault(note["instance"], []).append(note)
    return out


def received(notes: list[dict]) -> list[dict]:
    return [event for note in notes if note["kind"] == "batch" for event in note["events"]]


def next_events(notes: list[dict]) -> list[dict]:
    return [note["event"] for note in notes if note["kind"] == "event"]


def one(events: list[dict], kind: str, request_id: str) -> dict:
    found = [e["record"] for e in events if e["type"] == kind and e["record"].get("requestId") == request_id]
    assert len(found) == 1, (kind, request_id, [e["type"] for e in events])
    return found[0]


CRASHING = '''import os


def handler(event, context):
    print("handled " + context.aws_request_id, flush=True)
    if event.get("crash"):
        os._exit(3)
    return "ok"
'''


def test_serve_a_crash_resets_and_the_relaunched_extension_subscribes_afresh(code_dir: Path, sink: Sink) -> None:
    """`serve`: the invoke whose runtime crashes ends with its platform.runtimeDone and platform.report (status
    "error", Runtime.ExitError) before the extension's SHUTDOWN (reason "failure", lambda-spec §4.5); the next invoke
    re-initialises inside itself, and the extension launched again subscribes afresh: its Init replay begins with
    platform.initStart of phase "invoke" (§3.6) and holds the extension's own log line ("extension" records); its
    invoke's records follow, and its platform.report reaches it at serve's shutdown (SIGTERM)."""
    handler = with_forwarder(code_dir, CRASHING)
    sink.clear()
    config = json.dumps({"types": ["platform", "function", "extension"]})
    with ServeProcess(handler, "--env", f"SINK={sink.address}", "--env", f"FORWARDER={config}") as served:
        crashed = httpx.post(served.invoke_url(), content=b'{"crash": true}', timeout=BOUND)
        after = httpx.post(served.invoke_url(), content=b"{}", timeout=BOUND)
        served.signal(signal.SIGTERM)
        assert served.wait(BOUND) == 0, served.output()
    assert crashed.headers.get("x-amz-function-error") == "Unhandled", crashed.text
    assert crashed.json()["errorType"] == "Runtime.ExitError" and after.json() == "ok", (crashed.text, after.text)
    crash_id, after_id = crashed.headers["x-amzn-requestid"], after.headers["x-amzn-requestid"]
    instances = list(by_instance(sink.notes).values())
    assert len(instances) == 2, [[n["kind"] for n in notes] for notes in instances]
    first, second = instances

    assert [n["status"] for n in first + second if n["kind"] == "subscribed"] == [200, 200]
    events = received(first)
    assert events[0]["type"] == "platform.initStart" and events[0]["record"]["phase"] == "init", events[0]
    for kind in ("platform.runtimeDone", "platform.report"):
        record = one(events, kind, crash_id)
        assert (record["status"], record.get("errorType")) == ("error", "Runtime.ExitError"), record
    assert {"type": "function", "record": f"handled {crash_id}"} in [{k: e[k] for k in ("type", "record")}
                                                                    for e in events]
    told = next_events(first)
    assert [e["eventType"] for e in told] == ["INVOKE", "SHUTDOWN"] and told[1]["shutdownReason"] == "failure", told

    events = received(second)
    types = [e["type"] for e in events]
    assert types[0] == "platform.initStart" and events[0]["record"]["phase"] == "invoke", events[0]
    assert "forwarder registered" in [e["record"] for e in events if e["type"] == "extension"], events
    reports = [e["record"] for e in events if e["type"] == "platform.initReport"]
    assert [(r["phase"], r["status"]) for r in reports] == [("invoke", "success")], reports
    assert types.index("platform.initReport") < types.index("platform.start"), types
    assert one(events, "platform.start", after_id)["version"] == "$LATEST"
    assert one(events, "platform.runtimeDone", after_id)["status"] == one(events, "platform.report", after_id)["status"]
    assert one(events, "platform.report", after_id)["status"] == "success"
    assert crash_id not in json.dumps(events)  # the new process subscribed after the crashed invoke ended
    told = next_events(second)
    assert [e["eventType"] for e in told] == ["INVOKE", "SHUTDOWN"] and told[1]["shutdownReason"] == "spindown", told


QUICK = "def handler(event, context):\n    return 'ok'\n"
DURATION = re.compile(r"^REPORT RequestId: (\S+)\tDuration: ([\d.]+) ms")


def test_invoke_a_slow_listener_never_slows_the_invokes_and_still_gets_every_report(code_dir: Path,
                                                                                      sink: Sink) -> None:
    """Delivery is off the invoke's path (README "Deliveries never run on an invoke's path"; in Lambda the
    telemetry agent is not the function's): a listener that takes 0.6 s to answer each batch leaves each invoke's
    Duration a few milliseconds, and still gets every platform.report, the last during the shutdown."""
    handler = with_forwarder(code_dir, QUICK)
    sink.clear()
    config = json.dumps({"types": ["platform"], "answer_after": 0.6})
    done = run_cli("invoke", str(handler), "--repeat", "3", "--env", f"SINK={sink.address}",
                   "--env", f"FORWARDER={config}")
    assert done.returncode == 0, done.stderr
    durations = {m.group(1): float(m.group(2)) for m in map(DURATION.match, platform_lines(done.stderr)) if m}
    assert len(durations) == 3 and all(d < 300 for d in durations.values()), durations
    events = received(sink.notes)
    assert {e["record"]["requestId"] for e in events if e["type"] == "platform.report"} == set(durations), events


# An internal extension: the function's own module registers in the runtime process (during Function init, as
# Lambda allows), listens on sandbox.localdomain, subscribes, and answers its INVOKE events from a thread. Each invoke
# returns what its listener has received so far, once the previous invoke's platform.report is among it (bounded).
INTERNAL = '''import http.client, http.server, json, os, threading

got = []
changed = threading.Condition()
previous = [None]


class Listener(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with changed:
            got.extend([e["type"], e["record"].get("requestId")] for e in events)
            changed.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("sandbox.localdomain", 0), Listener)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
api.request("POST", "/2020-01-01/extension/register", json.dumps({"events": ["INVOKE"]}),
            {"Lambda-Extension-Name": "inproc"})
answer = api.getresponse()
answer.read()
ext_id = answer.getheader("Lambda-Extension-Identifier")
body = {"schemaVersion": "2022-12-13", "types": ["platform"], "buffering": {"timeoutMs": 25},
        "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:%d" % server.server_port}}
api.request("PUT", "/2022-07-01/telemetry", json.dumps(body), {"Lambda-Extension-Identifier": ext_id})
answer = api.getresponse()
subscribed = [answer.status, answer.read().decode()]


def events():
    while True:
        api.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": ext_id})
        api.getresponse().read()


threading.Thread(target=events, daemon=True).start()


def handler(event, context):
    with changed:
        changed.wait_for(lambda: previous[0] is None or ["platform.report", previous[0]] in got, timeout=10)
        seen = [list(pair) for pair in got]
    previous[0] = context.aws_request_id
    return {"subscribed": subscribed, "got": seen}
'''


def test_invoke_an_internal_extension_in_the_runtime_subscribes_and_gets_the_last_invokes_report(
        code_dir: Path) -> None:
    """An internal extension (registered from the function's process during Function init) may subscribe to the
    Telemetry API like an external one: it gets the Init's replay, and, its listener frozen with the runtime between
    invokes, the previous invoke's platform.report during the next invoke."""
    needs_sandbox_names(code_dir)
    handler = write_file(code_dir / "handler.py", INTERNAL)
    done = run_cli("invoke", str(handler), "--repeat", "2")
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["subscribed"] == [200, '"OK"'], first
    types = [kind for kind, _ in second["got"]]
    assert types[:2] == ["platform.initStart", "platform.telemetrySubscription"], types
    assert types.count("platform.report") == 1 and "platform.initReport" in types, types
    starts = [request_id for kind, request_id in second["got"] if kind == "platform.start"]
    reported = [request_id for kind, request_id in second["got"] if kind == "platform.report"]
    assert len(starts) >= 1 and reported == starts[:1], second["got"]  # the first invoke's, in the second


# An extension that asks for its first event at once, and subscribes from another thread once the test says so
# (the FIFO `go` in its /tmp): the extension is Ready, yet the function's Init still runs: the function's module
# waits (bounded) for the extension's answer, which it returns.
READY_THEN_SUBSCRIBES = '''#!/usr/bin/env python3
import http.client, json, os, tempfile, threading

TMP = tempfile.gettempdir()
os.mkfifo(os.path.join(TMP, "go"))
API = os.environ["AWS_LAMBDA_RUNTIME_API"]


def call(method, path, headers, body=None):
    api = http.client.HTTPConnection(API)
    api.request(method, path, body=body, headers=headers)
    answer = api.getresponse()
    return answer, answer.read()


answer, _ = call("POST", "/2020-01-01/extension/register", {"Lambda-Extension-Name": "latecomer"},
                 json.dumps({"events": ["INVOKE", "SHUTDOWN"]}))
ext_id = answer.getheader("Lambda-Extension-Identifier")


def subscribe():
    with open(os.path.join(TMP, "go")) as fifo:
        fifo.read()
    body = {"schemaVersion": "2022-12-13", "types": ["platform"],
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243"}}
    answer, raw = call("PUT", "/2022-07-01/telemetry", {"Lambda-Extension-Identifier": ext_id}, json.dumps(body))
    with open(os.path.join(TMP, "answer.part"), "w") as fh:
        json.dump([answer.status, json.loads(raw)], fh)
    os.rename(os.path.join(TMP, "answer.part"), os.path.join(TMP, "answer"))


threading.Thread(target=subscribe, daemon=True).start()
while True:
    _, raw = call("GET", "/2020-01-01/extension/event/next", {"Lambda-Extension-Identifier": ext_id})
    if json.loads(raw)["eventType"] == "SHUTDOWN":
        break
'''

WAITS_FOR_THE_ANSWER = '''import json, os, tempfile, time

ANSWER = os.path.join(tempfile.gettempdir(), "answer")
until = time.monotonic() + 8  # within Init's 10 s
while not os.path.exists(ANSWER) and time.monotonic() < until:
    time.sleep(0.01)
with open(ANSWER) as fh:
    answer = json.load(fh)


def handler(event, context):
    return answer
'''


@pytest.mark.trio
async def test_an_extension_already_ready_may_still_subscribe_while_init_runs(code_dir: Path) -> None:
    """lambda-spec §3.1: "Lambda stops accepting subscriptions when Init ends ([RIE]: after all extensions reached
    Ready)" (RAPID turns the Telemetry and Logs APIs off after AwaitAgentsReady, rapid/handlers.go; AWS's Logs API
    page: "Lambda doesn't process subscription requests after the initialization phase completes"). An extension
    whose main thread waits on /event/next while another thread subscribes, the function's Init still running, is
    told 200 by Lambda."""
    write_file(code_dir / "extensions" / "latecomer", READY_THEN_SUBSCRIBES, executable=True)
    handler = write_file(code_dir / "handler.py", WAITS_FOR_THE_ANSWER)
    async with open_environment(resolve_function(str(handler))) as running:
        host = running.host
        ready = trio.Event()

        def on_fact(fact: object) -> None:
            if isinstance(fact, f.ParticipantChanged) and fact.participant == "extension:latecomer" and fact.parked:
                ready.set()

        host.subscribe(on_fact)
        assert host.sandbox is not None
        with trio.fail_after(BOUND):
            host.start_environment()
            await ready.wait()  # the extension is Ready; the function's module still waits: Init runs

            def release() -> None:
                with open(host.sandbox.tmp_dir / "go", "w") as fifo:  # type: ignore[union-attr]
                    fifo.write("go")

            await trio.to_thread.run_sync(release, abandon_on_cancel=True)
            result, _ = await host.invoke(b"{}")
            await host.shutdown()
    assert not result.function_error, result.payload
    assert json.loads(result.payload) == [200, "OK"]
