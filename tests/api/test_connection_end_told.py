"""Whoever waits for a connection's end (Exchange.when_closed) hears it before the peer can read the answer that
ends it: a Managed Instances worker whose response is refused (413, the connection closed) reconnects at once and
asks for work, and its new connection must find its worker number already vacant (a full test run once heard the
new /next first, and the replay gave the worker's next invoke to another worker)."""

from __future__ import annotations

import socket
from contextlib import asynccontextmanager
from functools import partial
from typing import AsyncIterator

import pytest
import trio

from lambdatui.api import http11
from lambdatui.api.http11_exchange import Exchange, Resolve, Route
from lambdatui.api.rendering import Answer
from lambdatui.api.sandbox_routes import router

BOUND_S = 10
OK = Answer(200, (("Content-Type", "application/json"),), b"{}")


class Watched:
    """Routes that register a tell for their connection's end, which records whether the peer had any byte yet."""

    def __init__(self, client: list[socket.socket]) -> None:
        self.client = client
        self.told: list[bool] = []  # per tell: whether the peer had bytes of the answer by then
        self.done = trio.Event()

    def tell(self) -> None:
        try:
            had = bool(self.client[0].recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            had = False
        self.told.append(had)
        self.done.set()

    async def refused(self, exchange: Exchange) -> Answer:
        exchange.when_closed(self.tell)
        exchange.end_after_answer()
        return OK

    async def refused_now(self, exchange: Exchange) -> Answer:
        exchange.when_closed(self.tell)
        exchange.end_after_answer()
        exchange.answer_now(OK)
        return OK

    async def plain(self, exchange: Exchange) -> Answer:
        exchange.when_closed(self.tell)
        return OK


@asynccontextmanager
async def connected(resolve: Resolve, client: list[socket.socket]) -> AsyncIterator[socket.socket]:
    """A server of `resolve`'s routes, and a non-blocking client socket connected to it (also kept in `client`)."""
    async with trio.open_nursery() as nursery:
        address = await nursery.start(partial(http11.serve, resolve, "127.0.0.1", 0))
        host, port = address.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)))
        client.append(sock)
        try:
            sock.setblocking(False)
            yield sock
        finally:
            sock.close()
            nursery.cancel_scope.cancel()


@pytest.mark.trio
@pytest.mark.parametrize("path,extra", [
    ("/refused", ""),
    ("/refused-now", ""),
    ("/plain", "Connection: close\r\n"),
], ids=["ended-by-the-route", "ended-by-an-answer-written-at-once", "connection-close"])
async def test_the_end_of_a_connection_is_told_once_and_before_the_answer_that_ends_it_reaches_the_peer(
        path: str, extra: str) -> None:
    client: list[socket.socket] = []
    watched = Watched(client)
    resolve = router([
        ("GET", "/refused", Route(watched.refused)),
        ("GET", "/refused-now", Route(watched.refused_now)),
        ("GET", "/plain", Route(watched.plain)),
    ])
    async with connected(resolve, client) as sock:
        sock.send(f"GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n".encode())
        received = b""
        with trio.fail_after(BOUND_S):
            await watched.done.wait()
            while True:  # the answer, then the server's close
                await trio.lowlevel.wait_readable(sock)
                data = sock.recv(65536)
                if not data:
                    break
                received += data
        assert received.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in received
        assert watched.told == [False]  # told once, while the peer had nothing to read


@pytest.mark.trio
async def test_a_connection_that_goes_on_is_told_only_when_it_ends() -> None:
    client: list[socket.socket] = []
    watched = Watched(client)
    resolve = router([("GET", "/plain", Route(watched.plain))])
    async with connected(resolve, client) as sock:
        sock.send(b"GET /plain HTTP/1.1\r\nHost: test\r\n\r\n")
        with trio.fail_after(BOUND_S):
            await trio.lowlevel.wait_readable(sock)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
            assert watched.told == []  # kept alive: nothing ended
            sock.shutdown(socket.SHUT_WR)
            await watched.done.wait()
        assert len(watched.told) == 1
