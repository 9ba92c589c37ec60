"""The function URL (lambda-spec §12.3): every method and path of its port invokes the function.

Served on our own HTTP server (`http11`), one catch-all route. The request becomes a payload format 2.0 event
(`function_url_event`), the invoke is named `METHOD /path` for the debugger, and its result becomes the HTTP
response. A runtime that streams (lambda-spec §1.8) is passed on as it arrives, in chunks: with the content type
`application/vnd.awslambda.http-integration-response`, its JSON prelude (status, headers, cookies) becomes the
response's head, the rest its body; any other content type is a 200 of that type. Nothing is written before the
head is known: a throttle (429), a body over 6 MB (413), a function error or a timeout (502) are whole answers.
A function that fails after its stream began has its response cut (the connection closes without the last chunk),
so the client can tell it from a complete one. A client that hangs up stops the stream; the invoke runs on. One
that half-closed (its request sent) is answered all the same.

Why a 502 came back is said in lambdatui's own log (the function's error is in its log already).
"""

from __future__ import annotations

import time
from typing import Optional

import trio

from lambdatui.api import function_url_event as fue
from lambdatui.api import http11
from lambdatui.api.http11_exchange import Exchange, Route
from lambdatui.api.invoke_checks import api_failure_parts
from lambdatui.api.rendering import Answer
from lambdatui.api.stream_invoke import RunningInvoke
from lambdatui.host.fleet_host import FleetHost
from lambdatui.host.response_stream import ResponseStream
from lambdatui.ids import new_trace_id, new_uuid
from lambdatui.model import error_types as et

GRACEFUL_STOP_S = 0.5  # on stop, the requests in progress have this long to write their answers
IDLE_LIMIT_S = 75.0  # a kept-alive client's connection idle this long is closed, as Lambda's front end does
MAX_REQUEST_BYTES = et.MAX_SYNC_PAYLOAD_BYTES  # a function URL's request, buffered as a synchronous invoke's
_TRACE = "x-amzn-trace-id"


class FunctionUrl:
    """The route: one request, one invoke."""

    def __init__(self, fleet: FleetHost) -> None:
        self.fleet = fleet
        self.api_id = fue.url_id(fleet.config.name)
        self.route = Route(self.handle, reads_body=True)

    def resolve(self, method: str, path: str) -> tuple[Route, tuple[str, ...]]:
        return self.route, ()

    async def handle(self, exchange: Exchange) -> Optional[Answer]:
        body, too_large, truncated = await exchange.read_body(MAX_REQUEST_BYTES)
        if truncated:
            return None  # the client hung up before the end of its body: nothing runs, nobody to answer
        request_id = new_uuid()  # every answer has one, a 413 too (as every AWS answer does), not only an invoke's
        if too_large:
            return _answer(fue.too_large_answer(MAX_REQUEST_BYTES), request_id)
        head = exchange.head
        if not fue.has_a_path(head.target):  # no event can be made of it: the function is not invoked
            return _answer(fue.bad_target_answer(), request_id)
        trace_id = exchange.headers.get(_TRACE) or new_trace_id()
        (peer, _), (_, port) = exchange.addresses()
        fields = [*head.headers.items(), *head.repeated] if head.repeated else list(head.headers.items())
        request = fue.UrlRequest(head.method, head.target, fields, body, peer,
                                 "HTTP/1.0" if head.http10 else "HTTP/1.1", request_id, trace_id, self.api_id,
                                 port, time.time())
        event = fue.event_bytes(fue.url_event(request))
        if len(event) > MAX_REQUEST_BYTES:  # a binary body grows by a third as base64
            return _answer(fue.too_large_answer(MAX_REQUEST_BYTES), request_id)
        label = fue.label(head.method, head.target)
        stream = ResponseStream()
        invoke = RunningInvoke()
        kwargs: dict[str, object] = {"request_id": request_id, "trace_id": trace_id, "stream": stream,
                                     "label": label}
        async with trio.open_nursery() as nursery:  # its end waits for the invoke, whatever became of the client
            nursery.start_soon(invoke.run, self.fleet, event, kwargs)
            if await exchange.until_gone(lambda: stream.wait_begun(invoke.done)) is None:
                stream.abandon()  # gone before anything was written
                return None
            if stream.started.is_set():
                answer = await self._stream(exchange, stream, invoke, label, request_id)
                if answer is not None:
                    # Decided while the function may stream on (a bad prelude): written now, not once the nursery
                    # has waited for the invoke's end (HTTP/1.0 and HEAD, whose framing shapes it, still wait).
                    exchange.answer_now(answer)
                return answer
        return self._buffered(invoke, label, request_id)  # it ended without streaming

    # ------------------------------------------------------------------ a whole answer

    def _buffered(self, invoke: RunningInvoke, label: str, request_id: str) -> Answer:
        if invoke.throttled:
            return _answer(fue.throttled_answer(), request_id)
        result = invoke.result
        assert result is not None
        failed = api_failure_parts(result)
        if failed is not None:  # the Invoke API's own error (SnapStart's): no function ever answered
            return Answer(*failed)
        if result.function_error:
            self._said(label, f"502, the function failed ({result.error_type or 'Unhandled'})")
            return _answer(fue.error_answer(), request_id)
        try:
            return _answer(fue.buffered_answer(result.payload), request_id)
        except fue.MalformedResponse as malformed:
            self._said(label, f"502, the function's response cannot be an HTTP response: {malformed}")
            return _answer(fue.error_answer(), request_id)

    def _said(self, label: str, text: str) -> None:
        self.fleet.note(f"function URL {label}: {text}")

    # ------------------------------------------------------------------ a streamed answer

    async def _stream(self, exchange: Exchange, stream: ResponseStream, invoke: RunningInvoke, label: str,
                      request_id: str) -> Optional[Answer]:
        """Pass the stream on as it arrives; an Answer when nothing was written yet (a bad prelude: 502)."""
        integration = stream.content_type.partition(";")[0].strip().lower() == fue.HTTP_INTEGRATION
        prelude = fue.PreludeReader() if integration else None
        if prelude is None:
            await exchange.start_chunks(200, [("Content-Type", stream.content_type or "application/octet-stream"),
                                              (fue.REQUEST_ID_HEADER, request_id)])
        while True:
            piece = await exchange.until_gone(stream.next_piece)
            if piece is None:  # the client hung up
                stream.abandon()
                return None
            if not piece:
                break
            if prelude is not None:
                try:
                    head = prelude.feed(piece)
                except fue.MalformedResponse as malformed:
                    stream.abandon()
                    self._said(label, f"502, {malformed}")
                    return _answer(fue.error_answer(), request_id)
                if head is None:
                    continue
                status, headers, piece = head
                prelude = None
                await exchange.start_chunks(status, [*headers, (fue.REQUEST_ID_HEADER, request_id)])
            if piece:
                await exchange.send_chunk(piece)
            if exchange.hung_up:
                stream.abandon()
                return None
        await invoke.done.wait()
        failed = invoke.result is None or invoke.result.function_error
        if prelude is not None:  # the stream ended before its prelude did: nothing was written
            why = "the function failed" if failed else "the stream ended inside its prelude"
            self._said(label, f"502, {why}")
            return _answer(fue.error_answer(), request_id)
        if failed:
            # Cut: without the last chunk, the client knows the body is not whole.
            error_type = invoke.result.error_type if invoke.result is not None else None
            self._said(label, f"response cut, the function failed mid-stream ({error_type or 'Unhandled'})")
            return None
        await exchange.end_chunks()
        return None


def _answer(parts: fue.HttpAnswer, request_id: str) -> Answer:
    return Answer(parts.status, [*parts.headers, (fue.REQUEST_ID_HEADER, request_id)], parts.body)


async def serve_function_url(
    fleet: FleetHost, bind_host: str, port: int, *,
    stop: Optional[trio.Event] = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or `stop` is set (then gracefully: the requests in progress have `GRACEFUL_STOP_S` to
    answer); reports the bound `host:port` once listening (port 0 picks a free one). A bind error is raised."""
    url = FunctionUrl(fleet)
    await http11.serve(url.resolve, bind_host, port, idle_limit=IDLE_LIMIT_S, stop=stop, grace=GRACEFUL_STOP_S,
                       request_ids=True, task_status=task_status)
