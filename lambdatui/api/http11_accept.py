"""The accepting side of `http11`'s server: the task that accepts a connection serves it (issue 9).

trio.serve_listeners accepts in one task and starts a task per connection, which reads the first request a
scheduler pass later. A runtime's first /next is on every cold start's path, and the host's thread is cold then
(it waited out the runtime's Init): measured on the packets of 80 cold starts, the host answered that /next
50-80 µs sooner this way (2-core VM, Python 3.11). The task that will accept the next connection is started before
one comes, not after (its start and the cancel scope it no longer needs cost a cold start's first /next 12-32 µs,
median of 150 resets alternated with the code before).
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
    """The listener's accepting side. The task that accepts a connection serves it: a new connection's first request
    is read without a pass through the scheduler to a task of its own. Each acceptor starts its successor as its own
    turn comes, before it waits for a connection; the successor waits for its turn (an Event, set once this one has
    its connection or has stopped), so nothing is started between a connection's accept and its first request.
    `stop`: the listener closes, the connections it took go on in their own nursery.

    `listener`: a listening socket of the standard library's (`http11_socket.listening_socket`); `handler` gets
    each connection as a `PlainStream`."""

    def __init__(self, listener: socket.socket, handler: Callable[[PlainStream], Awaitable[None]],
                 connections: trio.Nursery) -> None:
        self.listener, self.handler, self.connections = listener, handler, connections
        self._stopped = False

    def stop(self) -> None:
        """The listener closes: the task waiting on it wakes (ClosedResourceError) and ends, and so does its
        successor, given its turn."""
        self._stopped = True
        self._close()

    async def run(self, turn: Optional[trio.Event] = None) -> None:
        """Accept one connection and serve it; `turn`: set when the acceptor before this one is done accepting."""
        if turn is not None:
            await turn.wait()
        if self._stopped:
            return
        successor = trio.Event()
        stream: Optional[PlainStream] = None
        try:
            self.connections.start_soon(self.run, successor)
            while stream is None and not self._stopped:
                stream = await self._accept()
        except trio.ClosedResourceError:
            pass  # stopped while it waited
        finally:
            if stream is None:  # stopped, cancelled or failed: nobody accepts any more
                self._stopped = True
                self._close()
            successor.set()
        if stream is None:
            return
        try:
            await self.handler(stream)
        finally:
            await trio.aclose_forcefully(stream)

    def _close(self) -> None:
        if self.listener.fileno() != -1:
            trio.lowlevel.notify_closing(self.listener)
            self.listener.close()

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
