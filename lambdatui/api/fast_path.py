"""The three requests of every warm invoke, served as plain ASGI in front of quart.

A plain invoke (`POST .../invocations` without invocation-type, log-type or client-context headers), the
runtime's `GET /invocation/next` and its `POST /invocation/{id}/response` are on every invoke's critical
path; quart's request and response objects cost ~0.2 ms each there (measured: quart-trio 1.75 ms vs bare
ASGI 1.21 ms for a whole invoke cycle on loopback). They turn into exactly the same core inputs as the
quart routes (which serve everything else, and these paths with any other method or header), and share
their checks: `invoke_routes.checked_payload` and `result_headers`.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

import trio

from lambdatui.api import headers as h
from lambdatui.api.invoke_routes import InvokeRefused, checked_payload, result_headers
from lambdatui.api.rendering import TRUNCATED
from lambdatui.core import inputs as ins
from lambdatui.core.effects import Reply
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import error_types as et

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

NEXT_PATH = "/2018-06-01/runtime/invocation/next"
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")
_INVOKE_OPTIONS = {name.lower().encode() for name in (h.INVOCATION_TYPE, h.LOG_TYPE, h.CLIENT_CONTEXT)}
_TRACE = h.TRACE_ID.lower().encode()
_RESPONSE_PATH = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/response$")
_RESULT_PATH = re.compile(r"^/2018-06-01/runtime/invocation/[^/]+/(response|error)$")
_MODE_HEADER = h.RESPONSE_MODE.lower().encode()


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool, bool]:
    """(body, too_large, truncated): at most `limit` bytes of the body, the rest read and dropped; truncated when
    the client hung up before the end of the body it declared (Content-Length or chunked)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", size > limit, True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body"):
            return (b"", True, False) if size > limit else (b"".join(chunks), False, False)


def _noting_truncation(scope: Scope, receive: Receive) -> Receive:
    """`receive` for a quart route whose body decides the invoke's outcome (/response, /error).

    quart-trio cancels a route when its client hangs up, so a runtime that stops mid-body left the core unaware
    (the invoke waited for its timeout, or the event was handed out again). Here the hang-up ends the body instead,
    with TRUNCATED set in the scope for the route to pass on; the route then answers into the void.
    """
    ended = False

    async def receive_noting() -> dict[str, Any]:
        nonlocal ended
        if ended:
            await trio.sleep_forever()  # quart-trio cancels this once the route has answered
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body"):
            ended = True
        elif message["type"] == "http.disconnect":
            ended = True
            scope[TRUNCATED] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return message

    return receive_noting


async def _send(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(name.lower().encode(), value.encode("latin-1")) for name, value in headers]
    if not any(name == b"content-type" for name, _ in raw):
        raw.append((b"content-type", b"application/json"))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _send_reply(send: Send, reply: Reply) -> None:
    await _send(send, reply.status, list(reply.headers), reply.body)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def fast_invoke_api(host: EnvironmentHost, app: ASGIApp) -> ASGIApp:
    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST" and _INVOKE_PATH.match(scope["path"])
                and not any(name in _INVOKE_OPTIONS for name, _ in scope["headers"])):
            await _invoke(scope, receive, send)
            return
        await app(scope, receive, send)

    async def _invoke(scope: Scope, receive: Receive, send: Send) -> None:
        limit = et.MAX_SYNC_PAYLOAD_BYTES
        body, too_large, truncated = await _read_body(receive, limit)
        if truncated:
            return  # the caller hung up before the end of its payload: nothing runs, nobody to answer
        try:
            payload = checked_payload(body, too_large, limit, "RequestResponse")
        except InvokeRefused as refused:
            await _send(send, *refused.parts())
            return
        result, tail = await host.invoke(payload, trace_id=_header(scope, _TRACE))
        await _send(send, 200, result_headers(result, tail), result.payload)

    return serve


def fast_runtime_api(host: EnvironmentHost, app: ASGIApp) -> ASGIApp:
    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if method == "GET" and path == NEXT_PATH:
                await _next(scope, receive, send)
                return
            match = _RESPONSE_PATH.match(path) if method == "POST" else None
            if match is not None and not any(name == _MODE_HEADER for name, _ in scope["headers"]):
                await _response(match.group(1), scope, receive, send)
                return
            if method == "POST" and _RESULT_PATH.match(path):
                receive = _noting_truncation(scope, receive)
        await app(scope, receive, send)

    async def _next(scope: Scope, receive: Receive, send: Send) -> None:
        # A long poll. When the runtime goes away while parked, hypercorn cancels this task with its
        # connection, and `host.request` tells the core (RequestAbandoned): tests/api/test_fast_path.py.
        await _send_reply(send, await host.request(ins.RuntimeNext))

    async def _response(request_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        body, too_large, truncated = await _read_body(receive, et.MAX_RESPONSE_BYTES)
        content_type = _header(scope, b"content-type") or "application/json"
        reply = await host.request(
            lambda token: ins.RuntimeResponse(token, request_id, body, content_type, too_large, truncated=truncated)
        )
        if not truncated:  # a runtime that hung up hears nothing
            await _send_reply(send, reply)

    return serve
