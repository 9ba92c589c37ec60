"""Function URLs end to end (lambda-spec §12.3): real HTTP requests to `--url-port`, real function processes.

Most tests run lambdatui in-process (`open_environment(url_port=0)`) to see its facts beside the HTTP exchange;
the last ones run `lambdatui serve --url-port` as the user does.
"""

from __future__ import annotations

import base64
import re
import socket
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Optional

import httpx
import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model.fleet import FleetOptions
from lambdatui.runner import Running, open_environment

from e2e_support import SAMPLES, LogCollector, ServeProcess, run_cli
from free_ports import free_port

WEB = SAMPLES / "web" / "handler.py"
STREAM = SAMPLES / "stream" / "bootstrap"
BOUND = 30  # seconds: a generous bound for what takes well under one

@asynccontextmanager
async def served(path: Path, fleet: Optional[FleetOptions] = None
                 ) -> AsyncIterator[tuple[Running, httpx.AsyncClient, LogCollector]]:
    """The function behind a function URL on a free loopback port, a client for it, and every fact."""
    log = LogCollector()
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(path)), url_port=0, fleet=fleet,
                                    listeners=[log]) as running:
            assert running.function_url is not None and running.function_url.startswith("127.0.0.1:")
            async with httpx.AsyncClient(base_url=f"http://{running.function_url}", timeout=BOUND) as client:
                yield running, client, log


def labels(log: LogCollector) -> list[str]:
    return [fact.label for fact in log.facts if isinstance(fact, f.PhaseStarted) and fact.phase == "invoke"]


@pytest.mark.trio
async def test_query_strings_headers_and_the_request_context() -> None:
    async with served(WEB) as (running, client, log):
        response = await client.get("/event?a=1&b=%2Fx&a=2&empty=",
                                    headers=[("X-Multi", "one"), ("X-Multi", "two"), ("User-Agent", "test/1")])
        assert response.status_code == 200, response.text
        event = response.json()
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert (event["rawPath"], event["rawQueryString"]) == ("/event", "a=1&b=%2Fx&a=2&empty=")
    assert event["queryStringParameters"] == {"a": "1,2", "b": "/x", "empty": ""}
    assert event["headers"]["x-multi"] == "one,two"
    context = event["requestContext"]
    assert context["http"] == {"method": "GET", "path": "/event", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                               "userAgent": "test/1"}
    assert context["requestId"] == response.headers["x-amzn-requestid"]  # the invoke's own request id
    assert (context["stage"], context["routeKey"], context["accountId"]) == ("$default", "$default", "anonymous")
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert isinstance(context["timeEpoch"], int)
    assert labels(log) == ["GET /event"]  # how the debugger names the invoke


@pytest.mark.trio
async def test_a_plain_dict_is_inferred_as_json() -> None:
    async with served(WEB) as (running, client, log):
        response = await client.get("/hello", params={"name": "workshop"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Hello, workshop!", "cookies": []}


@pytest.mark.trio
async def test_cookies_both_ways() -> None:
    async with served(WEB) as (running, client, log):
        response = await client.get("/cookie", headers={"Cookie": "visits=3; other=x"})
        event = (await client.get("/event", headers={"Cookie": "visits=3; other=x"})).json()
    assert response.status_code == 200 and response.text == "visit number 4\n"
    assert response.headers.get_list("set-cookie") == ["visits=4; Path=/; Max-Age=3600", "seen=yes; Path=/"]
    assert event["cookies"] == ["visits=3", "other=x"]
    assert event["headers"]["cookie"] == "visits=3; other=x"  # a function URL keeps the header besides `cookies`


@pytest.mark.trio
async def test_binary_request_and_response_bodies() -> None:
    data = bytes(range(256)) * 4
    async with served(WEB) as (running, client, log):
        echoed = await client.post("/echo", content=data, headers={"Content-Type": "application/octet-stream"})
        text = await client.post("/echo", content="h\u00e9llo".encode(), headers={"Content-Type": "text/plain"})
        event = (await client.post("/event", content=data, headers={"Content-Type": "image/png"})).json()
        png = await client.get("/binary")
    assert echoed.status_code == 200 and echoed.content == data
    assert echoed.headers["x-was-base64"] == "true"
    assert text.content == "h\u00e9llo".encode() and text.headers["x-was-base64"] == "false"
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == data
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.trio
async def test_a_function_error_is_a_502() -> None:
    async with served(WEB) as (running, client, log):
        response = await client.get("/boom")
        after = await client.get("/hello")  # the environment stays warm: a raised exception is no crash
    assert response.status_code == 502 and response.text == "Internal Server Error"
    assert response.headers["x-amzn-requestid"]
    assert after.status_code == 200
    assert any("function URL GET /boom: 502, the function failed (RuntimeError)" in text
               for text in log.texts(f.LAMBDATUI)), log.dump()


@pytest.mark.trio
async def test_a_request_over_6_mb_is_a_413() -> None:
    async with served(WEB) as (running, client, log):
        too_large = await client.post("/echo", content=b"x" * (6 * 1024 * 1024 + 200),
                                      headers={"Content-Type": "text/plain"})
        # 5 MB of binary is 6.7 MB as the event's base64: too large as well.
        grown = await client.post("/echo", content=b"\0" * (5 * 1024 * 1024),
                                  headers={"Content-Type": "application/octet-stream"})
    assert too_large.status_code == 413 and grown.status_code == 413
    assert labels(log) == []  # nothing ran


@pytest.mark.trio
async def test_a_413_carries_a_request_id_as_every_answer_does() -> None:
    # Every answer of a function URL carries x-amzn-RequestId (the README says so, and every AWS answer has one):
    # the 413s had none.
    async with served(WEB) as (running, client, log):
        too_large = await client.post("/echo", content=b"x" * (6 * 1024 * 1024 + 200),
                                      headers={"Content-Type": "text/plain"})
        grown = await client.post("/echo", content=b"\0" * (5 * 1024 * 1024),
                                  headers={"Content-Type": "application/octet-stream"})
    for answer in (too_large, grown):
        assert answer.status_code == 413
        assert re.fullmatch(r"[0-9a-f-]{36}", answer.headers.get("x-amzn-requestid", "")), answer.headers
    assert too_large.headers["x-amzn-requestid"] != grown.headers["x-amzn-requestid"]


EVENT_SIZE = """import json


def handler(event, context):
    # The event's size as lambdatui sent it (function_url_event.event_bytes): compact JSON in UTF-8.
    return {"event_bytes": len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())}
"""


@pytest.mark.trio
async def test_the_event_limit_is_a_synchronous_invokes_6_mib(code_dir: Path) -> None:
    # A function URL's request is a synchronous invoke's: at most 6 MiB (6,291,456 bytes), as the Invoke API takes
    # and as Lambda's message says; an event a few bytes over it was run here (the limit was the response's, 100
    # bytes more), and the 413 quoted a figure no Lambda message does.
    handler = code_dir / "handler.py"
    handler.write_text(EVENT_SIZE)
    limit = 6 * 1024 * 1024
    async with served(handler) as (running, client, log):
        probe = 1_000_000  # a body with as many digits as the one below: the event's overhead is the same
        sized = await client.post("/", content=b"x" * probe, headers={"Content-Type": "text/plain"})
        overhead = sized.json()["event_bytes"] - probe
        over = await client.post("/", content=b"x" * (limit - overhead + 50), headers={"Content-Type": "text/plain"})
        too_large = await client.post("/", content=b"x" * (limit + 1), headers={"Content-Type": "text/plain"})
    assert over.status_code == 413, over.text
    message = f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
    assert too_large.status_code == 413 and too_large.json() == {"message": message}


async def read_until(lines: AsyncIterator[str], pattern: str, seen: list[str]) -> None:
    async for line in lines:
        seen.append(line)
        if re.search(pattern, line):
            return
    raise AssertionError(f"the stream ended before {pattern!r}: {seen}")


@pytest.mark.trio
async def test_a_streamed_page_arrives_while_the_function_runs(code_dir: Path) -> None:
    gate = code_dir / "gate"  # the runtime holds its stream after chunk 0 until this file exists
    async with served(STREAM) as (running, client, log):
        url = f"/page?html=1&chunks=3&pause_ms=0&gate={gate}"
        async with client.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert response.headers["transfer-encoding"] == "chunked"
            lines = response.aiter_lines()
            seen: list[str] = []
            await read_until(lines, r"<li>chunk 0</li>", seen)
            # Chunk 0 is here, and the function has not gone on: it is waiting at its gate for us. (Its line saying so
            # comes through its stdout pipe, which may be read after the chunk reached us.)
            with trio.fail_after(30):
                await log.wait_for_text(r"^sent chunk 0$", f.FUNCTION)
            assert "gate open" not in log.texts(f.FUNCTION)
            assert not any(isinstance(fact, f.InvocationCompleted) for fact in log.facts)
            gate.touch()
            async for line in lines:
                seen.append(line)
        assert [line for line in seen if line] == ["<!doctype html><ul>", "<li>chunk 0</li>", "<li>chunk 1</li>",
                                                   "<li>chunk 2</li>", "</ul>"]
        await log.wait_for(lambda: any(isinstance(fact, f.InvocationCompleted) for fact in log.facts))
    assert labels(log) == ["GET /page"]
    started = next(fact for fact in log.facts if isinstance(fact, f.ResponseStreamStarted))
    assert started.to_caller and started.content_type == "application/vnd.awslambda.http-integration-response"


@pytest.mark.trio
async def test_another_streamed_content_type_is_a_200_of_that_type() -> None:
    async with served(STREAM) as (running, client, log):
        response = await client.get("/?chunks=2&pause_ms=0")
    assert response.status_code == 200 and response.headers["content-type"] == "text/plain"
    assert response.text == "chunk 0\nchunk 1\n"


@pytest.mark.trio
async def test_a_stream_that_fails_midway_is_cut() -> None:
    async with served(STREAM) as (running, client, log):
        with pytest.raises(httpx.RemoteProtocolError):  # no last chunk: the client knows the body is not whole
            await client.get("/?html=1&chunks=3&pause_ms=0&fail_after=1")
        after = await client.get("/?chunks=1")
    assert after.status_code == 200 and after.text == "chunk 0\n"
    assert any("function URL GET /: response cut, the function failed mid-stream (StreamFailed)" in text
               for text in log.texts(f.LAMBDATUI)), log.dump()


# Streams a prelude that is not JSON (then its 8 NUL bytes), then holds the stream until the gate file exists.
BAD_PRELUDE_THEN_GATE = """#!{python}
import http.client, os, socket, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
nexts = http.client.HTTPConnection(host, int(port))
while True:
    nexts.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = nexts.getresponse()
    answer.read()
    request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    raw = socket.create_connection((host, int(port)))
    piece = b"not json" + b"\\0" * 8 + b"body"
    raw.sendall(("POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\\r\\nHost: x\\r\\n"
                 "Lambda-Runtime-Function-Response-Mode: streaming\\r\\nTransfer-Encoding: chunked\\r\\n"
                 "Content-Type: application/vnd.awslambda.http-integration-response\\r\\n\\r\\n"
                 % request_id).encode() + b"%x\\r\\n%s\\r\\n" % (len(piece), piece))
    print("bad prelude sent", flush=True)
    while not os.path.exists({gate!r}):  # until the test, having its answer, lets the function end
        time.sleep(0.005)
    raw.sendall(b"0\\r\\n\\r\\n")
    raw.recv(65536)
    raw.close()
"""


@pytest.mark.trio
async def test_a_bad_prelude_is_a_502_at_once_not_when_the_function_ends(code_dir: Path) -> None:
    # The 502 was decided as soon as the prelude was read, but written only once the invoke ended: a function that
    # streams on for minutes kept its client waiting for minutes for an answer it already had.
    gate = code_dir / "gate"
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(BAD_PRELUDE_THEN_GATE.format(python=sys.executable, gate=str(gate)))
    bootstrap.chmod(0o755)
    async with served(bootstrap) as (running, client, log):
        try:
            response = await client.get("/page")
            # The function still streams (on main the answer came only once it had timed out, after 3 s).
            assert not any(isinstance(fact, f.InvocationCompleted) for fact in log.facts), log.dump()
        finally:
            gate.touch()
        await log.wait_for(lambda: any(isinstance(fact, f.InvocationCompleted) for fact in log.facts))
        after = await client.get("/again")  # the environment goes on
    assert response.status_code == 502 and response.text == "Internal Server Error"
    assert response.headers["x-amzn-requestid"]
    assert after.status_code == 502
    assert any("function URL GET /page: 502, the stream's prelude is not JSON" in text
               for text in log.texts(f.LAMBDATUI)), log.dump()


@pytest.mark.trio
async def test_a_throttle_is_a_429(code_dir: Path) -> None:
    gate = code_dir / "gate"
    async with served(STREAM, FleetOptions(concurrency=1)) as (running, client, log):
        async with client.stream("GET", f"/?chunks=2&pause_ms=0&gate={gate}") as holding:
            lines = holding.aiter_lines()
            await read_until(lines, "chunk 0", [])  # the only environment is busy with this one
            throttled = await client.get("/?chunks=1")
            gate.touch()
            rest = [line async for line in lines]
    assert throttled.status_code == 429
    assert throttled.json() == {"message": "Rate Exceeded."}
    assert rest == ["chunk 1"]


# ---------------------------------------------------------------------- `lambdatui serve --url-port`


def test_serve_prints_the_url_and_serves_the_page() -> None:
    port = free_port()
    with ServeProcess(SAMPLES / "web", "--url-port", str(port)) as serve:
        match = serve.wait_for_line(r"\[lambdatui\] function URL: (http://\S+)")
        assert match.group(1) == f"http://127.0.0.1:{port}/"
        page = httpx.get(match.group(1), timeout=BOUND)
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert "<h1>Hello from a function URL</h1>" in page.text
        # The Invoke API stays where it was, for the same function.
        invoked = httpx.post(serve.invoke_url("web"), json={"rawPath": "/hello"}, timeout=BOUND)
        assert invoked.json()["message"] == "Hello, world!"


def test_a_url_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", str(WEB), "--port", "0", "--url-port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip().endswith(f"port {port} is already in use on 127.0.0.1: choose another with --url-port")


def test_the_url_port_cannot_be_the_invoke_apis() -> None:
    port = free_port()
    done = run_cli("serve", str(WEB), "--port", str(port), "--url-port", str(port))
    assert done.returncode == 2 and "--url-port" in done.stderr and "--port" in done.stderr
