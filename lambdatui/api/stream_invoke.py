"""InvokeWithResponseStream (lambda-spec §12.2): the function's response goes to its caller as it arrives.

`POST /2021-11-15/functions/{name}/response-streaming-invocations` is served on our own HTTP server's route (not
through quart), so that each piece the runtime sends leaves as one HTTP chunk at once: a `PayloadChunk` event of
the AWS event stream (`event_stream`), then `InvokeComplete`. The request is checked as a plain invoke's is
(`invoke_checks`); invocation types RequestResponse and DryRun only.

Nothing is written before the invoke has either begun to stream or ended: a throttle (429), SnapStart's API errors
and a refused request are plain HTTP errors, as Lambda's are, never a 200 with a broken stream. From then on the
answer is 200, also when the function fails: the error is in `InvokeComplete` (`ErrorCode`: the error's type,
`ErrorDetails`: the error document the runtime sent, or that lambdatui made for a crash or a timeout, as the
runtime's trailers carry it). A function that did not stream (a plain /response or /error, a crash, a timeout) has
its whole payload in one `PayloadChunk`. A caller that hangs up stops the stream (`ResponseStream.abandon`); the
invoke runs on to its end, as Lambda's does. One that half-closed (its request sent) is answered all the same.
"""

from __future__ import annotations

import re
from typing import Optional

import trio

from lambdatui.api import event_stream as es
from lambdatui.api import headers as h
from lambdatui.api.http11_exchange import Exchange
from lambdatui.api.invoke_checks import (InvokeRefused, api_failure_parts, check_no_tenant, checked_client_context,
                                         checked_invocation_type, checked_log_type, checked_payload,
                                         checked_qualifier, payload_limit, throttle_parts)
from lambdatui.api.rendering import Answer
from lambdatui.host.fleet_host import FleetHost, Throttled
from lambdatui.host.response_stream import ResponseStream
from lambdatui.ids import new_uuid
from lambdatui.model.facts import InvocationResult
from lambdatui.model.fleet import DRY_RUN, REQUEST_RESPONSE

STREAM_PATH = re.compile(r"/2021-11-15/functions/([^/]+)/response-streaming-invocations")
INVOCATION_TYPES = (REQUEST_RESPONSE, DRY_RUN)
LABEL = "InvokeWithResponseStream"  # how the debugger names these invokes

_TYPE, _LOG_TYPE, _CONTEXT, _TRACE, _TENANT = (name.lower() for name in (h.INVOCATION_TYPE, h.LOG_TYPE,
                                                                           h.CLIENT_CONTEXT, h.TRACE_ID, h.TENANT_ID))


class RunningInvoke:
    """The invoke, run beside the route that streams its answer (here, or a function URL's): how it ended, once
    `done`."""

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: Optional[InvocationResult] = None
        self.tail: Optional[str] = None
        self.throttled: Optional[Throttled] = None

    async def run(self, host: FleetHost, payload: bytes, kwargs: dict[str, object]) -> None:
        try:
            self.result, self.tail = await host.invoke(payload, **kwargs)
        except Throttled as throttled:
            self.throttled = throttled
        finally:
            self.done.set()

    def refusal(self) -> Optional[tuple[int, list[tuple[str, str]], bytes]]:
        """The Invoke API's own error, when the function never answered (a throttle, SnapStart's failures)."""
        if self.throttled is not None:
            return throttle_parts(self.throttled)
        assert self.result is not None
        return api_failure_parts(self.result)


async def stream_invoke(host: FleetHost, exchange: Exchange) -> Optional[Answer]:
    """The route: checks, then the invoke, its answer streamed as event-stream frames."""
    headers = exchange.headers
    try:
        invocation_type = checked_invocation_type(headers.get(_TYPE), INVOCATION_TYPES)
        log_type = checked_log_type(headers.get(_LOG_TYPE))
    except InvokeRefused as refused:
        return Answer(*refused.parts())
    body, too_large, truncated = await exchange.read_body(payload_limit(invocation_type))
    if truncated:
        return None  # the caller hung up before the end of its payload: nothing runs, nobody to answer
    request_id = new_uuid()
    try:
        payload = checked_payload(body, too_large, invocation_type, "InvokeWithResponseStream")
        client_context = checked_client_context(headers.get(_CONTEXT))
        check_no_tenant(headers.get(_TENANT))
        qualifier = checked_qualifier(exchange.params[0], exchange.head.target.partition("?")[2], host.config)
    except InvokeRefused as refused:
        return Answer(*refused.parts())
    if invocation_type == DRY_RUN:
        return Answer(204, [("Content-Type", "application/json"), (h.AMZN_REQUEST_ID, request_id)], b"")

    stream = ResponseStream()
    invoke = RunningInvoke()
    kwargs: dict[str, object] = {
        "request_id": request_id, "client_context": client_context, "trace_id": headers.get(_TRACE),
        "wants_log_tail": log_type == "Tail", "stream": stream, "label": LABEL, "qualifier": qualifier,
    }
    answer_headers = [("Content-Type", es.EVENT_STREAM), (h.AMZN_REQUEST_ID, request_id),
                      (h.EXECUTED_VERSION, host.options.function_version)]
    async with trio.open_nursery() as nursery:  # its end waits for the invoke, whatever became of the caller
        nursery.start_soon(invoke.run, host, payload, kwargs)
        if await exchange.until_gone(lambda: stream.wait_begun(invoke.done)) is None:
            stream.abandon()  # gone before anything was written
            return None
        if not stream.started.is_set():  # it ended without streaming: known whole, written in one go
            refused = invoke.refusal()
            if refused is not None:
                return Answer(*refused)
            assert invoke.result is not None
            chunk = es.payload_chunk(invoke.result.payload) if invoke.result.payload else b""
            return Answer(200, answer_headers, chunk + _completion(invoke.result, invoke.tail))
        await exchange.start_chunks(200, answer_headers)
        if not await _pass_on(exchange, stream):
            stream.abandon()
            return None
        await invoke.done.wait()
    assert invoke.result is not None  # the stream began, so the function was run: neither throttled nor refused
    await exchange.send_chunk(_completion(invoke.result, invoke.tail))
    await exchange.end_chunks()
    return None


async def _pass_on(exchange: Exchange, stream: ResponseStream) -> bool:
    """Each piece of the stream to the caller as one event, as it arrives; False if the caller hung up."""
    while True:
        piece = await exchange.until_gone(stream.next_piece)
        if piece is None:
            return False
        if not piece:
            return True
        await exchange.send_chunk(es.payload_chunk(piece))
        if exchange.hung_up:
            return False


def _completion(result: InvocationResult, tail: Optional[str]) -> bytes:
    """`InvokeComplete`: the function's error, if it failed (its type, and its error document as text), and the
    log tail when asked for."""
    if not result.function_error:
        return es.invoke_complete(log_result=tail)
    details = result.payload.decode("utf-8", "replace")
    return es.invoke_complete(result.error_type or "Unhandled", details, tail)
