"""SIGHUP of the debugger: its terminal closed, or a `kill -HUP`. Every process still ends, and the terminal, if it
is still there, is put back as Textual's exit leaves it (terminal_restore.py), though Textual may not write to it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any, Awaitable, Callable

from textual import work

from lambdatui.entry import save_caches
from lambdatui.ui.terminal_restore import restore_if_there

HANGUP_EXIT_S = 4.0  # past the 2 s shutdown budget; the graceful way out after a hangup must not take longer


class TerminalHangup:
    """Part of `LambdaTuiApp`: it runs on the app's state."""

    _driver: Any
    _quitting: bool
    call_later: Callable[..., Any]
    _stop_backend: Callable[[], Awaitable[None]]

    def _terminal_gone(self, loop: asyncio.AbstractEventLoop) -> None:
        """SIGHUP, as a plain signal handler: it runs even while the loop is blocked on a write to the dead tty.

        The kernel sends SIGCONT with a hangup, and Textual answers SIGCONT by resuming on the terminal (new
        input thread, new writes): on a dead one that blocks the loop, or keeps the process alive after the app
        has ended. So SIGCONT goes back to its default first (Python runs SIGHUP's handler before SIGCONT's),
        and should the graceful shutdown still not finish, lambdatui exits anyway: the watchdog then kills
        every process group it still lists, so nothing is left behind.
        """
        signal.signal(signal.SIGCONT, signal.SIG_DFL)
        timer = threading.Timer(HANGUP_EXIT_S, self._restore_and_leave)
        timer.daemon = True
        timer.start()
        loop.call_soon_threadsafe(self.call_later, self.hang_up)

    @work(exclusive=True, group="quit")
    async def hang_up(self) -> None:
        """Shut the environment down, then leave without drawing anything: Textual's own exit restores the terminal,
        and writing to a vanished tty blocks its writer thread forever."""
        self._quitting = True
        await self._stop_backend()
        self._restore_and_leave()

    def _restore_and_leave(self) -> None:
        """A `kill -HUP` leaves the terminal there: put it back if it still is, waiting a moment at most for one that
        is slow to read, then exit (also from the hangup's timer, should the graceful shutdown not finish)."""
        driver = self._driver
        try:
            restore_if_there(getattr(driver, "attrs_before", None), getattr(driver, "_writer_thread", None))
        finally:
            _leave_now()  # whatever the restore met: a hangup must end lambdatui


def _leave_now() -> None:
    """Exit at once, keeping what the dataclass cache compiled and where the modules were found."""
    save_caches()
    os._exit(0)
