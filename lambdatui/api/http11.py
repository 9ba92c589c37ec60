"""The sandbox's own HTTP/1.1 server on trio streams: framing only, the routes decide (issue 9).

What the runtime and the extensions speak at AWS_LAMBDA_RUNTIME_API is served here, as Lambda's RAPID serves it
apart from the Invoke API's front end. One task per connection, and nothing per request: the head is parsed
from the connection's buffer (`http11_head`), the whole body read up to the route's limit, the route awaited
in the same task, the answer written in one send. Keep-alive is never ended by us (no idle limit, no request
cap: Lambda never closes a runtime's or an extension's connection), only by `Connection: close`, HTTP/1.0, a
malformed request, or the peer. A hand parser rather than h11: h11 cost ~80 µs per next + response pair of the
warm path, this ~10 µs, on the request shapes a runtime sends (measured on a 2-core machine, Python 3.11).

A long poll's socket is watched while the core holds the request (`hangups`): the peer hanging up cancels the
wait, which `EnvironmentHost.request` turns into RequestAbandoned, so the core never hands an event to a runtime
that left.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Awaitable, Callable, NamedTuple, Optional, TypeVar

import trio

from lambdatui.api.hangups import HangupMonitor
from lambdatui.api.http11_head import MAX_HEAD_BYTES, BadRequest, Head, find_head_end, parse_head, render_head
from lambdatui.api.rendering import Answer, error

log = logging.getLogger("lambdatui.http")

Address = tuple[str, int]
T = TypeVar("T")

RECEIVE_BYTES = 65536
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_BLANK = (b"\r", b"\n")
_MAX_CHUNK_LINE = 4096  # a chunk's size line with its extensions
_SEPARATE_SEND = 65536  # a body this large is sent after its head rather than copied onto it


class Route(NamedTuple):
    """What a route table resolves a request to; the framing reads the body by its rules, then awaits `handle`."""

    handle: Callable[["Exchange"], Awaitable[Optional[Answer]]]  # None: the peer is gone, nothing to write
    body_limit: int = 0  # bytes of body kept; the rest is read and dropped, and `too_large` set
    hears_truncation: bool = False  # a hang-up mid-body is itself an input (/response, /error): still handled


Resolve = Callable[[str, str], tuple[Route, tuple[str, ...]]]  # (method, path) → route, path parameters


class Exchange:
    """One request as a route sees it: its head, its path parameters and its whole body."""

    __slots__ = ("method", "path", "params", "headers", "body", "too_large", "truncated", "_connection")

    def __init__(self, connection: "_Connection", head: Head, params: tuple[str, ...],
                 body: bytes, too_large: bool, truncated: bool) -> None:
        self.method, self.path, self.headers = head.method, head.path, head.headers  # header names in lower case
        self.params, self.body, self.too_large, self.truncated = params, body, too_large, truncated
        self._connection = connection

    async def until_hangup(self, wait: Callable[[], Awaitable[T]]) -> Optional[T]:
        """`wait()`'s result, or None (its wait cancelled) if the peer hangs up first: for long polls."""
        return await self._connection.until_hangup(wait)


class _PeerGone(Exception):
    """End of stream (or a reset) in the middle of a request."""


class _Connection:
    def __init__(self, stream: trio.SocketStream, resolve: Resolve, monitor: Optional[HangupMonitor]) -> None:
        self.stream = stream
        self.resolve = resolve
        self.monitor = monitor
        self.buffer = bytearray()  # received, not yet parsed: the rest of a request, or pipelined ones
        self.hung_up = False

    async def run(self) -> None:
        while True:
            try:
                head = await self._read_head()
            except BadRequest as bad:
                await self._write(bad.answer(), close=True)
                await _linger(self.stream)
                return
            if head is None:
                return  # the peer closed between requests (or inside a head it never finished)
            route, params = self.resolve(head.method, head.path)
            try:
                body, too_large, truncated = await self._read_body(head, route.body_limit)
            except BadRequest as bad:
                if route.hears_truncation:  # the body never arrived whole: the core must hear it as it would a hang-up
                    await self._handle(route, Exchange(self, head, params, b"", False, True))
                await self._write(bad.answer(), close=True)
                await _linger(self.stream)
                return
            if truncated and not route.hears_truncation:
                return
            answer = await self._handle(route, Exchange(self, head, params, body, too_large, truncated))
            if answer is None or truncated or self.hung_up:
                return  # nobody to answer
            await self._write(answer, close=not head.keep_alive, head_only=head.method == "HEAD")
            if not head.keep_alive:
                return

    async def _handle(self, route: Route, exchange: Exchange) -> Optional[Answer]:
        try:
            return await route.handle(exchange)
        except Exception:
            # A bug of ours, never the caller's: Lambda's JSON for a container error, the traceback to our HTTP log.
            log.error("unhandled error in a route: %s %s", exchange.method, exchange.path, exc_info=True)
            return error(500, "InternalServerError", "Internal Server Error")

    # ---------------------------------------------------------------- reading

    async def _receive(self) -> None:
        try:
            data = await self.stream.receive_some(RECEIVE_BYTES)
        except trio.BrokenResourceError:
            data = b""  # reset by the peer: gone all the same
        if not data:
            raise _PeerGone
        self.buffer += data

    async def _read_head(self) -> Optional[Head]:
        searched = 0
        while True:
            if self.buffer[:1] in _BLANK:  # empty lines before a request are skipped (RFC 9112 §2.2)
                del self.buffer[:len(self.buffer) - len(self.buffer.lstrip(b"\r\n"))]
                searched = 0
            end = find_head_end(self.buffer, searched)
            if end is not None:
                start, stop = end
                block = bytes(self.buffer[:start])
                del self.buffer[:stop]
                return parse_head(block)
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise BadRequest(431, "RequestHeaderFieldsTooLarge", "Request header fields too large")
            searched = max(0, len(self.buffer) - 3)
            try:
                await self._receive()
            except _PeerGone:
                return None

    async def _read_body(self, head: Head, limit: int) -> tuple[bytes, bool, bool]:
        """(body, too_large, truncated): at most `limit` bytes kept, the rest read and dropped; truncated (with
        no body) when the peer hung up before the end of the body it declared."""
        if head.length == 0:
            return b"", False, False
        if head.expects_continue and len(self.buffer) < (head.length or 1):
            await self.stream.send_all(_CONTINUE)
        kept: list[bytes] = []
        try:
            if head.length is None:
                size = await self._read_chunks(kept, limit)
            else:
                size = head.length
                await self._read_exactly(size, kept if size <= limit else None)
        except _PeerGone:
            self.hung_up = True
            return b"", False, True
        if size > limit:
            return b"", True, False
        return (kept[0] if len(kept) == 1 else b"".join(kept)), False, False

    async def _read_exactly(self, size: int, kept: Optional[list[bytes]]) -> None:
        """Consume `size` bytes of body, appended to `kept` (dropped when None)."""
        while size:
            if not self.buffer:
                await self._receive()
            take = min(size, len(self.buffer))
            if kept is not None:
                kept.append(bytes(self.buffer[:take]))
            del self.buffer[:take]
            size -= take

    async def _read_line(self, bound: int) -> bytes:
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[:end + 1])
                del self.buffer[:end + 1]
                return line
            if len(self.buffer) > bound:
                raise BadRequest(400, "InvalidRequestFormat", "Chunked body line too long")
            await self._receive()

    async def _read_chunks(self, kept: list[bytes], limit: int) -> int:
        size = 0
        while True:
            line = await self._read_line(_MAX_CHUNK_LINE)
            text = line.split(b";", 1)[0].strip()
            if not text or len(text) > 16 or text.strip(b"0123456789abcdefABCDEF"):
                raise BadRequest(400, "InvalidRequestFormat", "Malformed chunk size in chunked body")
            chunk = int(text, 16)
            if chunk == 0:
                break
            size += chunk
            await self._read_exactly(chunk, kept if size <= limit else None)
            if await self._read_line(2) not in (b"\r\n", b"\n"):
                raise BadRequest(400, "InvalidRequestFormat", "Malformed chunk end in chunked body")
        trailers = 0
        while (trailer := await self._read_line(MAX_HEAD_BYTES)) not in (b"\r\n", b"\n"):
            trailers += len(trailer)  # trailer fields are read and dropped
            if trailers > MAX_HEAD_BYTES:
                raise BadRequest(431, "RequestHeaderFieldsTooLarge", "Request trailer fields too large")
        return size

    async def until_hangup(self, wait: Callable[[], Awaitable[T]]) -> Optional[T]:
        if self.monitor is not None:
            result = await self.monitor.until_hangup(self.stream.socket, wait)
        else:
            result = None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, nursery.cancel_scope)
                result = await wait()  # cancelled by _watch on a hang-up: then result stays None
                nursery.cancel_scope.cancel()
        if result is None:
            self.hung_up = True
        return result

    async def _watch(self, scope: trio.CancelScope) -> None:
        # Without epoll (not Linux), a task per long poll. Bytes that arrive meanwhile are the next request,
        # pipelined: kept for later, and within a bound we go on watching. Past it the peer is not hanging up,
        # it is flooding: leave the rest in the socket.
        try:
            while len(self.buffer) <= MAX_HEAD_BYTES:
                await self._receive()
        except _PeerGone:
            scope.cancel()

    # ---------------------------------------------------------------- writing

    async def _write(self, answer: Answer, *, close: bool, head_only: bool = False) -> None:
        status, headers, body = answer
        head = render_head(status, headers, len(body), _date(), close)
        try:
            if head_only:
                await self.stream.send_all(head)
            elif len(body) >= _SEPARATE_SEND:
                await self.stream.send_all(head)
                await self.stream.send_all(body)
            else:
                await self.stream.send_all(head + body)
        except trio.BrokenResourceError:
            self.hung_up = True


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_cache: tuple[int, str] = (0, "")


def _date() -> str:
    """The Date header (RFC 9110's IMF-fixdate), formatted once per second; email.utils would cost 2.5 ms to import."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        t = time.gmtime(now)
        _date_cache = (now, f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
                            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")
    return _date_cache[1]


_REFUSAL_HEAD = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n")
_REFUSAL = (b'{"errorType":"AccessDenied","errorMessage":"Only the execution environment\'s own processes may use '
            b'this API."}')


async def _linger(stream: trio.SocketStream) -> None:
    """Before closing on a request not read whole: our FIN first, then what the peer still sends is drained
    (for a second at most), so that the close does not reset the connection and destroy the answer unread."""
    with trio.move_on_after(1):
        try:
            await stream.send_eof()
            while await stream.receive_some(RECEIVE_BYTES):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def _refuse(stream: trio.SocketStream) -> None:
    """A 403 the caller can read, then the connection closes: its request is never read, nor handled."""
    try:
        await stream.send_all(_REFUSAL_HEAD % len(_REFUSAL) + _REFUSAL)
    except trio.BrokenResourceError:
        return
    await _linger(stream)


async def _serve_connection(stream: trio.SocketStream, resolve: Resolve, monitor: Optional[HangupMonitor],
                            admit: Optional[Callable[[Address, Address], bool]]) -> None:
    try:
        if admit is not None:
            try:
                peer, local = stream.socket.getpeername(), stream.socket.getsockname()
            except OSError:
                return  # gone before we looked
            if not admit(peer[:2], local[:2]):
                await _refuse(stream)
                return
        await _Connection(stream, resolve, monitor).run()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the peer reset the connection while we wrote
    except Exception:
        # A bug in the framing must cost one connection, never the host (the listener's nursery is the host's).
        log.error("the sandbox API server dropped a connection after an unexpected error", exc_info=True)
    finally:
        await stream.aclose()  # at EOF, a reset or a refusal: a dead peer's socket never lingers (issue 8)


async def serve(
    resolve: Resolve, host: str, port: int, *,
    admit: Optional[Callable[[Address, Address], bool]] = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; reports the bound `host:port` once listening (port 0 picks a free one).

    `admit(client, server)` decides for each new connection whether it is served at all (host/sandbox_access);
    a refused one gets a 403 and is closed unread. trio's SocketStream sets TCP_NODELAY on every connection
    (without it, Nagle and delayed ACKs cost ~40 ms per exchange).
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound_host, bound_port = listeners[0].socket.getsockname()[:2]
    async with trio.open_nursery() as nursery:
        monitor = HangupMonitor() if HangupMonitor.available() else None
        if monitor is not None:
            await nursery.start(monitor.run)
        handler = partial(_serve_connection, resolve=resolve, monitor=monitor, admit=admit)
        await nursery.start(partial(trio.serve_listeners, handler, listeners, handler_nursery=nursery))
        task_status.started(f"[{bound_host}]:{bound_port}" if ":" in bound_host else f"{bound_host}:{bound_port}")
