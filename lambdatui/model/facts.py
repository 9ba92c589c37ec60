"""Past-tense facts: what happened in the environment. Every client (console, Invoke API, UI, scenarios) renders these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.telemetry import Subscription

PLATFORM = "platform"
FUNCTION = "function"
LAMBDATUI = "lambdatui"  # our own explanations, never something Lambda would print


def extension_source(name: str) -> str:
    return f"extension:{name}"


@dataclass(frozen=True)
class LogLine:
    """One line of output: a platform line (START, REPORT...), the function's or an extension's output."""

    source: str  # PLATFORM, FUNCTION, LAMBDATUI or extension_source(name)
    text: str
    request_id: Optional[str] = None
    stream: str = "stdout"


def read_lines(source: str, texts: list[str], request_id: Optional[str], stream: str) -> tuple[LogLine, ...]:
    """`LogLine(source, text, request_id, stream)` for each text, equal to those, made without the frozen
    __init__'s one `object.__setattr__` a field: a third of the cost, for the 100,000 lines of a burst."""
    new, set_dict = object.__new__, object.__setattr__
    shared = {"source": source, "request_id": request_id, "stream": stream}
    lines = []
    for text in texts:
        line = new(LogLine)
        fields = shared.copy()
        fields["text"] = text
        set_dict(line, "__dict__", fields)
        lines.append(line)
    return tuple(lines)


@dataclass(frozen=True)
class LogLines:
    """The lines one read of a process's pipe held, in order: a burst of output crosses the host a read at a time,
    not a line at a time (platform and lambdatui lines stay single `LogLine`s)."""

    lines: tuple[LogLine, ...]


def log_lines(fact: object) -> tuple[LogLine, ...]:
    """The log lines a fact carries: its own, a read's, or none."""
    kind = type(fact)
    if kind is LogLine:
        return (fact,)  # type: ignore[return-value]
    if kind is LogLines:
        return fact.lines  # type: ignore[attr-defined, no-any-return]
    return ()


@dataclass(frozen=True)
class StateChanged:
    """The whole environment's state changed (COLD, INIT, FROZEN...: the header's); `generation` counts its Inits."""

    state: EnvState
    generation: int


@dataclass(frozen=True)
class PhaseStarted:
    """A phase of the lifecycle began: Init (or a SnapStart restore), an invoke, a reset or the final shutdown."""

    phase: str  # "init", "invoke", "reset", "shutdown"
    detail: str = ""  # init: "init" or "invoke" (suppressed); invoke: request id; reset: reason
    at: float = 0.0
    trace_id: str = ""  # invoke: its X-Amzn-Trace-Id header, if any (the telemetry records' `tracing`)
    label: str = ""  # invoke: how the debugger names it besides its id (a function URL's "GET /path"), if any


@dataclass(frozen=True)
class PhaseEnded:
    """A phase of the lifecycle ended, and how; `duration_ms` leaves out holds and inspections."""

    phase: str
    status: str  # "success", "error", "timeout", "failure"
    duration_ms: float
    error_type: Optional[str] = None
    at: float = 0.0


@dataclass(frozen=True)
class BoundaryReached:
    """The lifecycle reached a boundary (model/boundaries.py); `held`: the debugger holds it there."""

    boundary: Boundary
    held: bool
    detail: str = ""


@dataclass(frozen=True)
class BreakpointsChanged:
    """The boundaries the debugger now holds at, all of them (empty: none)."""

    boundaries: frozenset[Boundary]


@dataclass(frozen=True)
class HoldReleased:
    """The hold at `boundary` is over: released (step, continue), or dropped as its phase ended another way."""

    boundary: Boundary


@dataclass(frozen=True)
class EnvironmentFrozen:
    """The environment's processes were stopped (SIGSTOP), as Lambda freezes an idle environment or the
    debugger holds one; `participants`: those stopped."""

    participants: tuple[str, ...]


@dataclass(frozen=True)
class EnvironmentThawed:
    """The frozen environment goes on (SIGCONT); `participants`: those resumed (not the ones a fault froze)."""

    participants: tuple[str, ...]


@dataclass(frozen=True)
class ParticipantChanged:
    """The runtime or an extension changed state; `parked`: it now waits on its /next for an event."""

    participant: str  # "runtime" or "extension:<name>"
    state: str
    parked: bool


@dataclass(frozen=True)
class InvocationQueued:
    """An invoke joined the environment's queue; `position` counts the invokes queued, this one included."""

    request_id: str
    position: int
    # The event as the runtime will get it, so that a listener (the recorder) sees every invoke whatever sent
    # it: the Invoke API, the controller, an Event invoke. Left out of equality and repr: it can be 6 MB.
    event: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class InvocationRefused:
    """An invoke the environment turned away without queueing it (it has shut down); its result follows.

    Carries the event as `InvocationQueued` does, so that every invoke that arrived is seen, refused or not.
    """

    request_id: str
    reason: str
    event: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class InvocationThrottled:
    """A synchronous invoke above the concurrency limit: answered 429 TooManyRequestsException, never run by any
    environment (a fact of the fleet's own, environment 0). Carries the event, as `InvocationQueued` does."""

    request_id: str
    event: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class InvocationResult:
    """What the caller of an invoke receives."""

    request_id: str
    payload: bytes
    content_type: str = "application/json"
    function_error: bool = False
    error_type: Optional[str] = None  # for function errors: the platform's view (REPORT) or the body's type
    api_status: int = 0  # not 0: the Invoke API itself failed with this status (SnapStart's restore errors)
    streamed: int = -1  # >= 0: the response was streamed to its caller, this many bytes (`payload` keeps none)


@dataclass(frozen=True)
class ResponseStreamStarted:
    """The runtime began a streamed /response (lambda-spec §1.8); `to_caller`: its caller takes it as a stream
    (else lambdatui keeps it whole, up to 6 MB, as Lambda does for a buffered invoke)."""

    request_id: str
    content_type: str
    to_caller: bool
    first_byte_ms: float = 0.0  # from the event's delivery to the runtime to its first streamed bytes (holds left out)


@dataclass(frozen=True)
class ResponseStreamed:
    """How far a streamed response has come (at most every few dozen milliseconds, and at its end): for the
    debugger's result panel."""

    request_id: str
    size: int  # bytes so far
    chunks: int  # pieces as they arrived from the runtime
    elapsed_ms: float  # from the stream's start to the latest piece
    at: float = 0.0


@dataclass(frozen=True)
class ResponseStreamEnded:
    """A streamed /response is over: `size` bytes in all, and the error it ended in, if any."""

    request_id: str
    size: int
    error_type: Optional[str] = None  # declared in its trailers, or why lambdatui cut it


@dataclass(frozen=True)
class InvocationCompleted:
    """An invoke's caller got its answer: `result` is what it received."""

    result: InvocationResult


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


@dataclass(frozen=True)
class GlobalEntry:
    """One global of the handler module, as our bootstrap reported it, and how it changed since the last report."""

    name: str
    type: str
    repr: str  # bounded to 200 characters by the bootstrap
    identity: int
    kind: str  # "state", "module", "dunder", "function", "class", "import"
    change: str  # "new", "changed" (same object, new value), "replaced" (another object), "same"


@dataclass(frozen=True)
class ThreadEntry:
    """One live Python thread of the runtime's process (threading.enumerate), in a `GlobalsReported`."""

    name: str
    ident: Optional[int]
    daemon: bool
    alive: bool


@dataclass(frozen=True)
class GlobalsReported:
    """The handler module's globals after Function init or after an invoke, diffed against the previous report."""

    phase: str  # "init" or "invoke"
    request_id: Optional[str]
    generation: int
    entries: tuple[GlobalEntry, ...]
    gone: tuple[str, ...]  # names present in the previous report of this generation, absent now
    threads: tuple[ThreadEntry, ...]


@dataclass(frozen=True)
class TmpEntry:
    """One file, directory or link under the environment's /tmp, with the phases that created and last changed it."""

    path: str  # as the function sees it: "/tmp/counter.txt"
    kind: str  # "file", "dir", "symlink", "other"
    size: int
    mtime: float  # epoch seconds
    created_by: str  # "init", a request id, or "before" (there when lambdatui first looked)
    changed_by: str
    change: str  # "new", "changed", "same" against the previous listing


@dataclass(frozen=True)
class TmpChanged:
    """The environment's /tmp after a phase ended; `by` is what that phase was (a request id or "init")."""

    entries: tuple[TmpEntry, ...]
    removed: tuple[str, ...]
    by: str
    truncated: bool = False  # more entries than lambdatui lists


@dataclass(frozen=True)
class StackFrame:
    """One frame of a faulthandler stack dump: the file, line and function it was in."""

    file: str
    line: int
    function: str


@dataclass(frozen=True)
class ThreadStack:
    """One thread's stack in a faulthandler dump (`StacksCaptured`)."""

    thread: str  # "Current thread 0x..." or "Thread 0x..."
    frames: tuple[StackFrame, ...]  # innermost first, as faulthandler prints them


@dataclass(frozen=True)
class StacksCaptured:
    """Where a timed-out handler hung: every thread's stack, dumped by faulthandler before the kill."""

    request_id: str
    text: str
    threads: tuple[ThreadStack, ...]


@dataclass(frozen=True)
class FaultInjected:
    """A requested fault took effect (`description`: which, as model/faults.describe puts it)."""

    description: str


@dataclass(frozen=True)
class FaultRefused:
    """A fault that could not take effect here (no deadline running, no such participant...): nothing was injected."""

    description: str
    reason: str


@dataclass(frozen=True)
class InitFailed:
    """Init ended without success: what the runtime reported (its /init/error body), or what the platform saw.

    `payload` is the runtime's own error document (errorType, errorMessage, stackTrace) when it sent one,
    else empty; `detail` is the platform's account (which participant exited, what Init was waiting on).
    """

    status: str  # "error", "timeout", "failure"
    error_type: Optional[str]
    detail: str
    payload: bytes = b""
    phase: str = "init"  # "init", or "invoke" for a suppressed init inside an invoke


INIT_STACKS = "init"  # StacksCaptured.request_id of the stacks dumped when Init timed out outside any invoke


@dataclass(frozen=True)
class FaultArmed:
    """A requested fault waits for `boundary`: it takes effect when the lifecycle reaches it."""

    description: str
    boundary: Boundary


@dataclass(frozen=True)
class TelemetrySubscribed:
    """An extension subscribed to the Telemetry API or the Logs API (a later one replaces its earlier one)."""

    extension: str
    subscription: Subscription
    at: float = 0.0


@dataclass(frozen=True)
class TelemetryDelivered:
    """One batch a subscriber's listener was sent (or failed to take: `error` says why, and it is retried)."""

    extension: str
    api: str
    records: int
    bytes: int
    types: tuple[str, ...]  # the records' types, in order
    error: Optional[str] = None
    attempt: int = 1
    batch: str = ""  # the JSON sent, for the debugger's event view (bounded by maxBytes)
    at: float = 0.0


@dataclass(frozen=True)
class TelemetryDropped:
    """Records a subscriber's buffer had to drop because its listener fell behind (platform.logsDropped)."""

    extension: str
    records: int
    bytes: int
    at: float = 0.0


@dataclass(frozen=True)
class ApiExchanged:
    """One request a process in the environment made to the sandbox's API (Runtime, Extensions, Telemetry, Logs,
    lambdatui's private family) and its answer, for the debugger's API traffic view (api/api_capture.py).

    A long poll (every GET there: /next, the init gate) is published twice under one `seq`: once as it parks
    (`answered` None, `status` 0) and once answered. Previews are the bodies' first bytes, never whole bodies."""

    seq: int  # numbers the environment's exchanges in the order they began
    participant: str  # "runtime", or the extension's name
    method: str
    path: str
    status: int  # 0: not answered (still parked, or the caller hung up: `answered` says which)
    request_headers: tuple[tuple[str, str], ...]  # the ones that matter (api_capture.REQUEST_HEADERS), as sent
    response_headers: tuple[tuple[str, str], ...]
    request_preview: str
    response_preview: str
    started: float  # wall clock, seconds
    answered: Optional[float] = None  # wall clock; None while parked
    request_bytes: int = 0
    response_bytes: int = 0
    error_type: str = ""  # a refusal's errorType, or the error type the caller reported in its header
    long_poll: bool = False  # a request that parks until the lifecycle answers it (/next)

    @property
    def parked_ms(self) -> Optional[float]:
        """How long a long poll waited (None for other requests, and while it still waits)."""
        if not self.long_poll or self.answered is None:
            return None
        return (self.answered - self.started) * 1000


Fact = Union[
    LogLine,
    LogLines,
    StateChanged,
    PhaseStarted,
    PhaseEnded,
    BoundaryReached,
    BreakpointsChanged,
    HoldReleased,
    EnvironmentFrozen,
    EnvironmentThawed,
    ParticipantChanged,
    InvocationQueued,
    InvocationRefused,
    InvocationThrottled,
    InvocationCompleted,
    ResponseStreamStarted,
    ResponseStreamed,
    ResponseStreamEnded,
    InvokeReported,
    MemoryMeasured,
    RuntimeDone,
    ExtensionOverhead,
    ExtensionReported,
    ExtensionEventDelivered,
    ShutdownSent,
    ProcessExitedFact,
    GlobalsReported,
    TmpChanged,
    StacksCaptured,
    FaultInjected,
    FaultRefused,
    FaultArmed,
    InitFailed,
    TelemetrySubscribed,
    TelemetryDelivered,
    TelemetryDropped,
    ApiExchanged,
]
