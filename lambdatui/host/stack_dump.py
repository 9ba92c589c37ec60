"""Waiting for faulthandler's dump of a timed-out runtime, written from its STACK_DUMP handler; writing the exit code
its EXIT_NOW handler reads (bootstrap/private_signals.py).

The dump's file (and the exit code's) lies in lambdatui's run folder, which stays writable inside the sandbox, and
its path is in the environment the runtime was started with (out of `os.environ` before the function's code runs,
but in /proc/self/environ): the function can put anything there (a FIFO, a link to /dev/zero, a sparse file of
many GB). So the host opens the dump without blocking or following a link, takes only a regular file, and reads at most
MAX_DUMP_BYTES: the host must survive whatever the function does.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable

import trio

DUMP_WAIT_S = 0.5  # a dump takes microseconds once the process is scheduled; never hold a kill longer than this
_POLL_S = 0.005
# faulthandler writes at most 100 threads of at most 100 frames, each line a few hundred bytes: far below this.
MAX_DUMP_BYTES = 8 << 20
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)


async def wait_for_stack_dump(path: Path, gone: Callable[[], bool], stopped: Callable[[], bool]) -> str:
    """The dump's text once the process has stopped after writing it (SIGSTOP follows STACK_DUMP, and takes effect
    when the handler has returned), or the file stops growing; whatever is there when time is up or the process
    died ("" when it is not a regular file).

    There is no event for "a signal handler finished writing a file", so this polls, bounded by DUMP_WAIT_S.
    """
    last_size = -1
    with trio.move_on_after(DUMP_WAIT_S):
        while not gone():
            size = _size(path)
            if size and (size == last_size or stopped()):
                break
            last_size = size
            await trio.sleep(_POLL_S)
    return read_dump(path)


def _size(path: Path) -> int:
    """The size of the regular file at `path` (not followed if a link), else 0."""
    try:
        info = os.lstat(path)
    except OSError:
        return 0  # not there (yet, or the function removed it)
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def read_dump(path: Path) -> str:
    """At most MAX_DUMP_BYTES of the regular file at `path`, decoded; "" for anything else or nothing."""
    try:
        fd = os.open(path, _READ_FLAGS)  # a FIFO opens at once (no writer needed), a link fails (ELOOP)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        chunks, left = [], MAX_DUMP_BYTES
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def write_exit_code(path: Path, code: int) -> bool:
    """`code` as the whole of a new regular file at `path`; False if that cannot be done.

    Whatever the function put there goes first: a FIFO would block the host's open() until some reader came, a
    link would have the host write wherever it points (outside the sandbox's read-only guard)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False  # a directory, say
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        return False
    try:
        os.write(fd, str(code).encode())
    except OSError:
        return False
    finally:
        os.close(fd)
    return True
