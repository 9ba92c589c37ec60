"""Ctrl-Z of a headless run (host/stopped_hold.py) when its loop is starved: two quick `kill -TSTP; kill -CONT` pairs,
the second counted while the first is still being handled, leave lambdatui running, as the kernel's own SIGTSTP
would. The loop took every SIGCONT counted by the end of the first stop as that stop's, the second pair's too, and
then acted on the second pair's SIGTSTP alone: a stop nothing ended (seen as the freezer hunt's flaky test on a loaded
CI machine). Real signals, in a child process running `hold_while_stopped` with a fleet whose first suspend blocks the
loop, as a starved one would."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest

BOUND = 30.0  # the child imports lambdatui's host on a loaded CI machine

PROGRAM = r'''
import signal, time
import trio, trio.testing
from lambdatui.host.stopped_hold import hold_while_stopped

install = signal.signal


def told(number, handler):
    """Each handler hold_while_stopped installs says when it has run: the test sends a signal once the last is in
    (the kernel drops a pending SIGCONT when a SIGTSTP comes, and the other way round)."""
    if not callable(handler):
        return install(number, handler)

    def run(signum, frame):
        handler(signum, frame)
        print("got", signum, flush=True)
    return install(number, run)


signal.signal = told

class Fleet:
    calls = 0

    def suspend(self, suspended):
        print("suspending" if suspended else "resumed", flush=True)
        if not suspended:
            return
        Fleet.calls += 1
        if Fleet.calls == 1:
            time.sleep(1.0)  # the loop starved: signals are counted meanwhile (their handlers run in the sleep)

async def main():
    async with trio.open_nursery() as nursery:
        nursery.start_soon(hold_while_stopped, Fleet())
        await trio.testing.wait_all_tasks_blocked()
        print("ready", flush=True)
        await trio.sleep_forever()

trio.run(main)
'''


def _line(proc: subprocess.Popen[bytes], deadline: float) -> str:
    """The child's next line, read from its pipe unbuffered: a buffered reader would hold lines select cannot see."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    kept = _kept.setdefault(fd, bytearray())
    while b"\n" not in kept:
        left = deadline - time.monotonic()
        assert left > 0, f"no line in time; the child is {_state(proc.pid)}"
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 4096)
            assert chunk, "the child ended"
            kept += chunk
    line, _, rest = bytes(kept).partition(b"\n")
    kept[:] = rest
    return line.decode().strip()


_kept: dict[int, bytearray] = {}


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return stat.read().rpartition(b")")[2].split()[0].decode()


def test_a_second_tstp_cont_pair_counted_during_the_first_stop_leaves_it_running() -> None:
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    deadline = time.monotonic() + BOUND
    try:
        assert _line(proc, deadline) == "ready"
        os.kill(proc.pid, signal.SIGTSTP)
        assert _line(proc, deadline) == f"got {int(signal.SIGTSTP)}"
        assert _line(proc, deadline) == "suspending"  # the first stop's hold: the loop blocks for a second
        for number in (signal.SIGCONT, signal.SIGTSTP, signal.SIGCONT):
            os.kill(proc.pid, number)
            assert _line(proc, deadline) == f"got {int(number)}"
        assert _line(proc, deadline) == "resumed"  # the first stop skipped: its SIGCONT came
        # The second pair came whole: nothing more to do. Before, the loop's next pass (at once: its wake-up is set)
        # held again and stopped for good; a second is that pass's bound here, the only wait that is not on a line.
        with pytest.raises(AssertionError, match="no line in time"):
            _line(proc, time.monotonic() + 1.0)
        assert _state(proc.pid) != "T"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait(BOUND)
