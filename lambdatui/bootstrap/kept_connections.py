"""A SnapStart copy's connections to the sandbox's APIs that Init opened and kept: moved to the copy's own environment.

In Lambda the APIs inside the sandbox have one address in every environment, and a restored VM's connections made
at Init lead to its own environment's endpoint (the restore answers the snapshot's pending /restore/next on such a
connection). A copy here is a fork of the snapshot's runtime: a connection Init kept open (an HTTP client's pool to
the metadata endpoint, Sentry's urllib3) is the very socket the snapshot and every other copy hold, to the snapshot
environment's server. Each such descriptor is given a new connection to the copy's own server, on the same
descriptor number and with the same blocking mode, so that the client object above it carries on unaware. Only
while no request is in flight: a restore runs in the copy's one thread, before any of the function's code does.
"""

from __future__ import annotations

import fcntl
import os
import socket

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Dict, Optional, Tuple

FD_DIR = "/proc/self/fd"


def address(text: Optional[str]) -> Optional[Tuple[str, int]]:
    """`host:port` as a socket address; None for anything else."""
    host, _, port = (text or "").rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def move_kept_connections(moves: Dict[Tuple[str, int], Tuple[str, int]]) -> int:
    """Every TCP connection of this process to an address of `moves` reconnected to the address it maps to; how many."""
    moved = 0
    try:
        names = os.listdir(FD_DIR)
    except OSError:
        return 0  # no /proc: the copy keeps the snapshot's connections (README's SnapStart limits)
    for name in names:
        fd = int(name)
        target = _moved_to(fd, moves)
        if target is None:
            continue
        try:
            fresh = socket.create_connection(target, timeout=5)
        except OSError:
            continue  # left as it was: the snapshot's server still answers on it
        try:
            fresh.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            descriptor_flags = fcntl.fcntl(fd, fcntl.F_GETFD)
            os.dup2(fresh.fileno(), fd, inheritable=not descriptor_flags & fcntl.FD_CLOEXEC)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)  # the client's own blocking mode (its timeout), as before
            moved += 1
        finally:
            fresh.close()
    return moved


def _moved_to(fd: int, moves: Dict[Tuple[str, int], Tuple[str, int]]) -> Optional[Tuple[str, int]]:
    try:
        peer = socket.socket(fileno=os.dup(fd))  # a duplicate: closing it leaves `fd` as it was
    except OSError:
        return None  # not a socket (a file, a pipe), or already closed
    try:
        if peer.family != socket.AF_INET or peer.type != socket.SOCK_STREAM:
            return None
        return moves.get(peer.getpeername()[:2])
    except OSError:
        return None  # a listening or unconnected socket
    finally:
        peer.close()
