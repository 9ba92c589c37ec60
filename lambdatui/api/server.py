"""The Invoke API's port, Lambda's public front end: our HTTP/1.1 server (`http11`) in front of a quart-trio app.

The plain invoke (`POST .../invocations` without invocation-type, log-type or client-context headers) is on every
warm invoke's critical path, and is a route of its own (`_plain_invoke`): served through quart, its ASGI request
and response objects alone cost more than the whole of lambdatui's bookkeeping for an invoke (measured on a
2-core machine: warm p50 0.89-0.95 ms native vs 1.5 ms with quart in front; the AWS emulator answers in ~0.7 ms).
It turns into exactly the same call as the quart route, with the same checks (`invoke_routes.checked_payload`,
`result_headers`). Everything else (other invocation types, log tails, client contexts, errors for unknown
paths and methods) goes to the quart app through `asgi_adapter`, unchanged.
"""

from __future__ import annotations

import logging
import re
from typing import Optional

import trio
from quart import Response
from quart_trio import QuartTrio

from lambdatui.api import headers as h
from lambdatui.api import http11
from lambdatui.api.asgi_adapter import asgi_route, lifespan
from lambdatui.api.http11 import Exchange, Resolve, Route
from lambdatui.api.invoke_routes import InvokeRefused, checked_payload, invoke_blueprint, result_headers
from lambdatui.api.rendering import JSON, Answer, error
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import error_types as et

# quart logs to stderr by default, which in the TUI is the screen: route it here.
log = logging.getLogger("lambdatui.http")

# How long a graceful stop lets the requests in progress finish (write their answers) before they are cut.
GRACEFUL_STOP_S = 0.5
IDLE_LIMIT_S = 75.0  # a kept-alive caller's connection idle this long is closed, as Lambda's front end does

_INVOKE_PATH = re.compile(r"/2015-03-31/functions/[^/]+/invocations")
_INVOKE_OPTIONS = frozenset(name.lower() for name in (h.INVOCATION_TYPE, h.LOG_TYPE, h.CLIENT_CONTEXT))
_TRACE = h.TRACE_ID.lower()


def _error(status: int, error_type: str, message: str) -> Response:
    """Lambda's `{errorMessage, errorType}` body, also for what the Invoke API has no route for."""
    return Response(error(status, error_type, message).body, status=status, content_type=JSON)


def _base_app(name: str) -> QuartTrio:
    app = QuartTrio(name)
    app.config["MAX_CONTENT_LENGTH"] = None  # our routes enforce Lambda's own limits, with Lambda's errors
    app.config["BODY_TIMEOUT"] = None
    app.logger.handlers[:] = [logging.NullHandler()]
    app.logger.propagate = False

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        return _error(404, "NotFound", "No such endpoint")

    @app.errorhandler(405)
    async def not_allowed(_: Exception) -> Response:
        return _error(405, "MethodNotAllowed", "Method not allowed for this endpoint")

    @app.errorhandler(500)
    async def internal_error(exc: Exception) -> Response:
        # A bug of ours, never the caller's: the caller gets Lambda's JSON for a container error, not an HTML page,
        # and the traceback goes to lambdatui's HTTP log.
        log.error("unhandled error in a route", exc_info=getattr(exc, "original_exception", None) or exc)
        return _error(500, "InternalServerError", "Internal Server Error")

    return app


def create_invoke_app(host: EnvironmentHost) -> QuartTrio:
    """What callers outside see: Lambda's Invoke API, every route of it (the plain invoke included)."""
    app = _base_app("lambdatui-invoke-api")
    app.register_blueprint(invoke_blueprint(host))
    return app


def invoke_router(host: EnvironmentHost, app: QuartTrio) -> Resolve:
    """The plain invoke by its own route, everything else by the quart app."""
    by_app = asgi_route(app)

    async def plain_invoke(exchange: Exchange) -> Optional[Answer]:
        if not _INVOKE_OPTIONS.isdisjoint(exchange.headers):
            return await by_app.handle(exchange)
        limit = et.MAX_SYNC_PAYLOAD_BYTES
        body, too_large, truncated = await exchange.read_body(limit)
        if truncated:
            return None  # the caller hung up before the end of its payload: nothing runs, nobody to answer
        try:
            payload = checked_payload(body, too_large, limit, "RequestResponse")
        except InvokeRefused as refused:
            return Answer(*refused.parts())
        result, tail = await host.invoke(payload, trace_id=exchange.headers.get(_TRACE))
        return Answer(200, result_headers(result, tail), result.payload)

    # Which route answers depends on headers too, so its body is read by the route, once it has chosen.
    invoke = Route(plain_invoke, reads_body=True)
    no_params: tuple[str, ...] = ()

    def resolve(method: str, path: str) -> tuple[Route, tuple[str, ...]]:
        if method == "POST" and _INVOKE_PATH.fullmatch(path):
            return invoke, no_params
        return by_app, no_params

    return resolve


async def serve_invoke_api(
    host: EnvironmentHost, bind_host: str, port: int, *,
    stop: Optional[trio.Event] = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or `stop` is set; reports the bound `host:port` once listening (port 0 picks a free one).

    `stop` is a graceful stop: no new connection is taken, idle ones close, and the requests in progress have
    `GRACEFUL_STOP_S` to write their answers; then the app's lifespan shutdown runs and this returns. Cancelling
    cuts every connection at once. A caller's connection idle for `IDLE_LIMIT_S` is closed. A bind error (the
    port in use) is raised.
    """
    app = create_invoke_app(host)
    async with lifespan(app):
        await http11.serve(invoke_router(host, app), bind_host, port, idle_limit=IDLE_LIMIT_S, stop=stop,
                           grace=GRACEFUL_STOP_S, task_status=task_status)
