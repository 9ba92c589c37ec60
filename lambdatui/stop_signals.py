"""The signals that stop lambdatui: SIGINT, SIGTERM and SIGHUP, less those its caller set to be ignored.

`nohup` ignores SIGHUP and a shell's background job ignores SIGINT; a command keeps such an ignore (Python itself
leaves an ignored SIGINT ignored), or `nohup lambdatui serve ... &` would end with the terminal. What was ignored is
read once, as this module is imported: entry.py imports it before any handler of lambdatui's is in place.
"""

from __future__ import annotations

import signal

STOP_SIGNALS: tuple[int, ...] = tuple(
    number for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if signal.getsignal(number) != signal.SIG_IGN)
