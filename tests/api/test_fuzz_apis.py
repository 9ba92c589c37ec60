"""Fuzzing the Runtime, Extensions and Invoke APIs (issue 8): any request gets one of Lambda's answers, and the
environment still serves the next invoke.

One real environment (real runtime process, both servers) runs in a trio thread for the module; hypothesis
sends it requests over raw HTTP: every method on every Lambda path (and a few that are not), random request
ids and extension identifiers, Lambda's headers with random values, bodies that are random bytes, JSON, or JSON
nested too deep for Python's parser. Each answer must carry a status Lambda uses, with a JSON body (an HTML
error page means the host raised); after every request a normal invoke must still succeed.

Left out on purpose: `GET /runtime/invocation/next` (a second caller on it is the runtime's own re-ask, and
taking events away from the runtime is the neighbour problem, tested where it is fixed).
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Iterator, Optional

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdatui.config import resolve_function
from lambdatui.runner import open_environment

BOUND_S = 30.0
LAMBDA_STATUSES = {200, 202, 204, 400, 403, 404, 405, 406, 409, 413, 415, 429, 500, 502}

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


class Environment:
    """`open_environment` in a trio run of its own thread, for synchronous hypothesis tests."""

    def __init__(self, code_dir) -> None:
        self.config = resolve_function(str(code_dir / "handler.py"), timeout_s=3)
        self.runtime_api = ""
        self.invoke_api = ""
        self._ready = threading.Event()
        self._token: Optional[trio.lowlevel.TrioToken] = None
        self._stop: Optional[trio.Event] = None
        self._failure: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to the test through start()
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with open_environment(self.config, invoke_port=0) as running:
            self.runtime_api, self.invoke_api = running.runtime_api, running.invoke_api or ""
            self._ready.set()
            await self._stop.wait()

    def start(self) -> "Environment":
        self._thread.start()
        assert self._ready.wait(BOUND_S), "the environment did not start"
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self) -> None:
        if self._token is not None and self._stop is not None:
            self._token.run_sync_soon(self._stop.set)
        self._thread.join(BOUND_S)


@pytest.fixture(scope="module")
def environment(module_code_dir) -> Iterator[Environment]:
    (module_code_dir / "handler.py").write_text(HANDLER)
    env = Environment(module_code_dir).start()
    try:
        yield env
    finally:
        env.stop()


def send(address: str, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=BOUND_S)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def invoke_still_works(env: Environment) -> None:
    status, body = send(env.invoke_api, "POST", "/2015-03-31/functions/function/invocations", {}, b"{}")
    assert (status, json.loads(body)) == (200, {"ok": True}), (status, body)


# ---------------------------------------------------------------------- strategies

segment = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"), max_size=12) | \
    st.sampled_from(["", "..", "%2F", "ff" * 20, "0" * 36])

RUNTIME_PATHS = st.one_of(
    st.builds(lambda s: f"/2018-06-01/runtime/invocation/{s}/response", segment),
    st.builds(lambda s: f"/2018-06-01/runtime/invocation/{s}/error", segment),
    st.just("/2018-06-01/runtime/init/error"),
    st.just("/2018-06-01/runtime/invocation/next"),  # only with methods other than GET (see below)
    st.just("/2020-01-01/extension/register"),
    st.just("/2020-01-01/extension/event/next"),
    st.just("/2020-01-01/extension/init/error"),
    st.just("/2020-01-01/extension/exit/error"),
    st.just("/2022-07-01/telemetry"),
    st.just("/2020-08-15/logs"),
    st.just("/lambdatui/v1/globals"),
    st.just("/lambdatui/v1/inspection"),
    st.builds(lambda a, b: f"/{a}/{b}", segment, segment),
)
INVOKE_PATHS = st.one_of(
    st.builds(lambda s: f"/2015-03-31/functions/{s}/invocations", segment),
    st.builds(lambda a, b: f"/{a}/{b}", segment, segment),
)
HEADER_NAMES = [
    "Content-Type", "Lambda-Extension-Name", "Lambda-Extension-Identifier", "Lambda-Extension-Function-Error-Type",
    "Lambda-Runtime-Function-Error-Type", "Lambda-Runtime-Function-Response-Mode", "X-Amz-Invocation-Type",
    "X-Amz-Log-Type", "X-Amz-Client-Context", "Lambda-Extension-Accept-Feature",
]
header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40) | st.sampled_from(
    ["application/json", "Event", "DryRun", "RequestResponse", "Tail", "streaming", "accountId", "e30="])
headers = st.dictionaries(st.sampled_from(HEADER_NAMES), header_value, max_size=4)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.just(b'{"events": ["INVOKE", "SHUTDOWN"]}'),
    st.just(b'{"errorType": 42, "errorMessage": null}'),
    st.integers(min_value=1_000, max_value=5_000).map(nested),
)
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


def assert_lambda_answer(status: int, body: bytes) -> None:
    assert status in LAMBDA_STATUSES, (status, body[:200])
    if body and status != 204:
        try:
            json.loads(body)
        except ValueError:
            raise AssertionError(f"{status} with a body that is not JSON: {body[:200]!r}") from None


@FUZZ
@given(method=METHODS, path=RUNTIME_PATHS, headers=headers, body=bodies)
def test_the_sandbox_side_answers_every_request_as_lambda_does(environment, method, path, headers, body):
    if method == "GET" and path == "/2018-06-01/runtime/invocation/next":
        method = "POST"
    status, answer = send(environment.runtime_api, method, path, headers, body)
    assert_lambda_answer(status, answer)
    invoke_still_works(environment)


@FUZZ
@given(method=METHODS, path=INVOKE_PATHS, headers=headers, body=bodies)
def test_the_invoke_api_answers_every_request_as_lambda_does(environment, method, path, headers, body):
    status, answer = send(environment.invoke_api, method, path, headers, body)
    assert_lambda_answer(status, answer)
    invoke_still_works(environment)
