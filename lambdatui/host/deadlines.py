"""Named deadlines on trio's clock, served by one task (a task per deadline would cost a spawn per invoke)."""

from __future__ import annotations

import math
import select
from typing import Callable, Iterable, Optional, Protocol

import trio

from lambdatui.core.common import INIT_TIMER, INVOKE_TIMER, RESTORE_TIMER


# Linux lets a poll's timeout run late by 0.1 % of its length (select_estimate_accuracy: 3 ms of a 3 s function
# timeout, 100 ms of a 15-minute one), time in which a handler that should have timed out responds. A long wait
# therefore ends early by twice that, and a short second wait, late by microseconds, meets the deadline.
LONG_WAIT_S = 0.02
EARLY_SHARE = 0.002


# The debugger's host can be a repaint behind its sockets (~15 ms; the UI shares its thread): a phase's deadline that
# comes due while a runtime's call waits there unread is carried out a millisecond later, and again, until the call
# is heard (the core holds the wait, or carries the deadline out first if the call came after it: `_heard_late`), at
# most this long after the host saw it due.
HOLD_OFF_STEP_S = 0.001
HOLD_OFF_LIMIT_S = 0.2
_PHASE_DEADLINES = (INVOKE_TIMER, INIT_TIMER, RESTORE_TIMER)


class _Connection(Protocol):
    fd: int
    reads_held: bool


def calls_unheard(connections: Iterable[_Connection]) -> Callable[[str], bool]:
    """For `Deadlines(hold_off=...)`: whether a phase's deadline (`name`) comes due while one of the sandbox API's
    connections holds bytes not yet read, but for those left unread on purpose (a paced stream's)."""
    def unheard(name: str) -> bool:
        if name not in _PHASE_DEADLINES:
            return False
        poller = select.poll()
        for connection in connections:
            if not connection.reads_held:
                poller.register(connection.fd, select.POLLIN)
        return bool(poller.poll(0))

    return unheard


def _wake_at(deadline: float, now: float) -> float:
    left = deadline - now
    return deadline - left * EARLY_SHARE if LONG_WAIT_S < left < math.inf else deadline


class Deadlines:
    def __init__(self, on_due: Callable[[str], None], hold_off: Optional[Callable[[str], bool]] = None) -> None:
        self._on_due = on_due
        self._hold_off = hold_off  # (calls_unheard)
        self._due: dict[str, float] = {}
        self._held_since: dict[str, float] = {}  # deadlines held off: when the host first saw each due
        self._wake = trio.Event()
        self._waiting_until = math.inf

    def start(self, name: str, at: float) -> None:
        self._due[name] = at
        self._held_since.pop(name, None)
        if at < self._waiting_until:
            self._wake.set()

    def cancel(self, name: str) -> None:
        self._due.pop(name, None)  # the task wakes at the old time, finds nothing due, and sleeps on
        self._held_since.pop(name, None)

    def _held_off(self, name: str, now: float) -> bool:
        since = self._held_since.get(name, now)  # counted from when the host saw it due, however late that was
        if self._hold_off is None or now - since >= HOLD_OFF_LIMIT_S or not self._hold_off(name):
            self._held_since.pop(name, None)
            return False
        self._held_since[name] = since
        self._due[name] = now + HOLD_OFF_STEP_S
        return True

    async def run(self) -> None:
        while True:
            self._waiting_until = min(self._due.values(), default=math.inf)
            with trio.move_on_at(_wake_at(self._waiting_until, trio.current_time())):
                await self._wake.wait()
            self._wake = trio.Event()
            now = trio.current_time()
            for name, at in sorted(self._due.items(), key=lambda item: item[1]):
                if at <= now and self._due.get(name) == at and not self._held_off(name, now):
                    del self._due[name]
                    self._on_due(name)
