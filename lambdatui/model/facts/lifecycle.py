"""The lifecycle and its invokes: states, phases, holds, freezes, queued invokes, their results and response streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from lambdatui.model.boundaries import Boundary, EnvState


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
    worker: int = 0  # invoke on Managed Instances: the worker that took it (1, 2, ... in the order they first asked)


@dataclass(frozen=True)
class PhaseEnded:
    """A phase of the lifecycle ended, and how; `duration_ms` leaves out holds and inspections."""

    phase: str
    status: str  # "success", "error", "timeout", "failure"
    duration_ms: float
    error_type: Optional[str] = None
    at: float = 0.0
    request_id: str = ""  # an invoke's (Managed Instances run several at once in one environment)


@dataclass(frozen=True)
class BoundaryReached:
    """The lifecycle reached a boundary (model/boundaries.py); `held`: the debugger holds it there.

    `init_ms`: reached while an Init runs, how long that Init had run by then on the clock its duration is measured
    on (holds, the debugger's inspections, the sandbox settling and the runtime's wait for a host still starting left
    out), so that Init's steps can be told apart within its duration; None elsewhere. A measurement, not what was
    reached: facts compare without it.
    """

    boundary: Boundary
    held: bool
    detail: str = ""
    init_ms: Optional[float] = field(default=None, compare=False)


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
    asynchronous: bool = False  # an Event invoke: its caller had its 202 and waits for nothing
    # What else its caller sent that the function sees (the recorder writes it, a replay sends it again).
    client_context: Optional[str] = field(default=None, repr=False)
    qualifier: str = ""
    streamed: bool = False  # its caller takes the response as a stream (InvokeWithResponseStream, a function URL)
    retry: int = 0  # an Event invoke's n-th retry after a function error (EventRetrying), with the same request id


@dataclass(frozen=True)
class InvocationRefused:
    """An invoke the environment turned away without queueing it (it has shut down); its result follows.

    Carries the event as `InvocationQueued` does, so that every invoke that arrived is seen, refused or not.
    """

    request_id: str
    reason: str
    event: bytes = field(default=b"", compare=False, repr=False)
    asynchronous: bool = False  # an Event invoke, refused before any queue took it (SnapStart without a snapshot)


@dataclass(frozen=True)
class InvocationThrottled:
    """A synchronous invoke above the concurrency limit: answered 429 TooManyRequestsException, never run by any
    environment (a fact of the fleet's own, environment 0). Carries the event and what else its caller sent, as
    `InvocationQueued` does: a recording sends it again as it came."""

    request_id: str
    event: bytes = field(default=b"", compare=False, repr=False)
    client_context: Optional[str] = field(default=None, repr=False)
    qualifier: str = ""


@dataclass(frozen=True)
class EventWaiting:
    """An Event invoke that waits in the fleet's queue: every environment is busy, at the concurrency limit (a fact
    of the fleet's own, environment 0); said once, as it starts to wait. It carries nothing: what it is for is to be
    heard, so that the debugger's fleet line counts the invoke queued then (from the snapshot's fleet counters), not
    at the next fact of some environment."""


@dataclass(frozen=True)
class EventRetrying:
    """An Event invoke's attempt failed and Lambda runs it again after `wait_s`, with the same request id: its
    `attempt`-th retry (a fact of the fleet's own, environment 0; core/event_retries.py). `text` is the line that
    says so (also a LogLine of lambdatui's own)."""

    request_id: str
    attempt: int
    wait_s: float
    text: str


@dataclass(frozen=True)
class IdleSpunDown:
    """Environment `number` served nothing for `idle_s` (--idle-shutdown) and is spun down and removed (a fact of
    the fleet's own, environment 0): the time that passed is part of what happened (a recording waits as long)."""

    number: int
    idle_s: float


@dataclass(frozen=True)
class EventNotRun:
    """An Event invoke accepted (202) that will never run, or never finish: lambdatui is ending, or what it waited for
    failed. `text` is the line that says so (also a LogLine of lambdatui's own); the debugger prints it on the
    terminal when it ends with such events, since its screen is closing (Lambda never drops one without a word).
    Carries the event, as `InvocationQueued` does: one that waited in the fleet's queue had no other fact with it,
    and a recording names it too."""

    request_id: str
    text: str
    event: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class OverrunEnded:
    """Managed Instances: the handler of a timed-out invoke, which ran on after its caller had the timeout error, is
    done (its late answer was refused, or its worker exited, before its deadline or after): nothing of that invoke runs
    any more."""

    request_id: str


@dataclass(frozen=True)
class InvokeCutOff:
    """A spindown (the environment replaced or shut down, or lambdatui ending) answered an invoke its function had
    not answered, with Sandbox.Failure: what the function would have returned is not known (published just before
    the invoke's InvocationCompleted)."""

    request_id: str


@dataclass(frozen=True)
class NewEnvironmentAnswered:
    """What became of the user's request to replace the environment (`N`, the controller's NewEnvironment): taken
    (`replaced`: it is reset, or renewed at once when it is cold, and comes back as a new environment), or refused
    because the environment is ending or has ended for good. `text` says which, for the user. `number`: the
    environment it is about when the fleet answers for one that has left it (0: the core's answer, about the
    environment the request was for)."""

    replaced: bool
    text: str
    number: int = 0


@dataclass(frozen=True)
class PreferredPassedOver:
    """An invoke sent to environment `preferred` (a replay's `env = N`) was routed as usual, because that one `why`
    ("is busy", "is not alive"...): a fact of the fleet's own, environment 0, published before the invoke is placed."""

    request_id: str
    preferred: int
    why: str


@dataclass(frozen=True)
class EnvironmentStartedFor:
    """A new environment is started for an invoke (lambda-spec §11): none of those alive could take it, `busy` of
    them because an invoke ran in them then (a fact of the fleet's own, environment 0, published as the fleet decides
    to start it). The fleet may look otherwise by the time the invoke is queued there: starting the environment takes
    time, and the busy ones may have finished meanwhile. Which environment it is, the `InvocationQueued` that follows
    says (its environment's), if it starts. `number`: the one it is given, taken now (0 where not known): a recorder
    tells by it which environments were started for invokes routed later."""

    request_id: str
    busy: int
    number: int = 0


@dataclass(frozen=True)
class EnvironmentNotStarted:
    """The environment started for invoke `request_id` (`EnvironmentStartedFor`) could not be (no descriptor left,
    no folder...): the invoke failed before any environment heard of it (a fact of the fleet's own, environment 0)."""

    request_id: str


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
class ResponseStreamCallerLeft:
    """A streaming caller hung up while the runtime still streamed, having taken `taken` bytes: the rest is read
    unpaced and dropped (the function runs on, unaware), so a replay's caller hangs up after as many."""

    request_id: str
    taken: int


@dataclass(frozen=True)
class ResponseStreamCallerStalled:
    """The invoke ended while its streaming caller held the runtime back, having taken `taken` bytes and read no more
    (a caller that reads slowly slows the runtime down): a replay's caller stops reading after as many."""

    request_id: str
    taken: int


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
