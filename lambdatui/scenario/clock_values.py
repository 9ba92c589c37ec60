"""Values of a response that read the clock while the invoke ran, which a replay cannot get again.

A handler that returns `context.get_remaining_time_in_millis()`, or `time.time()`, returns another number on every
run: recorded verbatim, its `expect.response` fails a replay of an unchanged function by a millisecond. The recorder
cannot run the invoke a second time to see what changes, but it knows the invoke's own clock: how long it ran
(so which times were left in it) and when (so which timestamps fall in it). A number in those windows is left out of
`expect.response`, with a note saying so. Honest both ways: a genuine constant that happens to fall in a window
is only not compared (and the note says which key), and clock readings in other shapes (a formatted date, an elapsed
time) are not recognised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from lambdatui.scenario.stable_parts import stable_parts

# Slack around each window: the runtime rounds remaining time, and the host hears facts a moment after they happen.
REMAINING_SLACK_MS = 2
WALL_SLACK_S = 1.0


@dataclass
class InvokeClock:
    """When an invoke ran, as the recorder heard it: wall-clock seconds, and its REPORT's duration (holds left out,
    as the remaining time leaves them out)."""

    start_s: Optional[float] = None
    end_s: Optional[float] = None
    duration_ms: Optional[float] = None
    timeout_ms: int = 0  # the function's, which the time left counts down from

    def started(self, now_s: float, timeout_ms: int) -> None:
        if self.start_s is None:
            self.start_s, self.timeout_ms = now_s, timeout_ms

    def ended(self, now_s: float) -> None:
        self.end_s = now_s

    def reads(self, number: float) -> bool:
        """Whether `number` is one the clock gave during this invoke: time left, or a timestamp (s or ms)."""
        if self.duration_ms is not None:
            if self.timeout_ms - self.duration_ms - REMAINING_SLACK_MS <= number <= self.timeout_ms:
                return True
        if self.start_s is not None and self.end_s is not None:
            low, high = self.start_s - WALL_SLACK_S, self.end_s + WALL_SLACK_S
            return low <= number <= high or low * 1000 <= number <= high * 1000
        return False


def clock_free(value: Any, clock: InvokeClock) -> tuple[Any, list[str]]:
    """`value` without the numbers the clock gave during the invoke, and the paths of those it left out."""
    return stable_parts(value, lambda part: _is_number(part) and clock.reads(part))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
