"""A scenario as data: the function it runs, then steps that each do one thing and may check what followed.

Parsed from TOML by `parse.py`, run against a controller by `run.py`, written by `record.py`. Every value
here is already validated: a `Step` holds exactly one action, expectations only where they make sense.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary
from lambdatui.model.faults import Fault
from lambdatui.model.fleet import DEFAULT_CONCURRENCY

MAX_PAUSE_S = 60.0
# A parallel step starts up to this many environments of real processes at once: lambdatui's default limit.
MAX_PARALLEL = DEFAULT_CONCURRENCY

# The names a scenario uses for faults, mapped by `parse.py` to `lambdatui.model.faults`.
FAULT_NAMES = ("crash", "freeze", "thaw", "timeout", "raise", "init-error")


@dataclass(frozen=True)
class FunctionSettings:
    """The scenario's `[function]` table; an option given on the command line wins over each of these."""

    timeout: Optional[int] = None
    memory: Optional[int] = None
    handler: Optional[str] = None
    env: Mapping[str, str] = field(default_factory=dict)
    # The fleet (lambda-spec §11); None: not set here (the command line's, else lambdatui's default).
    concurrency: Optional[int] = None
    provisioned: Optional[int] = None
    idle_shutdown: Optional[float] = None  # seconds; a scenario sets it or leaves idle environments alone
    snapstart: Optional[bool] = None  # SnapStart (lambda-spec §4.8): Init once into a snapshot, restore the rest
    max_concurrency: Optional[int] = None  # Managed Instances (lambda-spec §11.3): invokes at once per environment
    # A failed Event invoke's retries (EventInvokeConfig; core/event_retries.py), as --maximum-retry-attempts,
    # --maximum-event-age and --retry-wait give them.
    retry_attempts: Optional[int] = None
    max_event_age: Optional[int] = None
    retry_wait: Optional[float] = None


@dataclass(frozen=True)
class Caller:
    """What an invoke's caller sent besides the event and reached the function: `client_context` (the JSON text
    of X-Amz-Client-Context, decoded: `context.client_context`), `qualifier` (the version or alias it named:
    `context.invoked_function_arn` ends with it) and `trace_header` (its X-Amzn-Trace-Id: `_X_AMZN_TRACE_ID`)."""

    client_context: Optional[str] = None
    qualifier: str = ""
    streamed: bool = False
    """It took the response as a stream (InvokeWithResponseStream, a function URL): a stream's limits and errors."""
    hung_up_after: Optional[int] = None
    """A streaming caller that hung up mid-stream, having taken this many bytes: the rest goes unpaced."""
    stopped_reading_after: Optional[int] = None
    """A streaming caller that took this many bytes and read no more while the invoke ran: it holds the runtime back."""
    trace_header: str = ""
    """The X-Amzn-Trace-Id it sent; "" for none: lambdatui makes one for the invoke (not sampled), as Lambda does."""


NO_CALLER = Caller()


def streamed_text(streamed: bool, hung_up_after: Optional[int] = None, stopped_reading_after: Optional[int] = None
                  ) -> str:
    """How a caller took the response, as a scenario says it: false, true, `{ hung_up_after = N }` (it hung up
    mid-stream) or `{ stopped_reading_after = N }` (it held the runtime back until the invoke ended)."""
    if streamed and hung_up_after is not None:
        return f"{{ hung_up_after = {hung_up_after} }}"
    if streamed and stopped_reading_after is not None:
        return f"{{ stopped_reading_after = {stopped_reading_after} }}"
    return "true" if streamed else "false"


@dataclass(frozen=True)
class InvokeAction:
    """A step's `invoke` (or `event_file`): one invoke with this event, synchronous unless
    `invocation_type = "Event"` (the caller gets its 202; the step still waits for the function to run it)."""

    event: bytes  # JSON text, as the function receives it
    # `env = N`: sent to environment #N when it can take it now (as a recording routes one that met busy
    # environments in the session); None, or #N busy or gone: the fleet routes it as usual.
    env: Optional[int] = None
    asynchronous: bool = False
    caller: Caller = field(default_factory=lambda: NO_CALLER)
    # `worker = N` (Managed Instances): given to the environment's worker #N, as a recording gives it to the one that
    # took it in the session (each worker has its own globals); 0: whichever waits longest, as in Lambda.
    worker: int = 0
    # `retries = N` (an Event invoke that failed): the fleet ran it again N times in the session, which the replay's
    # end waits for (one the session's end cut off is not waited for: it is named as not run there too).
    retries: int = 0
    # `after_retries = N`: the retries of earlier failed Event invokes that had ended when it came in the session;
    # a replay waits for as many before it sends it (they ran in the environments it met).
    after_retries: int = 0


@dataclass(frozen=True)
class ParallelAction:
    """Invokes fired together: each is placed (given its environment or its throttle) in the order written,
    before the next is sent, so that which one cold-starts, reuses or is throttled does not depend on luck."""

    events: tuple[bytes, ...]
    asynchronous: tuple[bool, ...] = ()  # `invocation_types`, by position (empty: every one synchronous)
    callers: tuple[Caller, ...] = ()  # `client_contexts`, `qualifiers`..., by position (empty: NO_CALLER each)
    envs: tuple[int, ...] = ()  # `envs`, by position: each sent as an invoke step's `env = N` is (0, or empty: routed)
    workers: tuple[int, ...] = ()  # `workers`, by position: each given as an invoke step's `worker = N` is (0: any)
    retries: int = 0  # `retries = N`: as an invoke step's, for all of its Event invokes together
    after_retries: int = 0  # `after_retries = N`: as an invoke step's


@dataclass(frozen=True)
class FaultAction:
    """A step's `fault`: inject it into environment `env` (model/faults.py)."""

    fault: Fault
    name: str  # as written: "crash", "init-error"...
    env: Optional[int] = None  # `env = N`: environment #N of the fleet; None: env #1 (or the first one alive)


@dataclass(frozen=True)
class NewEnvironmentAction:
    """A step's `new_environment`: environment `env`'s next invoke cold-starts a fresh one."""

    env: Optional[int] = None


@dataclass(frozen=True)
class ShutdownAction:
    """A step's `shutdown`: spin down environment `env`, or the whole fleet."""

    env: Optional[int] = None  # None: every environment (the fleet shuts down); N: env #N leaves the fleet


@dataclass(frozen=True)
class PauseAction:
    """A step's `pause`: let `seconds` pass while nothing is invoked (an idle environment sits frozen)."""

    seconds: float


Action = Union[InvokeAction, ParallelAction, FaultAction, NewEnvironmentAction, ShutdownAction, PauseAction]

_NOT_GIVEN: Any = object()

# A value inside a JSON response, as the keys that lead to it: "body.id" is ("body", "id").
ResponsePath = tuple[str, ...]


@dataclass(frozen=True)
class TelemetryExpect:
    """`expect.telemetry`: the record types one extension received for the step's invoke, in order."""

    extension: str
    types: tuple[str, ...]
    exact: bool = False  # no other record between or around them


@dataclass(frozen=True)
class Expect:
    """What must hold after a step; a field left at None is not checked."""

    response: Any = _NOT_GIVEN  # a JSON value (None is JSON null, so "not given" has its own marker)
    response_exact: bool = False  # compare the whole object, not only the keys `response` names
    error_type: Optional[str] = None
    succeeded: Optional[bool] = None  # the invoke returned a response, not an error (what is in it aside)
    # Its caller had a response, then the invoke failed (REPORT's error type, or "timeout"): an extension's exit/error
    # or its work past the timeout, after the answer.
    failed_after: Optional[str] = None
    cold: Optional[bool] = None
    globals: Optional[Mapping[str, str]] = None
    tmp: Optional[tuple[str, ...]] = None
    tmp_absent: Optional[tuple[str, ...]] = None
    shutdown_reason: Optional[str] = None
    phases: Optional[tuple[Boundary, ...]] = None
    telemetry: Optional[tuple[TelemetryExpect, ...]] = None  # one per extension
    each: Optional[tuple["Expect", ...]] = None  # a parallel step's invokes, by position
    # A parallel step's invokes compared with one another: values in their responses, each a path of keys
    # ("id", "body.user"), the same in every invoke, or different in each.
    same: Optional[tuple[ResponsePath, ...]] = None
    distinct: Optional[tuple[ResponsePath, ...]] = None
    # The fleet during the step (counts: the fleet's counters after it minus before it) and after it.
    environments: Optional[int] = None  # alive once the step has settled
    cold_starts: Optional[int] = None
    warm_hits: Optional[int] = None
    throttled: Optional[int] = None
    spun_down: Optional[int] = None

    @property
    def has_response(self) -> bool:
        return self.response is not _NOT_GIVEN

    def keys(self) -> tuple[str, ...]:
        """The checked keys, in the order they are checked: each invoke's before the step's counts, since an
        invoke that went wrong explains a count that is off."""
        names = []
        if self.has_response:
            names.append("response")
        for name in ("error_type", "succeeded", "failed_after", "cold", "globals", "tmp", "tmp_absent", "shutdown_reason", "phases", "telemetry",
                     "each", *ACROSS_KEYS, *FLEET_KEYS):
            if getattr(self, name) is not None:
                names.append(name)
        return tuple(names)

    def fleet_keys(self) -> tuple[str, ...]:
        return tuple(name for name in FLEET_KEYS if getattr(self, name) is not None)


# Step-level expectations on the fleet; every one but `environments` counts what happened during the step.
FLEET_KEYS = ("environments", "cold_starts", "warm_hits", "throttled", "spun_down")
# Step-level expectations that compare a parallel step's invokes with one another.
ACROSS_KEYS = ("same", "distinct")


NO_EXPECT = Expect()


@dataclass(frozen=True)
class Step:
    """One `[[step]]` of the scenario: its action, and what must hold after it."""

    number: int  # 1-based, as the user counts them
    line: int  # of its [[step]] header, for messages
    action: Action
    expect: Expect = NO_EXPECT


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file: the function it runs and its steps, in order."""

    path: Path
    function: FunctionSettings
    steps: tuple[Step, ...]

    def where(self, step: Step) -> str:
        return f"{self.path}:{step.line}"


def failed_after(result: Optional[f.InvocationResult], report: Optional[f.InvokeReported]) -> Optional[str]:
    """How an invoke whose caller had a response then failed (REPORT's error type, else its status), or None:
    `expect.failed_after`, as the recorder writes it and a replay compares it."""
    if result is None or result.function_error or report is None or report.status == "success":
        return None
    return report.error_type or report.status
