"""Inputs the core accepts: things that happened. The host stamps each with the time when feeding it in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from lambdatui.model.boundaries import Boundary
from lambdatui.model.faults import Fault

Token = int  # identifies an HTTP request (or other waiter) the core may answer later


@dataclass(frozen=True)
class Instant:
    """A moment on both of the host's clocks: the time the host stamps an input with."""

    mono: float  # seconds on the host's monotonic (trio) clock
    wall_ms: int  # epoch milliseconds, for deadlineMs headers and log timestamps


@dataclass(frozen=True)
class Invocation:
    """One invoke as its caller sent it: the event (`payload`) and what the runtime is told with it."""

    request_id: str
    payload: bytes
    content_type: str = "application/json"
    client_context: Optional[str] = None  # decoded JSON text
    cognito_identity: Optional[str] = None
    trace_id: str = ""
    wants_log_tail: bool = False
    asynchronous: bool = False  # an Event invoke: its caller was answered when it was queued
    streamed: bool = False  # its caller takes the response as a stream (InvokeWithResponseStream, a function URL)
    label: str = ""  # how the debugger names it besides its id: a function URL's "GET /path"
    qualifier: str = ""  # the version or alias its caller named: the invoked function ARN ends with it
    # Managed Instances: the worker to give it to (numbered as `RuntimeNext.connection` says), where a replay sends
    # it as the session did; 0: whichever worker waits longest, as RAPID does.
    worker: int = 0
    retry: int = 0  # an Event invoke's n-th retry (core/event_retries.py): the same invoke, run again


@dataclass(frozen=True)
class StartEnvironment:
    """Begin the first Init (on-demand, phase init). `started`: the runtime was started ahead of the host's run
    at that instant (host/early_start.py), and its Init began then."""

    started: Optional[Instant] = None


@dataclass(frozen=True)
class InvokeRequested:
    """An invoke arrived for this environment; `token` is its caller's request (None: nobody waits for it)."""

    token: Optional[Token]
    invocation: Invocation


@dataclass(frozen=True)
class RuntimeNext:
    """The runtime asked for its next event (GET /runtime/invocation/next). `arrived`: when the request reached
    the host's socket (the kernel's stamp, on the host's clock), which may be before the host could read it: a
    runtime started ahead asks while lambdatui is still starting, and the debugger's host shares its thread with
    the UI."""

    token: Token
    arrived: Optional[float] = None
    # The HTTP connection it came on (1, 2, ... as the sandbox's server took them; 0: not known). On Managed Instances
    # each worker asks on a connection of its own, kept alive: the core numbers the workers by them.
    connection: int = 0


@dataclass(frozen=True)
class RuntimeResponse:
    """The runtime answered an invoke with a whole (buffered) response (POST /runtime/invocation/{id}/response)."""

    token: Token
    request_id: str
    body: bytes
    content_type: str
    too_large: bool = False
    invalid_mode: Optional[str] = None  # a Lambda-Runtime-Function-Response-Mode other than "streaming"
    truncated: bool = False  # the runtime hung up before the end of the body it declared
    arrived: Optional[float] = None  # as RuntimeNext's
    connection: int = 0  # as RuntimeNext's: on Managed Instances, which worker answers


@dataclass(frozen=True)
class RuntimeStreamStarted:
    """A /response with `Lambda-Runtime-Function-Response-Mode: streaming` began (lambda-spec §1.8): its first
    bytes may go to the caller; from now on /error is refused."""

    token: Token
    request_id: str
    content_type: str
    arrived: Optional[float] = None  # as RuntimeNext's
    connection: int = 0  # as RuntimeNext's


@dataclass(frozen=True)
class RuntimeStreamEnded:
    """The streamed /response is over: all of it (`body` when the caller does not stream, else b""), `size` bytes
    sent, and the error its trailers declared (lambda-spec §1.8), if any."""

    token: Token
    request_id: str
    body: bytes
    size: int
    content_type: str
    error_type: Optional[str] = None
    error_body: bytes = b""
    truncated: bool = False  # the runtime hung up before the end of the chunked body
    too_large: bool = False  # past the streamed response's limit: the rest was dropped
    arrived: Optional[float] = None  # as RuntimeNext's: when its last bytes came


@dataclass(frozen=True)
class RuntimeInvocationError:
    """The runtime reported that an invoke failed (POST /runtime/invocation/{id}/error)."""

    token: Token
    request_id: str
    body: bytes
    content_type: str
    error_type: Optional[str]
    truncated: bool = False  # the runtime hung up before the end of the body it declared
    too_large: bool = False  # past the payload limit, as a /response's: the body was dropped
    arrived: Optional[float] = None  # as RuntimeNext's
    connection: int = 0  # as RuntimeNext's


@dataclass(frozen=True)
class RuntimeInitError:
    """The runtime reported that Init failed (POST /runtime/init/error). `arrived`: as RuntimeNext's."""

    token: Token
    body: bytes
    content_type: str
    error_type: Optional[str]
    arrived: Optional[float] = None


@dataclass(frozen=True)
class RuntimeRestoreNext:
    """GET /runtime/restore/next (SnapStart, lambda-spec §1.7)."""

    token: Token


@dataclass(frozen=True)
class RuntimeRestoreError:
    """POST /runtime/restore/error: an after-restore hook failed (lambda-spec §1.7)."""

    token: Token
    body: bytes
    content_type: str
    error_type: Optional[str]


@dataclass(frozen=True)
class FunctionInitGate:
    """Our bootstrap asks whether it may import the handler module (private channel). `arrived`: as RuntimeNext's."""

    token: Token
    arrived: Optional[float] = None


@dataclass(frozen=True)
class InspectionStarted:
    """Our bootstrap begins the globals report (private channel): its time must not count against a deadline.
    `arrived`: as RuntimeNext's."""

    generation: int
    arrived: Optional[float] = None


@dataclass(frozen=True)
class InspectionEnded:
    """The globals report arrived (private channel)."""

    generation: int


@dataclass(frozen=True)
class SandboxSettling:
    """The host holds the spawns of the running phase while the sandbox settles (`settling`: a reset's init not up
    yet, a new keeper's move into the cgroup, the last life's end), then has started them (False): lambdatui's own
    time, which no deadline counts (Lambda starts Init's clock with the runtime's process)."""

    settling: bool


@dataclass(frozen=True)
class ExtensionRegister:
    """An extension registered for `events` (POST /extension/register)."""

    token: Token
    name: str
    events: tuple[str, ...]
    wants_account_id: bool = False


@dataclass(frozen=True)
class ExtensionNext:
    """An extension asked for its next event (GET /extension/event/next). `arrived`: as RuntimeNext's."""

    token: Token
    extension_id: str
    arrived: Optional[float] = None


@dataclass(frozen=True)
class ExtensionInitError:
    """An extension reported that its Init failed (POST /extension/init/error)."""

    token: Token
    extension_id: str
    error_type: str


@dataclass(frozen=True)
class ExtensionExitError:
    """An extension reported an error before it exits (POST /extension/exit/error)."""

    token: Token
    extension_id: str
    error_type: str


@dataclass(frozen=True)
class TelemetrySubscribe:
    """PUT /2022-07-01/telemetry (api "telemetry") or PUT /2020-08-15/logs (api "logs")."""

    token: Token
    extension_id: str  # "" when the Lambda-Extension-Identifier header is missing
    api: str
    body: bytes


@dataclass(frozen=True)
class InvokeOffered:
    """An invoke the fleet offers this environment while it finishes its answered one (host/fleet_routing.py), its
    runtime or an extension not yet back on /next. It is taken the moment the environment is idle, within the input
    that makes it so (the runtime's /next, or the last extension's), so that the event goes out in that batch with no
    task between; it is handed back (`HandBack`) after `wait_s` on the environment's own clock (what is left of its
    grace, fleet_rules.FINISHING_GRACE_S), or at once when the environment turns to anything but idle (a reset, a
    shutdown, a hold at a boundary), for the fleet to route again. Nothing is told of it until it is taken."""

    token: Optional[Token]
    invocation: Invocation
    wait_s: float


@dataclass(frozen=True)
class RequestAbandoned:
    """The HTTP client behind a parked request went away."""

    token: Token


@dataclass(frozen=True)
class LaunchFailed:
    """A participant's process could not be started (or the snapshot restored); `message` says why."""

    participant: str
    generation: int
    message: str


@dataclass(frozen=True)
class ProcessExited:
    """A participant's process ended; `generation` is the Init that started it."""

    participant: str
    generation: int
    description: str  # "exit status 0", "signal: killed"
    code: Optional[int] = None
    out_of_memory: bool = False  # SIGKILLed for the environment's memory limit (the host's cgroup or watcher says)
    exited_at: Optional[float] = None  # when it ended, where the host heard of it later (as RuntimeNext.arrived)


@dataclass(frozen=True)
class ConnectionClosed:
    """A connection to the sandbox's APIs on which the runtime asked for work ended (Managed Instances only): its
    worker, if it lives on, asks again on a new one (after a refused /response, which closes the connection, or in a
    runtime that opens one per call)."""

    connection: int


@dataclass(frozen=True)
class WorkerExited:
    """Our runtime's parent process says one of its workers ended (private channel; Lambda Managed Instances only).

    Lambda sees the runtime process, not its workers: this is what lambdatui shows, not what Lambda decides on."""

    generation: int
    pid: int
    code: Optional[int]  # the exit code, or None when a signal ended it
    description: str  # "exit status 3", "signal: killed"
    request_id: Optional[str]  # the invoke it was running, if any


@dataclass(frozen=True)
class StacksDumped:
    """Our bootstrap wrote the stacks `CaptureStacks` asked for and stopped itself; it lives, and no kill is on its
    way to it: whether it goes on is the core's to say (a `Thaw`), as for any stopped process."""


@dataclass(frozen=True)
class TimerFired:
    """A timer the core started (`StartTimer`) came due."""

    name: str


@dataclass(frozen=True)
class ShutdownRequested:
    """Spin the environment down for good (lambdatui is ending)."""


@dataclass(frozen=True)
class DrainRequested:
    """lambdatui is ending, after the Event invokes it accepted: no invoke is taken any more, the synchronous
    ones still queued are answered now, the queued events keep running (ShutdownRequested follows)."""


@dataclass(frozen=True)
class NewEnvironmentRequested:
    """The next invoke cold-starts a fresh environment (the host swaps /tmp)."""


@dataclass(frozen=True)
class BreakpointsSet:
    """The debugger sets the boundaries to hold at, all of them (empty: none)."""

    boundaries: frozenset[Boundary] = field(default_factory=frozenset)


@dataclass(frozen=True)
class StepRequested:
    """Release the held boundary and hold at the next one."""


@dataclass(frozen=True)
class ContinueRequested:
    """Release the held boundary and run until the environment waits for an invoke."""


@dataclass(frozen=True)
class DebuggerSuspended:
    """The debugger stops (Ctrl-Z: `suspended`) or is back (`fg`): lambdatui does nothing meanwhile, not even read the
    function's output."""

    suspended: bool


@dataclass(frozen=True)
class FaultRequested:
    """The user asks for a fault (model/faults.py): at once, or armed for its boundary."""

    fault: Fault


Input = Union[
    StartEnvironment,
    InvokeRequested,
    RuntimeNext,
    RuntimeResponse,
    RuntimeStreamStarted,
    RuntimeStreamEnded,
    RuntimeInvocationError,
    RuntimeInitError,
    RuntimeRestoreNext,
    RuntimeRestoreError,
    FunctionInitGate,
    InspectionStarted,
    InspectionEnded,
    SandboxSettling,
    ExtensionRegister,
    ExtensionNext,
    ExtensionInitError,
    ExtensionExitError,
    TelemetrySubscribe,
    InvokeOffered,
    RequestAbandoned,
    LaunchFailed,
    ProcessExited,
    WorkerExited,
    ConnectionClosed,
    StacksDumped,
    TimerFired,
    ShutdownRequested,
    DrainRequested,
    NewEnvironmentRequested,
    BreakpointsSet,
    StepRequested,
    ContinueRequested,
    FaultRequested,
    DebuggerSuspended,
]
