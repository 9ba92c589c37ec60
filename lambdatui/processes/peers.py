"""Which local process is at the other end of a loopback TCP connection (Linux /proc).

In Lambda only the sandbox's own processes reach the Runtime, Extensions and Telemetry APIs. On a laptop the
API listens on loopback, where any local user could find its port. The kernel knows who holds each socket:
sock_diag (or /proc/net/tcp) maps the client's address to its socket inode, and /proc/PID/fd shows which
process holds that inode (socket_holders.py). This module answers that question; the host decides who may come in.
"""

from __future__ import annotations

import atexit
import os
import socket
import struct
from typing import Iterable, NamedTuple, Optional


# Linux's sock_diag (netlink), which ss(8) uses: the kernel looks one socket up by its addresses.
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NO_COOKIE = 0xFFFFFFFF
_ALL_STATES = 0xFFFFFFFF
_DIAG_MSG_INODE = 68  # inet_diag_msg: family, state, timer, retrans, the 48-byte id, expires, queues, uid, inode
_DIAG_MSG_SIZE = 72  # its attributes follow
_INET_DIAG_CGROUP_ID = 21  # the cgroup (v2) of the process that made the socket (Linux 5.9+)


class Socket(NamedTuple):
    inode: int  # 0: no process holds it (an orphan)
    cgroup: Optional[int]  # the cgroup v2 id of the process that made it, where the kernel tells


def client_socket(client: tuple[str, int], server: tuple[str, int]) -> Optional[Socket]:
    """The client's end of an IPv4 loopback connection, or None when it cannot be found.

    Asked of the kernel directly: /proc/net/tcp prints every bucket of the TCP hash table, ~1.7 ms a read here, on
    the path of every cold start (its runtime's first connection). The table is read only where that fails, and
    does not tell the cgroup."""
    found = _DIAG.look(client, server)
    if found is not None:
        return found
    inode = _listed_inode(client, server)
    return None if inode is None else Socket(inode, None)


class _SockDiag:
    """One netlink socket for every look, kept open: a cold start's first connection waits on this look, and a
    socket made and closed for it cost five more system calls. The kernel answers a request while it is sent, so
    the answer is read without waiting; one left unread (a look cut short) is told from the next by its number."""

    def __init__(self) -> None:
        self.sock: Optional[socket.socket] = None
        self.sequence = 0
        atexit.register(self.close)  # kept for the process's life: closed at its end, not by a finalizer

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def look(self, client: tuple[str, int], server: tuple[str, int]) -> Optional[Socket]:
        """sock_diag's answer for the TCP socket whose local end is `client` and remote end `server`."""
        try:
            self.sequence = self.sequence % 0xFFFFFFFF + 1
            message = _request(client, server, self.sequence)
            if self.sock is None:
                self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
            self.sock.send(message)
            while True:
                answer = self.sock.recv(8192, socket.MSG_DONTWAIT)  # BlockingIOError: no answer, the table is read
                if len(answer) >= 16 and struct.unpack_from("=I", answer, 8)[0] == self.sequence:
                    break
        except (OSError, AttributeError, ValueError, struct.error):
            self.close()
            return None  # no netlink (not Linux, a sandbox that forbids it): the table is read instead
        if len(answer) < 16 + _DIAG_MSG_SIZE or struct.unpack_from("=H", answer, 4)[0] != _SOCK_DIAG_BY_FAMILY:
            return None  # an error (not found, or not allowed): the table says which
        inode = struct.unpack_from("=I", answer, 16 + _DIAG_MSG_INODE)[0]
        return Socket(inode, _cgroup_attribute(answer, 16 + _DIAG_MSG_SIZE, struct.unpack_from("=I", answer)[0]))


_DIAG = _SockDiag()


def _cgroup_attribute(answer: bytes, offset: int, end: int) -> Optional[int]:
    """INET_DIAG_CGROUP_ID among the attributes that follow the message (each: length, type, value, padding)."""
    end = min(end, len(answer))
    while offset + 4 <= end:
        length, kind = struct.unpack_from("=HH", answer, offset)
        if length < 4 or offset + length > end:
            return None
        if kind == _INET_DIAG_CGROUP_ID and length >= 12:
            return struct.unpack_from("=Q", answer, offset + 4)[0]
        offset += (length + 3) & ~3
    return None


def _request(client: tuple[str, int], server: tuple[str, int], sequence: int) -> bytes:
    sockid = (struct.pack("!HH", client[1], server[1]) + socket.inet_aton(client[0]) + bytes(12)
              + socket.inet_aton(server[0]) + bytes(12) + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE))
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, _ALL_STATES) + sockid
    return struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, sequence, 0) + request


def _listed_inode(client: tuple[str, int], server: tuple[str, int]) -> Optional[int]:
    """/proc/net/tcp's answer: the line whose local and remote addresses are the client's and the server's."""
    want_local = _hex_address(*client)
    want_remote = _hex_address(*server)
    try:
        with open("/proc/net/tcp") as table:
            next(table, None)  # the header
            for line in table:
                fields = line.split()
                if len(fields) > 9 and fields[1] == want_local and fields[2] == want_remote:
                    return int(fields[9])
    except (OSError, ValueError):
        return None
    return None


def descendants(roots: Iterable[int]) -> set[int]:
    """Every live process below `roots` (not the roots themselves), from the parent links in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields after its closing one are fixed.
        parent = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _hex_address(host: str, port: int) -> str:
    """/proc/net/tcp's spelling of an IPv4 address: the 32-bit address in host byte order, then the port."""
    packed = socket.inet_aton(host)
    return "%08X:%04X" % (struct.unpack("=I", packed)[0], port)
