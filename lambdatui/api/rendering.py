"""Turning core replies and API-level refusals into quart responses."""

from __future__ import annotations

import json

from quart import Response

from lambdatui.core.effects import Reply

JSON = "application/json"
# Set in the ASGI scope when the client hung up before the end of the body (see fast_path._noting_truncation).
TRUNCATED = "lambdatui.truncated"


def from_reply(reply: Reply) -> Response:
    response = Response(reply.body, status=reply.status)
    for name, value in reply.headers:
        response.headers[name] = value
    if "Content-Type" not in dict(reply.headers):
        response.headers["Content-Type"] = JSON
    return response


def error(status: int, error_type: str, message: str) -> Response:
    """The `{errorMessage, errorType}` body the Runtime and Extensions APIs use for refusals."""
    body = json.dumps({"errorMessage": message, "errorType": error_type})
    return Response(body, status=status, content_type=JSON)


def body_was_truncated() -> bool:
    """The client hung up before the end of the body it declared (noted by `fast_path` on /response and /error)."""
    from quart import request

    return bool(request.scope.get(TRUNCATED))


async def read_body(limit: int) -> tuple[bytes, bool]:
    """Read at most `limit` bytes of the request body; the rest is consumed, not kept."""
    from quart import request

    chunks: list[bytes] = []
    size = 0
    too_large = False
    async for chunk in request.body:
        size += len(chunk)
        if size > limit:
            too_large = True
            chunks = []  # keep reading so the connection stays usable, but drop the data
            continue
        chunks.append(chunk)
    return b"".join(chunks), too_large
