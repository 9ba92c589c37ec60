"""The Invoke API's quart-trio app, served with hypercorn inside the host's trio run (the sandbox side: `http11`)."""

from __future__ import annotations

import logging
import sys
from functools import partial
from typing import Optional

import trio
from hypercorn.config import Config
from hypercorn.trio import run as hypercorn_run
from hypercorn.trio import serve
from hypercorn.trio.tcp_server import TCPServer
from quart import Response
from quart_trio import QuartTrio

from lambdatui.api.fast_path import ASGIApp, fast_invoke_api
from lambdatui.api.invoke_routes import invoke_blueprint
from lambdatui.api.rendering import JSON, error
from lambdatui.host.environment_host import EnvironmentHost

# hypercorn and quart log to stderr by default, which in the TUI is the screen: route them here.
log = logging.getLogger("lambdatui.http")


class _ClosingTCPServer(TCPServer):
    """A connection that closes when its peer has gone.

    hypercorn closes a connection only once every task of it has ended, its keep-alive timer included: a caller
    that hung up (a curl that got its answer) kept its socket open until that timer fired, one file descriptor
    per caller.
    """

    async def _read_data(self) -> None:
        await super()._read_data()
        await self.idle_task.stop()

    async def _close(self) -> None:
        # A response that ends the connection (`Connection: close`, HTTP/1.0) closes it from the task that wrote
        # it. In a quart route that task is already cancelled by then (quart-trio cancels the request's nursery
        # when hypercorn reports the stream closed), so `send_eof` raised Cancelled before `aclose` ran and the
        # socket stayed open until the peer gave up. Both calls return at once: shield them.
        with trio.CancelScope(shield=True):
            await super()._close()


# hypercorn builds its connections from this module's name.
hypercorn_run.TCPServer = _ClosingTCPServer  # type: ignore[misc]


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


def create_invoke_app(host: EnvironmentHost) -> ASGIApp:
    """What callers outside see: Lambda's Invoke API."""
    app = _base_app("lambdatui-invoke-api")
    app.register_blueprint(invoke_blueprint(host))
    return fast_invoke_api(host, app)


# How long a graceful stop lets the requests in progress finish (write their answers) before they are cut.
GRACEFUL_STOP_S = 0.5
IDLE_LIMIT_S = 75.0


async def serve_app(
    app: ASGIApp, host: str, port: int, *,
    stop: Optional[trio.Event] = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or `stop` is set; reports the bound `host:port` once listening (port 0 picks a free one).

    `stop` is a graceful stop: no new connection is taken, idle ones close, and the requests in progress have
    `GRACEFUL_STOP_S` to write their answers; then this returns. Cancelling cuts every connection at once.
    A keep-alive connection idle for `IDLE_LIMIT_S` is closed, as Lambda's front end does with its callers.
    """
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = log
    config.loglevel = "WARNING"
    config.graceful_timeout = GRACEFUL_STOP_S
    config.keep_alive_timeout = IDLE_LIMIT_S
    # hypercorn closes a keep-alive connection after 1,000 requests by default; a caller that keeps one
    # connection for a long run of invokes (an SDK client, a load test) would see it drop. So: no cap.
    config.keep_alive_max_requests = sys.maxsize
    async with trio.open_nursery() as nursery:
        trigger = stop.wait if stop is not None else None
        binds = await nursery.start(partial(serve, app, config, shutdown_trigger=trigger))
        task_status.started(binds[0].split("://", 1)[-1])
