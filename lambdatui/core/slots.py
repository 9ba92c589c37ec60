"""What the core remembers about each participant and each phase in flight."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from lambdatui.core.extension_machine import ExtensionState
from lambdatui.core.inputs import Instant, Invocation, Token
from lambdatui.core.runtime_machine import RuntimeState
from lambdatui.model import error_types as et
from lambdatui.model.boundaries import ShutdownReason
from lambdatui.model.facts import InvocationResult
from lambdatui.model.telemetry import Subscription


Mark = tuple[Instant, float]  # an instant, and the environment's held total then (clock_rules._mark)


@dataclass
class RuntimeSlot:
    """What the core knows of the runtime: its Runtime API state, whether its process runs, what it parks on."""

    state: RuntimeState = RuntimeState.NOT_STARTED
    alive: bool = False
    parked: Optional[Token] = None
    parked_since: Optional[float] = None
    gate: Optional[Token] = None  # our bootstrap waiting to import the handler module
    init_error_type: Optional[str] = None
    init_error_body: Optional[bytes] = None
    init_error_content_type: Optional[str] = None  # forwarded with its body to the caller (lambda-spec §1.5, §1.6)


@dataclass
class ExtensionSlot:
    """What the core knows of one extension, launched (`external`) or internal: registration, state, what it
    parks on, its telemetry subscription."""

    name: str
    external: bool
    state: ExtensionState = ExtensionState.NOT_LAUNCHED
    id: Optional[str] = None
    events: tuple[str, ...] = ()
    alive: bool = False
    parked: Optional[Token] = None
    parked_since: Optional[float] = None
    pending: Optional[bytes] = None  # an event to hand over as soon as it parks
    fatal_type: Optional[str] = None  # the platform's error for its report: Extension.InitError / ExitError
    # The type it declared in Lambda-Extension-Function-Error-Type: what platform.extension and the EXTENSION line
    # say went wrong (RAPID keeps it as the agent's errorType), while INIT_REPORT, REPORT and the caller say fatal_type.
    declared_error_type: Optional[str] = None
    shutdown_notified: bool = False
    subscription: Optional[Subscription] = None  # its Telemetry or Logs API subscription

    @property
    def registered(self) -> bool:
        return self.id is not None

    @property
    def reported_error_type(self) -> Optional[str]:
        """Its errorType as the platform reports the extension (platform.extension, the EXTENSION line)."""
        if self.state is ExtensionState.LAUNCH_ERROR:
            return et.EXTENSION_LAUNCH_ERROR
        return self.declared_error_type or self.fatal_type  # an injected init/error declares no type of its own

    def subscribed(self, event: str) -> bool:
        return event in self.events


@dataclass
class InitRun:
    """The Init in flight (on-demand, suppressed inside an invoke, or a SnapStart restore) and how far it got."""

    phase: str  # "init" (on-demand Init, 10 s) or "invoke" (suppressed Init inside an invoke)
    started: Instant
    held_before: float  # total held seconds when it started, to exclude holds from durations
    sub_phase: str = "extensions"
    runtime_started: Optional[tuple[Instant, float]] = None  # when the runtime was launched (a restore bills from there)
    runtime_restored: Optional[tuple[Instant, float]] = None  # SnapStart: when /restore/next returned in a restored environment
    runtime_done: Optional[tuple[Instant, float]] = None  # SnapStart: when the restored runtime asked for its first event
    # How long the runtime's calls (the Function-init gate, the first /next) waited for a host still starting: a
    # runtime started ahead of it (StartEnvironment.started) would not have waited in Lambda.
    waited_s: float = 0.0


@dataclass
class InvokeRun:
    """The invoke in flight: its event and caller, its deadline, its result, and the marks its spans measure from."""

    invocation: Invocation
    token: Optional[Token]
    started: Instant
    held_before: float
    deadline_wall_ms: int = 0
    delivered: bool = False
    result: Optional[InvocationResult] = None
    completed: bool = False  # the caller already has its answer
    init_duration_ms: Optional[float] = None  # set on the first invoke after an on-demand cold start
    restore: Optional[tuple[float, int]] = None  # SnapStart: (restore duration, billed ms) on the first after one
    ran_init: bool = False  # a suppressed Init ran inside this invoke
    # What the telemetry records measure (platform.runtimeDone, platform.report), as marks: (when, time held so
    # far), so that their spans leave holds and inspections out (clock_rules._mark).
    delivered_at: Optional[Mark] = None  # the event went out to the runtime
    responded_at: Optional[Mark] = None  # its /response or /error arrived (a streamed /response: its end)
    stream_started_at: Optional[Mark] = None  # a streamed /response began: its first bytes went out
    called_response: bool = False  # it called /response (not /error)
    produced_bytes: int = 0  # the /response body's size
    runtime_error_type: Optional[str] = None  # what it answered was an error: its type, as the platform records it
    runtime_done_at: Optional[Mark] = None  # RuntimeDone was emitted


@dataclass
class ShutdownRun:
    """The shutdown or reset in flight: why, whether for good (`final`), and its deadline."""

    reason: ShutdownReason
    final: bool  # spindown for good, versus a reset after which the environment re-initialises
    started: Instant
    held_before: float
    deadline_wall_ms: int = 0
    extensions_notified: bool = False


@dataclass
class Hold:
    """Where the debugger holds the lifecycle: the boundary, and what it was reached with."""

    boundary: object
    detail: str = ""  # what the boundary is about (a request id): which invoke goes on when it is released


_PLATFORM_ERROR_TYPE = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")


def sanitize_error_type(value: Optional[str]) -> str:
    """What the platform records for a runtime-supplied error type (lambda-spec §1.5)."""
    if value and _PLATFORM_ERROR_TYPE.search(value):
        return value
    if value and value.startswith("Function."):
        return et.FUNCTION_UNKNOWN
    return et.RUNTIME_UNKNOWN
