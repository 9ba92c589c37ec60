"""What a route sees of one request on lambdatui's HTTP/1.1 server (http11.py), and what it gives back: its head,
its path parameters and its body (or the pieces of it, as they arrive), and its answer: returned whole, written
at once from another task (`answer_now`), or written in chunks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable, NamedTuple, Optional, TypeVar

from lambdatui.api.http11_head import BadRequest, Head, has_body, http_date, render_head
from lambdatui.api.http11_reader import BodyPieces
from lambdatui.api.rendering import Answer

if TYPE_CHECKING:
    from lambdatui.api.http11 import _Connection

Address = tuple[str, int]
T = TypeVar("T")


class Route(NamedTuple):
    """What a route table resolves a request to; the framing reads the body by its rules, then awaits `handle`."""

    handle: Callable[["Exchange"], Awaitable[Optional[Answer]]]  # None: nothing (more) to write
    body_limit: int = 0  # bytes of body kept; the rest is read and dropped, and `too_large` set
    hears_truncation: bool = False  # a body cut short (hang-up, malformed chunks) is still handled, as `truncated`
    reads_body: bool = False  # the route reads the body itself (`Exchange.read_body`, `receive_piece`), if at all


Resolve = Callable[[str, str], tuple[Route, tuple[str, ...]]]  # (method, path) → route, path parameters


class Exchange:
    """One request as a route sees it: its head, its path parameters and its whole body (unless it reads it)."""

    __slots__ = ("method", "path", "params", "headers", "body", "too_large", "truncated", "head", "_connection",
                 "_pieces", "_body_read", "_streamed", "_closes", "_held", "early", "_unsent", "_bodiless",
                 "malformed", "_finished_first", "ends")

    def __init__(self, connection: "_Connection", head: Head, params: tuple[str, ...],
                 body: bytes, too_large: bool, truncated: bool) -> None:
        self.method, self.path, self.headers = head.method, head.path, head.headers  # header names in lower case
        self.params, self.body, self.too_large, self.truncated = params, body, too_large, truncated
        self.head = head
        self._connection = connection
        self._pieces: Optional[BodyPieces] = None
        self._body_read = False
        self._streamed = 0  # a response written in chunks: 1 begun, 2 ended
        self._finished_first = False  # the peer had half-closed (or closed) before those chunks began
        self._closes = False
        self._held: Optional[tuple[int, list[tuple[str, str]], list[bytes]]] = None  # HTTP/1.0: sent whole at the end
        self.early: Optional[Answer] = None  # written by `answer_now`, before the route returned it
        self._unsent = b""  # what of that answer the socket did not take at once
        self._bodiless = head.method == "HEAD"  # a streamed answer whose chunks are not sent
        # A truncated body that was malformed rather than cut off: the framing answers it (400), not the route.
        self.malformed: Optional[BadRequest] = None
        self.ends = False  # the connection closes after this answer (`end_after_answer`)

    async def holding_reads(self, wait: Awaitable[T]) -> T:
        """`wait`, during which what the peer sends is left unread on purpose (deadlines.calls_unheard)."""
        self._connection.reads_held = True
        try:
            return await wait
        finally:
            self._connection.reads_held = False

    async def until_hangup(self, wait: Callable[[], Awaitable[T]]) -> Optional[T]:
        """`wait()`'s result, or None (its wait cancelled) if the peer hangs up first: for long polls."""
        return await self._connection.until_hangup(wait)

    @property
    def connection(self) -> int:
        """The number of the connection it came on (1, 2, ... as its server took them)."""
        return self._connection.number

    def when_closed(self, tell: Callable[[], None]) -> None:
        """`tell()` once the connection it came on has ended, or before the answer that ends it is written (the first
        caller's; later ones are not kept): a peer that reads that answer and comes back on a new connection (a
        Managed Instances worker whose response was refused) is heard after the tell, never before."""
        if self._connection.on_close is None:
            self._connection.on_close = tell

    def left(self) -> bool:
        """The peer has hung up already (its FIN or a reset is in): a long poll's caller gone before it was answered
        (a runtime that sent its /next and closed) is not given an event it would never read."""
        return self._connection.hung_up or self._connection.peer_finished()

    async def until_gone(self, wait: Callable[[], Awaitable[T]]) -> Optional[T]:
        """`wait()`'s result, or None if the peer has gone first: for a front end's answer that waits on an invoke.

        Unlike a long poll's, this wait outlasts a half-close: a client may shut its sending side once its request
        is sent (HTTP/1.0-style clients do) and still read the answer, and on the wire its FIN is all a close sends
        too. So before the answer begins only a reset ends the wait; a client that closed is found out by the first
        bytes written to it (its kernel resets the connection). A FIN that comes after the answer began (chunks)
        is a hang-up, as ever: a half-closing client had sent it with its request, before anything was written."""
        return await self._connection.until_hangup(wait, bool(self._streamed) and not self._finished_first)

    @property
    def arrived(self) -> Optional[float]:
        """When this request reached the kernel, on trio's clock, on a server that stamps every request (the
        debugger's sandbox API) or a connection's first (the early start's); else None. Asked once the request is in
        (its head, or the body a route reads itself); a request read whole from the buffer (pipelined behind another)
        arrived with that read. The host may hear a request later than that (its thread busy: in the debugger, the
        UI's repaint): the core leaves that wait out of the function's time."""
        return self._connection.last_arrival

    @property
    def hung_up(self) -> bool:
        """The peer has gone: nothing more can be written to it."""
        return self._connection.hung_up

    def addresses(self) -> tuple[Address, Address]:
        """(the peer's address, ours)."""
        connection = self._connection
        return connection.stream.peer, connection.server.address or connection.stream.socket.getsockname()[:2]

    def end_after_answer(self) -> None:
        """Close the connection once this answer is written: a request pipelined behind this one is dropped unread
        (its sender asks again on a new connection, if it goes on). Before the answer is written."""
        self.ends = True
        self._connection.ending()

    def answer_now(self, answer: Answer) -> None:
        """Write the answer at once, from whichever task decided it, rather than once this route's task runs
        again: a runtime's parked /next is answered inside the Invoke API's request, a scheduler pass sooner
        (issue 9's warm path). The route still returns it (the debugger records it); what the socket does not
        take now, the route's task sends. Not for HTTP/1.0 or HEAD, whose answers the framing shapes."""
        if self.early is not None or self.hung_up or self.head.http10 or self.method == "HEAD":
            return
        self.early = answer
        self._closes = (not self.head.keep_alive or self._connection.server.stopping or self._body_unasked()
                        or self.ends)
        if self._closes:
            self._connection.ending()
        status, headers, body = answer
        data = render_head(status, headers, len(body), http_date(), self._closes) + body
        self._unsent = data[self._connection._send_now(data):]

    # ------------------------------------------------ the body, for a route that reads it (Route.reads_body)

    async def read_body(self, limit: int) -> tuple[bytes, bool, bool]:
        """(body, too_large, truncated), as the framing reads it for other routes: at most `limit` bytes kept."""
        self._body_read = True
        read = await self._connection._read_body(self.head, limit)
        self.body = read[0]  # a reference, for whoever looks at the exchange afterwards (the debugger's record)
        return read

    async def receive_piece(self) -> Optional[bytes]:
        """The body's next bytes as they arrive; b"" once it has all been read, None if the peer hung up first.
        A malformed chunked body raises BadRequest (answered 400, then the connection closes)."""
        if self._pieces is None:
            self._pieces = BodyPieces(self._connection, self.head)
        return await self._pieces.next()

    @property
    def trailers(self) -> dict[str, str]:
        """The trailer fields of a chunked body read with `receive_piece`, once it has all been read."""
        return self._pieces.trailers if self._pieces is not None else {}

    @property
    def body_done(self) -> bool:
        return self._body_read or self.head.length == 0 or (self._pieces is not None and self._pieces.done)

    def _body_unasked(self) -> bool:
        """The client still waits for a 100 Continue to send its body, which the route never read."""
        # Bytes already past the head are that body: a client may send it without waiting (RFC 9110 §10.1.1).
        return (self.head.expects_continue and not self.body_done and not self._connection.buffer
                and (self._pieces is None or not self._pieces.continued))

    async def _drain(self) -> bool:
        """What the route left of the body is read and dropped; False when the connection cannot go on."""
        if self._body_read:
            return True
        if self._pieces is None:
            self._pieces = BodyPieces(self._connection, self.head)
        return await self._pieces.drain()

    # ------------------------------------------------ an answer written in chunks by the route (issue 14's streams)

    async def start_chunks(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Begin a response whose body follows in `send_chunk` calls (Transfer-Encoding: chunked); HTTP/1.0 has
        no chunks: its answer is kept and written whole at `end_chunks`."""
        self._streamed = 1
        self._finished_first = self._connection.peer_finished()  # before our first byte, which a closed peer resets
        self._closes = not self.head.keep_alive or self._connection.server.stopping
        self._bodiless = self._bodiless or not has_body(status)
        if self.head.http10:
            self._held = (status, headers, [])
        else:
            await self._connection._send(render_head(status, headers, None, http_date(), self._closes))

    async def send_chunk(self, data: bytes) -> None:
        if self._held is not None:
            self._held[2].append(data)
        elif data and not self._bodiless:
            await self._connection._send(b"%x\r\n" % len(data) + data + b"\r\n")

    async def end_chunks(self) -> None:
        self._streamed = 2
        if self._held is not None:
            status, headers, pieces = self._held
            await self._connection._write(Answer(status, headers, b"".join(pieces)), close=True,
                                          head_only=self.method == "HEAD")
        elif not self._bodiless:
            await self._connection._send(b"0\r\n\r\n")
