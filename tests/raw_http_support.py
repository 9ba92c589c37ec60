"""For tests that read answers on sockets they control (late readers, resets, half-closes): an HTTP/1.1 answer's head,
taken off the front of what was received; a reset; a caller that leaves without a whole request; whether this machine
has IPv6's loopback to listen on."""

from __future__ import annotations

import socket
import struct
from typing import Optional


def take_answer_head(buffer: bytearray) -> Optional[tuple[int, dict[str, str]]]:
    """The status and the lower-cased headers of the answer that `buffer` begins with, removed from it; None (and
    `buffer` untouched) while its head has not all arrived."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    status_line, *lines = buffer[:end].decode("latin-1").split("\r\n")
    del buffer[:end + 4]
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def reset(sock) -> None:
    """Close with SO_LINGER 0: the peer gets an RST, not a FIN (a stdlib or a trio socket)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def leave_silently(sock, how: str, partial_request: bytes) -> None:
    """A connected caller that leaves without a whole request: it closes at once ("close"), sends `partial_request`
    then closes ("partial"), or resets ("reset")."""
    if how == "partial":
        await sock.send(partial_request)
    if how == "reset":
        reset(sock)
    else:
        sock.close()
