"""Issue 8, hardening: inputs that broke the host or kept a connection, through real processes and real HTTP.

* A runtime's `/error` body nested 10,000 deep (20 KB, more than the json of any Python from 3.10 to 3.13 follows)
  is forwarded as Lambda forwards it: the runtime gets 202, the caller its error at once, typed by the body as on
  every host, and the next invoke works. The Invoke API takes a payload nested as deep (the Python runtime fails
  it with Runtime.UnmarshalError) and answers 400 InvalidRequestContentException to one nested deeper.
* A runtime that stops mid-body and closes its connection (but lives on and reconnects for /next) fails the
  invoke with `Runtime.TruncatedResponse`, not `Function.ResponseSizeTooLarge`.
* `Connection: close` and HTTP/1.0 close the connection once answered, on both servers, whichever route answers.
"""

from __future__ import annotations

import http.client
import json
import socket
import stat
import sys
import time
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.json_text import MAX_DEPTH
from lambdatui.runner import open_environment

DEPTH = MAX_DEPTH  # the deepest Lambda's front end takes, past the json of every Python from 3.10 to 3.13
DEEP_ERROR = ('{"errorType":"Deep.Error","errorMessage":"nested","data":' + "[" * (DEPTH - 1) + "]" * (DEPTH - 1)
              + "}").encode()
DEEP_PAYLOAD = ("[" * DEPTH + "]" * DEPTH).encode()
PROMPT_S = 5.0  # far below the function timeout below: an answer within this came from the runtime, not a timeout
TIMEOUT_S = 30

# The runtime's first invoke posts the deep error; the second reports the status its /error got.
DEEP_ERROR_RUNTIME = """#!{python}
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
statuses = []
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    response.read()
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    if not statuses:
        conn.request("POST", "/2018-06-01/runtime/invocation/%s/error" % request_id, body={deep!r},
                     headers={{"Lambda-Runtime-Function-Error-Type": "Runtime.Deep"}})
        answer = conn.getresponse()
        statuses.append([answer.status, answer.read().decode("latin-1")[:200]])
    else:
        body = json.dumps({{"pid": os.getpid(), "error_answer": statuses[0]}}).encode()
        conn.request("POST", "/2018-06-01/runtime/invocation/%s/response" % request_id, body=body)
        conn.getresponse().read()
"""

# The runtime's first invoke sends part of a body on a connection of its own and hangs up; it then asks for the next
# event on a new connection, as a runtime that survives a broken socket would. The second invoke answers normally.
TRUNCATING_RUNTIME = """#!{python}
import http.client, json, os, socket
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
HOW = {how!r}
invokes = 0
while True:
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    response.read()
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    invokes += 1
    if invokes == 1:
        conn.close()
        path = "/2018-06-01/runtime/invocation/%s/%s" % (request_id, "error" if HOW == "error" else "response")
        head = "POST %s HTTP/1.1\\r\\nHost: %s\\r\\n" % (path, host)
        if HOW == "streaming":
            head += "Lambda-Runtime-Function-Response-Mode: streaming\\r\\n"
        if HOW == "chunked":
            head += "Transfer-Encoding: chunked\\r\\n\\r\\n64\\r\\n" + '{{"partial": "' + "x" * 20
        else:
            head += "Content-Length: 100\\r\\n\\r\\n" + '{{"partial": "' + "x" * 20
        raw = socket.create_connection((host, int(port)))
        raw.sendall(head.encode())
        # Hang up: the FIN ends the body early. Half-closed, so the socket still belongs to this process until
        # the server closes its side (lambdatui admits a connection only once it has traced its holder).
        raw.shutdown(socket.SHUT_WR)
        while raw.recv(65536):
            pass
        raw.close()
        continue
    body = json.dumps({{"pid": os.getpid(), "invokes": invokes}}).encode()
    conn.request("POST", "/2018-06-01/runtime/invocation/%s/response" % request_id, body=body)
    conn.getresponse().read()
    conn.close()
"""


def _bootstrap(code_dir: Path, text: str) -> Path:
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(text)
    bootstrap.chmod(bootstrap.stat().st_mode | stat.S_IXUSR)
    return bootstrap


@pytest.mark.trio
async def test_a_deeply_nested_error_body_is_forwarded_and_the_next_invoke_works(code_dir: Path) -> None:
    bootstrap = _bootstrap(code_dir, DEEP_ERROR_RUNTIME.format(python=sys.executable, deep=DEEP_ERROR))
    with trio.fail_after(TIMEOUT_S * 2):
        async with open_environment(resolve_function(str(bootstrap), timeout_s=TIMEOUT_S)) as running:
            running.host.start_environment()
            began = time.monotonic()
            with trio.move_on_after(PROMPT_S):
                first, _ = await running.host.invoke(b"{}")
            assert time.monotonic() - began < PROMPT_S, "the caller waited for the timeout"
            assert first.function_error
            assert first.payload == DEEP_ERROR  # forwarded as-is, as Lambda does
            assert first.error_type == "Deep.Error"  # the body's, read past the host's json as on every host
            with trio.fail_after(PROMPT_S):
                second, _ = await running.host.invoke(b"{}")
            assert not second.function_error, second.payload
            status, body = json.loads(second.payload)["error_answer"]
            assert (status, json.loads(body)) == (202, {"status": "OK"})


def _post(address: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=PROMPT_S)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.mark.trio
@pytest.mark.parametrize("headers", [{}, {"X-Amz-Invocation-Type": "RequestResponse"}], ids=["fast-path", "quart"])
async def test_a_payload_nested_past_pythons_parser_reaches_the_runtime_as_in_lambda(code_dir: Path,
                                                                                    headers: dict[str, str]) -> None:
    # Lambda's front end takes it (valid JSON, 10,000 levels); our Python runtime cannot read it and fails the invoke
    # as awslambdaric does; the environment serves the next one. Past 10,000 levels the front end refuses it.
    handler = code_dir / "handler.py"
    handler.write_text("def handler(event, context):\n    return {'ok': True}\n")
    with trio.fail_after(TIMEOUT_S):
        async with open_environment(resolve_function(str(handler)), invoke_port=0) as running:
            assert running.invoke_api is not None
            path = "/2015-03-31/functions/function/invocations"
            status, answer_headers, body = await trio.to_thread.run_sync(
                _post, running.invoke_api, path, DEEP_PAYLOAD, headers)
            assert status == 200 and answer_headers["x-amz-function-error"] == "Unhandled", body
            assert json.loads(body)["errorType"] == "Runtime.UnmarshalError", body
            too_deep = ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode()
            status, answer_headers, body = await trio.to_thread.run_sync(
                _post, running.invoke_api, path, too_deep, headers)
            assert status == 400, body
            assert answer_headers["x-amzn-errortype"] == "InvalidRequestContentException"
            status, _, body = await trio.to_thread.run_sync(_post, running.invoke_api, path, b'{"n": 1}', headers)
            assert (status, json.loads(body)) == (200, {"ok": True})


@pytest.mark.trio
@pytest.mark.parametrize("how", ["content-length", "chunked", "streaming", "error"])
async def test_a_runtime_that_hangs_up_mid_body_gets_a_truncated_response(code_dir: Path, how: str) -> None:
    bootstrap = _bootstrap(code_dir, TRUNCATING_RUNTIME.format(python=sys.executable, how=how))
    with trio.fail_after(TIMEOUT_S * 2):
        async with open_environment(resolve_function(str(bootstrap), timeout_s=TIMEOUT_S)) as running:
            running.host.start_environment()
            with trio.fail_after(PROMPT_S):
                first, _ = await running.host.invoke(b"{}")
            assert first.function_error
            assert first.error_type == "Runtime.TruncatedResponse", first.payload
            assert json.loads(first.payload)["errorType"] == "Runtime.TruncatedResponse"
            with trio.fail_after(PROMPT_S):
                second, _ = await running.host.invoke(b"{}")
            assert not second.function_error, second.payload
            assert json.loads(second.payload)["invokes"] == 2  # the same runtime process, not a re-init


def _closes_promptly(address: str, raw: bytes, bound: float = 2.0) -> tuple[bool, bytes]:
    """Send `raw` on a new connection; (closed by the server within `bound`, what came back)."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(raw)
        deadline = time.monotonic() + bound
        received = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, received
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return False, received
            if not chunk:
                return True, received
            received += chunk


RUNTIME_SIDE = [
    b"GET /no/such/route",  # quart's 404
    b"GET /2020-01-01/extension/event/next",  # an Extensions API route: 403, no identifier
    b"POST /2018-06-01/runtime/invocation/no-such-id/error",  # a Runtime API quart route: 400
    b"POST /2018-06-01/runtime/invocation/no-such-id/response",  # the fast path: 400
]
INVOKE_SIDE = [
    b"GET /no/such/route",  # quart's 404
    b"POST /2015-03-31/functions/function/invocations",  # the fast path: a whole invoke
]


@pytest.mark.trio
@pytest.mark.parametrize("version", ["HTTP/1.0", "Connection: close"])
async def test_connection_close_and_http_1_0_close_the_connection_on_every_server(
        code_dir: Path, version: str) -> None:
    handler = code_dir / "handler.py"
    handler.write_text("def handler(event, context):\n    return {'ok': True}\n")
    with trio.fail_after(TIMEOUT_S):
        async with open_environment(resolve_function(str(handler)), invoke_port=0) as running:
            assert running.invoke_api is not None
            cases = [(running.runtime_api, line) for line in RUNTIME_SIDE] + [
                (running.invoke_api, line) for line in INVOKE_SIDE] + [
                (running.invoke_api, b"POST /2015-03-31/functions/function/invocations")]  # quart: DryRun below
            for index, (address, line) in enumerate(cases):
                if version == "HTTP/1.0":
                    head = line + b" HTTP/1.0\r\n"
                else:
                    head = line + b" HTTP/1.1\r\nHost: lambdatui\r\nConnection: close\r\n"
                if index == len(cases) - 1:
                    head += b"X-Amz-Invocation-Type: DryRun\r\n"
                raw = head + b"Content-Length: 2\r\n\r\n{}" if line.startswith(b"POST") else head + b"\r\n"
                closed, received = await trio.to_thread.run_sync(_closes_promptly, address, raw)
                assert received.startswith(b"HTTP/1.1 "), (line, received)
                assert closed, f"{line.decode()} ({version}) left the connection open: {received[:80]!r}"
            # A keep-alive HTTP/1.1 request still keeps its connection.
            closed, received = await trio.to_thread.run_sync(
                _closes_promptly, running.runtime_api, b"GET /no/such/route HTTP/1.1\r\nHost: lambdatui\r\n\r\n", 0.5)
            assert received.startswith(b"HTTP/1.1 404") and not closed


# Ten launched extensions; the first one, before registering under its own name, registers another name, which
# makes it an internal extension (lambda-spec §2.2): the eleventh, whatever the order of registration.
EXTENSION = """#!{python}
import http.client, json, os, sys
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
name = os.path.basename(sys.argv[0])
conn = http.client.HTTPConnection(host, int(port))

def register(as_name, events):
    conn.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": events}}),
                 headers={{"Lambda-Extension-Name": as_name}})
    answer = conn.getresponse()
    return answer, answer.read()

if name == "ext-0":
    answer, body = register("early-internal", ["INVOKE"])
    print("early-internal register: %d %s" % (answer.status, json.loads(body).get("errorType", "")), flush=True)
answer, _ = register(name, [])
identifier = answer.getheader("Lambda-Extension-Identifier")
conn.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": identifier}})
conn.getresponse().read()  # subscribed to nothing: parked until the end
"""


@pytest.mark.trio
async def test_an_internal_extension_registering_before_ten_launched_ones_is_refused(code_dir: Path) -> None:
    from e2e_support import LogCollector

    handler = code_dir / "handler.py"
    handler.write_text("def handler(event, context):\n    return {'ok': True}\n")
    for i in range(10):
        script = code_dir / "extensions" / f"ext-{i}"
        script.parent.mkdir(exist_ok=True)
        script.write_text(EXTENSION.format(python=sys.executable))
        script.chmod(0o755)
    config = resolve_function(str(handler), extensions_dir=str(code_dir / "extensions"))
    with trio.fail_after(TIMEOUT_S):
        async with open_environment(config) as running:
            log = LogCollector()
            running.host.subscribe(log)
            result, _ = await running.host.invoke(b"{}")
            assert (result.function_error, json.loads(result.payload)) == (False, {"ok": True}), log.dump()
            line = await log.wait_for_text(r"early-internal register: ")
            assert line.endswith("early-internal register: 403 Extension.TooManyExtensions"), log.dump()


@pytest.mark.trio
async def test_the_sandbox_side_refuses_a_body_nested_too_deep_to_parse_with_its_own_error(code_dir: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text("def handler(event, context):\n    return {'ok': True}\n")
    with trio.fail_after(TIMEOUT_S):
        async with open_environment(resolve_function(str(handler))) as running:
            cases = [
                ("/2020-01-01/extension/register", {"Lambda-Extension-Name": "deep"}, 403, "InvalidRequestFormat"),
                ("/lambdatui/v1/globals", {}, 400, "InvalidRequestFormat"),
            ]
            for path, headers, status, error_type in cases:
                got, _, body = await trio.to_thread.run_sync(
                    _post, running.runtime_api, path, b'{"events": ' + DEEP_PAYLOAD + b"}", headers)
                assert (got, json.loads(body)["errorType"]) == (status, error_type), (path, body[:200])
