"""The Invoke API's port, Lambda's public front end: our HTTP/1.1 server (`http11`) in front of a quart-trio app.

The plain invoke (`POST .../invocations` without invocation-type, log-type or client-context headers) is on every
warm invoke's critical path, and is a route of its own (`_plain_invoke`): served through quart, its ASGI request
and response objects alone cost more than the whole of lambdatui's bookkeeping for an invoke (measured on a
2-core machine: warm p50 0.89-0.95 ms native vs 1.5 ms with quart in front; the AWS emulator answers in ~0.7 ms).
It turns into exactly the same call as the quart route, with the same checks (`invoke_routes.checked_payload`,
`result_parts`). InvokeWithResponseStream is a route of its own too (`stream_invoke`): its answer leaves piece
by piece as the function streams it. Everything else (other invocation types, log tails, client contexts, errors
for unknown paths and methods) goes to the quart app (`invoke_app`) through `asgi_adapter`, unchanged; that app is
imported and started by the first request that needs it.
"""

from __future__ import annotations

import importlib
import re
from functools import partial
from typing import Optional

import trio

from lambdatui.api import headers as h
from lambdatui.api import http11
from lambdatui.api.asgi_adapter import ASGIApp, asgi_route, lifespan
from lambdatui.api.http11_exchange import Exchange, Resolve, Route
from lambdatui.api.invoke_checks import (InvokeRefused, checked_payload, checked_qualifier, method_not_allowed,
                                         payload_limit, result_parts, throttle_parts)
from lambdatui.api.rendering import Answer
from lambdatui.api.stream_invoke import STREAM_PATH, stream_invoke
from lambdatui.host.fleet_host import FleetHost, Throttled
from lambdatui.model.facts import InvocationResult
from lambdatui.model.fleet import REQUEST_RESPONSE

# How long a graceful stop lets the requests in progress finish (write their answers) before they are cut.
GRACEFUL_STOP_S = 0.5
IDLE_LIMIT_S = 75.0  # a kept-alive caller's connection idle this long is closed, as Lambda's front end does

_INVOKE_PATH = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")
_INVOKE_OPTIONS = frozenset(name.lower() for name in (h.INVOCATION_TYPE, h.LOG_TYPE, h.CLIENT_CONTEXT, h.TENANT_ID))
_TRACE = h.TRACE_ID.lower()


class _AppOnDemand:
    """The quart app as a route: imported, built and started (its lifespan) by the first request that needs it.

    `serve` then listens, and answers plain invokes, ~160 ms sooner; the first other request pays the import
    once. The import runs in a worker thread, so the event loop (and a function's running invoke) is not stalled.
    """

    def __init__(self, host: FleetHost, nursery: trio.Nursery) -> None:
        self._host, self._nursery = host, nursery
        self._route: Optional[Route] = None
        self._loading = trio.Lock()
        self._stop = trio.Event()
        self.route = Route(self._handle, reads_body=True)

    async def _handle(self, exchange: Exchange) -> Optional[Answer]:
        if self._route is None:
            async with self._loading:
                if self._route is None:
                    invoke_app = await trio.to_thread.run_sync(importlib.import_module, "lambdatui.api.invoke_app")
                    app = invoke_app.create_invoke_app(self._host)
                    await self._nursery.start(self._run, app)
                    self._route = asgi_route(app)
        return await self._route.handle(exchange)

    async def _run(self, app: ASGIApp, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with lifespan(app):
            task_status.started()
            await self._stop.wait()

    def stop(self) -> None:
        """The server has stopped: the app's lifespan shutdown runs, if it was ever started."""
        self._stop.set()


async def _stream_not_allowed(_: Exchange) -> Answer:
    return Answer(*method_not_allowed().parts())  # as the app's, for the invoke


_STREAM_NOT_ALLOWED = Route(_stream_not_allowed)


def invoke_router(host: FleetHost, by_app: Route) -> Resolve:
    """The plain invoke and the streaming invoke by their own routes, everything else by the quart app."""
    version = host.options.function_version  # X-Amz-Executed-Version: the fleet's, for the whole run

    async def plain_invoke(exchange: Exchange) -> Optional[Answer]:
        if not _INVOKE_OPTIONS.isdisjoint(exchange.headers):
            return await by_app.handle(exchange)
        body, too_large, truncated = await exchange.read_body(payload_limit(REQUEST_RESPONSE))
        if truncated:
            return None  # the caller hung up before the end of its payload: nothing runs, nobody to answer
        try:
            payload = checked_payload(body, too_large, REQUEST_RESPONSE)
            qualifier = checked_qualifier(exchange.params[0], exchange.head.target.partition("?")[2], host.config)
        except InvokeRefused as refused:
            return Answer(*refused.parts())

        def answer_now(done: InvocationResult) -> None:
            exchange.answer_now(Answer(*result_parts(done, None, version)))

        try:
            result, _ = await host.invoke(payload, trace_id=exchange.headers.get(_TRACE), qualifier=qualifier,
                                          on_result=answer_now)
        except Throttled as throttled:
            return Answer(*throttle_parts(throttled))
        return exchange.early or Answer(*result_parts(result, None, version))  # no log tail is asked for on this route

    # Which route answers depends on headers too, so its body is read by the route, once it has chosen.
    invoke = Route(plain_invoke, reads_body=True)
    streaming = Route(partial(stream_invoke, host), reads_body=True)
    no_params: tuple[str, ...] = ()

    def resolve(method: str, path: str) -> tuple[Route, tuple[str, ...]]:
        if method == "POST":
            matched = _INVOKE_PATH.fullmatch(path)
            if matched:
                return invoke, matched.groups()  # the FunctionName
            matched = STREAM_PATH.fullmatch(path)
            if matched:
                return streaming, matched.groups()
        elif STREAM_PATH.fullmatch(path):
            return _STREAM_NOT_ALLOWED, no_params  # the app has no route there: it would say 404
        return by_app, no_params

    return resolve


async def serve_invoke_api(
    host: FleetHost, bind_host: str, port: int, *,
    stop: Optional[trio.Event] = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or `stop` is set; reports the bound `host:port` once listening (port 0 picks a free one).

    `stop` is a graceful stop: no new connection is taken, idle ones close, and the requests in progress have
    `GRACEFUL_STOP_S` to write their answers; then the app's lifespan shutdown runs and this returns. Cancelling
    cuts every connection at once. A caller's connection idle for `IDLE_LIMIT_S` is closed. A bind error (the
    port in use) is raised.
    """
    async with trio.open_nursery() as nursery:
        app = _AppOnDemand(host, nursery)
        try:
            await http11.serve(invoke_router(host, app.route), bind_host, port, idle_limit=IDLE_LIMIT_S, stop=stop,
                               grace=GRACEFUL_STOP_S, request_ids=True, task_status=task_status)
        finally:
            app.stop()
