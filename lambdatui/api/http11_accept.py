"""The accepting side of `http11`'s server: the task that accepts a connection serves it (issue 9).

trio.serve_listeners accepts in one task and starts a task per connection, which reads the first request a
scheduler pass later. A runtime's first /next is on every cold start's path, and the host's thread is cold then
(it waited out the runtime's Init): measured on the packets of 80 cold starts, the host answered that /next
50-80 µs sooner this way (2-core VM, Python 3.11).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from typing import Awaitable, Callable, Optional

import trio

from lambdatui.api.http11_socket import PlainStream, accepted

log = logging.getLogger("lambdatui.http")

# Errors of accept(2) that say the machine is short of something for now (trio.serve_listeners' list): waited out.
_ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_CAPACITY_WAIT_S = 0.1
# Errors of accept(2) about the one connection it took (gone before it was taken, refused by a firewall rule: EPERM),
# never the listener's (trio.SocketListener's list): that connection is skipped, the next one taken.
_ACCEPT_SKIPPED_ERRNOS = frozenset(getattr(errno, name) for name in (
    "ECONNABORTED", "EPERM", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN", "ENONET", "EHOSTUNREACH", "EOPNOTSUPP",
    "ENETUNREACH") if hasattr(errno, name))


class Acceptor:
    """The listener's accepting side. The task that accepts a connection serves it, once it has started the next
    acceptor: a new connection's first request is read without a pass through the scheduler to a task of its own
    (a runtime's first /next is on every cold start's path, the host's thread cold after its Init's wait).
    `stop`: the listener closes, the connections it took go on in their own nursery.

    `listener`: a listening socket of the standard library's (`http11_socket.listening_socket`); `handler` gets
    each connection as a `PlainStream`."""

    def __init__(self, listener: socket.socket, handler: Callable[[PlainStream], Awaitable[None]],
                 connections: trio.Nursery) -> None:
        self.listener, self.handler, self.connections = listener, handler, connections
        self._waiting: Optional[trio.CancelScope] = None  # the acceptor's wait, while one waits
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True
        if self._waiting is not None:
            self._waiting.cancel()

    async def run(self) -> None:
        stream: Optional[PlainStream] = None
        try:
            with trio.CancelScope() as self._waiting:
                while stream is None and not self._stopped:
                    stream = await self._accept()
        finally:
            self._waiting = None
            if stream is None and self.listener.fileno() != -1:  # stopped, cancelled or failed: nobody accepts any more
                trio.lowlevel.notify_closing(self.listener)
                self.listener.close()
        if stream is None:
            return
        self.connections.start_soon(self.run)
        try:
            await self.handler(stream)
        finally:
            await trio.aclose_forcefully(stream)

    async def _accept(self) -> Optional[PlainStream]:
        """The next connection, ready to serve; None for one that failed on its way in (the next try takes another)."""
        try:
            sock, address = self.listener.accept()
        except BlockingIOError:
            await trio.lowlevel.wait_readable(self.listener)
            return None
        except OSError as exc:
            if exc.errno in _ACCEPT_SKIPPED_ERRNOS:
                return None
            if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                raise
            log.error("accept returned %s (%s); retrying in %s seconds", errno.errorcode[exc.errno],
                      os.strerror(exc.errno), _CAPACITY_WAIT_S)
            await trio.sleep(_CAPACITY_WAIT_S)
            return None
        try:
            return PlainStream(accepted(sock), address[:2])
        except OSError:
            sock.close()  # reset before it could be set up: nobody is left to serve
            return None
