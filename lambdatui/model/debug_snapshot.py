"""Everything the debugger shows, as one immutable value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from lambdatui.model.facts import (
    GlobalsReported,
    InitFailed,
    InvocationResult,
    InvokeReported,
    LogLine,
    MemoryMeasured,
    StacksCaptured,
    TmpChanged,
)
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.fleet import EnvironmentLine, FleetCounters
from lambdatui.model.snapshot import EnvironmentSnapshot
from lambdatui.model.telemetry import Subscription
from lambdatui.model.timeline import TimelineBar

# What an extension can receive, as `ReceivedEvent.kind` says it.
INVOKE = "INVOKE"  # from the Extensions API
SHUTDOWN = "SHUTDOWN"
BATCH = "batch"  # a Telemetry (or Logs) API batch its listener took; with `error`, an attempt it did not take
DROPPED = "dropped"  # records its buffer dropped because its listener fell behind (never received)


@dataclass(frozen=True)
class FunctionInfo:
    """The function the debugger runs, as it describes it: name, handler, code, runtime and limits."""

    name: str
    handler: str
    code_dir: str
    runtime: str  # "python:3" (lambdatui's bootstrap) or the custom runtime's description
    timeout_s: int
    memory_mb: int
    extensions: tuple[str, ...]
    interpreter: str = ""  # the Python that runs our runtime (a .venv's, --python's...); "" for a custom runtime
    max_concurrency: int = 0  # Managed Instances: the workers of each environment (0: one invoke at a time)


@dataclass(frozen=True)
class ReceivedEvent:
    """One thing sent to an extension, in the order it happened: an Extensions API event or a telemetry batch."""

    seq: int  # 1, 2, ... per extension for the whole session: tells an entry already shown from a new one
    kind: str  # INVOKE, SHUTDOWN, BATCH or DROPPED
    at: float  # trio monotonic seconds
    during: str  # what the environment was doing: "init", "invoke a1000000", "frozen", "reset", "shutdown"...
    since_ms: float  # how long it had been doing that (held time included)
    body: str = ""  # the JSON as sent: the event, or the batch's array (as much of it as the host kept)
    request_id: Optional[str] = None  # INVOKE
    reason: Optional[str] = None  # SHUTDOWN
    records: int = 0  # BATCH, DROPPED
    bytes: int = 0
    types: tuple[str, ...] = ()  # BATCH: the records' types, in order
    error: Optional[str] = None  # BATCH: why the listener did not take it (it is retried)
    attempt: int = 1  # BATCH: 2 and more are retries


@dataclass(frozen=True)
class ExtensionActivity:
    """What one extension subscribed to and was sent: its Telemetry or Logs API subscription, the deliveries to its
    listener, and the events it received, oldest first (bounded: `forgotten` counts those no longer kept)."""

    name: str
    subscription: Optional[Subscription] = None  # the latest (a re-Init subscribes again)
    batches: int = 0  # delivered to its listener
    records: int = 0
    bytes: int = 0
    failed: int = 0  # attempts its listener did not take
    retries: int = 0  # attempts after the first, taken or not
    dropped_records: int = 0
    dropped_bytes: int = 0
    last_delivery_at: Optional[float] = None
    events: tuple[ReceivedEvent, ...] = ()
    forgotten: int = 0


@dataclass(frozen=True)
class StreamView:
    """The latest streamed response, as far as it has come (lambda-spec §1.8): folded from the ResponseStream*
    facts, for the result panel to show while it arrives and, once over, beside the invoke's result."""

    request_id: str
    content_type: str
    to_caller: bool  # the caller takes it as it arrives (else lambdatui keeps it whole for a buffered caller)
    first_byte_ms: float  # from the event's delivery to the runtime to the stream's start
    size: int = 0  # bytes so far
    chunks: int = 0  # pieces as they arrived from the runtime
    elapsed_ms: float = 0.0  # from the stream's start to its latest piece
    ended: bool = False
    error_type: Optional[str] = None  # it ended in an error: declared in its trailers, or why lambdatui cut it
    label: str = ""  # the invoke's name besides its id (a function URL's "GET /path")
    caller_left_after: Optional[int] = None  # its caller hung up mid-stream, having taken this many bytes
    caller_stalled_after: Optional[int] = None  # its caller read no more after this many: the invoke ended meanwhile

    @property
    def ms_per_chunk(self) -> Optional[float]:
        """The average time each piece took to come, from the stream's start; None before the first."""
        return self.elapsed_ms / self.chunks if self.chunks else None


@dataclass(frozen=True)
class DebuggerSnapshot:
    """Everything the debugger shows at one moment: the focused environment and its panels, the fleet, the
    timeline and the log."""

    function: FunctionInfo
    environment: EnvironmentSnapshot
    environment_number: int  # 1 for the first environment, +1 for each NewEnvironment
    sandbox_mode: str  # "mount-namespace" or "tmpdir"
    sandbox_note: Optional[str]
    globals: Optional[GlobalsReported]
    tmp: Optional[TmpChanged]
    timeline: tuple[TimelineBar, ...]
    marker: Optional[str]
    last_result: Optional[InvocationResult]
    last_report: Optional[InvokeReported]
    last_stacks: Optional[StacksCaptured]
    armed_faults: tuple[str, ...]
    logs: tuple[LogLine, ...]  # the most recent lines, bounded
    invocations: int
    last_init_failure: Optional[InitFailed] = None  # a failed Init newer than `last_result`
    extensions: tuple[ExtensionActivity, ...] = ()  # every extension that was sent something or subscribed
    memory: tuple[MemoryMeasured, ...] = ()  # the runtime's, after its Init and each invoke, oldest first (bounded)
    environments: tuple[EnvironmentLine, ...] = ()  # the whole fleet, by number; the panels show `environment_number`
    fleet: Optional[FleetCounters] = None
    # Restored from a SnapStart snapshot: global name -> N, for each value made at Init that is the same in all N
    # live environments restored from that snapshot (model/shared_init_values.py). Built fresh for each snapshot
    # and never changed: a Mapping, read-only to every reader.
    shared_init_values: Mapping[str, int] = field(default_factory=dict)
    stream: Optional[StreamView] = None  # the latest streamed response: arriving now, or `last_result`'s
    last_result_label: str = ""  # `last_result`'s invoke's name besides its id (a function URL's "GET /path")
    # The timeline bar (its `seq`) whose end this snapshot shows the state as of: the user travelled back to it.
    # None: the snapshot is live. `timeline` always holds every kept bar, so the selected one is drawn among them.
    selected_bar: Optional[int] = None

    def extension(self, name: str) -> Optional[ExtensionActivity]:
        return next((x for x in self.extensions if x.name == name), None)

    @property
    def memory_in_use(self) -> Optional[MemoryMeasured]:
        """What the environment's processes hold now, as last measured; None once a reset or a shutdown has ended
        them (COLD, SHUT_DOWN): their last measurement is history, not memory in use."""
        if not self.memory or self.environment.state in (EnvState.COLD, EnvState.SHUT_DOWN):
            return None
        return self.memory[-1]

    @property
    def request_in_view(self) -> Optional[str]:
        """The invoke the environment is about: the one running, else (held at invoke.done) the one just done, else
        the next queued one; None when there is none."""
        env = self.environment
        if env.current_request_id:
            return env.current_request_id
        if env.held_at is Boundary.INVOKE_DONE:
            done = self.last_result or self.last_report
            if done is not None:
                return done.request_id
        return env.queued[0] if env.queued else None
