"""Building the quart-trio apps and serving them with hypercorn inside the host's trio run."""

from __future__ import annotations

import logging
import sys
from functools import partial
from typing import Callable, Optional

import trio
from hypercorn.config import Config
from hypercorn.trio import run as hypercorn_run
from hypercorn.trio import serve
from hypercorn.trio.tcp_server import TCPServer
from quart import Response
from quart_trio import QuartTrio

from lambdatui.api.extension_routes import extension_blueprint
from lambdatui.api.fast_path import ASGIApp, fast_invoke_api, fast_runtime_api
from lambdatui.api.invoke_routes import invoke_blueprint
from lambdatui.api.private_routes import private_blueprint
from lambdatui.api.rendering import error
from lambdatui.api.runtime_routes import runtime_blueprint
from lambdatui.host.environment_host import EnvironmentHost

# hypercorn and quart log to stderr by default, which in the TUI is the screen: route them here.
log = logging.getLogger("lambdatui.http")


class _ClosingTCPServer(TCPServer):
    """A connection that closes when its peer has gone.

    hypercorn closes a connection only once every task of it has ended, its keep-alive timer included: a peer
    that hung up (a runtime killed by a reset, a curl that got its answer) kept its socket open until that
    timer fired, one file descriptor per crash, and forever on the sandbox side where there is no timer.
    """

    async def run(self) -> None:
        admit = getattr(self.config, "lambdatui_admit", None)
        if admit is not None:
            try:
                peer, local = self.stream.socket.getpeername(), self.stream.socket.getsockname()
            except OSError:
                await self.stream.aclose()
                return
            if not admit(peer[:2], local[:2]):
                await _refuse(self.stream)
                return
        await super().run()

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


_REFUSAL = (b'{"errorType":"AccessDenied","errorMessage":"Only the execution environment\'s own processes may use '
            b'this API."}')


async def _refuse(stream: trio.SocketStream) -> None:
    """A 403 the caller can read, then the connection closes: its request is never read, nor handled."""
    head = b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
    with trio.move_on_after(1):
        try:
            await stream.send_all(head % len(_REFUSAL) + _REFUSAL)
            await stream.send_eof()
            while await stream.receive_some(65536):  # drained, so that closing does not reset what we sent
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
    await stream.aclose()


# hypercorn builds its connections from this module's name (the sandbox side moves to a server of its own).
hypercorn_run.TCPServer = _ClosingTCPServer  # type: ignore[misc]


def _base_app(name: str) -> QuartTrio:
    app = QuartTrio(name)
    app.config["MAX_CONTENT_LENGTH"] = None  # our routes enforce Lambda's own limits, with Lambda's errors
    app.config["BODY_TIMEOUT"] = None
    app.logger.handlers[:] = [logging.NullHandler()]
    app.logger.propagate = False

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        return error(404, "NotFound", "No such endpoint")

    @app.errorhandler(405)
    async def not_allowed(_: Exception) -> Response:
        return error(405, "MethodNotAllowed", "Method not allowed for this endpoint")

    @app.errorhandler(500)
    async def internal_error(exc: Exception) -> Response:
        # A bug of ours, never the caller's: the caller gets Lambda's JSON for a container error, not an HTML page,
        # and the traceback goes to lambdatui's HTTP log.
        log.error("unhandled error in a route", exc_info=getattr(exc, "original_exception", None) or exc)
        return error(500, "InternalServerError", "Internal Server Error")

    return app


def create_runtime_app(host: EnvironmentHost) -> ASGIApp:
    """What processes inside the environment see at AWS_LAMBDA_RUNTIME_API."""
    app = _base_app("lambdatui-runtime-api")
    app.register_blueprint(runtime_blueprint(host))
    app.register_blueprint(extension_blueprint(host))
    app.register_blueprint(private_blueprint(host))
    return fast_runtime_api(host, app)


def create_invoke_app(host: EnvironmentHost) -> ASGIApp:
    """What callers outside see: Lambda's Invoke API."""
    app = _base_app("lambdatui-invoke-api")
    app.register_blueprint(invoke_blueprint(host))
    return fast_invoke_api(host, app)


# How long a graceful stop lets the requests in progress finish (write their answers) before they are cut.
GRACEFUL_STOP_S = 0.5


async def serve_app(
    app: ASGIApp, host: str, port: int, idle_limit_s: float = 75.0, *,
    stop: Optional[trio.Event] = None,
    admit: Optional[Callable[[tuple[str, int], tuple[str, int]], bool]] = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or `stop` is set; reports the bound `host:port` once listening (port 0 picks a free one).

    `stop` is a graceful stop: no new connection is taken, idle ones close, and the requests in progress have
    `GRACEFUL_STOP_S` to write their answers; then this returns. Cancelling cuts every connection at once.
    `idle_limit_s` closes a keep-alive connection idle for that long. The sandbox side passes infinity:
    Lambda never closes a runtime's or an extension's connection, and a user holding a boundary for minutes
    leaves them idle that long (an extension that does not reconnect would crash on thaw).
    `admit(client, server)` decides for each new connection whether it is served at all (host/sandbox_access).
    """
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = log
    config.loglevel = "WARNING"
    config.graceful_timeout = GRACEFUL_STOP_S
    config.keep_alive_timeout = idle_limit_s
    # hypercorn closes a keep-alive connection after 1,000 requests by default: every 500 invokes for a
    # runtime (next + response each). Lambda never closes it, and a runtime that keeps one socket for
    # life (allowed, and what lean custom runtimes do) would hang until its timeout. So: no cap.
    config.keep_alive_max_requests = sys.maxsize
    config.lambdatui_admit = admit  # read by _ClosingTCPServer for each new connection
    async with trio.open_nursery() as nursery:
        trigger = stop.wait if stop is not None else None
        binds = await nursery.start(partial(serve, app, config, shutdown_trigger=trigger))
        task_status.started(binds[0].split("://", 1)[-1])
