"""Waiting on the host's answer without sleeping through a signal.

Python runs a signal's handler between bytecodes. A signal that lands after the last of those checks and
before a blocking recv() starts leaves its handler pending until recv returns. At shutdown that is what
happens when the thaw finds the runtime stopped on its way to wait on /next, Lambda's SIGTERM right behind
the thaw: the host never answers that /next, so the function's SIGTERM handler does not run, and the runtime
is killed 300 ms later as if it had none.

Waiting in poll() on the socket and on the signal wakeup fd closes that window: a signal that comes once
the fd is installed writes to it and ends the poll; one that came before is handled at the check that
follows installing it. The fd is ours only while we wait: a function's own (asyncio's, trio's) is put back
after, and gets the signal numbers that came meanwhile, as it would have. Python cannot tell how it was set, so
it comes back with warn_on_full_buffer's default (asyncio's setting; one left set with trio's, False, warns if
its buffer fills up); one the function closed and left set comes back unset, not refused.
"""

from __future__ import annotations

import os
import select
import signal

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    import socket
    from typing import Optional, Tuple


class SignalWait(object):
    def __init__(self) -> None:
        self._pipe: Optional[Tuple[int, int]] = None  # made at the first wait

    def close(self) -> None:
        """Close the pipe (a later wait makes another). Never while a wait runs: it is ours only meanwhile."""
        if self._pipe is not None:
            for end in self._pipe:
                os.close(end)
            self._pipe = None

    def until_readable(self, sock: socket.socket) -> None:
        """Return once `sock` has bytes (or an end or error) to read; a signal's handler runs meanwhile, and
        what it raises ends the wait."""
        if self._pipe is None:
            read_end, write_end = os.pipe()  # not inherited by programs the function starts
            os.set_blocking(read_end, False)
            os.set_blocking(write_end, False)  # set_wakeup_fd requires it: a full pipe must not block a signal
            self._pipe = (read_end, write_end)
        read_end, write_end = self._pipe
        try:
            previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        except ValueError:  # not the main thread, which alone runs Python handlers: nothing to wait for here
            return
        if previous in self._pipe:  # ours, left by a wait cut short; or the function's, closed, its number reused
            previous = -1
        try:
            waiting = select.poll()  # not select: no descriptor number is too high for it
            waiting.register(sock.fileno(), select.POLLIN)
            waiting.register(read_end, select.POLLIN)
            while True:
                ready = [fd for fd, _ in waiting.poll()]
                if read_end in ready:
                    _pass_on(read_end, previous)
                if len(ready) > (read_end in ready):
                    return
        finally:
            try:
                signal.set_wakeup_fd(previous)
            except (OSError, ValueError):  # the function closed its fd (or made it blocking) and left it set
                signal.set_wakeup_fd(-1)
                previous = -1
            _pass_on(read_end, previous)  # a signal that came after the last poll: its number is the function's too


def _pass_on(read_end: int, previous: int) -> None:
    """Empty our pipe; the signal numbers in it go to the function's own wakeup fd, if it has one."""
    while True:
        try:
            numbers = os.read(read_end, 512)
        except BlockingIOError:
            return
        if not numbers:
            return
        if previous != -1:
            try:
                os.write(previous, numbers)
            except OSError:  # full or gone: what its owner would have lost as well
                pass
