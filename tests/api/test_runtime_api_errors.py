"""Runtime and Extensions API refusals (lambda-spec §1, §2.5), sent by a misbehaving client over real HTTP.

Each test starts a real environment in-process (`open_environment`, real runtime process), waits until
Init is over and one invoke has succeeded, then talks to the Runtime API port directly with httpx, as a
buggy runtime or extension would. Afterwards the environment must still serve a normal invoke.
"""

from __future__ import annotations

import json
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Optional

import httpx
import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.runner import Running, open_environment

BOUND = 30  # seconds

HANDLER = '''def handler(event, context):
    if event.get("big"):
        return "x" * 7_000_000  # more than the 6,291,556 bytes a buffered response may hold
    return {"ok": True, "requestId": context.aws_request_id}
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
        await invoke_ok(running)  # Init is over: the runtime is parked in /next, registration is closed
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
