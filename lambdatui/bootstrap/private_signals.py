"""The two signals lambdatui's host sends our runtime beyond Lambda's: dump every thread's stack (a timed-out
handler or Init, before its kill), and exit with the code the user injected.

Real-time signals near SIGRTMAX, which a function's code and its libraries practically never handle. SIGUSR1 and
SIGUSR2, used before, they may: a function's own SIGUSR1 handler then ran at the timeout, function code after the
deadline where Lambda runs none (and a signal the user injects to test such a handler met our dump instead).
Standard library only: this runs in the function's own interpreter, and the host imports the same numbers.
"""

from __future__ import annotations

import signal

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Optional


def _near_the_top(offset: int, fallback: str) -> Optional[int]:
    top = getattr(signal, "SIGRTMAX", None)  # Linux; elsewhere the old user signals, where there are any
    if top is not None:
        return int(top) - offset
    old = getattr(signal, fallback, None)
    return None if old is None else int(old)


STACK_DUMP = _near_the_top(3, "SIGUSR1")
EXIT_NOW = _near_the_top(2, "SIGUSR2")
