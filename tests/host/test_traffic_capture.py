"""The API traffic record over real processes: a custom runtime (a `bootstrap` of a few lines) and the extension
sample's external extension (`audit`), as the debugger runs them (`inspect=True`), and a headless run that records
nothing. Every exchange the processes make is read back through the controller's `api_traffic` query, in order.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model.api_traffic import ParticipantTraffic
from lambdatui.model.boundaries import EnvState
from lambdatui.model.facts import ApiExchanged
from lambdatui.runner import Running, open_environment

BOUND = 30  # seconds
REPO = Path(__file__).resolve().parents[2]
AUDIT = REPO / "sample_functions" / "extension" / "extensions" / "audit"
RUNTIME = "/2018-06-01/runtime"

# A custom runtime: answers each event with it, or reports an error when the event asks for one.
BOOTSTRAP = '''#!{python}
import http.client, json, os
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
def call(method, path, body=None, headers={{}}):
    api.request(method, "/2018-06-01/runtime" + path, body=body, headers=headers)
    response = api.getresponse()
    return response, response.read()
while True:
    response, event = call("GET", "/invocation/next")
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    if json.loads(event).get("fail"):
        call("POST", f"/invocation/{{request_id}}/error", b'{{"errorMessage": "no", "errorType": "Custom.Boom"}}',
             {{"Lambda-Runtime-Function-Error-Type": "Custom.Boom", "Content-Type": "application/json"}})
    else:
        call("POST", f"/invocation/{{request_id}}/response", event, {{"Content-Type": "application/json"}})
'''


def custom_runtime_with_audit(code_dir: Path) -> Path:
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(BOOTSTRAP.format(python=sys.executable))
    bootstrap.chmod(0o755)
    (code_dir / "extensions").mkdir()
    shutil.copy2(AUDIT, code_dir / "extensions" / "audit")
    return bootstrap


def by_participant(running: Running) -> dict[str, ParticipantTraffic]:
    return {traffic.participant: traffic for traffic in running.session.api_traffic(None)}


def calls(traffic: ParticipantTraffic) -> list[tuple[str, str, int]]:
    return [(e.method, e.path.rsplit("/", 1)[-1] if "/invocation/" in e.path and not e.path.endswith("next")
             else e.path, e.status) for e in traffic.exchanges]


async def frozen_after(running: Running, event: bytes) -> str:
    with trio.fail_after(BOUND):
        result, _ = await running.host.invoke(event)
        await running.host.wait_for_state(EnvState.FROZEN)  # the runtime and the extension parked again
    return result.request_id


@pytest.mark.trio
async def test_every_exchange_in_order_per_participant(code_dir: Path) -> None:
    config = resolve_function(str(custom_runtime_with_audit(code_dir)))
    async with open_environment(config, inspect=True) as running:
        first = await frozen_after(running, b'{"n": 1}')
        second = await frozen_after(running, b'{"fail": true}')
        traffic = by_participant(running)

        assert list(traffic) == ["runtime", "audit"]  # the runtime first, whoever called first
        runtime, audit = traffic["runtime"], traffic["audit"]
        next_path, event_next = f"{RUNTIME}/invocation/next", "/2020-01-01/extension/event/next"
        assert calls(runtime) == [("GET", next_path, 200), ("POST", "response", 202), ("GET", next_path, 200),
                                  ("POST", "error", 202), ("GET", next_path, 0)]
        assert calls(audit) == [("POST", "/2020-01-01/extension/register", 200), ("GET", event_next, 200),
                                ("GET", event_next, 200), ("GET", event_next, 0)]
        # Parked: each /next waited (answered with a duration), and the last of each still waits.
        for waited in (runtime.exchanges[0], runtime.exchanges[2], audit.exchanges[1], audit.exchanges[2]):
            assert waited.long_poll and waited.parked_ms is not None and waited.parked_ms >= 0
        for parked in (runtime.exchanges[-1], audit.exchanges[-1]):
            assert parked.answered is None and parked.parked_ms is None and parked.status == 0
        # The headers that matter, both ways, and the bodies' previews.
        register = audit.exchanges[0]
        assert ("lambda-extension-name", "audit") in register.request_headers
        assert json.loads(register.request_preview) == {"events": ["INVOKE", "SHUTDOWN"]}
        identifier = dict(register.response_headers)["Lambda-Extension-Identifier"]
        assert ("lambda-extension-identifier", identifier) in audit.exchanges[1].request_headers
        invoke_event = audit.exchanges[1]
        assert invoke_event.response_preview.startswith('{"eventType":"INVOKE"') and first in invoke_event.response_preview
        # A preview is the body's first 200 bytes; the size is the whole body's.
        assert len(invoke_event.response_preview) == 200 < invoke_event.response_bytes
        delivered = dict(runtime.exchanges[0].response_headers)
        assert delivered["Lambda-Runtime-Aws-Request-Id"] == first and "Lambda-Runtime-Deadline-Ms" in delivered
        assert runtime.exchanges[0].response_preview == '{"n": 1}'
        assert runtime.exchanges[1].path == f"{RUNTIME}/invocation/{first}/response"
        assert runtime.exchanges[1].request_preview == '{"n": 1}'
        reported = runtime.exchanges[3]
        assert reported.path == f"{RUNTIME}/invocation/{second}/error" and reported.error_type == "Custom.Boom"
        assert ("lambda-runtime-function-error-type", "Custom.Boom") in reported.request_headers
        # In the order they began, across participants: register before the runtime's first /next.
        assert register.seq < runtime.exchanges[0].seq

        async with httpx.AsyncClient(base_url=f"http://{running.runtime_api}", timeout=BOUND) as client:
            refused = await client.post(f"{RUNTIME}/invocation/{uuid.uuid4()}/response", content=b'{"x": 1}')
            stranger = await client.get("/2020-01-01/extension/event/next",
                                        headers={"Lambda-Extension-Identifier": str(uuid.uuid4())})
            lost = await client.get(f"{RUNTIME}/invocation/nxet")  # a custom runtime's typo
        assert refused.status_code == 400 and stranger.status_code == 403 and lost.status_code == 404
        traffic = by_participant(running)
        typo: ApiExchanged = traffic["runtime"].exchanges[-1]
        assert (typo.path, typo.status, typo.error_type, typo.long_poll) == (f"{RUNTIME}/invocation/nxet", 404,
                                                                            "NotFound", False)
        bad: ApiExchanged = traffic["runtime"].exchanges[-2]
        assert (bad.method, bad.status, bad.error_type) == ("POST", 400, "InvalidRequestID")
        assert bad.request_preview == '{"x": 1}' and json.loads(bad.response_preview)["errorType"] == "InvalidRequestID"
        unknown = traffic["extension (unregistered)"].exchanges[-1]
        assert (unknown.status, unknown.error_type) == (403, "Extension.UnknownExtensionIdentifier")


@pytest.mark.trio
async def test_headless_runs_record_nothing(code_dir: Path) -> None:
    config = resolve_function(str(custom_runtime_with_audit(code_dir)))
    heard: list[ApiExchanged] = []
    async with open_environment(config, listeners=[lambda fact: heard.append(fact) if isinstance(  # type: ignore[func-returns-value]
            fact, ApiExchanged) else None]) as running:
        await frozen_after(running, b'{"n": 1}')
    assert heard == []


@pytest.mark.trio
async def test_the_traffic_outlives_the_environment(code_dir: Path) -> None:
    config = resolve_function(str(custom_runtime_with_audit(code_dir)))
    async with open_environment(config, inspect=True) as running:
        await frozen_after(running, b'{"n": 1}')
        session = running.session
        with trio.fail_after(BOUND):
            session.fleet.request_shutdown()
            await running.host.wait_for_state(EnvState.SHUT_DOWN)
        kept = {traffic.participant: traffic for traffic in session.api_traffic(None)}
        assert kept["runtime"].exchanges[0].path == f"{RUNTIME}/invocation/next"
        assert session.api_traffic(99) == session.api_traffic(None)  # an unknown number: as `snapshot` falls back


# A custom runtime whose /response is sent on a socket of its own: with chunks that cannot be parsed (MODE
# "malformed"), or cut short by a hang-up (MODE "hangup"). Its next /next goes on as usual.
CUT_SHORT = '''#!{python}
import http.client, os, socket
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
api = http.client.HTTPConnection(host, int(port), timeout=None)
while True:
    api.request("GET", "/2018-06-01/runtime/invocation/next")
    response = api.getresponse()
    response.read()
    path = "/2018-06-01/runtime/invocation/%s/response" % response.getheader("Lambda-Runtime-Aws-Request-Id")
    raw = socket.create_connection((host, int(port)))
    head = "POST %s HTTP/1.1\\r\\nHost: %s:%s\\r\\n" % (path, host, port)
    if {mode!r} == "malformed":
        raw.sendall(head.encode() + b"Transfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\nzz\\r\\n")
        while raw.recv(65536):
            pass
    else:  # half-closed: the socket stays this process's until the server closes (it admits traced holders only)
        raw.sendall(head.encode() + b"Content-Length: 100\\r\\n\\r\\n{{\\"cut")
        raw.shutdown(socket.SHUT_WR)
        while raw.recv(65536):
            pass
    raw.close()
'''


@pytest.mark.trio
@pytest.mark.parametrize("mode, error_type", [("malformed", "InvalidRequestFormat"), ("hangup", "TruncatedHTTPRequest")])
async def test_a_response_body_cut_short_shows_what_the_wire_carried(code_dir: Path, mode: str,
                                                                     error_type: str) -> None:
    """The core hears a truncated /response (Runtime.TruncatedResponse), and the route's answer to it is never sent:
    the framing answers the body it could not read (400). The view showed the route's unsent answer (202)."""
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(CUT_SHORT.format(python=sys.executable, mode=mode))
    bootstrap.chmod(0o755)
    async with open_environment(resolve_function(str(bootstrap)), inspect=True) as running:
        answered = trio.Event()  # the exchange is recorded once the framing has answered, after the core heard it

        def heard(fact: object) -> None:
            if isinstance(fact, ApiExchanged) and fact.path.endswith("/response") and fact.answered is not None:
                answered.set()

        running.session.subscribe(heard)
        with trio.fail_after(BOUND):
            result, _ = await running.host.invoke(b"{}")
            await answered.wait()
        assert result.error_type == "Runtime.TruncatedResponse", result
        (runtime,) = [t for t in running.session.api_traffic(None) if t.participant == "runtime"]
        (posted,) = [e for e in runtime.exchanges if e.path.endswith("/response")]
        assert (posted.status, posted.error_type) == (400, error_type), posted
