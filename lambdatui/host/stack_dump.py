"""Waiting for faulthandler's dump of a timed-out runtime, written from its SIGUSR1 handler."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import trio

DUMP_WAIT_S = 0.5  # a dump takes microseconds once the process is scheduled; never hold a kill longer than this
_POLL_S = 0.005


async def wait_for_stack_dump(path: Path, gone: Callable[[], bool]) -> str:
    """The dump's text once the file stops growing (or whatever is there when time is up or the process died).

    There is no event for "a signal handler finished writing a file", so this polls the file it is waiting for,
    bounded by DUMP_WAIT_S.
    """
    last_size = -1
    with trio.move_on_after(DUMP_WAIT_S):
        while not gone():
            size = path.stat().st_size if path.exists() else 0
            if size and size == last_size:
                break
            last_size = size
            await trio.sleep(_POLL_S)
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
