"""A sandbox-side server with test routes, and a raw HTTP/1.1 client for it, both in the test's own trio run."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from functools import partial
from typing import AsyncIterator, Callable, Optional

import trio

from lambdatui.api import http11
from lambdatui.api.http11_exchange import Exchange, Resolve, Route
from lambdatui.api.rendering import Answer
from lambdatui.api.sandbox_routes import router

LIMIT = 16  # body bytes the test routes keep


class Poll:
    """A long poll the test releases, recording what `EnvironmentHost.request` would: parked, then answered or
    abandoned (its wait cancelled)."""

    def __init__(self) -> None:
        self.parked = trio.Event()
        self.release = trio.Event()
        self.abandoned = trio.Event()

    async def wait(self) -> Answer:
        self.parked.set()
        try:
            await self.release.wait()
        except trio.Cancelled:
            self.abandoned.set()
            raise
        return Answer(200, (("Content-Type", "application/json"),), b'{"released":true}')


class Routes:
    """Test routes: what each handler saw is kept in `seen`."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.poll = Poll()
        self.parked: list[Exchange] = []  # /early's exchanges, for the test to answer at once (answer_now)
        self.early_done = trio.Event()
        self.extra_headers: tuple[tuple[str, str], ...] = ()

    async def echo(self, exchange: Exchange) -> Answer:
        record = {"method": exchange.method, "path": exchange.path, "params": list(exchange.params),
                  "body": exchange.body.decode("latin-1"), "too_large": exchange.too_large,
                  "truncated": exchange.truncated, "headers": exchange.headers}
        self.seen.append(record)
        return Answer(200, (("Content-Type", "application/json"), *self.extra_headers), json.dumps(record).encode())

    async def poll_route(self, exchange: Exchange) -> Optional[Answer]:
        return await exchange.until_hangup(self.poll.wait)

    async def early(self, exchange: Exchange) -> Optional[Answer]:
        """Parks until the poll is released, then returns what the test answered meanwhile (or its own)."""
        self.parked.append(exchange)
        self.poll.parked.set()
        await self.poll.release.wait()
        self.early_done.set()
        return exchange.early or Answer(200, (), b"late")

    async def bodiless(self, exchange: Exchange) -> Answer:
        """Answers /bodiless/<status> with that status and a body it may not carry (a function URL's mistake)."""
        return Answer(int(exchange.params[0]), (("X-Had", "a body"),), b"hello")

    async def bodiless_chunks(self, exchange: Exchange) -> None:
        await exchange.start_chunks(int(exchange.params[0]), [("X-Had", "chunks")])
        await exchange.send_chunk(b"hello")
        await exchange.end_chunks()

    async def boom(self, exchange: Exchange) -> Answer:
        raise RuntimeError("a bug in a route")

    async def nodelay(self, exchange: Exchange) -> Answer:
        sock = exchange._connection.stream.socket  # the server's end of this connection
        value = sock.getsockopt(trio.socket.IPPROTO_TCP, trio.socket.TCP_NODELAY)
        return Answer(200, (), json.dumps({"nodelay": bool(value)}).encode())

    async def pieces(self, exchange: Exchange) -> Answer:
        """Reads the body itself, piece by piece, when asked to (?read); else leaves it to the framing."""
        pieces = []
        while exchange.path == "/own/read" and (piece := await exchange.receive_piece()):
            pieces.append(piece.decode("latin-1"))
        self.seen.append({"path": exchange.path, "pieces": pieces, "done": exchange.body_done})
        return Answer(200, (), json.dumps(pieces).encode())

    def resolve(self) -> Resolve:
        return router([
            ("POST", "/own/<how>", Route(self.pieces, reads_body=True)),
            ("GET", "/echo", Route(self.echo)),
            ("GET", "/echo/<id>", Route(self.echo)),
            ("POST", "/echo/<id>", Route(self.echo, LIMIT, hears_truncation=True)),
            ("POST", "/plain", Route(self.echo, LIMIT)),
            ("GET", "/poll", Route(self.poll_route)),
            ("GET", "/early", Route(self.early)),
            ("GET", "/boom", Route(self.boom)),
            ("GET", "/bodiless/<status>", Route(self.bodiless)),
            ("GET", "/bodiless-chunks/<status>", Route(self.bodiless_chunks, reads_body=True)),
            ("GET", "/nodelay", Route(self.nodelay)),
        ])


@asynccontextmanager
async def serving(routes: Routes, admit: Optional[Callable] = None) -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(partial(http11.serve, routes.resolve(), "127.0.0.1", 0, admit=admit))
        yield address
        nursery.cancel_scope.cancel()


class Client:
    """One connection; `answer()` reads one response (status, lower-case headers, body)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    @classmethod
    async def connect(cls, address: str) -> "Client":
        host, port = address.rsplit(":", 1)
        return cls(await trio.open_tcp_stream(host, int(port)))

    async def send(self, raw: bytes) -> None:
        await self.stream.send_all(raw)

    async def _fill(self) -> bool:
        data = await self.stream.receive_some(65536)
        self.buffer += data
        return bool(data)

    async def answer(self, *, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            assert await self._fill(), f"closed before an answer: {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        assert status_line.startswith("HTTP/1.1 "), status_line
        headers = {}
        for line in lines:
            name, _, value = line.partition(": ")
            headers[name.lower()] = value
        status = int(status_line.split()[1])
        if head_only or status in (204, 304):  # no body, no framing (RFC 9110 §6.4.1)
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while chunk := await self.next_chunk():
                chunks.append(chunk)
            return status, headers, b"".join(chunks)
        length = int(headers["content-length"])
        return status, headers, await self._take(length)

    async def _take(self, length: int) -> bytes:
        while len(self.buffer) < length:
            assert await self._fill(), "closed inside a body"
        taken, self.buffer = self.buffer[:length], self.buffer[length:]
        return taken

    async def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            assert await self._fill(), "closed inside a chunked body"
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    async def next_chunk(self) -> bytes:
        """One chunk of a chunked body (b"" for the last, after which its trailers are read)."""
        size = int(await self._line(), 16)
        if size == 0:
            while await self._line():
                pass
            return b""
        chunk = await self._take(size)
        assert await self._line() == b""
        return chunk

    async def closed_by_server(self) -> bool:
        """True once the server closed its end, with nothing more sent (waits for it)."""
        return not self.buffer and not await self._fill()

    async def close(self) -> None:
        await self.stream.aclose()


def get(path: str, *extra: str) -> bytes:
    return "".join([f"GET {path} HTTP/1.1\r\nHost: test\r\n", *(f"{line}\r\n" for line in extra), "\r\n"]).encode()


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = "".join([f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n",
                    *(f"{line}\r\n" for line in extra), "\r\n"])
    return head.encode() + body
