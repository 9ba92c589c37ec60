"""The terminal put back as Textual's exit leaves it, where Textual itself may not write any more (a hangup).

A SIGHUP most often means the terminal is gone, and Textual's writer thread blocks for ever on a vanished tty. But a
`kill -HUP` from another shell, or a supervisor's, leaves the terminal there: quitting without restoring it left the
user's shell in the alternate screen, the cursor hidden, mouse reporting on, echo off. So the hangup's exit tries the
terminal directly, without ever waiting: opened afresh and non-blocking, a terminal that has gone refuses at once.
"""

from __future__ import annotations

import os
import termios
from typing import Any, Optional

# What Textual's LinuxDriver.stop_application_mode and its mouse and paste switches write, in their order: bracketed
# paste off, line wrap on, in-band resize off, mouse reporting off, the Kitty keyboard protocol off, the main screen
# back, the cursor shown, focus reports off.
_RESTORE = ("\x1b[?2004l\x1b[?7h\x1b[?2048l\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l"
            "\x1b[<u\x1b[?1049l\x1b[?25h\x1b[?1004l").encode()


def restore_if_there(attributes: Optional[list[Any]]) -> bool:
    """Put the controlling terminal back (`attributes`: its termios settings from before the app began); whether
    there was a terminal to put back."""
    try:
        fd = os.open("/dev/tty", os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False  # no controlling terminal any more
    try:
        if attributes is not None:
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
        os.write(fd, _RESTORE)
        return True
    except (OSError, termios.error):
        return False  # hung up: it takes nothing
    finally:
        os.close(fd)
