"""Our own HTTP/1.1 server on trio: framing only, the routes decide (issue 9).

It serves both of lambdatui's ports, apart as Lambda serves them: the API the runtime and the extensions speak at
AWS_LAMBDA_RUNTIME_API (Lambda's RAPID), and the Invoke API's public front end. One task per connection (the one
that accepted it: `http11_accept`; the connection is the standard library's socket, trio only waits on it:
`http11_socket`), nothing per request: the head is parsed from the connection's buffer
(`http11_reader`, `http11_head`), the body read up to the route's limit (or by the route, as it arrives:
`Route.reads_body`), the route awaited in the same task, the answer written in one send (or in chunks, by the
route). A hand parser rather than h11: h11 cost ~80 µs per next + response pair of the warm path, this ~10 µs
(measured on a 2-core machine, Python 3.11).

Keep-alive ends with `Connection: close`, HTTP/1.0, a malformed request or the peer; the sandbox's server ends it
otherwise only after refusing a runtime's result (Lambda never closes a runtime's or an extension's connection; a
request pipelined behind a refused result was sent before its runtime saw the refusal: runtime_routes.py). The front end also closes a
connection idle for `idle_limit`, and stops gracefully on `stop` (`serve`). A long poll's socket is watched while
the core holds the request (`hangups`): the peer hanging up cancels the wait (RequestAbandoned for the core).
What a route sees of its request, and how it answers, is `http11_exchange.Exchange`.
"""

from __future__ import annotations

import logging
import math
import os
import select
import socket
from functools import partial
from typing import Awaitable, Callable, Optional

import trio

from lambdatui.api.hangups import HangupMonitor
from lambdatui.api.http11_accept import Acceptor
from lambdatui.api.http11_exchange import Address, Exchange, Resolve, Route, T
from lambdatui.api.http11_head import MAX_HEAD_BYTES, BadRequest, Head, has_body, http_date, render_head
from lambdatui.api.http11_reader import RECEIVE_BYTES, PeerGone, Reader
from lambdatui.api.http11_socket import PlainStream, listening_socket
from lambdatui.api.rendering import Answer, error
from lambdatui.ids import new_uuid
from lambdatui.listen_address import listening, stopped_listening
from lambdatui.processes.linux import SO_TIMESTAMPNS

log = logging.getLogger("lambdatui.http")

_SEPARATE_SEND = 65536  # a body this large is sent after its head rather than copied onto it
_POLLRDHUP: Optional[int] = getattr(select, "POLLRDHUP", None)  # Linux's: the peer's FIN, read or not


class _Server:
    """What the connections of one `serve` share: the routes, and for an idle limit or a graceful stop, who
    waits for a next request (those are closed, the others may finish)."""

    def __init__(self, resolve: Resolve, idle_limit: Optional[float], stoppable: bool, stamped: bool = False,
                 stamp_every: bool = False, connections: Optional[set[_Connection]] = None,
                 request_ids: bool = False) -> None:
        self.resolve = resolve
        # Its connections' requests carry when they arrived (Exchange.arrived): every one, or only the first.
        self.stamped, self.stamp_every = stamped, stamp_every
        self.monitor = HangupMonitor() if HangupMonitor.available() else None
        self.idle_limit = math.inf if idle_limit is None else idle_limit
        self.guards_idle = idle_limit is not None or stoppable  # waits between requests take a cancel scope
        self.stopping = False
        self.connections: set[_Connection] = set() if connections is None else connections
        self.all_closed = trio.Event()
        self.address: Optional[Address] = None  # every connection's own address, unless the listener's is a wildcard
        self.taken = 0  # connections taken so far: each is numbered by it (`_Connection.number`)
        self.request_ids = request_ids  # a malformed request's answer carries x-amzn-RequestId (the public endpoints)

    async def stop(self, grace: float) -> None:
        """Idle connections close now; the others finish their request within `grace` (then are cut)."""
        self.stopping = True
        for connection in self.connections:
            if connection.idle is not None:
                connection.idle.cancel()
        with trio.move_on_after(grace):
            if self.connections:
                await self.all_closed.wait()

    def closed(self, connection: "_Connection") -> None:
        self.connections.discard(connection)
        if self.stopping and not self.connections:
            self.all_closed.set()


# Requests of one connection in a row without a pass through the scheduler: past the first, at the next request
# that nothing pipelined waits behind; past the second, at the next request.
_YIELD_EVERY = 16
_YIELD_AT_MOST = 256


class _Connection(Reader):
    def __init__(self, stream: PlainStream, server: _Server) -> None:
        super().__init__(stream, server.stamped, server.stamp_every)
        self.server = server
        server.taken += 1
        self.number = server.taken  # names it to the core (a Managed Instances worker asks on a connection of its own)
        self.on_close: Optional[Callable[[], None]] = None  # told when it ends (Exchange.when_closed)
        self.monitor = server.monitor
        self.idle: Optional[trio.CancelScope] = None  # while waiting for a next request, when the server watches
        self.unyielded = 0  # requests handled since this connection last waited for its socket (or yielded)

    async def run(self) -> None:
        while True:
            self.unyielded += 1
            if self.unyielded > _YIELD_EVERY and (not self.buffer or self.unyielded > _YIELD_AT_MOST):
                # A request answered at once passes no checkpoint (EnvironmentHost.request), nor does one read from
                # the buffer or from a socket that has bytes: a caller pipelining such requests must still let the
                # other tasks run. Where nothing it sent is waiting, so that a runtime's response and the /next sent
                # with it are handled in one go; past the larger bound, wherever it is.
                self.unyielded = 0
                await trio.lowlevel.checkpoint()
            try:
                head = await self._read_head()
                if head is None:
                    return  # the peer closed between requests (or inside a head), or we close an idle connection
                route, params = self.server.resolve(head.method, head.path)
                if route.reads_body:
                    goes_on = await self._serve_reading(head, route, params)
                else:
                    goes_on = await self._serve(head, route, params)
            except BadRequest as bad:
                answer = bad.answer()
                if self.server.request_ids:  # Lambda's public endpoints name every answer, a refusal included
                    answer = answer._replace(headers=[*answer.headers, ("x-amzn-RequestId", new_uuid())])
                await self._write(answer, close=True)
                await _linger(self.stream)
                return
            if not goes_on:
                return

    async def _serve(self, head: Head, route: Route, params: tuple[str, ...]) -> bool:
        """One request whose body the framing reads; whether the connection goes on."""
        try:
            body, too_large, truncated = await self._read_body(head, route.body_limit)
        except BadRequest as bad:
            if route.hears_truncation:  # the body never arrived whole: the core must hear it as it would a hang-up
                exchange = Exchange(self, head, params, b"", False, True)
                exchange.malformed = bad
                await self._handle(route, exchange)
            raise
        if truncated and not route.hears_truncation:
            return False
        exchange = Exchange(self, head, params, body, too_large, truncated)
        answer = await self._handle(route, exchange)
        if exchange.early is not None:
            await self._send(exchange._unsent)
            return not (exchange._closes or self.hung_up)
        if answer is None or truncated or self.hung_up:
            return False  # nobody to answer
        return await self._answer(head, answer, exchange.ends)

    async def _serve_reading(self, head: Head, route: Route, params: tuple[str, ...]) -> bool:
        """One request whose route reads the body (or not): what it leaves unread is dropped after its answer."""
        exchange = Exchange(self, head, params, b"", False, False)
        answer = await self._handle(route, exchange)
        if self.hung_up:
            return False
        if exchange._streamed:  # answered in chunks: an answer cut short (a bug, a cancellation) ends the connection
            goes_on = exchange._streamed == 2 and not exchange._closes
        elif exchange.early is not None:  # written from another task (answer_now): the rest of it, if any
            await self._send(exchange._unsent)
            goes_on = not (exchange._closes or self.hung_up)
        elif answer is None:
            return False
        else:  # a body the client was never asked for (Expect: 100-continue) will not come: the connection ends
            goes_on = await self._answer(head, answer, exchange._body_unasked() or exchange.ends)
        return goes_on and await exchange._drain()

    async def _answer(self, head: Head, answer: Answer, close: bool = False) -> bool:
        close = close or not head.keep_alive or self.server.stopping
        await self._write(answer, close=close, head_only=head.method == "HEAD")
        return not close

    async def _handle(self, route: Route, exchange: Exchange) -> Optional[Answer]:
        try:
            return await route.handle(exchange)
        except BadRequest:
            raise  # a body the route read was malformed: the framing answers it
        except Exception:
            # A bug of ours, never the caller's: Lambda's JSON for a container error, the traceback to our HTTP log.
            log.error("unhandled error in a route: %s %s", exchange.method, exchange.path, exc_info=True)
            return error(500, "InternalServerError", "Internal Server Error")

    # ---------------------------------------------------------------- reading

    async def _await_request(self) -> bool:
        """Wait for the next request's first bytes; False when the peer left, or when we close the connection:
        idle past the server's idle limit, or the server stopping."""
        if not self.server.guards_idle:
            return await super()._await_request()
        try:
            try:
                with trio.CancelScope(deadline=trio.current_time() + self.server.idle_limit) as self.idle:
                    if self.server.stopping:
                        self.idle.cancel()
                    await self._receive()
            finally:
                self.idle = None
        except PeerGone:
            return False
        return bool(self.buffer)  # empty: the wait was cancelled

    async def _wait_readable(self) -> None:
        self.unyielded = 0
        if self.idle is not None or self.server.idle_limit == math.inf:
            await trio.lowlevel.wait_readable(self.fd)  # between requests the idle scope bounds the wait
            return
        # In the middle of a request a caller silent that long is closed too: a stalled head or body would hold its
        # connection, and a descriptor of the host's, for good.
        with trio.move_on_after(self.server.idle_limit) as waited:
            await trio.lowlevel.wait_readable(self.fd)
        if waited.cancelled_caught:
            raise PeerGone

    async def until_hangup(self, wait: Callable[[], Awaitable[T]], half_close: bool = True) -> Optional[T]:
        """`wait()`'s result, or None if the peer hangs up first; its FIN alone (a half-close) only if `half_close`."""
        if self.hung_up:
            return None
        if self.monitor is not None:
            result = await self.monitor.until_hangup(self.stream.socket, wait, half_close)
        else:
            result = None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, nursery.cancel_scope, half_close)
                result = await wait()  # cancelled by _watch on a hang-up: then result stays None
                nursery.cancel_scope.cancel()
        if result is None:
            self.hung_up = True
        return result

    async def _watch(self, scope: trio.CancelScope, half_close: bool) -> None:
        # Without epoll (not Linux), a task per long poll. Bytes that arrive meanwhile are the next request,
        # pipelined: kept for later, and within a bound we go on watching. Past it the peer is not hanging up,
        # it is flooding: leave the rest in the socket.
        try:
            while len(self.buffer) <= MAX_HEAD_BYTES:
                await self._receive()
        except PeerGone:
            if half_close or self.reset:
                scope.cancel()
            # Else its FIN may be a half-close, the answer still awaited: if the peer closed, a write will tell.

    def peer_finished(self) -> bool:
        """Whether the peer has sent all it ever will (its FIN is in: a half-close, or a close), without reading."""
        if _POLLRDHUP is None:
            return self.peer_done  # as `_watch` found it, the only reader between a request and its answer
        poller = select.poll()
        poller.register(self.fd, _POLLRDHUP)
        return bool(poller.poll(0))

    # ---------------------------------------------------------------- writing

    def _send_now(self, data: bytes) -> int:
        """What the socket takes of `data` without waiting (all of it, if the peer is gone: nobody to send to)."""
        if self.hung_up:
            return len(data)
        try:
            return os.write(self.fd, data)  # an answer fits the socket's buffer: no wait, no pass through the scheduler
        except BlockingIOError:
            return 0
        except OSError:
            self.hung_up = True  # reset, or the peer closed its end
            return len(data)

    async def _send(self, data: bytes) -> None:
        if not data:
            return
        sent = self._send_now(data)
        if sent < len(data):
            try:
                # Bounded as a wait for a request is: an Invoke API caller that never reads is closed.
                await self.stream.send_all(memoryview(data)[sent:], self.server.idle_limit)
            except trio.BrokenResourceError:
                self.hung_up = True

    def ending(self) -> None:
        """It ends once the answer about to be written is out: whoever waits for its end hears now, before the peer
        can read that answer (Exchange.when_closed). Told once."""
        tell, self.on_close = self.on_close, None
        if tell is not None:
            tell()

    async def _write(self, answer: Answer, *, close: bool, head_only: bool = False) -> None:
        if close:
            self.ending()
        status, headers, body = answer
        head = render_head(status, headers, len(body), http_date(), close)
        if head_only or not has_body(status):  # a function URL's 204 with a body: the body is not sent
            await self._send(head)
        elif len(body) >= _SEPARATE_SEND:
            await self._send(head)
            await self._send(body)
        else:
            await self._send(head + body)


_REFUSAL_HEAD = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n")
_REFUSAL = (b'{"errorType":"AccessDenied","errorMessage":"Only the execution environment\'s own processes may use '
            b'this API."}')


async def _linger(stream: PlainStream) -> None:
    """Before closing on a request not read whole: our FIN first, then what the peer still sends is drained
    (for a second at most), so that the close does not reset the connection and destroy the answer unread."""
    with trio.move_on_after(1):
        try:
            await stream.send_eof()
            while await stream.receive_some(RECEIVE_BYTES):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def _refuse(stream: PlainStream) -> None:
    """A 403 the caller can read, then the connection closes: its request is never read, nor handled."""
    try:
        await stream.send_all(_REFUSAL_HEAD % len(_REFUSAL) + _REFUSAL)
    except trio.BrokenResourceError:
        return
    await _linger(stream)


async def _serve_connection(stream: PlainStream, server: _Server,
                            admit: Optional[Callable[[Address, Address], bool]]) -> None:
    connection = _Connection(stream, server)
    server.connections.add(connection)
    try:
        if admit is not None:
            try:
                # Where the listener's address is a wildcard, the connection's own says which one it came to.
                local = server.address or stream.socket.getsockname()[:2]
            except OSError:
                return  # gone before we looked
            if not admit(stream.peer, local):
                await _refuse(stream)
                return
        await connection.run()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the peer reset the connection while we wrote
    except Exception:
        # A bug in the framing must cost one connection, never the host (the listener's nursery is the host's).
        log.error("the HTTP server dropped a connection after an unexpected error", exc_info=True)
    finally:
        server.closed(connection)
        try:
            await stream.aclose()  # at EOF, a reset or a refusal: a dead peer's socket never lingers (issue 8)
        finally:
            connection.ending()


async def _listen(host: str, port: int) -> socket.socket:
    """One listening socket, IPv6 when the host holds a colon (what `check_listen_address` probes): a name
    with several addresses still gets one socket, on one port. A bind error (the port in use) is raised."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = trio.socket.socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        await sock.bind((host, port))  # trio's: a name is resolved off the thread
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return listening_socket(socket.socket(family, socket.SOCK_STREAM, fileno=sock.detach()))


async def serve(
    resolve: Resolve, host: str, port: int, *,
    admit: Optional[Callable[[Address, Address], bool]] = None,
    idle_limit: Optional[float] = None,
    stop: Optional[trio.Event] = None,
    grace: float = 0.0,
    sock: Optional[socket.socket] = None,
    stamp: bool = False,
    connections: Optional[set[_Connection]] = None,
    request_ids: bool = False,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or `stop` is set; reports the bound `host:port` once listening (port 0 picks a free one).

    `admit(client, server)` decides for each new connection whether it is served at all (host/sandbox_access);
    a refused one gets a 403 and is closed unread. A connection that waits `idle_limit` seconds for its next
    request is closed (None: never). `stop` is a graceful stop: no new connection is taken, idle ones close, and
    the requests in progress have `grace` seconds to write their answers (each then closes); then this returns.
    Every connection has TCP_NODELAY (http11_socket.accepted). `request_ids`: the answer to a request the framing
    cannot read carries an `x-amzn-RequestId` too, as every answer of Lambda's public endpoints does.
    """
    # `sock`: one already listening, bound ahead of the trio run (host/early_start.py); host and port are its own.
    listener = await _listen(host, port) if sock is None else listening_socket(sock)
    bound_host, bound_port = listener.getsockname()[:2]
    try:
        if stamp:  # every request its connections receive carries the kernel's time of arrival (Exchange.arrived)
            listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        stamped = bool(listener.getsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS))
    except OSError:
        stamped = False  # not Linux: no stamps
    # `connections`: the caller's set, which the server keeps its open connections in (host/deadlines.py reads it).
    server = _Server(resolve, idle_limit, stop is not None, stamped, stamp and stamped, connections, request_ids)
    if bound_host not in ("0.0.0.0", "::"):
        server.address = (bound_host, bound_port)
    listening(bound_host, bound_port)
    try:
        async with trio.open_nursery() as nursery:
            accepting = Acceptor(listener, partial(_serve_connection, server=server, admit=admit), nursery)
            nursery.start_soon(accepting.run)  # at once: from here on, the listener is closed whatever happens
            if server.monitor is not None:
                nursery.start_soon(server.monitor.run)
            task_status.started(f"[{bound_host}]:{bound_port}" if ":" in bound_host
                                else f"{bound_host}:{bound_port}")
            if stop is not None:
                await stop.wait()
                accepting.stop()
                await server.stop(grace)
                nursery.cancel_scope.cancel()
    finally:
        stopped_listening(bound_host, bound_port)
