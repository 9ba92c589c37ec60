"""Values of a response that read the clock while the invoke ran, which a replay cannot get again.

A handler that returns `context.get_remaining_time_in_millis()`, or `time.time()`, returns another number on every
run: recorded verbatim, its `expect.response` fails a replay of an unchanged function by a millisecond. The recorder
cannot run the invoke a second time to see what changes, but it knows the invoke's own clock: how long it ran
(so which times were left in it) and when (so which timestamps fall in it, up to its deadline, which a function may
echo). A timestamp window reaches back to the
session's start: a reading made at Init (`STARTED = time.time()` at module level) or in an earlier invoke comes back
in every warm invoke, and a replay's is another. A number in those windows is left out of `expect.response`, and so
is text that quotes an ISO 8601 time in the timestamp window (`2026-12-02T12:50:47.933Z`, as a log line or
`datetime.isoformat()` writes it), with a note saying so. Honest both ways: a genuine constant that happens to fall
in a window is only not compared (and the note says which key); so is an HTTP date (`Sun, 06 Dec 2026 18:00:00 GMT`,
as a `Date` header in an API Gateway response gives it). Clock readings in other shapes (a date in other words, an
elapsed time) are not recognised.
"""

from __future__ import annotations

import datetime
import email.utils
import re
from dataclasses import dataclass
from typing import Any, Optional

from lambdatui.scenario.stable_parts import stable_parts

# Slack around each window: the runtime rounds remaining time, and the host hears facts a moment after they happen.
REMAINING_SLACK_MS = 2
WALL_SLACK_S = 1.0
RUNTIME_DONE_SLACK_MS = 100.0
# An ISO 8601 date and time, to the second at least ("T" or a space between), with its offset if it has one.
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
# An HTTP date (RFC 9110's IMF-fixdate, as a `Date` or `Last-Modified` header gives it) or RFC 5322's (email.utils).
HTTP_TIME = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                       r"\d{4} \d{2}:\d{2}:\d{2} (?:GMT|UTC|[+-]\d{4})")


@dataclass
class InvokeClock:
    """When an invoke ran, as the recorder heard it: wall-clock seconds, and its REPORT's duration (holds left out,
    as the remaining time leaves them out)."""

    start_s: Optional[float] = None
    end_s: Optional[float] = None
    duration_ms: Optional[float] = None
    timeout_ms: int = 0  # the function's, which the time left counts down from
    since_s: Optional[float] = None  # when the session began: what Init or an earlier invoke read is before start_s
    # When the runtime was done with it (platform.runtimeDone): it reads its time left before that, so extensions
    # that keep the invoke open afterwards (seconds, up to the timeout) must not widen the time-left window.
    runtime_done_s: Optional[float] = None

    def started(self, now_s: float, timeout_ms: int, since_s: Optional[float] = None) -> None:
        if self.start_s is None:
            self.start_s, self.timeout_ms, self.since_s = now_s, timeout_ms, since_s

    def ended(self, now_s: float) -> None:
        self.end_s = now_s

    def runtime_done(self, now_s: float) -> None:
        if self.runtime_done_s is None:
            self.runtime_done_s = now_s

    def reads(self, number: float) -> bool:
        """Whether `number` is one the clock gave during this invoke: time left, or a timestamp (s or ms)."""
        if self.duration_ms is not None:
            elapsed_ms = self.duration_ms
            if self.runtime_done_s is not None and self.start_s is not None:
                # Heard, like the start, a moment after it happened: the slack keeps the window wide enough.
                runtime_ms = (self.runtime_done_s - self.start_s) * 1000 + RUNTIME_DONE_SLACK_MS
                elapsed_ms = min(elapsed_ms, max(0.0, runtime_ms))
            if self.timeout_ms - elapsed_ms - REMAINING_SLACK_MS <= number <= self.timeout_ms:
                return True
        window = self._wall_window()
        if window is not None:
            low, high = window
            return low <= number <= high or low * 1000 <= number <= high * 1000
        return False

    def quotes_a_time(self, text: str) -> bool:
        """Whether `text` quotes an ISO 8601 time in the timestamp window (one without an offset: UTC or local), or an
        HTTP date (whole seconds: the window is widened to the second)."""
        window = self._wall_window()
        if window is None:
            return False
        low, high = window
        for match in HTTP_TIME.finditer(text):
            try:
                when = email.utils.parsedate_to_datetime(match.group())
            except (TypeError, ValueError):
                continue
            if low - 1 <= when.timestamp() <= high:
                return True
        for match in ISO_TIME.finditer(text):
            try:
                when = datetime.datetime.fromisoformat(match.group().replace(",", ".").replace("Z", "+00:00"))
            except ValueError:  # 2026-13-45...: no time at all; Python < 3.11 reads fewer shapes, a miss is honest
                continue
            readings = ([when.timestamp()] if when.tzinfo is not None else
                        [when.replace(tzinfo=datetime.timezone.utc).timestamp(), when.timestamp()])  # UTC, local
            if any(low <= reading <= high for reading in readings):
                return True
        return False

    def _wall_window(self) -> Optional[tuple[float, float]]:
        if self.start_s is None or self.end_s is None:
            return None
        begun = self.start_s if self.since_s is None else min(self.since_s, self.start_s)
        # Up to the invoke's deadline: a function that returns it (the Lambda-Runtime-Deadline-Ms a runtime got, or
        # now plus the time left) gives a time after the invoke's end, and another one every run.
        deadline_s = self.start_s + self.timeout_ms / 1000
        return begun - WALL_SLACK_S, max(self.end_s, deadline_s) + WALL_SLACK_S


def clock_free(value: Any, clock: InvokeClock) -> tuple[Any, list[str]]:
    """`value` without the numbers the clock gave during the invoke, and the paths of those it left out."""
    return stable_parts(value, lambda part: (_is_number(part) and clock.reads(part))
                        or (isinstance(part, str) and clock.quotes_a_time(part)))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
