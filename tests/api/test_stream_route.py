"""InvokeWithResponseStream's route (api/stream_invoke.py) on the Invoke API's port, with a scripted host: what
is written when, for a stream, a buffered answer, the Invoke API's own errors, and a caller that hangs up.

The host is a stand-in whose invoke the test drives step by step (`ScriptedHost`); tests/end_to_end covers real
runtimes. Every wait is bounded (trio.fail_after) and on the event it means.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import AsyncIterator, Optional

import pytest
import trio
from botocore.eventstream import EventStreamBuffer

from http11_support import Client, post
from lambdatui.api.server import serve_invoke_api
from lambdatui.config import FunctionConfig
from lambdatui.host.fleet_host import Throttled
from lambdatui.host.response_stream import ResponseStream
from lambdatui.model.facts import InvocationResult
from lambdatui.model.fleet import FleetOptions
from lambdatui.runtime_choice import RuntimeCommand

BOUND_S = 5
PATH = "/2021-11-15/functions/fn/response-streaming-invocations"


class ScriptedHost:
    """`invoke` as the fleet's: it records its arguments, then does what the test sends it, step by step:
    ("begin", content type), ("write", bytes), ("end", None), ("result", InvocationResult), ("throttle", None).
    `called`, `abandoned` (the route gave up the stream: its caller left) and `finished` tell the test when."""

    config = FunctionConfig("function", Path("."), "handler.handler", RuntimeCommand(("python3",), True, "python:3"))
    options = FleetOptions()  # the fleet's: the version that runs (X-Amz-Executed-Version), $LATEST

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.send, self.receive = trio.open_memory_channel[tuple](10)
        self.called, self.abandoned, self.finished = trio.Event(), trio.Event(), trio.Event()

    async def invoke(self, payload: bytes, **options) -> tuple[InvocationResult, Optional[str]]:
        self.calls.append({"payload": payload, **options})
        stream: ResponseStream = options["stream"]
        abandon = stream.abandon

        def abandoned() -> None:
            abandon()
            self.abandoned.set()

        stream.abandon = abandoned  # type: ignore[method-assign]
        self.called.set()
        try:
            async for step, value in self.receive:
                if step == "begin":
                    stream.begin(value)
                elif step == "write":
                    await stream.write(value)
                elif step == "end":
                    stream.end()
                elif step == "throttle":
                    raise Throttled(1)
                else:
                    return value, ("TG9n" if options.get("wants_log_tail") else None)
            raise AssertionError("the script ended without a result")
        finally:
            self.finished.set()


async def caller(address: str, host: ScriptedHost, *, half_close: bool = False) -> Client:
    """A caller whose request is all sent and has reached the host's invoke (`half_close`: its sending side shut
    after it, as HTTP/1.0-style clients do), before the invoke has streamed a byte."""
    client = await Client.connect(address)
    await client.send(post(PATH, b"{}"))
    if half_close:
        await client.stream.send_eof()  # shutdown(SHUT_WR): its FIN follows the request
    await host.called.wait()
    return client


async def run_out(host: ScriptedHost, *pieces: bytes) -> None:
    """The rest of a stream whose caller has gone: its pieces (none waits for the caller), its end and the invoke's
    result; the invoke completes."""
    for piece in pieces:
        await host.send.send(("write", piece))
    await host.send.send(("end", None))
    await host.send.send(("result", InvocationResult("r", b"", streamed=sum(map(len, pieces)))))
    await host.finished.wait()


@asynccontextmanager
async def front(host: ScriptedHost) -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(partial(serve_invoke_api, host, "127.0.0.1", 0))  # type: ignore[arg-type]
        yield address
        nursery.cancel_scope.cancel()


def events(body: bytes) -> list[tuple[str, bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    return [(message.headers[":event-type"], message.payload) for message in buffer]


async def next_event(client: Client, buffer: EventStreamBuffer) -> tuple[str, bytes]:
    """The next event as it arrives: each is one HTTP chunk."""
    buffer.add_data(await client.next_chunk())
    [message] = list(buffer)
    return message.headers[":event-type"], message.payload


@pytest.mark.trio
async def test_each_piece_leaves_as_it_arrives_then_invoke_complete() -> None:
    host = ScriptedHost()
    async with front(host) as address:
        client = await Client.connect(address)
        await client.send(post(PATH, b'{"n": 1}', "X-Amz-Log-Type: Tail", "X-Amzn-Trace-Id: Root=1-2-3"))
        with trio.fail_after(BOUND_S):
            await host.called.wait()  # the request is read and the invoke called: nothing written yet
            await host.send.send(("begin", "text/plain"))
            status, headers, _ = await client.answer(head_only=True)
            assert status == 200
            assert headers["content-type"] == "application/vnd.amazon.eventstream"
            assert headers["x-amz-executed-version"] == "$LATEST"
            assert headers["transfer-encoding"] == "chunked"
            call = host.calls[0]
            assert headers["x-amzn-requestid"] == call["request_id"]
            assert (call["payload"], call["wants_log_tail"], call["trace_id"], call["label"]) == (
                b'{"n": 1}', True, "Root=1-2-3", "InvokeWithResponseStream")
            assert call["client_context"] is None

            buffer = EventStreamBuffer()
            for piece in (b"first", b"\x00second"):
                await host.send.send(("write", piece))
                assert await next_event(client, buffer) == ("PayloadChunk", piece)  # before the next is written
            await host.send.send(("end", None))
            failed = InvocationResult(call["request_id"], b'{"errorType":"E","errorMessage":"m"}', function_error=True,
                                      error_type="E", streamed=14)
            await host.send.send(("result", failed))
            kind, payload = await next_event(client, buffer)
            assert kind == "InvokeComplete"
            assert json.loads(payload) == {"ErrorCode": "E", "ErrorDetails": '{"errorType":"E","errorMessage":"m"}',
                                           "LogResult": "TG9n"}
            assert await client.next_chunk() == b""  # the end of the body; the connection goes on
            await host.send.send(("result", InvocationResult("x", b"[]")))
            await client.send(post(PATH, b""))
            status, _, body = await client.answer()
            assert status == 200 and events(body) == [("PayloadChunk", b"[]"), ("InvokeComplete", b"{}")]
            assert host.calls[1]["payload"] == b"{}"  # an empty body is the event {}


@pytest.mark.trio
async def test_an_answer_that_was_not_streamed_is_written_whole() -> None:
    host = ScriptedHost()
    async with front(host) as address:
        client = await Client.connect(address)
        await host.send.send(("result", InvocationResult("r", b"", function_error=True, error_type="Sandbox.Timedout")))
        await client.send(post(PATH, b"{}"))
        with trio.fail_after(BOUND_S):
            status, headers, body = await client.answer()
        assert status == 200 and "content-length" in headers
        assert events(body) == [("InvokeComplete", b'{"ErrorCode": "Sandbox.Timedout"}')]  # no empty PayloadChunk


@pytest.mark.trio
async def test_the_invoke_apis_own_errors_come_before_any_frame() -> None:
    host = ScriptedHost()
    async with front(host) as address:
        client = await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await host.send.send(("throttle", None))
            await client.send(post(PATH, b"{}"))
            status, headers, body = await client.answer()
            assert status == 429 and headers["x-amzn-errortype"] == "TooManyRequestsException"
            assert json.loads(body)["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"

            refused = InvocationResult("r", b'{"errorMessage": "no snapshot", "errorType": "ResourceConflictException"}',
                                       function_error=True, error_type="ResourceConflictException", api_status=409)
            await host.send.send(("result", refused))
            await client.send(post(PATH, b"{}"))
            status, headers, body = await client.answer()
            assert status == 409 and headers["x-amzn-errortype"] == "ResourceConflictException"
            assert json.loads(body) == {"Type": "User", "message": "no snapshot"}

            for extra, want in (("X-Amz-Invocation-Type: Event", 400), ("X-Amz-Client-Context: e30=", 200),
                                ("X-Amz-Client-Context: %%%", 400), ("X-Amz-Invocation-Type: DryRun", 204)):
                if want == 200:
                    await host.send.send(("result", InvocationResult("r", b"{}")))
                await client.send(post(PATH, b"{}", extra))
                assert (await client.answer())[0] == want, extra
            assert host.calls[-1]["client_context"] == "{}"
            assert len(host.calls) == 3  # the refused requests and the DryRun ran nothing

            # Another method on the path: 405 with Lambda's JSON, as the plain invoke's path answers it (not 404).
            await client.send(b"GET " + PATH.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            status, headers, body = await client.answer()
            assert (status, headers["x-amzn-errortype"]) == (405, "MethodNotAllowed"), body


@pytest.mark.trio
async def test_a_caller_that_hangs_up_abandons_the_stream_and_the_invoke_still_completes() -> None:
    host = ScriptedHost()
    async with front(host) as address:
        with trio.fail_after(BOUND_S):
            # Gone before the stream began: its close sends a FIN, as a half-close does (see
            # test_stream_route_half_close.py), so the stream's first bytes find it gone (its kernel resets them);
            # the stream is abandoned then, and the invoke goes on.
            client = await caller(address, host)
            await client.close()
            await host.send.send(("begin", "text/plain"))
            await host.abandoned.wait()
            assert host.calls[0]["stream"].caller_gone
            assert not host.finished.is_set()
            await run_out(host, b"into the void")  # a no-op, never a block

            # Gone in the middle of the stream: the same.
            host.abandoned, host.finished = trio.Event(), trio.Event()
            client = await Client.connect(address)
            await client.send(post(PATH, b"{}"))
            await host.send.send(("begin", "text/plain"))
            await host.send.send(("write", b"one"))
            assert (await client.answer(head_only=True))[0] == 200
            assert (await next_event(client, EventStreamBuffer()))[1] == b"one"
            await client.close()
            await host.abandoned.wait()
            await run_out(host, *(b"%d" % n for n in range(40)))  # more than the stream holds
