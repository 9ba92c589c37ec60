"""From a bug hunt: lambdatui as an extension author meets it (lambda-spec §2 Extensions API, §3.5 `platform.extension`,
§4; README "What is emulated": Extensions API, Init order, `AWS_LAMBDA_EXEC_WRAPPER`).

Each extension here is written the way AWS's samples are (aws-samples/aws-lambda-extensions: an executable in the
function's `extensions/` folder, registering under its file name, standard library only) and prints what it was
answered (`PROBE [...]`), which lambdatui relays tagged with its name. Code goes in `module_code_dir`/`code_dir`
(never under /tmp); every run is bounded (`run_cli`'s timeout, `ServeProcess`'s waits), and every process is stopped.

Four tests pin what the hunt found wrong (strict xfails until fixed): an event named twice, the EXTENSION lines and
platform.extension's errorType on a failed Init, and an internal extension's reported error. The others pin what
works and no other test covers through the real CLI: the register answer and INVOKE events as an extension reads
them through `serve` (qualifier, trace header, deadline, several extensions), and an internal extension that a
wrapper script starts as a process of its own.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from e2e_support import API_CALLS_SOURCE, ServeProcess, platform_lines, run_cli, source_lines, write_file

PRELUDE = "#!/usr/bin/env python3\nimport http.client, json, os, sys, tempfile, time\n" + API_CALLS_SOURCE + '''
NAME = os.path.basename(sys.argv[0])  # an external extension registers under its file name

def register(events, headers=None):
    st, body, h = call("POST", "/2020-01-01/extension/register", json.dumps({"events": events}),
                       {"Lambda-Extension-Name": NAME, **(headers or {})})
    return st, body, h

def next_event(eid):
    return call("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": eid})
'''


def probes(stderr: str, source: str, what: str) -> list[list]:
    """The fields after `what` of each `PROBE [what, ...]` line `source` printed, in order."""
    found = []
    for line in source_lines(stderr, source):
        if line.startswith("PROBE ["):
            fields = json.loads(line[len("PROBE "):])
            if fields[0] == what:
                found.append(fields[1:])
    return found


# ---------------------------------------------------------------------- the register answer and INVOKE, via serve

SERVE_HANDLER = '''import os


def handler(event, context):
    return {"requestId": context.aws_request_id, "arn": context.invoked_function_arn,
            "deadlineMs": context._epoch_deadline_time_in_ms, "trace": os.environ.get("_X_AMZN_TRACE_ID"),
            "name": os.environ["AWS_LAMBDA_FUNCTION_NAME"], "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}
'''

# "reader" asks for the accountId feature; "twice" names INVOKE twice in its register body, as a careless author might.
SERVE_EXTENSION = PRELUDE + '''
EVENTS = {"reader": ["INVOKE", "SHUTDOWN"], "twice": ["INVOKE", "INVOKE", "SHUTDOWN"]}[NAME]
st, body, h = register(EVENTS, {"Lambda-Extension-Accept-Feature": "accountId"} if NAME == "reader" else {})
log("register", st, json.loads(body), h.get("Lambda-Extension-Identifier"), h.get("Content-Type"))
eid = h["Lambda-Extension-Identifier"]
while True:
    st, body, h = next_event(eid)
    event = json.loads(body)
    log("event", st, event)
    if event["eventType"] == "SHUTDOWN":
        sys.exit(0)
'''

FUNCTION = "authored"  # the function's name: its folder's
TRACE = "Root=1-5f35ae12-0c0fec141ab77a00bc047aa2;Parent=2be948a625588e32;Sampled=1"


@pytest.fixture(scope="module")
def served(module_code_dir: Path) -> Iterator[ServeProcess]:
    """One `serve` of a function with two extensions, for the tests that read what they were sent."""
    folder = module_code_dir / FUNCTION
    handler = write_file(folder / "handler.py", SERVE_HANDLER)
    for name in ("reader", "twice"):
        write_file(folder / "extensions" / name, SERVE_EXTENSION, executable=True)
    process = ServeProcess(handler, "--timeout", "10")
    try:
        process.start()
        yield process
    finally:
        process.close()


def test_serve_each_extension_reads_the_register_answer_and_the_invoke_the_runtime_got(served: ServeProcess) -> None:
    """lambda-spec §2.2/§2.3: the register answer names the function (accountId only when asked for), with the
    identifier in a header; every INVOKE-subscribed extension gets the same INVOKE: the runtime's request id, its
    absolute deadline, the ARN it was invoked by (qualifier included) and the caller's trace header, never the
    payload."""
    answer = httpx.post(served.invoke_url(f"{FUNCTION}:live"), content=b'{"secret": "payload"}',
                        headers={"X-Amzn-Trace-Id": TRACE}, timeout=30)
    assert answer.status_code == 200, answer.text
    runtime = answer.json()
    rid = runtime["requestId"]
    served.wait_for_lines(rf"\[(reader|twice)\]\s+PROBE \[\"event\", 200, .*{rid}", 2, timeout=30)
    output = served.output()

    bodies = {}
    for name in ("reader", "twice"):
        [(status, body, identifier, content_type)] = probes(output, name, "register")
        assert status == 200 and content_type == "application/json", (name, status, content_type)
        uuid.UUID(identifier)
        bodies[name] = body
    base = {"functionName": FUNCTION, "functionVersion": "$LATEST", "handler": "handler.handler"}
    assert bodies == {"reader": {**base, "accountId": "012345678912"}, "twice": base}, bodies
    assert (runtime["name"], runtime["version"]) == (FUNCTION, "$LATEST")

    invokes = {name: [event for status, event in probes(output, name, "event") if event.get("requestId") == rid]
               for name in ("reader", "twice")}
    assert len(invokes["reader"]) == 1 and invokes["reader"] == invokes["twice"], invokes
    event = invokes["reader"][0]
    assert event == {
        "eventType": "INVOKE",
        "deadlineMs": runtime["deadlineMs"],
        "requestId": rid,
        "invokedFunctionArn": runtime["arn"],
        "tracing": {"type": "X-Amzn-Trace-Id", "value": TRACE},
    }, event
    assert runtime["arn"].endswith(f":function:{FUNCTION}:live") and runtime["trace"] == TRACE, runtime


def test_an_event_named_twice_at_registration_is_listed_once(served: ServeProcess) -> None:
    """RAPID subscribes each event into a set (RIE `core/externalagent.go` `subscribeUnsafe`: `s.events[e] =
    struct{}{}`) and reports that set in the EXTENSION line and `platform.extension` (sorted there); INVOKE is still
    sent once per invoke (the test above). lambdatui keeps the events once each, in the order first named
    (`core/extension_api_rules.py`)."""
    line = served.wait_for_line(r"\[platform\]\s+EXTENSION\tName: twice\tState: Ready\tEvents: \[([A-Z,]*)\]", 30)
    events = line.group(1).split(",")
    assert sorted(events) == ["INVOKE", "SHUTDOWN"], line.group(0)


# ---------------------------------------------------------------------- an Init failed by an extension's init/error

# "faulty" reports an Init error as AWS documents it (its own error type), once "watcher" has subscribed to the
# Telemetry API (a file in the environment's /tmp says so; it is removed, so the suppressed Init waits again), then
# exits. "watcher" prints the platform.extension and platform.initReport records it receives, and on SHUTDOWN waits
# (bounded) for the Init's records, flushed at shutdown, before it exits.
FAULTY = PRELUDE + '''
st, body, h = register(["INVOKE", "SHUTDOWN"])
eid = h["Lambda-Extension-Identifier"]
flag, until = os.path.join(tempfile.gettempdir(), "watcher-subscribed"), time.monotonic() + 5
while not os.path.exists(flag) and time.monotonic() < until:
    time.sleep(0.01)
if os.path.exists(flag):
    os.remove(flag)
st, body, _ = call("POST", "/2020-01-01/extension/init/error",
                   json.dumps({"errorMessage": "missing API key", "errorType": "Extension.ConfigInvalid"}),
                   {"Lambda-Extension-Identifier": eid, "Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid"})
log("init-error", st)
sys.exit(1)
'''

WATCHER = PRELUDE + '''
import http.server, threading

init_reported = threading.Event()


class Listener(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        for record in json.loads(self.rfile.read(int(self.headers["Content-Length"]))):
            if record["type"] in ("platform.extension", "platform.initReport"):
                print("TEL " + json.dumps(record), flush=True)
            if record["type"] == "platform.initReport":
                init_reported.set()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("sandbox.localdomain", 4243), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
st, body, h = register(["SHUTDOWN"])
eid = h["Lambda-Extension-Identifier"]
st, body, _ = call("PUT", "/2022-07-01/telemetry", json.dumps({
    "schemaVersion": "2022-12-13", "types": ["platform"],
    "buffering": {"timeoutMs": 25, "maxItems": 1000, "maxBytes": 262144},
    "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243"}}),
    {"Lambda-Extension-Identifier": eid})
log("subscribed", st)
open(os.path.join(tempfile.gettempdir(), "watcher-subscribed"), "w").close()
st, body, _ = next_event(eid)
log("event", st, json.loads(body))
init_reported.wait(5)
'''


@pytest.fixture(scope="module")
def failed_init(module_code_dir: Path) -> str:
    """`lambdatui invoke` of a function whose extension fails Init with init/error (both times: the Init and the
    suppressed Init of the invoke): its stderr, checked to be the run the tests mean."""
    from sandbox_support import expected_sandbox

    folder = module_code_dir / "initerror"
    folder.mkdir()
    if expected_sandbox(folder).hosts_file is None:
        pytest.skip("no mount namespace here: sandbox.localdomain cannot resolve inside the environment")
    handler = write_file(folder / "handler.py", "def handler(event, context):\n    return 'ok'\n")
    write_file(folder / "extensions" / "faulty", FAULTY, executable=True)
    write_file(folder / "extensions" / "watcher", WATCHER, executable=True)
    done = run_cli("invoke", str(handler), "--timeout", "6")  # the suppressed Init waits for the subscription too
    assert json.loads(done.stdout)["errorType"] == "Extension.InitError", done.stdout + done.stderr
    assert probes(done.stderr, "watcher", "subscribed")[0] == [200], done.stderr
    assert probes(done.stderr, "faulty", "init-error")[0] == [202], done.stderr
    assert any(line.startswith("INIT_REPORT ") and line.endswith("Phase: init\tStatus: error\tError Type: "
                                                                  "Extension.InitError")
               for line in platform_lines(done.stderr)), done.stderr
    return done.stderr


def telemetry(stderr: str) -> list[dict]:
    return [json.loads(line[len("TEL "):]) for line in source_lines(stderr, "watcher") if line.startswith("TEL ")]


def test_a_failed_init_still_writes_an_extension_line_per_extension(failed_init: str) -> None:
    """RIE `rapid/handlers.go` `doRuntimeDomainInit` defers `logAgentsInitStatus` (the records behind the EXTENSION
    lines) so that it runs however Init ends, before INIT_REPORT; a real log of an init/error (elastic/apm-aws-lambda
    pull request 145) shows `EXTENSION Name: ... State: InitError Events: [INVOKE,SHUTDOWN] Er...` (tab-separated).
    lambdatui writes them, with the `platform.extension` records, however Init ends (`core/init_rules.py`
    `_report_extensions`)."""
    lines = platform_lines(failed_init)
    first_init = lines[:next(i for i, line in enumerate(lines) if line.startswith("INIT_REPORT "))]
    extension_lines = [line for line in first_init if line.startswith("EXTENSION\t")]
    assert any(line.startswith("EXTENSION\tName: faulty\tState: InitError\tEvents: [INVOKE,SHUTDOWN]")
               for line in extension_lines), lines
    assert any(line.startswith("EXTENSION\tName: watcher\t") for line in extension_lines), lines


def test_platform_extension_carries_the_error_type_the_extension_declared(failed_init: str) -> None:
    """RIE: `/extension/init/error` stores the header's value as the agent's error type (`core/externalagent_states.go`
    `ExternalAgentRegisteredState.InitError`: `s.agent.errorType = errorType`), and `platform.extension`'s errorType
    is that value (`AgentsInfo` → `SendExtensionInit`). The platform's own error (INIT_REPORT, the caller's
    errorType) stays Extension.InitError, which lambdatui gets right."""
    records = [e["record"] for e in telemetry(failed_init)
               if e["type"] == "platform.extension" and e["record"]["name"] == "faulty"]
    assert records, failed_init
    assert all(r["state"] == "InitError" for r in records), records
    assert all(r.get("errorType") == "Extension.ConfigInvalid" for r in records), records


# ---------------------------------------------------------------------- an internal extension's reported error

# An in-process agent (an internal extension: the runtime process registers it) that reports its error as documented
# and then ends with its process, the runtime, as an extension must after init/error or exit/error.
INTERNAL_AGENT = '''import http.client, json, os, threading

API = os.environ["AWS_LAMBDA_RUNTIME_API"]


def call(method, path, body=None, headers=None):
    connection = http.client.HTTPConnection(API)
    connection.request(method, path, body=body, headers=headers or {})
    answer = connection.getresponse()
    data = answer.read()
    connection.close()
    return answer.status, data, answer.getheader("Lambda-Extension-Identifier")


_, _, EID = call("POST", "/2020-01-01/extension/register", json.dumps({"events": ["INVOKE"]}),
                 {"Lambda-Extension-Name": "in-process-agent"})


def report(kind):
    status, _, _ = call("POST", f"/2020-01-01/extension/{kind}/error", b"{}",
                        {"Lambda-Extension-Identifier": EID, "Lambda-Extension-Function-Error-Type": "Agent.Broken"})
    print(f"reported {kind}/error: {status}", flush=True)
    os._exit(1)


if os.environ["WHEN"] == "init":
    report("init")


def agent():
    while True:
        call("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": EID})


threading.Thread(target=agent, daemon=True).start()


def handler(event, context):
    report("exit")
'''


@pytest.mark.parametrize("when, error_type", [("init", "Extension.InitError"), ("exit", "Extension.ExitError")])
def test_an_internal_extensions_reported_error_is_the_error_when_its_runtime_exits(code_dir: Path, when: str,
                                                                                  error_type: str) -> None:
    """lambda-spec §2.4: the reported failure takes effect when the process exits, and "[RIE] stores the first fatal
    error, so a later crash does not overwrite the InitError/ExitError" (RIE `agentiniterror.go`/`agentexiterror.go`:
    `appctx.StoreFirstFatalError(..., fatalerror.AgentInitError / AgentExitError)`; the runtime's exit in
    `watchEvents` stores `RuntimeExit` only if nothing was stored before; INIT_REPORT, REPORT and the caller's error
    take the first). An internal extension's process is the runtime, so its exit is the runtime's. lambdatui keeps
    the first reported error for the environment (`first_fatal`, `core/process_rules.py` `_kept_fatal_error`)."""
    handler = write_file(code_dir / "handler.py", INTERNAL_AGENT)
    done = run_cli("invoke", str(handler), "--timeout", "3", "--env", f"WHEN={when}")
    assert f"reported {when}/error: 202" in done.stderr, done.stderr
    reported = [line for line in platform_lines(done.stderr) if line.startswith(("INIT_REPORT ", "REPORT "))]
    failing = [line for line in reported if "Status: error" in line]
    assert failing, done.stderr
    assert all(f"Error Type: {error_type}" in line for line in failing), failing
    assert json.loads(done.stdout)["errorType"] == error_type, done.stdout


# ---------------------------------------------------------------------- an internal extension a wrapper starts

# The wrapper starts an agent process that registers as an internal extension (its name is no launched extension's)
# and waits, bounded, for it to be registered before it execs the runtime, as APM wrappers do.
WRAPPER = '''#!/bin/sh
python3 /var/task/agent.py &
i=0
while [ ! -e /tmp/agent-registered ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
exec "$@"
'''

WRAPPED_AGENT = '''import http.client, json, os, sys

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
connection = http.client.HTTPConnection(API)
connection.request("POST", "/2020-01-01/extension/register", body=json.dumps({"events": ["INVOKE"]}),
                   headers={"Lambda-Extension-Name": "wrapped-agent"})
answer = connection.getresponse()
answer.read()
print(f"agent registered: {answer.status}", flush=True)
open("/tmp/agent-registered", "w").close()
eid = answer.getheader("Lambda-Extension-Identifier")
while True:
    connection.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": eid})
    event = json.loads(connection.getresponse().read())
    print(f"agent got {event['eventType']} {event.get('requestId')}", flush=True)
'''


def test_an_agent_a_wrapper_starts_registers_as_an_internal_extension_and_gets_each_invoke(code_dir: Path) -> None:
    """README: `AWS_LAMBDA_EXEC_WRAPPER` starts the runtime through the wrapper; lambda-spec §2.2: a name Lambda did not
    launch registers an internal extension (INVOKE only). The wrapper's own child process, started before the
    runtime, reaches the Extensions API (it is a process of the environment), is named in the EXTENSION line, gets
    every INVOKE, and holds each invoke until it asks for its next event."""
    write_file(code_dir / "handler.py", "def handler(event, context):\n    return 'ok'\n")
    write_file(code_dir / "agent.py", WRAPPED_AGENT)
    write_file(code_dir / "wrapper", WRAPPER, executable=True)
    done = run_cli("invoke", str(code_dir / "handler.py"), "--repeat", "2", "--timeout", "3",
                   "--env", "AWS_LAMBDA_EXEC_WRAPPER=/var/task/wrapper")
    assert done.returncode == 0 and done.stdout == '"ok"\n"ok"\n', done.stderr
    assert "agent registered: 200" in done.stderr, done.stderr
    lines = platform_lines(done.stderr)
    assert "EXTENSION\tName: wrapped-agent\tState: Ready\tEvents: [INVOKE]" in lines, lines
    request_ids = [m.group(1) for m in map(re.compile(r"^REPORT RequestId: (\S+)\t").match, lines) if m]
    assert len(request_ids) == 2, lines
    got = re.findall(r"agent got INVOKE (\S+)", done.stderr)
    assert got == request_ids, done.stderr
    assert "agent got SHUTDOWN" not in done.stderr  # internal extensions get no SHUTDOWN (lambda-spec §2.3)
