"""The terminal put back as Textual's exit leaves it, where Textual itself may not write any more (a hangup).

A SIGHUP most often means the terminal is gone, and Textual's writer thread blocks for ever on a vanished tty. But a
`kill -HUP` from another shell, or a supervisor's, leaves the terminal there: quitting without restoring it left the
user's shell in the alternate screen, the cursor hidden, mouse reporting on, echo off. So the hangup's exit tries the
terminal directly, opened afresh and non-blocking: a terminal that has gone refuses at once.

A terminal that is there but slow to read (its emulator busy or starved) may have a full buffer and Textual's writer
blocked on it: a non-blocking write of the restore failed at once, and left the shell in the alternate screen. So the
writer is told to write no more (its queued frames dropped), the restore waits a moment for it to finish the frame it
is in, and what the terminal has not read of the screen being left is discarded (TCOFLUSH) to make room.
"""

from __future__ import annotations

import os
import select
import termios
import time
from queue import Empty, Full
from typing import Any, Optional

# What Textual's LinuxDriver.stop_application_mode and its mouse and paste switches write, in their order: bracketed
# paste off, line wrap on, in-band resize off, mouse reporting off, the Kitty keyboard protocol off, the main screen
# back, the cursor shown, focus reports off.
_RESTORE = ("\x1b[?2004l\x1b[?7h\x1b[?2048l\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l"
            "\x1b[<u\x1b[?1049l\x1b[?25h\x1b[?1004l").encode()


def restore_if_there(attributes: Optional[list[Any]], writer: Any = None, within_s: float = 1.0) -> bool:
    """Put the controlling terminal back (`attributes`: its termios settings from before the app began); whether
    there was a terminal to put back. `writer`: Textual's writer thread, stopped first so that no frame of its comes
    after the restore. Waits at most `within_s` for a terminal that does not read."""
    deadline = time.monotonic() + within_s
    try:
        fd = os.open("/dev/tty", os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False  # no controlling terminal any more
    try:
        if writer is not None:
            _stop_writing(writer, deadline)
        if attributes is not None:
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
        termios.tcflush(fd, termios.TCOFLUSH)
        return _write_all(fd, _RESTORE, deadline)
    except (OSError, termios.error):
        return False  # hung up: it takes nothing
    finally:
        os.close(fd)


def _stop_writing(writer: Any, deadline: float) -> None:
    """Textual's writer thread (textual.drivers._writer_thread) ends after the write it is in, its queued frames
    dropped; waits for that until the deadline. (A flush does not help a blocked writer: it is woken and fills the room
    again, with the rest of its frame.)"""
    queue = getattr(writer, "_queue", None)
    if queue is None:
        return  # another Textual's writer: not stopped, its last frame may follow the restore
    try:
        while True:
            queue.get_nowait()
    except Empty:
        pass
    try:
        queue.put_nowait(None)
    except Full:  # pragma: no cover - the app queued a frame in between: the thread then runs on to the deadline
        pass
    writer.join(max(0.0, deadline - time.monotonic()))


def _write_all(fd: int, data: bytes, deadline: float) -> bool:
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([], [fd], [], left)
    return True
