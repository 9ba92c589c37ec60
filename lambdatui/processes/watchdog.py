"""Kill lambdatui's process groups when lambdatui dies, however it dies.

Run as a separate program (`python -I -S watchdog.py`), standard library only,
Python 3.9+. The host writes "+<pgid>" when a group starts and "-<pgid>" when it
is gone into our stdin. Only the host holds the write end, so end of file means
the host is gone (exit, crash, SIGKILL): every group still listed is SIGKILLed.
The parent-death signal alone cannot do this: it reaches only the host's direct
children, never the grandchildren they started in the same group.
"""

import os
import signal
import sys


def main() -> int:
    # We live in our own session; still, a terminal's job-control signals must
    # never take the watchdog down before the host.
    for name in ("SIGINT", "SIGHUP", "SIGQUIT", "SIGTSTP", "SIGTTIN", "SIGTTOU"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    groups = set()
    pending = b""
    while True:
        try:
            chunk = os.read(0, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            try:
                pgid = int(line[1:])
            except ValueError:
                continue
            if pgid <= 1:
                continue  # never signal "every process" or init, whatever arrives
            if line.startswith(b"+"):
                groups.add(pgid)
            elif line.startswith(b"-"):
                groups.discard(pgid)
    # SIGKILL needs no SIGCONT: it ends stopped (frozen) processes too.
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
