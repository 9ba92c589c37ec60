"""An ASGI app answering through our HTTP/1.1 server (`http11`): how the Invoke API's port reaches quart (issue 9).

`asgi_route(app)` is an `http11` route that hands one request to the app as ASGI 3 (`scope`, `receive`, `send`):
the body as it arrives, in `http.request` messages; then `http.disconnect` once the caller has gone (a reset, or a
close found by writing to it; not a half-close), so that an app's handler is cancelled as it was under hypercorn.
A response sent in one body message (quart sends its body, then an empty last message) is written whole, with a
Content-Length; one whose body comes in several `more_body` messages is written as it comes, in chunks
(Transfer-Encoding: chunked), which is what a streamed invoke needs (issue 14). `lifespan(app)` runs the app's
startup and shutdown around the server, as an ASGI server does.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

import trio

from lambdatui.api.http11_exchange import Exchange, Route
from lambdatui.api.http11_head import BadRequest
from lambdatui.api.rendering import Answer, error

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("lambdatui.http")

_FRAMING = (b"content-length", b"transfer-encoding", b"connection")  # the server frames the answer itself
_DISCONNECT: Message = {"type": "http.disconnect"}
LIFESPAN_S = 5.0  # how long the app's startup and shutdown may take


def asgi_route(app: ASGIApp) -> Route:
    """The route through which `app` answers a request; it reads the request's body itself."""

    async def handle(exchange: Exchange) -> Optional[Answer]:
        return await _Request(exchange).run(app)

    return Route(handle, reads_body=True)


def _scope(exchange: Exchange) -> Scope:
    head = exchange.head
    raw_path, _, query = head.target.partition("?")
    try:
        client, server = exchange.addresses()
    except OSError:  # the caller has already gone
        client = server = None
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.0" if head.http10 else "1.1", "method": head.method, "scheme": "http",
        "path": head.path, "raw_path": raw_path.encode("latin-1"), "query_string": query.encode("latin-1"),
        "root_path": "", "client": client, "server": server, "extensions": {},
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in head.headers.items()],
    }


class _Request:
    """One request's ASGI conversation: what the app receives, and what it sends turned into the answer."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.body_given = False  # the app has had the whole body (its last http.request message)
        self.bad: Optional[BadRequest] = None  # a malformed body: answered by the framing once the app is done
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self.held: list[bytes] = []  # the body's first piece, until the next message says whether more follow
        self.streaming = False
        self.answer: Optional[Answer] = None

    async def run(self, app: ASGIApp) -> Optional[Answer]:
        try:
            await app(_scope(self.exchange), self.receive, self.send)
        except Exception:
            if not self.streaming:
                raise  # nothing written yet: the framing logs it and answers Lambda's JSON 500
            log.error("the Invoke API's app failed in the middle of a streamed answer: %s %s",
                      self.exchange.method, self.exchange.path, exc_info=True)
            return None  # the connection is cut: the caller sees the answer end early
        if self.bad is not None:
            raise self.bad
        if self.answer is None and not self.streaming:
            if self.exchange.hung_up:
                return None
            log.error("the Invoke API's app ended without an answer: %s %s", self.exchange.method, self.exchange.path)
            return error(500, "InternalServerError", "Internal Server Error")
        return self.answer

    async def receive(self) -> Message:
        exchange = self.exchange
        if not self.body_given and self.bad is None:
            try:
                piece = await exchange.receive_piece()
            except BadRequest as bad:
                self.bad = bad
                return _DISCONNECT
            if piece is None:
                return _DISCONNECT
            self.body_given = exchange.body_done
            return {"type": "http.request", "body": piece, "more_body": not self.body_given}
        # The body is all read: what is left to hear is the caller gone (the app's wait is then cancelled); a caller
        # that only half-closed, its request sent, still waits for the answer (Exchange.until_gone).
        await exchange.until_gone(trio.sleep_forever)
        return _DISCONNECT

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in message["headers"]
                            if name.lower() not in _FRAMING]
            return
        if kind != "http.response.body" or self.answer is not None:
            return
        body, more = message.get("body", b""), message.get("more_body", False)
        exchange = self.exchange
        if self.streaming:
            await exchange.send_chunk(body)
            if not more:
                await exchange.end_chunks()
        elif not more:
            self.answer = Answer(self.status, self.headers, b"".join((*self.held, body)))
        elif body and self.held:  # a second piece before the last message: the answer is streamed
            self.streaming = True
            await exchange.start_chunks(self.status, self.headers)
            for piece in (*self.held, body):
                await exchange.send_chunk(piece)
            self.held = []
        elif body:
            self.held.append(body)


@asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """The app's startup before the body, its shutdown after it (not when the body fails or is cancelled).
    An app that does not speak the lifespan protocol (it raises) is served without it, as hypercorn did."""
    to_app, app_inbox = trio.open_memory_channel[Message](1)
    app_outbox, from_app = trio.open_memory_channel[Message](1)

    async def run_app() -> None:
        try:
            await app({"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}},
                      app_inbox.receive, app_outbox.send)
        except Exception:
            log.warning("the Invoke API's app has no lifespan support; served without it", exc_info=True)
            await app_outbox.send({"type": "unsupported"})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_app)
        with trio.fail_after(LIFESPAN_S):
            await to_app.send({"type": "lifespan.startup"})
            started = await from_app.receive()
        if started["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"the Invoke API's app failed to start: {started.get('message', '')}")
        yield
        if started["type"] != "unsupported":
            with trio.move_on_after(LIFESPAN_S):
                await to_app.send({"type": "lifespan.shutdown"})
                await from_app.receive()
        nursery.cancel_scope.cancel()
