"""The Invoke API's quart-trio app: every route of Lambda's Invoke API, behind our HTTP/1.1 server (`server`).

Imported on the first request that needs it (quart and its stack cost ~160 ms of import), so a `serve` that
answers plain invokes is listening, and answering, without waiting for it.
"""

from __future__ import annotations

import logging

from quart import Response, request
from quart_trio import QuartTrio

from lambdatui.api.invoke_checks import InvokeRefused, method_not_allowed
from lambdatui.api.invoke_routes import invoke_async_blueprint, invoke_blueprint
from lambdatui.api.rendering import JSON, error
from lambdatui.host.fleet_host import FleetHost

# quart logs to stderr by default, which in the TUI is the screen: route it here.
log = logging.getLogger("lambdatui.http")


def _error(status: int, error_type: str, message: str) -> Response:
    """Lambda's `{errorMessage, errorType}` body, also for what the Invoke API has no route for."""
    return Response(error(status, error_type, message).body, status=status, content_type=JSON)


def _refused(refused: InvokeRefused) -> Response:
    status, headers, body = refused.parts()
    return Response(body, status=status, headers=dict(headers))


def _base_app(name: str) -> QuartTrio:
    app = QuartTrio(name)
    app.config["MAX_CONTENT_LENGTH"] = None  # our routes enforce Lambda's own limits, with Lambda's errors
    app.config["BODY_TIMEOUT"] = None
    app.logger.handlers[:] = [logging.NullHandler()]
    app.logger.propagate = False

    # In the AWS shape botocore reads (X-Amzn-ErrorType, `message`): a client calling an operation lambdatui does not
    # serve (GetFunction, a waiter, ListFunctions) is told so, not "An error occurred (404) ...:" and nothing more.
    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        return _refused(InvokeRefused(404, "UnknownOperationException", (
            f"{request.method} {request.path} is not an operation lambdatui serves: it emulates Lambda's Invoke API "
            "(Invoke, InvokeWithResponseStream, InvokeAsync), not the functions' management API")))

    @app.errorhandler(405)
    async def not_allowed(_: Exception) -> Response:
        return _refused(method_not_allowed())

    @app.errorhandler(500)
    async def internal_error(exc: Exception) -> Response:
        # A bug of ours, never the caller's: the caller gets Lambda's JSON for a container error, not an HTML page,
        # and the traceback goes to lambdatui's HTTP log.
        log.error("unhandled error in a route", exc_info=getattr(exc, "original_exception", None) or exc)
        return _error(500, "InternalServerError", "Internal Server Error")

    return app


def create_invoke_app(host: FleetHost) -> QuartTrio:
    """What callers outside see: Lambda's Invoke API, every route of it (the plain invoke included)."""
    app = _base_app("lambdatui-invoke-api")
    app.register_blueprint(invoke_blueprint(host))
    app.register_blueprint(invoke_async_blueprint(host))
    return app
