"""Whether one of some processes holds a socket, found without reading each of their descriptors on every look.

`/proc/PID/fd` tells which process holds a socket inode, one readlink per descriptor: a process with n open
descriptors costs n readlinks, so n connections from it cost n² (a handler that opened 4,000 connections to the
Runtime API made the next one take 45 s of the host's event loop). Here each process's table is read whole once
and remembered, and a later look reads a few links where the socket is likely to be:

- where the remembered table has it (a connection made before the last look: a burst of them is read once);
- the numbers where the last sockets looked for were (a connection closed, then made again, takes its number);
- the lowest numbers that were free at the last look, where the kernel puts a new descriptor.

Only when none of those holds it are the tables read whole again (a number that was closed and reused meanwhile,
or a process that does not hold the socket at all). What is remembered only says where to look: a socket counts
as held only when its link is read now.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, Optional

# How many free numbers a quick look reads per process: a new connection takes the lowest one, unless the process
# opened more descriptors since its last look (then its table is read whole, and remembered again).
PROBED_FREE = 16
# How many numbers where sockets were found it reads again (a client that reconnects, one connection at a time).
PROBED_RECENT = 8
# Tables remembered at most (a fleet's processes); past that they are forgotten and read again when asked.
MAX_TABLES = 4096

PidGroup = Callable[[], Iterable[int]]


class _Table:
    """What one process's /proc/PID/fd held at the last look: each number's link (and back), the lowest free
    numbers, and where the last sockets looked for were."""

    __slots__ = ("links", "numbers", "free", "recent")

    def __init__(self, links: dict[int, str]) -> None:
        self.links = links
        self.numbers = {link: number for number, link in links.items()}
        self.free: list[int] = []
        self.recent: list[int] = []
        self.refill(0)

    def candidates(self, target: str) -> list[int]:
        known = self.numbers.get(target)
        return list(dict.fromkeys(([known] if known is not None else []) + self.recent + self.free))

    def saw(self, number: int, link: Optional[str]) -> None:
        """What the number holds now (None: nothing)."""
        old = self.links.pop(number, None)
        if old is not None and self.numbers.get(old) == number:
            del self.numbers[old]
        if link is not None:
            self.links[number] = link
            self.numbers[link] = number

    def found_at(self, number: int) -> None:
        self.recent = [number] + [n for n in self.recent if n != number][:PROBED_RECENT - 1]

    def refill(self, start: int) -> None:
        """The PROBED_FREE lowest numbers from `start` that hold nothing known."""
        free, number = [], start
        while len(free) < PROBED_FREE:
            if number not in self.links:
                free.append(number)
            number += 1
        self.free = free


class SocketHolders:
    def __init__(self) -> None:
        self._tables: dict[int, _Table] = {}

    def find(self, inode: int, groups: Iterable[PidGroup]) -> bool:
        """Whether a process of `groups` holds socket `inode`. Groups are asked in order, each listed at most once:
        first a quick look at each process (a whole read for one not seen before), then whole reads of the rest."""
        target = f"socket:[{inode}]"
        listed: list[list[int]] = []
        read_whole: set[int] = set()
        for group in groups:
            pids = list(dict.fromkeys(group()))
            listed.append(pids)
            if any(self._quick_look(pid, target, read_whole) for pid in pids):
                return True
        for pids in listed:
            for pid in pids:
                if pid not in read_whole:
                    read_whole.add(pid)
                    if self._read_whole(pid, target):
                        return True
        return False

    def _quick_look(self, pid: int, target: str, read_whole: set[int]) -> bool:
        table = self._tables.get(pid)
        if table is None:
            read_whole.add(pid)
            return self._read_whole(pid, target)
        lowest_free = table.free[0]
        for number in table.candidates(target):
            link = _link(pid, number)
            table.saw(number, link)
            if link is None:
                lowest_free = min(lowest_free, number)
            elif link == target:
                table.found_at(number)
                table.refill(lowest_free)
                return True
        table.refill(lowest_free)
        return False

    def _read_whole(self, pid: int, target: str) -> bool:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            self._tables.pop(pid, None)  # gone, or not ours to look at
            return False
        links = {}
        for name in names:
            link = _link(pid, int(name))
            if link is not None:
                links[int(name)] = link
        if len(self._tables) >= MAX_TABLES and pid not in self._tables:
            self._tables.clear()
        table = self._tables[pid] = _Table(links)
        number = table.numbers.get(target)
        if number is not None:
            table.found_at(number)
        return number is not None


def _link(pid: int, number: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/fd/{number}")
    except OSError:
        return None  # free (or the process is gone)
