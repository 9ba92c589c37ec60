"""Runtime and Extensions API refusals (lambda-spec §1, §2.5), sent by a misbehaving client over real HTTP.

Each test starts a real environment in-process (`open_environment`, real runtime process), waits until
Init is over and one invoke has succeeded, then talks to the Runtime API port directly with httpx, as a
buggy runtime or extension would. Afterwards the environment must still serve a normal invoke.
"""

from __future__ import annotations

import json
import sys
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Optional

import httpx
import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.runner import Running, open_environment

BOUND = 30  # seconds

HANDLER = '''def handler(event, context):
    if event.get("big"):
        return "x" * 7_000_000  # more than the 6,291,556 bytes a buffered response may hold
    return {"ok": True, "requestId": context.aws_request_id}
'''

# A custom runtime that misbehaves on request: the event lists the calls it makes for that invoke (against
# the invoke's own request id), and it prints each answer as one line of the function's log.
SCRIPTED_RUNTIME = '''#!{python}
import http.client
import json
import os

API = os.environ["AWS_LAMBDA_RUNTIME_API"]


def call(method, path, body=b"", headers=None, chunks=None):
    conn = http.client.HTTPConnection(API, timeout=None)
    if chunks is None:
        conn.request(method, "/2018-06-01/runtime" + path, body=body, headers=headers or {{}})
    else:
        conn.putrequest(method, "/2018-06-01/runtime" + path)
        for name, value in (headers or {{}}).items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for chunk in chunks:
            conn.send(b"%x\\r\\n%s\\r\\n" % (len(chunk), chunk.encode()))
        conn.send(b"0\\r\\n\\r\\n")
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


while True:
    response, event = call("GET", "/invocation/next")
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    for n, step in enumerate(json.loads(event).get("steps", [])):
        answer, data = call(
            "POST", f"/invocation/{{request_id}}/{{step['kind']}}", json.dumps(step.get("body")).encode(),
            step.get("headers"), step.get("chunks"),
        )
        print(f"step {{n}}: {{answer.status}} {{data.decode()}}", flush=True)
'''

RUNTIME = "/2018-06-01/runtime"
EXTENSION = "/2020-01-01/extension"


async def invoke_ok(running: Running) -> None:
    with trio.fail_after(BOUND):
        result, _ = await running.host.invoke(b"{}")
    assert not result.function_error, result.payload
    assert json.loads(result.payload) == {"ok": True, "requestId": result.request_id}


@asynccontextmanager
async def warm_environment(code_dir: Path) -> AsyncIterator[tuple[Running, httpx.AsyncClient]]:
    handler = code_dir / "handler.py"
    handler.write_text(HANDLER)
    async with open_environment(resolve_function(str(handler))) as running:
        await invoke_ok(running)
        with trio.fail_after(BOUND):
            # The invoke is over only when the runtime is back in /next: from here on a client that calls
            # the API is an impostor, never mistaken for the runtime. Registration is closed.
            await running.host.wait_for_state(EnvState.FROZEN)
        async with httpx.AsyncClient(base_url=f"http://{running.runtime_api}", timeout=BOUND) as client:
            yield running, client
        await invoke_ok(running)  # whatever the client did, the environment still works


def assert_error(response: httpx.Response, status: int, error_type: str, message: Optional[str] = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["errorType"] == error_type, body
    assert isinstance(body["errorMessage"], str) and body["errorMessage"]
    if message is not None:
        assert body["errorMessage"] == message


@pytest.mark.trio
@pytest.mark.parametrize("outcome", ["response", "error"])
async def test_unknown_request_id_is_invalid_request_id(code_dir: Path, outcome: str) -> None:
    async with warm_environment(code_dir) as (running, client):
        response = await client.post(f"{RUNTIME}/invocation/{uuid.uuid4()}/{outcome}", content=b'{"x": 1}')

        assert response.status_code == 400
        assert response.json() == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}


@pytest.mark.trio
async def test_init_error_after_init_is_invalid_state_transition(code_dir: Path) -> None:
    async with warm_environment(code_dir) as (running, client):
        response = await client.post(
            f"{RUNTIME}/init/error",
            content=b'{"errorMessage": "late", "errorType": "Runtime.Late"}',
            headers={"Lambda-Runtime-Function-Error-Type": "Runtime.Late"},
        )

        assert_error(response, 403, "InvalidStateTransition")


@pytest.mark.trio
async def test_second_next_while_the_runtime_waits_is_refused(code_dir: Path) -> None:
    # The real runtime is parked in /next; an impostor asking too must not take its place (or its event).
    async with warm_environment(code_dir) as (running, client):
        with trio.fail_after(BOUND):
            response = await client.get(f"{RUNTIME}/invocation/next")

        assert_error(response, 403, "InvalidStateTransition")


@pytest.mark.trio
@pytest.mark.parametrize(("method", "path"), [("POST", f"{RUNTIME}/invocation/next"),
                                              ("GET", f"{RUNTIME}/init/error"),
                                              ("GET", f"{EXTENSION}/register")])
async def test_wrong_method_is_405_json(code_dir: Path, method: str, path: str) -> None:
    async with warm_environment(code_dir) as (running, client):
        response = await client.request(method, path)

        assert_error(response, 405, response.json().get("errorType", "?"))


@pytest.mark.trio
async def test_register_without_a_name(code_dir: Path) -> None:
    async with warm_environment(code_dir) as (running, client):
        response = await client.post(f"{EXTENSION}/register", json={"events": ["INVOKE"]})

        assert_error(response, 403, "Extension.InvalidExtensionName")


@pytest.mark.trio
@pytest.mark.parametrize(
    ("identifier", "error_type"),
    [
        pytest.param(None, "Extension.MissingExtensionIdentifier", id="missing"),
        pytest.param("not-a-uuid", "Extension.InvalidExtensionIdentifier", id="not-a-uuid"),
        pytest.param(str(uuid.uuid4()), "Extension.UnknownExtensionIdentifier", id="unknown-uuid"),
    ],
)
async def test_event_next_identifier_checks(code_dir: Path, identifier: Optional[str], error_type: str) -> None:
    async with warm_environment(code_dir) as (running, client):
        headers = {} if identifier is None else {"Lambda-Extension-Identifier": identifier}
        with trio.fail_after(BOUND):  # refused at once, never parked like a real /next
            response = await client.get(f"{EXTENSION}/event/next", headers=headers)

        assert_error(response, 403, error_type)


@pytest.mark.trio
async def test_register_body_not_json(code_dir: Path) -> None:
    async with warm_environment(code_dir) as (running, client):
        response = await client.post(
            f"{EXTENSION}/register", content=b"{events: INVOKE", headers={"Lambda-Extension-Name": "late-ext"}
        )

        assert_error(response, 403, "InvalidRequestFormat")


@pytest.mark.trio
async def test_register_after_init_is_closed(code_dir: Path) -> None:
    async with warm_environment(code_dir) as (running, client):
        response = await client.post(
            f"{EXTENSION}/register", json={"events": ["INVOKE"]}, headers={"Lambda-Extension-Name": "late-ext"}
        )

        assert_error(response, 403, "Extension.RegistrationClosed")


@pytest.mark.trio
@pytest.mark.parametrize("endpoint", ["init/error", "exit/error"])
async def test_extension_error_report_without_error_type_header(code_dir: Path, endpoint: str) -> None:
    async with warm_environment(code_dir) as (running, client):
        response = await client.post(
            f"{EXTENSION}/{endpoint}", json={"errorMessage": "x", "errorType": "Extension.Bad"},
            headers={"Lambda-Extension-Identifier": str(uuid.uuid4())},
        )

        assert_error(response, 403, "Extension.MissingHeader", "Lambda-Extension-Function-Error-Type not found")


@pytest.mark.trio
async def test_oversize_response_is_function_response_size_too_large(code_dir: Path) -> None:
    async with warm_environment(code_dir) as (running, client):
        with trio.fail_after(BOUND):
            result, _ = await running.host.invoke(b'{"big": true}')

        assert result.function_error
        assert result.error_type == "Function.ResponseSizeTooLarge"
        body = json.loads(result.payload)
        assert body["errorType"] == "Function.ResponseSizeTooLarge"
        assert "6291556 bytes" in body["errorMessage"]


@pytest.mark.trio
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", ["/2018-06-01/runtime/nothing-here", "/2020-01-01/extension/nope", "/no/such/api"])
async def test_unknown_path_is_404_json(code_dir: Path, method: str, path: str) -> None:
    async with warm_environment(code_dir) as (running, client):
        response = await client.request(method, path, content=b"{}" if method == "POST" else None)

        assert_error(response, 404, response.json().get("errorType", "?"))


@asynccontextmanager
async def scripted_runtime(code_dir: Path) -> AsyncIterator[tuple[Running, list[str]]]:
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(SCRIPTED_RUNTIME.format(python=sys.executable))
    bootstrap.chmod(0o755)
    async with open_environment(resolve_function(str(bootstrap))) as running:
        lines: list[str] = []
        running.host.subscribe(
            lambda fact: lines.extend(line.text for line in f.log_lines(fact) if line.source == f.FUNCTION)
        )
        yield running, lines


async def run_steps(running: Running, *steps: dict) -> f.InvocationResult:
    """One invoke driven by `steps`; returns once the runtime is back in /next (its lines all delivered)."""
    with trio.fail_after(BOUND):
        result, _ = await running.host.invoke(json.dumps({"steps": list(steps)}).encode())
        await running.host.wait_for_state(EnvState.FROZEN)
    return result


def step_answers(lines: list[str]) -> list[tuple[int, dict]]:
    answers = []
    for line in lines:
        status, _, body = line.partition(": ")[2].partition(" ")
        answers.append((int(status), json.loads(body)))
    return answers


@pytest.mark.trio
async def test_second_response_for_the_same_invoke_is_invalid_state_transition(code_dir: Path) -> None:
    async with scripted_runtime(code_dir) as (running, lines):
        result = await run_steps(
            running,
            {"kind": "response", "body": {"first": True}},
            {"kind": "response", "body": {"second": True}},
            {"kind": "error", "body": {"errorType": "Late", "errorMessage": "too late"}},
        )

        assert json.loads(result.payload) == {"first": True} and not result.function_error
        (first, second, third) = step_answers(lines)
        assert first == (202, {"status": "OK"})
        assert second[0] == 403 and second[1]["errorType"] == "InvalidStateTransition"
        assert third[0] == 403 and third[1]["errorType"] == "InvalidStateTransition"
        # The runtime went on to /next: the environment still serves.
        assert json.loads((await run_steps(running, {"kind": "response", "body": 7})).payload) == 7


@pytest.mark.trio
async def test_error_body_and_type_reach_the_caller(code_dir: Path) -> None:
    async with scripted_runtime(code_dir) as (running, lines):
        body = {"errorType": "Custom.PaymentDeclined", "errorMessage": "card declined", "stackTrace": []}
        result = await run_steps(
            running, {"kind": "error", "body": body, "headers": {"Lambda-Runtime-Function-Error-Type": "Custom.X"}}
        )

        assert step_answers(lines) == [(202, {"status": "OK"})]
        assert result.function_error
        assert json.loads(result.payload) == body


@pytest.mark.trio
async def test_streamed_response_reaches_the_caller(code_dir: Path) -> None:
    async with scripted_runtime(code_dir) as (running, lines):
        result = await run_steps(running, {
            "kind": "response", "chunks": ["hello ", "streamed ", "world"],
            "headers": {"Lambda-Runtime-Function-Response-Mode": "streaming", "Content-Type": "text/plain"},
        })

        assert step_answers(lines) == [(202, {"status": "OK"})]
        assert result.payload == b"hello streamed world"
        assert result.content_type == "text/plain"
        assert not result.function_error


BAD_MODE = {"kind": "response", "body": {"a": 1}, "headers": {"Lambda-Runtime-Function-Response-Mode": "bogus"}}


@pytest.mark.trio
async def test_bad_response_mode_header_is_400(code_dir: Path) -> None:
    async with scripted_runtime(code_dir) as (running, lines):
        await run_steps(running, BAD_MODE, {"kind": "error", "body": {"errorType": "X", "errorMessage": "end it"}})

        assert step_answers(lines)[0] == (
            400, {"errorMessage": "Invalid function response mode", "errorType": "InvalidFunctionResponseMode"}
        )


@pytest.mark.trio
async def test_bad_response_mode_header_fails_the_invocation(code_dir: Path) -> None:
    async with scripted_runtime(code_dir) as (running, lines):
        result = await run_steps(running, BAD_MODE, {"kind": "response", "body": {"after": "bad mode"}})

        assert result.function_error, result.payload
        assert result.error_type == "Runtime.InvalidResponseModeHeader", result.payload


# An external extension that, during Init, tries what the Extensions API must refuse, then behaves.
PROBING_EXTENSION = '''#!{python}
import http.client
import json
import os

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
me = os.path.basename(__file__)


def call(label, method, path, headers, body=None):
    api.request(method, "/2020-01-01/extension" + path, body=body, headers=headers)
    response = api.getresponse()
    data = response.read().decode()
    body = json.loads(data) if data else None
    print(json.dumps({{"label": label, "status": response.status, "body": body}}), flush=True)
    return response, body


registered, _ = call("register", "POST", "/register",
                  {{"Lambda-Extension-Name": me, "Lambda-Extension-Accept-Feature": "accountId"}},
                  json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}))
extension_id = registered.getheader("Lambda-Extension-Identifier")
call("twice", "POST", "/register", {{"Lambda-Extension-Name": me}}, json.dumps({{"events": ["INVOKE"]}}))
call("internal-shutdown", "POST", "/register", {{"Lambda-Extension-Name": "internal-x"}},
     json.dumps({{"events": ["SHUTDOWN"]}}))
call("configuration-keys", "POST", "/register", {{"Lambda-Extension-Name": "internal-y"}},
     json.dumps({{"events": ["INVOKE"], "configurationKeys": ["a"]}}))
call("bogus-event", "POST", "/register", {{"Lambda-Extension-Name": "internal-z"}}, json.dumps({{"events": ["BOGUS"]}}))
call("empty-body", "POST", "/register", {{"Lambda-Extension-Name": "internal-w"}}, b"")
call("exit-error-no-type", "POST", "/exit/error", {{"Lambda-Extension-Identifier": extension_id}}, b"{{}}")
while True:
    _, event = call("next", "GET", "/event/next", {{"Lambda-Extension-Identifier": extension_id}})
    if event["eventType"] == "SHUTDOWN":
        break
'''


@pytest.mark.trio
async def test_extensions_api_refusals_during_init(code_dir: Path) -> None:
    (code_dir / "handler.py").write_text(HANDLER)
    extension = code_dir / "extensions" / "probe-ext"
    extension.parent.mkdir()
    extension.write_text(PROBING_EXTENSION.format(python=sys.executable))
    extension.chmod(0o755)
    async with open_environment(resolve_function(str(code_dir / "handler.py"))) as running:
        calls: dict[str, dict] = {}
        running.host.subscribe(lambda fact: [calls.setdefault(json.loads(line.text)["label"], json.loads(line.text))
                                             for line in f.log_lines(fact) if line.source == "extension:probe-ext"])
        await invoke_ok(running)  # the refusals did not break Init: the extension still registered and got ready
        with trio.fail_after(BOUND):
            await running.host.wait_for_state(EnvState.FROZEN)  # every line the extension printed is delivered

        assert calls["register"]["status"] == 200
        assert calls["register"]["body"] == {
            "functionName": code_dir.name, "functionVersion": "$LATEST", "handler": "handler.handler",
            "accountId": calls["register"]["body"]["accountId"],
        }
        assert calls["register"]["body"]["accountId"].isdigit()
        expected = {
            "twice": "Extension.InvalidExtensionState",
            "internal-shutdown": "Extension.InvalidEventType",
            "configuration-keys": "InvalidRequestFormat",
            "bogus-event": "Extension.InvalidEventType",
            "empty-body": "InvalidRequestFormat",
            "exit-error-no-type": "Extension.MissingHeader",
        }
        for label, error_type in expected.items():
            assert calls[label]["status"] == 403, calls[label]
            assert calls[label]["body"]["errorType"] == error_type, calls[label]
