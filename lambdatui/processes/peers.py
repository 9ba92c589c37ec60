"""Which local process is at the other end of a loopback TCP connection (Linux /proc).

In Lambda only the sandbox's own processes reach the Runtime, Extensions and Telemetry APIs. On a laptop the
API listens on loopback, where any local user could find its port. The kernel knows who holds each socket:
/proc/net/tcp maps the client's address to its socket inode, and /proc/PID/fd shows which process holds that
inode. This module answers that question; the host decides who may come in.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Iterable, Optional


def socket_inode(client: tuple[str, int], server: tuple[str, int]) -> Optional[int]:
    """The inode of the client's end of an IPv4 loopback connection, or None when it cannot be found."""
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


def holds_socket(pid: int, inode: int) -> bool:
    target = f"socket:[{inode}]"
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return False  # gone, or not ours to look at
    for name in names:
        try:
            if os.readlink(f"{fd_dir}/{name}") == target:
                return True
        except OSError:
            continue
    return False


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


def held_by_any(inode: int, pids: Iterable[int]) -> bool:
    return any(holds_socket(pid, inode) for pid in pids)


def _hex_address(host: str, port: int) -> str:
    """/proc/net/tcp's spelling of an IPv4 address: the 32-bit address in host byte order, then the port."""
    packed = socket.inet_aton(host)
    return "%08X:%04X" % (struct.unpack("=I", packed)[0], port)
