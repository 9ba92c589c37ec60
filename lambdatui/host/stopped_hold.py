"""Ctrl-Z of a headless run (`serve`, `invoke`, `replay`): every environment is held while lambdatui is stopped.

Stopped, lambdatui reads none of the function's output: a function that prints would block on the full pipe and be
charged the stop, a timeout Lambda never gives. So SIGTSTP is caught, the environments are held (frozen, their
deadlines stopped: core/clock_rules.py), and only then does lambdatui stop; continued, they go on. The debugger does
the same from its own loop (ui/terminal_stop.py).
"""

from __future__ import annotations

import os
import signal
import threading

import trio

from lambdatui.host.fleet_host import FleetHost


async def hold_while_stopped(fleet: FleetHost) -> None:
    """Ctrl-Z (SIGTSTP): every environment is held (frozen, its deadlines stopped) before lambdatui stops, and goes on
    once continued. Stopped, lambdatui reads none of the function's output: a function that prints would block on
    the full pipe and be charged the stop, and time out where it never would in Lambda."""
    heard = {signal.SIGTSTP: 0, signal.SIGCONT: 0}
    wake = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def count(signum: int, frame: object) -> None:
        heard[signum] += 1
        token.run_sync_soon(wake.set)  # safe from a signal handler

    before = {number: signal.signal(number, count) for number in heard}
    stops = continues = 0  # as last read
    try:
        while True:
            await wake.wait()
            wake = trio.Event()
            # A SIGCONT read with the SIGTSTP undoes it, as it would have undone the kernel's own stop: Python runs
            # the handlers of signals that came together by their numbers, not in the order they came, and a quick
            # `kill -TSTP; kill -CONT` (or a shell's `fg`) must leave lambdatui running, never stopped for good.
            asked = heard[signal.SIGTSTP] > stops and heard[signal.SIGCONT] == continues
            stops, continues = heard[signal.SIGTSTP], heard[signal.SIGCONT]
            if asked:
                fleet.suspend(True)
                _stop_unless_continued(heard, continues)  # returns once continued
                # One SIGCONT undid that stop, or ended it. Not all those counted by now: a loop starved past a quick
                # `kill -TSTP; kill -CONT` may have counted the next pair meanwhile, and its SIGCONT taken here would
                # leave its SIGTSTP to stop lambdatui for good on the next pass.
                continues += 1
                fleet.suspend(False)
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


def _stop_unless_continued(heard: dict[int, int], continues: int) -> None:
    """Stop this process, as SIGTSTP's default action does, unless a SIGCONT has come since `continues` were heard.
    The stop is a SIGTSTP raised on this thread while it blocks it: a SIGCONT that comes before its delivery discards
    it (the kernel's rule for a pending stop signal), and one that came before it was raised is in `heard` (the
    raise runs the handlers due). A SIGSTOP sent after a check of `heard` lost a SIGCONT that came in between, and
    lambdatui stopped for good (one `kill -TSTP; kill -CONT` in ~100 on a loaded machine). In a process group the
    kernel drops SIGTSTP for (one with no parent in another group of its session) that SIGSTOP is still the stop."""
    if _orphaned_group():
        if heard[signal.SIGCONT] == continues:
            os.kill(os.getpid(), signal.SIGSTOP)
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTSTP})
    handler = signal.signal(signal.SIGTSTP, signal.SIG_DFL)
    try:
        signal.pthread_kill(threading.get_ident(), signal.SIGTSTP)
        if heard[signal.SIGCONT] != continues:
            signal.signal(signal.SIGTSTP, signal.SIG_IGN)  # an ignored signal's pending instance is dropped
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTSTP})  # delivered here: stopped until continued
        signal.signal(signal.SIGTSTP, handler)


def _orphaned_group() -> bool:
    """Whether this process's group is orphaned as far as its own ancestors tell (the first of them in another group
    is in another session, or there is none): there the kernel drops a SIGTSTP whose action is to stop."""
    group, session, pid = os.getpgrp(), os.getsid(0), os.getppid()
    while pid > 1:
        try:
            if os.getpgid(pid) != group:
                return os.getsid(pid) != session
            with open(f"/proc/{pid}/stat", "rb") as stat:
                pid = int(stat.read().rpartition(b")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            return True
    return True
