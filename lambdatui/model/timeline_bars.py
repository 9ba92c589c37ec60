"""A timeline's bars: what readers draw (`TimelineBar`, frozen), and the open bar the timeline changes as facts come
(`OpenBar`), each one span on the time axis (model/timeline.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class TimelineBar:
    """One span on the timeline; `end` and `duration_ms` are None while it is still running."""

    kind: str  # INIT, SUBPHASE, INVOKE, FROZEN, HELD, RESET, SHUTDOWN
    label: str
    start: float  # trio monotonic seconds
    end: Optional[float]
    duration_ms: Optional[float]
    status: Optional[str]  # a phase's outcome ("success", "error", "timeout", "failure"); None otherwise
    detail: str
    error_type: Optional[str] = None  # how a failed phase failed: the platform's type, else the handler's
    reason: Optional[str] = None  # why a reset or shutdown happened ("timeout", "failure", "spindown")
    caller: str = ""  # an invoke's name besides its id: a function URL's "GET /path" (PhaseStarted.label)
    # 1, 2, ... in the order bars opened, never reused: names a bar while older ones are dropped (not its content,
    # so bars compare by what they show)
    seq: int = field(default=0, compare=False)
    worker: int = 0  # Managed Instances: the worker that ran the invoke (PhaseStarted.worker); 0: not told
    # An error only because the handler's went to the caller (the runtime posted /error): the phase itself succeeded,
    # so unlike a failed phase it reset nothing and the environment stayed warm.
    handler_error: bool = False
    # An invoke's number in the environment (1, 2, ...), kept as older bars are dropped: the screen names it so.
    number: int = field(default=0, compare=False)


@dataclass
class OpenBar:
    """The mutable bar while it is open; frozen into a TimelineBar for readers."""

    kind: str
    label: str
    start: float
    end: Optional[float] = None
    duration_ms: Optional[float] = None
    status: Optional[str] = None
    detail: str = ""
    key: str = ""  # what matches the closing fact to it (a request id for invokes)
    function_error: Optional[str] = None  # the handler's error type, when the runtime posted /error
    error_type: Optional[str] = None  # the platform's error type (PhaseEnded, REPORT)
    reason: Optional[str] = None
    caller: str = ""
    seq: int = 0
    worker: int = 0
    held_s: float = 0.0  # time the user held the lifecycle while this bar ran: not part of its duration
    began_held: bool = False  # a frozen bar opened while the user held the lifecycle: the hold's freeze, at first
    init_ms: Optional[float] = None  # an Init step: how long its Init had run when the step began (None: not told)
    number: int = 0  # an invoke's, in the environment

    def close(self, at: float, duration_ms: Optional[float] = None, status: Optional[str] = None) -> None:
        self.end = max(at, self.start)
        if duration_ms is None:
            duration_ms = max(self.end - self.start - self.held_s, 0.0) * 1000
        self.duration_ms = duration_ms
        if status is not None:
            self.status = status

    def frozen(self) -> TimelineBar:
        status = self.status
        handler_error = self.function_error is not None and status in (None, "success")
        if handler_error:
            status = "error"  # REPORT may say success (as RIE's does), but the caller got an error
        return TimelineBar(self.kind, self.label, self.start, self.end, self.duration_ms, status, self.detail,
                           self.error_type or self.function_error, self.reason, self.caller, self.seq, self.worker,
                           handler_error, self.number)
