"""The host's end of the watchdog process (watchdog.py): it kills our process groups if the host dies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from . import linux
from .stdlib_program import stdlib_program

_WATCHDOG_GRACE = 2.0
_WATCHDOG_SCRIPT = Path(__file__).with_name("watchdog.py")


class WatchdogLink:
    """The host's end of the watchdog's stdin (see watchdog.py)."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1
        if not sys.executable:
            return
        try:
            # Own session: a terminal's Ctrl-C must not reach it. Not waited for:
            # its interpreter starts while we go on, and lines queue in the pipe.
            self._proc = subprocess.Popen(
                stdlib_program(_WATCHDOG_SCRIPT),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,
                cwd="/",
            )
        except (OSError, subprocess.SubprocessError):
            return  # the parent-death signal still covers direct children
        assert self._proc.stdin is not None
        # Our pipe end is close-on-exec and every child is started with
        # close_fds, so only this process holds it: EOF means we are gone.
        self._fd = self._proc.stdin.fileno()
        os.set_blocking(self._fd, False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def add(self, pgid: int) -> None:
        self._send(b"+%d\n" % pgid)

    def remove(self, pgid: int) -> None:
        self._send(b"-%d\n" % pgid)

    def add_cgroup(self, path: str) -> None:
        """Should the host die, everything in this cgroup is killed too (and the cgroup removed)."""
        self._send(b"c" + path.encode() + b"\n")

    def _send(self, line: bytes) -> None:
        if self._proc is None or self._fd < 0:
            return
        self._pending += line
        try:
            written = os.write(self._fd, self._pending)
        except BlockingIOError:
            return  # never block the trio thread; the next line retries
        except OSError:
            self._fd = -1  # the watchdog is gone; nothing more to tell it
            return
        del self._pending[:written]

    def abandon(self) -> None:
        """Without trio (lambdatui ends before its trio run began): the watchdog kills what is listed and ends."""
        proc, self._proc, self._fd = self._proc, None, -1
        if proc is None:
            return
        assert proc.stdin is not None
        try:
            proc.stdin.close()
            proc.wait(timeout=_WATCHDOG_GRACE)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    async def aclose(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        self._fd = -1
        assert proc.stdin is not None
        try:
            proc.stdin.close()  # EOF: it kills whatever is still listed, then exits
        except OSError:
            pass
        import trio  # imported where used: the early start (host/early_start.py) runs before trio is imported

        pidfd = linux.open_pidfd(proc.pid)
        with trio.move_on_after(_WATCHDOG_GRACE):
            if pidfd is not None:
                await trio.lowlevel.wait_readable(pidfd)
            else:
                while not linux.has_exited(proc.pid):
                    await trio.sleep(0.01)
        if pidfd is not None:
            trio.lowlevel.notify_closing(pidfd)
            os.close(pidfd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
