"""A connection of `http11`'s server as the kernel gives it: the standard library's socket, and trio only to wait.

The server reads and writes its connections itself (`os.read`, `os.write`: http11_reader, http11), so trio's
SocketListener and SocketStream only added work to a new connection before its first request was read: a wrapper of
each, a second socket object on the same descriptor, and nine system calls (TCP_NOTSENT_LOWAT; both addresses asked
for again; a dup of the descriptor to read the first request's arrival stamp, and five calls to set it up and close
it). A runtime's first /next is on every cold start's path, the host's thread cold after its Init's wait: there,
each of those cost ~5-15 µs (issue 9). `PlainStream` keeps the few waits the server needs, each a checkpoint as
trio's are.
"""

from __future__ import annotations

import math
import socket
from typing import Union

import trio

Address = tuple[str, int]
Data = Union[bytes, bytearray, memoryview]


def listening_socket(sock: socket.socket) -> socket.socket:
    """`sock`, bound and listening, made ready to accept from."""
    sock.setblocking(False)
    return sock


def accepted(sock: socket.socket) -> socket.socket:
    """A connection as `listening_socket(...).accept()` returned it, made ready for the server: non-blocking, without
    Nagle's delay (with it, Nagle and delayed ACKs cost ~40 ms per exchange). Set on each connection, though Linux
    would copy it from the listener: not onto one that was waiting in the backlog before it was set there (the early
    start's runtime connects before the host is up)."""
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class PlainStream:
    """One connection: `socket` (non-blocking) and its descriptor `fd`, with the waits the server needs. A peer that
    is gone (a reset, a closed socket) raises trio.BrokenResourceError, as trio's streams do."""

    def __init__(self, sock: socket.socket, peer: Address) -> None:
        self.socket = sock
        self.fd = sock.fileno()
        self.peer = peer  # as accept gave it: the admission needs no system call to learn it

    async def send_all(self, data: Data, stall_limit: float = math.inf) -> None:
        """All of `data`, waiting for room as the peer reads. A peer that reads nothing for `stall_limit` seconds
        counts as gone (BrokenResourceError): a caller that never reads its answer must not hold it, and its
        connection, for good. Each wait is bounded, not the whole send: a slow reader still gets a large answer."""
        await trio.lowlevel.checkpoint_if_cancelled()
        view = memoryview(data)
        while view:
            try:
                view = view[self.socket.send(view):]
            except BlockingIOError:
                with trio.move_on_after(stall_limit):
                    await trio.lowlevel.wait_writable(self.socket)
                    continue
                raise trio.BrokenResourceError(f"the peer read nothing for {stall_limit:g} s") from None
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def receive_some(self, max_bytes: int) -> bytes:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                data = self.socket.recv(max_bytes)
                break
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self.socket)
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc
        await trio.lowlevel.cancel_shielded_checkpoint()
        return data

    async def aclose(self) -> None:
        if self.socket.fileno() != -1:
            trio.lowlevel.notify_closing(self.socket)  # a task waiting on it wakes with ClosedResourceError
            self.socket.close()
        await trio.lowlevel.checkpoint()
