"""One execution environment's lifecycle (lambda-spec §1-§4), as a pure state machine.

`Environment.handle(input, now)` returns the effects the host must carry out. Every wait is a
parked request: holding at a boundary is simply not proceeding, with processes frozen and timers
paused so that the time a user spends looking does not count against any Lambda deadline.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Optional

from lambdatui.core.common import (
    EXTERNAL_SHUTDOWN_BUDGET_MS,
    JSON,
    SPINDOWN_WAIT_TIMER,
    EnvironmentConfig,
    error_body,
    json_bytes,
)
from lambdatui.core.effects import (
    RUNTIME,
    Effect,
    Emit,
    Freeze,
    RenewSandbox,
    Reply,
    Thaw,
    extension_key,
)
from lambdatui.core.clock_rules import HOLD, ClockRules
from lambdatui.core.extension_api_rules import ExtensionApiRules
from lambdatui.core.fault_rules import SNAPSHOT_KEPT, FaultRules
from lambdatui.core.init_rules import InitRules
from lambdatui.core.inputs import (
    BreakpointsSet,
    ContinueRequested,
    Input,
    Instant,
    Invocation,
    NewEnvironmentRequested,
    ShutdownRequested,
    StepRequested,
    Token,
)
from lambdatui.core.invoke_rules import InvokeRules
from lambdatui.core.offer_rules import OfferRules
from lambdatui.core.process_rules import ProcessRules
from lambdatui.core.restore_rules import RestoreRules
from lambdatui.core.stream_rules import StreamRules
from lambdatui.core.runtime_api_rules import RuntimeApiRules
from lambdatui.core.shutdown_rules import ShutdownRules
from lambdatui.core.snapshot_view import SnapshotView
from lambdatui.core.telemetry_rules import TelemetryRules
from lambdatui.core.slots import (
    ExtensionSlot,
    Hold,
    InitRun,
    InvokeRun,
    RuntimeSlot,
    ShutdownRun,
)
from lambdatui.ids import new_uuid
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary, EnvState, ShutdownReason


_OK = json_bytes({"status": "OK"})  # every 202 of the Runtime API: encoded once


class Environment(ClockRules, InitRules, RestoreRules, RuntimeApiRules, StreamRules, ExtensionApiRules, TelemetryRules,
                  InvokeRules, OfferRules, ProcessRules, FaultRules, ShutdownRules, SnapshotView):
    """The state of one environment, and the rules that change it.

    The rules live in one module per concern (clock_rules, init_rules, runtime_api_rules, extension_api_rules,
    telemetry_rules, invoke_rules, process_rules, fault_rules, shutdown_rules), each a class of methods on this
    state, and what the UI is shown of it in snapshot_view; this class holds the state, the entry point, the helpers
    they share, holding at boundaries and the user's commands. Every input type has one handler, `_on_<InputName>`, in exactly one of them.
    """

    def __init__(self, config: EnvironmentConfig, new_id: Callable[[], str] = new_uuid) -> None:
        self.config = config
        self._new_id = new_id
        self.state = EnvState.COLD
        self.generation = 0
        # The generations before this environment's own (a replaced one's, `N`): its processes are told from theirs
        # by `generation`, which never goes back, and counted from 1 for the user (EnvironmentSnapshot.own_generation).
        self.generation_base = 0
        self.fresh = True  # the next Init is an on-demand cold start, not a suppressed re-init
        self.runtime = RuntimeSlot()
        self.extensions: dict[str, ExtensionSlot] = {}
        self.registration_open = False
        self.queue: deque[tuple[Optional[Token], Invocation]] = deque()
        self.init: Optional[InitRun] = None
        self.current: Optional[InvokeRun] = None
        self.shutdown: Optional[ShutdownRun] = None
        self.resets_begun = 0  # shutdown runs begun so far: tells a step that its phase ended under it
        self.pending_init_duration_ms: Optional[float] = None
        self.pending_restore: Optional[tuple[float, int]] = None  # SnapStart: for the first REPORT after a restore
        self.renew_sandbox = False
        self.frozen = False
        # An invoke offered while it finishes its last (core/offer_rules.py): taken once idle, never told until then.
        self.offered: Optional[tuple[Optional[Token], Invocation]] = None
        self.timers: dict[str, float] = {}  # running deadlines: name -> when (monotonic)
        self.pauses: set[str] = set()  # what stops the deadlines now: a hold, an inspection, a settling sandbox
        self.suspend_froze = False  # the debugger's stop froze the environment (ClockRules), which its return undoes
        self.paused_timers: dict[str, float] = {}  # stopped deadlines: name -> seconds left
        self.paused_since: Optional[float] = None
        self.breakpoints: frozenset[Boundary] = frozenset()
        self.stepping = False
        self.hold: Optional[Hold] = None
        self.held_total = 0.0
        self.held_until = float("-inf")  # held only after this: the end of the last hold (a pause, a late hearing), or
        # the arrival of a call heard while the rest of the phase worked (clock_rules._heard_late)
        self.invocations_done = 0
        self.spindown_after_invoke = False
        self.draining = False  # ending after the queued Event invokes: no invoke is taken any more
        self.armed: list[flt.Fault] = []  # faults waiting for their boundary
        self.after_delivery: list[flt.Fault] = []  # armed with after_ms, invoke.start reached: waiting for delivery
        self.delayed: dict[str, flt.Fault] = {}  # counting their after_ms since delivery: timer name -> fault
        self.user_frozen: set[str] = set()  # participants the user froze: the environment's thaw leaves them stopped
        self.inspection_waiting = False  # the runtime reports its globals; the clock stops once no extension works
        self.raise_next: Optional[tuple[str, str]] = None  # (exception type, message) for the handler's next entry
        self.init_error_pending: set[str] = set()  # extensions that will report init/error when they register
        # The first init/error or exit/error an extension reported since Init began (forgotten when a shutdown
        # begins), and who: the error its phase fails with, whichever process then exits (RAPID's first fatal error;
        # extension_api_rules._keep_first_fatal, process_rules._kept_fatal_error).
        self.first_fatal: Optional[tuple[str, str]] = None
        self.expecting_exit: set[str] = set()  # crashed on request: nothing new starts until the exit plays out
        self.timeout_on_delivery = False  # a deadline forced before the invoke's clock started
        self._now = Instant(0.0, 0)
        self._out: list[Effect] = []

    # ------------------------------------------------------------------ entry point

    def handle(self, event: Input, now: Instant) -> list[Effect]:
        self._now = now
        handler = getattr(self, "_on_" + type(event).__name__)
        handler(event)
        if self.offered is not None:
            self._settle_offer()
        if self.inspection_waiting:
            self._pause_once_extensions_rest()
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------ small helpers

    def _do(self, effect: Effect) -> None:
        self._out.append(effect)

    def _emit(self, fact: f.Fact) -> None:
        self._out.append(Emit(fact))

    def _line(self, text: str, source: str = f.PLATFORM, request_id: Optional[str] = None) -> None:
        self._emit(f.LogLine(source, text, request_id))

    def _explain(self, text: str) -> None:
        self._line(text, f.LAMBDATUI)

    def _reply(self, token: Token, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._do(Reply(token, status, body, (("Content-Type", JSON),) + headers if body else headers))

    def _reply_error(self, token: Token, status: int, error_type: str, message: str) -> None:
        self._reply(token, status, error_body(error_type, message))

    def _reply_ok(self, token: Token) -> None:
        self._reply(token, 202, _OK)

    def _set_state(self, state: EnvState) -> None:
        if state != self.state:
            self.state = state
            self._emit(f.StateChanged(state, self.generation))

    def _alive(self) -> tuple[str, ...]:
        keys = [RUNTIME] if self.runtime.alive else []
        keys += [extension_key(e.name) for e in self.extensions.values() if e.alive]
        return tuple(keys)

    def _freeze(self) -> None:
        alive = self._alive()
        if alive and not self.frozen:
            self.frozen = True
            self._do(Freeze(alive, whole=True))
            self._emit(f.EnvironmentFrozen(alive))

    def _thaw(self) -> None:
        if self.frozen:
            self.frozen = False
            alive = tuple(key for key in self._alive() if key not in self.user_frozen)
            # Even with every participant frozen by the user: the environment's other processes (a function's
            # daemon, lambdatui's init) go on, and those stay stopped.
            self._do(Thaw(alive, whole=True))
            if alive:
                self._emit(f.EnvironmentThawed(alive))

    def _participant_changed(self, key: str, state: object, parked: bool) -> None:
        self._emit(f.ParticipantChanged(key, str(state), parked))

    # ------------------------------------------------------------------ boundaries and holding

    def _reach(self, boundary: Boundary, detail: str = "") -> None:
        if self.init is not None and boundary in (Boundary.INIT_RUNTIME, Boundary.INIT_FUNCTION):
            self.init.sub_phase = "runtime" if boundary is Boundary.INIT_RUNTIME else "function"
        hold = self.stepping or boundary in self.breakpoints
        self._emit(f.BoundaryReached(boundary, held=hold, detail=detail, init_ms=self._init_elapsed_ms()))
        due = [fault for fault in self.armed if fault.at is boundary and self._in_flight_reached(fault)]
        if due:
            # Faults armed for this boundary happen here, once it is reported and before anything goes on.
            self.armed = [fault for fault in self.armed if fault not in due]
            due = self._wait_for_delivery(due)
            resets_before = self.resets_begun
            for fault in due:
                self._inject(fault)
            if self.resets_begun != resets_before:
                # The fault ended the phase: this boundary's continuation is abandoned. The reset it began
                # may already be over, and may even have started the next Init, so a check of
                # `self.shutdown` alone would go on with a continuation that belongs to no phase.
                return
        if hold:
            self.hold = Hold(boundary, detail)
            self._pause_clock(HOLD)
            self._freeze()
            return
        self._proceed(boundary, detail)

    def _abandon_hold(self) -> None:
        """The phase held at ends another way (a failure, a reset, a spindown): drop the hold without going on.

        A hold inside a shutdown is released instead, because the shutdown itself is the way out.
        """
        hold = self.hold
        if hold is None:
            return
        if hold.boundary in (Boundary.SHUTDOWN_START, Boundary.SHUTDOWN_DONE):
            self._release(stepping=self.stepping)
            return
        self.hold = None
        self._resume_clock(HOLD)
        self._emit(f.HoldReleased(hold.boundary))  # type: ignore[arg-type]

    def _release(self, stepping: bool) -> None:
        hold = self.hold
        if hold is None:
            return
        self.hold = None
        self.stepping = stepping
        self._resume_clock(HOLD)
        self._thaw()
        self._emit(f.HoldReleased(hold.boundary))
        self._proceed(hold.boundary, hold.detail)
        # Requests that arrived while held (a /next racing the freeze) may have completed a gate.
        self._check_init_done()
        self._check_invoke_done()
        self._check_shutdown_done()

    def _proceed(self, boundary: Boundary, detail: str = "") -> None:
        """Go on past `boundary`; `detail` is what it was reached with (managed_invoke_rules needs the request id)."""
        if boundary is Boundary.RESTORE_START:
            self._reach(Boundary.INIT_EXTENSIONS)
        elif boundary is Boundary.RESTORE_HOOKS_DONE:
            self._check_init_done()
        elif boundary is Boundary.SNAPSHOT_TAKEN:
            # A snapshot is a memory image: nothing of it runs (its extensions neither) until its shutdown thaws it.
            # The host lets its process run for the moment of each restore, to fork the copy (host/snapshot_restore.py).
            self._set_state(EnvState.SNAPSHOT)
            self._freeze()
        elif boundary is Boundary.INIT_EXTENSIONS:
            self._launch_extensions()
        elif boundary is Boundary.INIT_RUNTIME:
            self._launch_runtime()
        elif boundary is Boundary.INIT_FUNCTION:
            gate, self.runtime.gate = self.runtime.gate, None
            if gate is not None:
                self._reply(gate, 200, json_bytes({}))
        elif boundary is Boundary.INIT_DONE:
            if self.current is not None:  # a suppressed Init goes straight on to its invoke
                self._reach(Boundary.INVOKE_START, self.current.invocation.request_id)
            else:
                self._set_state(EnvState.FROZEN)
                self._settle()
        elif boundary is Boundary.INVOKE_START:
            self._deliver()
        elif boundary is Boundary.INVOKE_RESPONSE:
            self._check_invoke_done()
        elif boundary is Boundary.INVOKE_DONE:
            self._set_state(EnvState.FROZEN)
            if self.spindown_after_invoke:
                self._begin_shutdown(ShutdownReason.SPINDOWN, final=True)
            else:
                self._settle()
        elif boundary is Boundary.SHUTDOWN_START:
            self._shut_down_processes()
        elif boundary is Boundary.SHUTDOWN_DONE:
            self._after_shutdown()

    def _settle(self) -> None:
        """Idle: take the next queued invoke, or freeze until one arrives (lambda-spec §4.7). One offered while it
        finished its last is taken once this input's rules are done (`_settle_offer`): a freeze would be undone
        a tenth of a millisecond later, in the same batch."""
        self._try_start_next()
        if self.current is None and self.state is EnvState.FROZEN and self.offered is None:
            self._freeze()

    # ------------------------------------------------------------------ user commands

    def _on_BreakpointsSet(self, event: BreakpointsSet) -> None:
        self.breakpoints = frozenset(event.boundaries)
        self._emit(f.BreakpointsChanged(self.breakpoints))

    def _on_StepRequested(self, event: StepRequested) -> None:
        if self.hold is not None:
            self._release(stepping=True)
        elif self.state is not EnvState.SHUT_DOWN:
            self.stepping = True  # hold at whatever boundary comes next

    def _on_ContinueRequested(self, event: ContinueRequested) -> None:
        self.stepping = False
        self._release(stepping=False)

    def _on_NewEnvironmentRequested(self, event: NewEnvironmentRequested) -> None:
        if self.state is EnvState.SNAPSHOT:
            self._emit(f.NewEnvironmentAnswered(False, f"Not replaced: {SNAPSHOT_KEPT}"))
            return
        if (self.state in (EnvState.SHUT_DOWN, EnvState.SHUTTING_DOWN) or self.spindown_after_invoke
                or (self.shutdown is not None and self.shutdown.final)):
            ending = "is shut down" if self.state is EnvState.SHUT_DOWN else "is shutting down (SHUTDOWN spindown)"
            self._emit(f.NewEnvironmentAnswered(False, f"Not replaced: this environment {ending} for good, so there "
                                                       "is nothing to replace."))
            return
        self.renew_sandbox = True
        self._emit(f.NewEnvironmentAnswered(True, "Replaced: this environment ends (extensions get SHUTDOWN) and a "
                                                  "new one takes its place, with a new number and an empty /tmp; its "
                                                  "next invoke cold-starts."))
        self._abandon_hold()
        if not self.renew_sandbox:
            # Releasing a hold at the end of a reset finished it, renewing the sandbox on the way out (and
            # perhaps starting a queued invoke's Init in it): that is the new environment already.
            return
        if self.state is EnvState.COLD and self.shutdown is None:
            self._renew()
        else:
            self._begin_shutdown(ShutdownReason.SPINDOWN, final=False)

    def _on_ShutdownRequested(self, event: ShutdownRequested) -> None:
        if self.state is EnvState.SHUT_DOWN:
            return
        # lambdatui is ending: no boundary may hold the way out.
        if self.breakpoints:
            self.breakpoints = frozenset()
            self._emit(f.BreakpointsChanged(self.breakpoints))
        self.stepping = False
        was_held = self.hold is not None
        self._abandon_hold()
        if (not was_held and self.current is not None and self.current.result is not None
                and self.shutdown is None):
            # The caller has its answer: let extensions finish the invoke before spinning down, within the
            # shutdown's budget (an extension that works on, or that the user froze, must not hold lambdatui's exit:
            # SPINDOWN_WAIT_TIMER). A caller queued behind it would only wait for that end (a runtime that never
            # asks again: for good).
            if not self.spindown_after_invoke:  # asked again: the first request's wait goes on
                self.spindown_after_invoke = True
                self._start_timer(SPINDOWN_WAIT_TIMER, EXTERNAL_SHUTDOWN_BUDGET_MS / 1000)
            self._answer_queued_callers()
            return
        self._begin_shutdown(ShutdownReason.SPINDOWN, final=True)

    def _renew(self) -> None:
        self.renew_sandbox = False
        self.fresh = True
        self.invocations_done = 0  # a new environment (a number of its own): the old one's invokes are not its own
        self.generation_base = self.generation  # nor its processes
        self._do(RenewSandbox())
        self._explain("New execution environment: the next invoke cold-starts with an empty /tmp.")

    def settled(self) -> bool:
        """Waiting for the user or for an invoke: held at a boundary, or idle with nothing in flight.

        An injected crash counts as in flight until its exit has played out.
        """
        if self.expecting_exit:
            return False
        if self.hold is not None:
            return True
        if self.current is not None or self.queue or self.offered or self.shutdown is not None or self.init is not None:
            return False
        return self.state in (EnvState.FROZEN, EnvState.COLD, EnvState.SHUT_DOWN, EnvState.SNAPSHOT)


def environment_for(config: EnvironmentConfig, new_id: Callable[[], str] = new_uuid) -> Environment:
    """The environment `config` asks for: Managed Instances when it sets a maximum concurrency, else one invoke at a
    time. Managed Instances' rules are loaded by the first environment that needs them (~1 % of `invoke`'s start)."""
    if config.managed:
        from lambdatui.core.managed_environment import ManagedEnvironment

        return ManagedEnvironment(config, new_id)
    return Environment(config, new_id)
