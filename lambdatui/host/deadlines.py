"""Named deadlines on trio's clock, served by one task (a task per deadline would cost a spawn per invoke)."""

from __future__ import annotations

import math
from typing import Callable

import trio


# Linux lets a poll's timeout run late by 0.1 % of its length (select_estimate_accuracy: 3 ms of a 3 s function
# timeout, 100 ms of a 15-minute one), time in which a handler that should have timed out responds. A long wait
# therefore ends early by twice that, and a short second wait, late by microseconds, meets the deadline.
LONG_WAIT_S = 0.02
EARLY_SHARE = 0.002


def _wake_at(deadline: float, now: float) -> float:
    left = deadline - now
    return deadline - left * EARLY_SHARE if LONG_WAIT_S < left < math.inf else deadline


class Deadlines:
    def __init__(self, on_due: Callable[[str], None]) -> None:
        self._on_due = on_due
        self._due: dict[str, float] = {}
        self._wake = trio.Event()
        self._waiting_until = math.inf

    def start(self, name: str, at: float) -> None:
        self._due[name] = at
        if at < self._waiting_until:
            self._wake.set()

    def cancel(self, name: str) -> None:
        self._due.pop(name, None)  # the task wakes at the old time, finds nothing due, and sleeps on

    async def run(self) -> None:
        while True:
            self._waiting_until = min(self._due.values(), default=math.inf)
            with trio.move_on_at(_wake_at(self._waiting_until, trio.current_time())):
                await self._wake.wait()
            self._wake = trio.Event()
            now = trio.current_time()
            for name, at in sorted(self._due.items(), key=lambda item: item[1]):
                if at <= now and self._due.get(name) == at:
                    del self._due[name]
                    self._on_due(name)
