"""Noticing that a long poll's client hung up, with no task per request (issue 9).

While the core holds a long poll (`/next`, `/event/next`, the function-init gate), a client that goes away must
be noticed at once: the core then forgets it (RequestAbandoned), never hands it an event, and takes the same
participant's next call as its own rather than a second one. A watcher task per long poll costs ~45 µs of the
warm path (a nursery, a spawn, a cancel, a join: measured in trio). So one task per server watches every parked
connection instead, with an epoll set of its own, for EPOLLRDHUP (the peer's FIN) and EPOLLHUP/EPOLLERR (a
reset): a registration and a removal, two system calls, per long poll; bytes the peer pipelines wake nobody.
A hang-up cancels the wait, which `EnvironmentHost.request` turns into RequestAbandoned.

A front end's answer waits the same way, but its peer's FIN alone may be a half-close (the request all sent, the
answer still awaited: HTTP/1.0-style clients): such a wait is told of a reset only (`half_close=False`).
"""

from __future__ import annotations

import select
import socket
from typing import Awaitable, Callable, Optional, TypeVar

import trio

T = TypeVar("T")


class HangupMonitor:
    """Watches the sockets of pending long polls; `run` must be started in the server's nursery."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._waiting: dict[int, trio.CancelScope] = {}

    @staticmethod
    def available() -> bool:
        """epoll with EPOLLRDHUP is Linux's; elsewhere each long poll watches its socket with a task (`http11`)."""
        return hasattr(select, "epoll") and hasattr(select, "EPOLLRDHUP")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            task_status.started()
            while True:
                await trio.lowlevel.wait_readable(self._epoll.fileno())
                for fd, _ in self._epoll.poll(0):
                    self._epoll.unregister(fd)
                    scope = self._waiting.pop(fd, None)
                    if scope is not None:
                        scope.cancel()
        finally:
            self._epoll.close()

    async def until_hangup(self, sock: socket.socket, wait: Callable[[], Awaitable[T]],
                           half_close: bool = True) -> Optional[T]:
        """`wait()`'s result, or None (its wait cancelled) if the peer of `sock` hangs up first: its FIN or a reset,
        or only a reset when not `half_close`."""
        fd = sock.fileno()
        with trio.CancelScope() as scope:
            self._waiting[fd] = scope
            # EPOLLHUP and EPOLLERR (a reset, or a write the closed peer refused) are always reported.
            self._epoll.register(fd, select.EPOLLRDHUP if half_close else 0)
            try:
                return await wait()
            finally:
                # Else the monitor removed it, having seen the hang-up; or the server is stopping, and the monitor,
                # cancelled first, closed its epoll set (a closed set raises ValueError; nothing is left to remove).
                if self._waiting.pop(fd, None) is not None and not self._epoll.closed:
                    self._epoll.unregister(fd)
        return None
