"""Waiting for faulthandler's dump of a timed-out runtime, written from its SIGUSR1 handler."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import trio

DUMP_WAIT_S = 0.5  # a dump takes microseconds once the process is scheduled; never hold a kill longer than this
_POLL_S = 0.005


async def wait_for_stack_dump(path: Path, gone: Callable[[], bool], stopped: Callable[[], bool]) -> str:
    """The dump's text once the process has stopped after writing it (SIGSTOP follows SIGUSR1, and takes effect
    when the handler has returned), or the file stops growing; whatever is there when time is up or the process
    died.

    There is no event for "a signal handler finished writing a file", so this polls, bounded by DUMP_WAIT_S.
    """
    last_size = -1
    with trio.move_on_after(DUMP_WAIT_S):
        while not gone():
            size = path.stat().st_size if path.exists() else 0
            if size and (size == last_size or stopped()):
                break
            last_size = size
            await trio.sleep(_POLL_S)
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
