"""The two Runtime API calls every warm invoke makes, served as plain ASGI in front of quart.

`GET /invocation/next` and `POST /invocation/{id}/response` are on every invoke's critical path; quart's
request and response objects cost ~0.2 ms each there (measured: quart-trio 1.75 ms vs bare ASGI 1.21 ms for
a whole invoke cycle on loopback). Both calls turn into exactly the same core inputs as the quart routes in
`runtime_routes.py` (which still serve everything else, and these two paths under any other method or
header); validation that needs more than this stays there.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from lambdatui.api import headers as h
from lambdatui.core import inputs as ins
from lambdatui.core.effects import Reply
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import error_types as et

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

NEXT_PATH = "/2018-06-01/runtime/invocation/next"
_RESPONSE_PATH = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/response$")
_MODE_HEADER = h.RESPONSE_MODE.lower().encode()


async def _send_reply(send: Send, reply: Reply) -> None:
    headers = [(name.lower().encode(), value.encode("latin-1")) for name, value in reply.headers]
    if not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


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
        await app(scope, receive, send)

    async def _next(scope: Scope, receive: Receive, send: Send) -> None:
        # A long poll. When the runtime goes away while parked, hypercorn cancels this task with its
        # connection, and `host.request` tells the core (RequestAbandoned): tests/api/test_fast_path.py.
        await _send_reply(send, await host.request(ins.RuntimeNext))

    async def _response(request_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size <= et.MAX_RESPONSE_BYTES:
                chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        too_large = size > et.MAX_RESPONSE_BYTES
        content_type = "application/json"
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
        body = b"" if too_large else b"".join(chunks)
        reply = await host.request(
            lambda token: ins.RuntimeResponse(token, request_id, body, content_type, too_large)
        )
        await _send_reply(send, reply)

    return serve
