"""The Invoke API's port on our HTTP/1.1 server (issue 9): the plain invoke by its own route, everything else by
the quart app through the ASGI adapter; chunked answers, the idle limit, the graceful stop, bind errors.

The environment is a stand-in (`FakeHost`) whose invokes the test releases; tests/end_to_end covers real ones.
"""

from __future__ import annotations

import base64
import errno
import json
import socket
import struct
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import AsyncIterator, Optional

import pytest
import trio
import trio.testing
from quart import Response, request
from quart_trio import QuartTrio

from http11_support import Client, post
from lambdatui.api import http11
from lambdatui.api.asgi_adapter import asgi_route, lifespan
from lambdatui.api.server import GRACEFUL_STOP_S, IDLE_LIMIT_S, serve_invoke_api
from lambdatui.config import FunctionConfig
from lambdatui.model.facts import InvocationResult
from lambdatui.model.fleet import FleetOptions
from lambdatui.runtime_choice import RuntimeCommand

BOUND_S = 5
INVOKE = "/2015-03-31/functions/function/invocations"


class FakeHost:
    """What the Invoke API calls on the host: `invoke`, recorded; each waits for `release` when `hold` is set."""

    config = FunctionConfig("function", Path("."), "handler.handler", RuntimeCommand(("python3",), True, "python:3"))
    options = FleetOptions()  # the fleet's: the version that runs (X-Amz-Executed-Version), $LATEST

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, dict]] = []
        self.answered_early: list[bool] = []  # whether each invoke's answer could be written as its result came
        self.hold = False
        self.started = trio.Event()
        self.release = trio.Event()
        self.nursery: Optional[trio.Nursery] = None

    async def invoke(self, payload: bytes, **options) -> tuple[InvocationResult, Optional[str]]:
        on_result = options.pop("on_result", None)  # the real host hands the result over before it returns
        self.calls.append((payload, options))
        self.answered_early.append(on_result is not None)
        self.started.set()
        if self.hold:
            await self.release.wait()
        result = InvocationResult(f"id-{len(self.calls)}", b'{"echo": ' + payload + b"}")
        if on_result is not None:
            on_result(result)
        return result, None

    def start_soon(self, fn, *args) -> None:
        """The fleet's own tasks (the app route runs each invoke there): in the front's nursery here."""
        assert self.nursery is not None, "start the front with front()"
        self.nursery.start_soon(fn, *args)


@asynccontextmanager
async def front(host: FakeHost, stop: Optional[trio.Event] = None,
                port: int = 0, bind: str = "127.0.0.1") -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        host.nursery = nursery
        address = await nursery.start(partial(serve_invoke_api, host, bind, port, stop=stop))  # type: ignore[arg-type]
        yield address
        nursery.cancel_scope.cancel()


async def answers(host: FakeHost, *requests: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Each request's answer, one after the other on one kept-alive connection."""
    async with front(host) as address:
        client = await Client.connect(address)
        got = []
        with trio.fail_after(BOUND_S):
            for one in requests:
                await client.send(one)
                got.append(await client.answer())
    return got


def quart_app() -> QuartTrio:
    app = QuartTrio("test")

    @app.post("/echo")
    async def echo() -> Response:
        body = await request.get_data()
        return Response(json.dumps({"body": body.decode(), "query": request.args.get("q"),
                                    "agent": request.headers.get("User-Agent")}), content_type="application/json")

    @app.get("/stream")
    async def stream() -> Response:
        async def pieces():
            for n in range(3):
                yield f"piece {n};".encode()
                await trio.sleep(0)

        return Response(pieces(), content_type="text/plain")

    @app.get("/wait")
    async def wait() -> Response:
        try:
            await trio.sleep_forever()
        finally:
            app.config["cancelled"].set()

    return app


@asynccontextmanager
async def serving_app(app: QuartTrio) -> AsyncIterator[str]:
    route = asgi_route(app)
    async with trio.open_nursery() as nursery, lifespan(app):
        address = await nursery.start(partial(http11.serve, lambda method, path: (route, ()), "127.0.0.1", 0))
        yield address
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_quart_route_answers_through_the_adapter_on_a_kept_alive_connection() -> None:
    async with serving_app(quart_app()) as address:
        client = await Client.connect(address)
        chunked = (b"POST /echo?q=1 HTTP/1.1\r\nHost: test\r\nUser-Agent: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        await client.send(chunked + post("/echo", b"fgh"))  # pipelined
        with trio.fail_after(BOUND_S):
            status, headers, body = await client.answer()
            assert status == 200 and headers["content-length"] == str(len(body)) and "connection" not in headers
            assert json.loads(body) == {"body": "abcde", "query": "1", "agent": "t"}
            assert json.loads((await client.answer())[2])["body"] == "fgh"
            await client.send(post("/nowhere", b"a body quart never reads") + post("/echo", b"after"))
            assert (await client.answer())[0] == 404
            assert json.loads((await client.answer())[2])["body"] == "after"  # the connection stayed in step


@pytest.mark.trio
async def test_a_body_sent_in_several_messages_arrives_chunked_and_the_connection_goes_on() -> None:
    async with serving_app(quart_app()) as address:
        client = await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await client.send(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
            status, headers, _ = await client.answer(head_only=True)
            assert status == 200 and headers["transfer-encoding"] == "chunked" and "content-length" not in headers
            chunks = []
            while chunk := await client.next_chunk():
                chunks.append(chunk)
            assert chunks == [b"piece 0;", b"piece 1;", b"piece 2;"]  # one chunk per message, as they were sent
            await client.send(post("/echo", b"next"))
            assert json.loads((await client.answer())[2])["body"] == "next"


@pytest.mark.trio
async def test_http_1_0_gets_a_streamed_body_whole_then_the_connection_closes() -> None:
    async with serving_app(quart_app()) as address:
        client = await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await client.send(b"GET /stream HTTP/1.0\r\n\r\n")
            status, headers, body = await client.answer()
            assert (status, body, headers["connection"]) == (200, b"piece 0;piece 1;piece 2;", "close")
            assert await client.closed_by_server()


@pytest.mark.trio
async def test_a_caller_hanging_up_cancels_the_quart_handler_and_a_malformed_body_is_a_400() -> None:
    app = quart_app()
    app.config["cancelled"] = trio.Event()
    async with serving_app(app) as address:
        client = await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await client.send(b"GET /wait HTTP/1.1\r\nHost: test\r\n\r\n")
            await trio.testing.wait_all_tasks_blocked()
            # A close that resets the connection, as hypercorn heard it: the app hears http.disconnect and quart
            # cancels its handler. (A plain close's FIN is a half-close's too: that caller may still read, and is
            # found gone only when its answer is written: test_stream_half_close.py.)
            client.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await client.close()
            await app.config["cancelled"].wait()
            client = await Client.connect(address)
            await client.send(b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            status, headers, body = await client.answer()
            assert (status, headers["connection"]) == (400, "close")
            assert json.loads(body)["errorType"] == "InvalidRequestFormat"
            assert await client.closed_by_server()


@pytest.mark.trio
async def test_the_plain_invoke_is_the_native_route_and_options_go_to_quart() -> None:
    host = FakeHost()
    async with front(host) as address:
        client = await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await client.send(post(INVOKE, b'{"n": 1}', "X-Amzn-Trace-Id: Root=1"))
            status, headers, body = await client.answer()
            assert (status, body, headers["x-amzn-requestid"]) == (200, b'{"echo": {"n": 1}}', "id-1")
            await client.send(post(INVOKE, b"{}", "X-Amz-Invocation-Type: DryRun") + post(INVOKE, b"{"))
            assert (await client.answer())[0] == 204  # quart's route
            status, headers, _ = await client.answer()
            assert (status, headers["x-amzn-errortype"]) == (400, "InvalidRequestContentException")
            await client.send(post(INVOKE, b"{}", "X-Amz-Invocation-Type: Bogus"))
            assert (await client.answer())[0] == 400
            await client.send(post(INVOKE, b"{}", "X-Amz-Log-Type: Bogus"))  # neither None nor Tail: never run
            status, headers, body = await client.answer()
            assert (status, headers["x-amzn-errortype"]) == (400, "InvalidParameterValueException"), body
            await client.send(b"GET " + INVOKE.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            status, headers, body = await client.answer()
            assert (status, headers["x-amzn-errortype"]) == (405, "MethodNotAllowed"), body
        assert host.calls == [(b'{"n": 1}', {"trace_id": "Root=1", "qualifier": ""})]
        assert host.answered_early == [True]


@pytest.mark.trio
async def test_a_graceful_stop_answers_the_invoke_in_flight_and_closes_idle_connections() -> None:
    host, stop = FakeHost(), trio.Event()
    host.hold = True
    async with front(host, stop) as address:
        busy, idle = await Client.connect(address), await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await idle.send(post(INVOKE, b"{}", "X-Amz-Invocation-Type: DryRun"))
            assert (await idle.answer())[0] == 204
            await busy.send(post(INVOKE, b'{"n": 1}'))
            await host.started.wait()
            stop.set()
            assert await idle.closed_by_server()  # at once: idle
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(OSError):
                await Client.connect(address)  # no new connection is taken
            host.release.set()  # the invoke ends within the grace period: answered, then the connection closes
            status, headers, body = await busy.answer()
            assert (status, body, headers["connection"]) == (200, b'{"echo": {"n": 1}}', "close")
            assert await busy.closed_by_server()


@pytest.mark.trio
async def test_a_graceful_stop_cuts_what_is_still_running_after_the_grace_period(autojump_clock) -> None:
    host, stop, done = FakeHost(), trio.Event(), trio.Event()
    host.hold = True
    async with trio.open_nursery() as nursery:
        address = await nursery.start(partial(_serve_then, host, stop, done))
        client = await Client.connect(address)
        await client.send(post(INVOKE, b"{}"))
        await host.started.wait()
        began = trio.current_time()
        stop.set()
        await done.wait()
        assert trio.current_time() - began == pytest.approx(GRACEFUL_STOP_S, abs=0.1)
        assert await client.closed_by_server()  # cut, with no answer


async def _serve_then(host, stop, done, task_status) -> None:
    await serve_invoke_api(host, "127.0.0.1", 0, stop=stop, task_status=task_status)
    done.set()


@pytest.mark.trio
async def test_a_kept_alive_caller_idle_past_the_limit_is_closed(autojump_clock) -> None:
    async with front(FakeHost()) as address:
        client = await Client.connect(address)
        await client.send(post(INVOKE, b"{}"))
        assert (await client.answer())[0] == 200
        await trio.sleep(IDLE_LIMIT_S - 1)
        await client.send(post(INVOKE, b"{}"))  # activity restarts the count
        assert (await client.answer())[0] == 200
        began = trio.current_time()
        assert await client.closed_by_server()
        assert trio.current_time() - began == pytest.approx(IDLE_LIMIT_S, abs=0.1)


@pytest.mark.trio
@pytest.mark.parametrize("stalled", [
    f"POST {INVOKE} HTTP/1.1\r\nHost: x\r\n".encode(),  # a head that never ends
    f"POST {INVOKE} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{{".encode(),  # a body that never ends
], ids=["head", "body"])
async def test_a_caller_silent_past_the_limit_in_the_middle_of_a_request_is_closed(autojump_clock, stalled) -> None:
    # Each such connection held a descriptor of the host's for good (enough of them and no environment could start).
    host = FakeHost()
    async with front(host) as address:
        client = await Client.connect(address)
        await client.send(stalled)
        began = trio.current_time()
        with trio.fail_after(IDLE_LIMIT_S * 2):  # on the test's clock, which jumps over idle time
            assert await client.closed_by_server()
        assert trio.current_time() - began == pytest.approx(IDLE_LIMIT_S, abs=0.1)
    assert host.calls == []


@pytest.mark.trio
async def test_any_valid_json_is_an_event_a_5000_digit_number_too() -> None:
    # Python's int() refuses more than 4,300 digits; Lambda's front end does not (the runtime decides what it makes
    # of the number: Python's fails with Runtime.UnmarshalError, as in Lambda).
    host = FakeHost()
    async with front(host) as address:
        client = await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await client.send(post(INVOKE, b"1" * 5000))
            status, _, body = await client.answer()
            await client.send(post(INVOKE, b"[1, 2"))
            refused, _, _ = await client.answer()
    assert status == 200 and host.calls[0][0] == b"1" * 5000, body
    assert refused == 400


@pytest.mark.trio
@pytest.mark.parametrize("body, told", [
    (b'{"n": NaN}', "Non-standard token 'NaN'"),
    (b"[Infinity]", "Non-standard token 'Infinity'"),
    ('{"a": 1}'.encode("utf-16-le"), "Could not parse request body into json"),  # UTF-8 too: NULs, not JSON
    ('{"a": 1}'.encode("utf-32"), "the body is not UTF-8 text"),
], ids=["NaN", "Infinity", "UTF-16", "UTF-32"])
@pytest.mark.parametrize("extra", [(), ("X-Amz-Invocation-Type: Event",)], ids=["plain", "through-quart"])
async def test_what_is_not_standard_json_in_utf_8_is_refused_as_lambda_refuses_it(body: bytes, told: str,
                                                                                   extra: tuple[str, ...]) -> None:
    # Python's json takes all of these (and a handler would get NaN); Lambda's front end refuses them, so no
    # runtime, ours or awslambdaric, ever sees them.
    host = FakeHost()
    [(status, headers, answer)] = await answers(host, post(INVOKE, body, *extra))
    assert status == 400 and headers["x-amzn-errortype"] == "InvalidRequestContentException", answer
    assert told in json.loads(answer)["message"] and headers["x-amzn-requestid"] and not host.calls


@pytest.mark.trio
async def test_a_client_context_that_is_json_but_not_an_object_is_refused() -> None:
    host = FakeHost()
    refused = await answers(host, *(post(INVOKE, b"{}", f"X-Amz-Client-Context: {base64.b64encode(context).decode()}")
                                    for context in (b"[1, 2]", b"5", b'"text"')))
    assert [(status, json.loads(body)["message"]) for status, _, body in refused] == [
        (400, "Client context must be a valid Base64-encoded JSON object.")] * 3
    assert not host.calls


@pytest.mark.trio
@pytest.mark.parametrize("extra", [(), ("X-Amz-Log-Type: Tail",)], ids=["plain", "through-quart"])
async def test_the_version_or_alias_the_caller_named_reaches_the_invoke(extra: tuple[str, ...]) -> None:
    named = {
        "/2015-03-31/functions/fn/invocations": "",
        "/2015-03-31/functions/fn:prod/invocations": "prod",
        "/2015-03-31/functions/fn/invocations?Qualifier=live": "live",
        "/2015-03-31/functions/123456789012:function:fn:7/invocations": "7",
        "/2015-03-31/functions/us-east-1:123456789012:function:fn:8/invocations": "8",  # a partial ARN with its region
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A111122223333%3Afunction%3Afn%3A%24LATEST/invocations":
            "$LATEST",
        "/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:fn/invocations?Qualifier=blue": "blue",
    }
    refused = {"/2015-03-31/functions/fn:prod/invocations?Qualifier=live": "does not match",  # two that disagree
               "/2015-03-31/functions/fn/invocations?Qualifier=bad!q": "regular expression pattern",
               f"/2015-03-31/functions/fn/invocations?Qualifier={'q' * 129}": "length less than or equal to 128",
               # A second qualifier is no part of any name: Lambda's FunctionName pattern refuses it.
               "/2015-03-31/functions/fn:a:b/invocations": "at 'functionName'",
               "/2015-03-31/functions/123456789012:function:fn:1:2/invocations": "at 'functionName'"}
    host = FakeHost()
    got = await answers(host, *(post(path, b"{}", *extra) for path in [*named, *refused]))
    assert [status for status, _, _ in got] == [200] * len(named) + [400] * len(refused), got
    assert all(why in body.decode() for (_, _, body), why in zip(got[len(named):], refused.values())), got
    assert [options.get("qualifier") for _, options in host.calls] == list(named.values())


@pytest.mark.trio
async def test_a_dry_run_is_answered_with_an_id_and_no_html() -> None:
    host = FakeHost()
    [(status, headers, _)] = await answers(host, post(INVOKE, b"{}", "X-Amz-Invocation-Type: DryRun"))
    assert status == 204 and headers["content-type"] == "application/json" and headers["x-amzn-requestid"]
    assert not host.calls


@pytest.mark.trio
async def test_a_port_in_use_is_a_bind_error_and_ipv6_hosts_are_served() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(BaseException) as raised:
            async with front(FakeHost(), port=taken.getsockname()[1]):
                pass
    found = raised.value
    while getattr(found, "exceptions", None):  # out of the nurseries' exception groups
        found = found.exceptions[0]
    assert isinstance(found, OSError) and found.errno == errno.EADDRINUSE
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    async with front(FakeHost(), bind="::1") as address:
        assert address.startswith("[::1]:")
        client = Client(await trio.open_tcp_stream("::1", int(address.rsplit(":", 1)[1])))
        await client.send(post(INVOKE, b"{}"))
        assert (await client.answer())[0] == 200


@pytest.mark.trio
@pytest.mark.parametrize("extra", [(), ("X-Amz-Invocation-Type: Event",)], ids=["plain", "through-quart"])
async def test_json_nested_past_pythons_parser_is_taken_as_lambda_takes_it(extra: tuple[str, ...]) -> None:
    # Python's json stops at ~1,000 levels ("maximum recursion depth exceeded", which the caller was told); Lambda
    # takes the document, and what a runtime makes of it is its own business (a Python one: Runtime.UnmarshalError).
    host = FakeHost()
    deep = b"[" * 5000 + b"]" * 5000
    [(status, _, _), (refused, headers, answer)] = await answers(
        host, post(INVOKE, deep, *extra), post(INVOKE, b"[" * 10_001 + b"]" * 10_001, *extra))
    assert status in (200, 202) and host.calls[0][0] == deep
    assert (refused, headers["x-amzn-errortype"]) == (400, "InvalidRequestContentException"), answer
    assert b"nested deeper than 10,000 levels" in answer and b"recursion" not in answer
