"""Reports and measurements: REPORT metrics, memory, spans, runtimeDone, extensions' reports and process exits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class InvokeReported:
    """The REPORT metrics of one invoke (lambda-spec §3.5 ReportMetrics)."""

    request_id: str
    duration_ms: float
    billed_duration_ms: int
    memory_size_mb: int
    max_memory_used_mb: Optional[int]
    init_duration_ms: Optional[float]
    status: str  # success, error, timeout
    error_type: Optional[str] = None
    cold: bool = False  # this invoke ran Init: an on-demand cold start or a suppressed re-init
    restore_duration_ms: Optional[float] = None  # SnapStart: the first invoke after a restore (lambda-spec §4.8)
    billed_restore_duration_ms: Optional[int] = None
    at: Optional[float] = None  # when the invoke ended, on the core's clock: platform.report's time


@dataclass(frozen=True)
class MemoryMeasured:
    """The memory in use after Init or an invoke (issue 11), for the debugger: a cache that grows invoke by invoke
    shows here before the invoke that runs out of memory."""

    phase: str  # "init" or "invoke"
    request_id: Optional[str]  # the invoke's; None after Init
    runtime_mb: Optional[int]  # the runtime's resident memory now (VmRSS); None once it is gone
    runtime_peak_mb: Optional[int]  # its peak (VmHWM), what REPORT's Max Memory Used shows
    environment_mb: Optional[int]  # runtime and extensions together (the cgroup's charge, else their RSS summed)
    limit_mb: int  # --memory
    enforced_by: str  # "cgroup v2", "cgroup v1", "watch" (lambdatui samples RSS), "" where nothing enforces it
    at: float = 0.0


@dataclass(frozen=True)
class Span:
    """A stretch of an invoke the platform measures (lambda-spec §3.5 `Span`).

    `start` is on the host's monotonic clock, as every fact's `at`; `duration_ms` leaves out holds and
    inspections, as every phase duration does.
    """

    name: str
    start: float
    duration_ms: float


@dataclass(frozen=True)
class RuntimeDone:
    """The runtime is done with an invoke (platform.runtimeDone): it asked for its next event after answering,
    or the invoke ended without that (a timeout, a crash, a failed suppressed Init, a reset under it).

    `duration_ms` runs from the event's delivery to the runtime's /next (or the end); `produced_bytes` is the
    size of its /response body (0 without one); `spans` are responseLatency and responseDuration once it called
    /response, runtimeOverhead once it asked for the next event. `detail` is the platform's account of a
    failure (the fault line's text), empty otherwise.
    """

    request_id: str
    status: str  # success, error, timeout, failure
    error_type: Optional[str]
    duration_ms: float
    produced_bytes: int
    spans: tuple[Span, ...] = ()
    detail: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class ExtensionOverhead:
    """Every extension asked for its next event after the runtime did (platform.report's extensionOverhead span):
    from the runtime's /next to the last extension's."""

    request_id: str
    span: Span


@dataclass(frozen=True)
class ExtensionReported:
    """One extension as the platform reports it when Init ends, successfully or not (platform.extension)."""

    name: str
    state: str
    events: tuple[str, ...]
    error_type: Optional[str] = None


@dataclass(frozen=True)
class ExtensionEventDelivered:
    """An extension's `/event/next` was answered: the event (INVOKE or SHUTDOWN) it received, as sent.

    `ShutdownSent` says a SHUTDOWN was sent; this says when the extension got it, as it says for every INVOKE.
    """

    extension: str
    event: bytes  # the JSON body of the answer
    at: float = 0.0


@dataclass(frozen=True)
class ShutdownSent:
    """An extension was sent its SHUTDOWN event, with the reason and the deadline (epoch milliseconds) it carried."""

    extension: str
    reason: str
    deadline_ms: int


@dataclass(frozen=True)
class ProcessExitedFact:
    """A participant's process (the runtime or an extension) ended; `expected`: during a shutdown or reset."""

    participant: str
    description: str  # "exit status 1", "signal: killed"
    expected: bool  # during shutdown/reset
