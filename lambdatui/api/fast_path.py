"""The Invoke API's warm request, served as plain ASGI in front of quart.

A plain invoke (`POST .../invocations` without invocation-type, log-type or client-context headers) is on every
invoke's critical path; quart's request and response objects cost ~0.2 ms each there (measured: quart-trio
1.75 ms vs bare ASGI 1.21 ms for a whole invoke cycle on loopback). It turns into exactly the same call as the
quart route (which serves everything else, and this path with any other method or header), and shares its
checks: `invoke_routes.checked_payload` and `result_headers`. The runtime's side of the invoke is served by
the sandbox's own server (`http11`).
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from lambdatui.api import headers as h
from lambdatui.api.invoke_routes import InvokeRefused, checked_payload, result_headers
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import error_types as et

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")
_INVOKE_OPTIONS = {name.lower().encode() for name in (h.INVOCATION_TYPE, h.LOG_TYPE, h.CLIENT_CONTEXT)}
_TRACE = h.TRACE_ID.lower().encode()


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


async def _send(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(name.lower().encode(), value.encode("latin-1")) for name, value in headers]
    if not any(name == b"content-type" for name, _ in raw):
        raw.append((b"content-type", b"application/json"))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


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
