"""One execution environment's lifecycle (lambda-spec §1-§4), as a pure state machine.

`Environment.handle(input, now)` returns the effects the host must carry out. Every wait is a
parked request: holding at a boundary is simply not proceeding, with processes frozen and timers
paused so that the time a user spends looking does not count against any Lambda deadline.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional

from lambdatui.core import platform_lines as lines
from lambdatui.core.effects import (
    RUNTIME,
    CancelTimer,
    CaptureStacks,
    CompleteInvocation,
    ExitProcess,
    SignalProcess,
    Effect,
    Emit,
    Freeze,
    Kill,
    RenewSandbox,
    Reply,
    Spawn,
    StartTimer,
    Terminate,
    Thaw,
    extension_key,
)
from lambdatui.core.extension_machine import ExtensionCall, ExtensionState, ExtensionTransitionNotAllowed
from lambdatui.core.extension_machine import transition as extension_transition
from lambdatui.core.inputs import (
    BreakpointsSet,
    ContinueRequested,
    ExtensionExitError,
    ExtensionInitError,
    ExtensionNext,
    ExtensionRegister,
    FaultRequested,
    FunctionInitGate,
    Input,
    Instant,
    Invocation,
    InvokeRequested,
    LaunchFailed,
    NewEnvironmentRequested,
    ProcessExited,
    RequestAbandoned,
    RuntimeInitError,
    RuntimeInvocationError,
    RuntimeNext,
    RuntimeResponse,
    ShutdownRequested,
    StartEnvironment,
    StepRequested,
    TimerFired,
    Token,
)
from lambdatui.core.runtime_machine import RuntimeCall, RuntimeState, TransitionNotAllowed
from lambdatui.core.runtime_machine import transition as runtime_transition
from lambdatui.core.slots import ExtensionSlot, Hold, InitRun, InvokeRun, RuntimeSlot, ShutdownRun, sanitize_error_type
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary, EnvState, ShutdownReason
from lambdatui.model.snapshot import EnvironmentSnapshot, ParticipantView

INIT_TIMER = "init"
INVOKE_TIMER = "invoke"
RUNTIME_STOP_TIMER = "runtime-stop"
SHUTDOWN_TIMER = "shutdown"

EXTERNAL_SHUTDOWN_BUDGET_MS = 2000
INTERNAL_SHUTDOWN_BUDGET_MS = 500
RUNTIME_SHUTDOWN_SHARE_MS = 300
JSON = "application/json"


@dataclass(frozen=True)
class EnvironmentConfig:
    function_name: str
    handler: str
    timeout_ms: int
    memory_mb: int
    extension_names: tuple[str, ...] = ()
    function_version: str = "$LATEST"
    region: str = "us-east-1"
    account_id: str = "012345678912"
    init_timeout_ms: int = 10_000
    runtime_version: str = "python:3"
    uses_init_gate: bool = False  # our bootstrap asks before importing the handler module

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def runtime_version_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}::runtime:lambdatui-{self.runtime_version.replace(':', '-')}"


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _error_body(error_type: str, message: str) -> bytes:
    return _json({"errorMessage": message, "errorType": error_type})


class Environment:
    def __init__(self, config: EnvironmentConfig, new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.config = config
        self._new_id = new_id
        self.state = EnvState.COLD
        self.generation = 0
        self.fresh = True  # the next Init is an on-demand cold start, not a suppressed re-init
        self.runtime = RuntimeSlot()
        self.extensions: dict[str, ExtensionSlot] = {}
        self.registration_open = False
        self.queue: deque[tuple[Optional[Token], Invocation]] = deque()
        self.init: Optional[InitRun] = None
        self.current: Optional[InvokeRun] = None
        self.shutdown: Optional[ShutdownRun] = None
        self.pending_init_duration_ms: Optional[float] = None
        self.renew_sandbox = False
        self.frozen = False
        self.timers: dict[str, float] = {}
        self.breakpoints: frozenset[Boundary] = frozenset()
        self.stepping = False
        self.hold: Optional[Hold] = None
        self.held_total = 0.0
        self.invocations_done = 0
        self.spindown_after_invoke = False
        self.armed: list[flt.Fault] = []  # faults waiting for their boundary
        self.user_frozen: set[str] = set()  # participants the user froze: the environment's thaw leaves them stopped
        self.raise_next: Optional[tuple[str, str]] = None  # (exception type, message) for the handler's next entry
        self.init_error_pending: set[str] = set()  # extensions that will report init/error when they register
        self.expecting_exit: set[str] = set()  # crashed on request: nothing new starts until the exit plays out
        self.timeout_on_delivery = False  # a deadline forced before the invoke's clock started
        self._now = Instant(0.0, 0)
        self._out: list[Effect] = []

    # ------------------------------------------------------------------ entry point

    def handle(self, event: Input, now: Instant) -> list[Effect]:
        self._now = now
        handler = getattr(self, "_on_" + type(event).__name__)
        handler(event)
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
        self._reply(token, status, _error_body(error_type, message))

    def _reply_ok(self, token: Token) -> None:
        self._reply(token, 202, _json({"status": "OK"}))

    def _set_state(self, state: EnvState) -> None:
        if state != self.state:
            self.state = state
            self._emit(f.StateChanged(state, self.generation))

    def _elapsed_ms(self, since: Instant, held_before: float) -> float:
        held = self.held_total - held_before
        if self.hold is not None:
            held += self._now.mono - self.hold.since
        return max(0.0, (self._now.mono - since.mono - held) * 1000)

    def _start_timer(self, name: str, seconds: float) -> None:
        at = self._now.mono + seconds
        self.timers[name] = at
        self._do(StartTimer(name, at))

    def _cancel_timer(self, name: str) -> None:
        if self.timers.pop(name, None) is not None:
            self._do(CancelTimer(name))
        if self.hold is not None:
            self.hold.paused_timers.pop(name, None)

    def _timer_left(self, name: str) -> Optional[float]:
        if self.hold is not None and name in self.hold.paused_timers:
            return self.hold.paused_timers[name]
        at = self.timers.get(name)
        return None if at is None else max(0.0, at - self._now.mono)

    def _alive(self) -> tuple[str, ...]:
        keys = [RUNTIME] if self.runtime.alive else []
        keys += [extension_key(e.name) for e in self.extensions.values() if e.alive]
        return tuple(keys)

    def _freeze(self) -> None:
        alive = self._alive()
        if alive and not self.frozen:
            self.frozen = True
            self._do(Freeze(alive))
            self._emit(f.EnvironmentFrozen(alive))

    def _thaw(self) -> None:
        if self.frozen:
            self.frozen = False
            alive = tuple(key for key in self._alive() if key not in self.user_frozen)
            if alive:
                self._do(Thaw(alive))
                self._emit(f.EnvironmentThawed(alive))

    def _participant_changed(self, key: str, state: object, parked: bool) -> None:
        self._emit(f.ParticipantChanged(key, str(state), parked))

    # ------------------------------------------------------------------ boundaries and holding

    def _reach(self, boundary: Boundary, detail: str = "") -> None:
        if self.init is not None and boundary in (Boundary.INIT_RUNTIME, Boundary.INIT_FUNCTION):
            self.init.sub_phase = "runtime" if boundary is Boundary.INIT_RUNTIME else "function"
        hold = self.stepping or boundary in self.breakpoints
        self._emit(f.BoundaryReached(boundary, held=hold, detail=detail))
        due = [fault for fault in self.armed if fault.at is boundary]
        if due:
            # Faults armed for this boundary happen here, once it is reported and before anything goes on.
            self.armed = [fault for fault in self.armed if fault.at is not boundary]
            resetting_before = self.shutdown is not None
            for fault in due:
                self._inject(fault)
            if self.shutdown is not None and not resetting_before:
                return  # the fault ended the phase: this boundary's continuation is abandoned
        if hold:
            self.hold = Hold(boundary, self._now.mono)
            for name in list(self.timers):
                self.hold.paused_timers[name] = max(0.0, self.timers.pop(name) - self._now.mono)
                self._do(CancelTimer(name))
            self._freeze()
            return
        self._proceed(boundary)

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
        self.held_total += self._now.mono - hold.since
        for name, left in hold.paused_timers.items():
            self._start_timer(name, left)  # the phase's deadlines still bound what comes next
        self._emit(f.HoldReleased(hold.boundary))  # type: ignore[arg-type]

    def _release(self, stepping: bool) -> None:
        hold = self.hold
        if hold is None:
            return
        self.hold = None
        self.stepping = stepping
        self.held_total += self._now.mono - hold.since
        for name, left in hold.paused_timers.items():
            self._start_timer(name, left)
        self._thaw()
        self._emit(f.HoldReleased(hold.boundary))
        self._proceed(hold.boundary)
        # Requests that arrived while held (a /next racing the freeze) may have completed a gate.
        self._check_init_done()
        self._check_invoke_done()
        self._check_shutdown_done()

    def _proceed(self, boundary: Boundary) -> None:
        if boundary is Boundary.INIT_EXTENSIONS:
            self._launch_extensions()
        elif boundary is Boundary.INIT_RUNTIME:
            self._launch_runtime()
        elif boundary is Boundary.INIT_FUNCTION:
            gate, self.runtime.gate = self.runtime.gate, None
            if gate is not None:
                self._reply(gate, 200, _json({}))
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
        """Idle: take the next queued invoke, or freeze until one arrives (lambda-spec §4.7)."""
        self._try_start_next()
        if self.current is None and self.state is EnvState.FROZEN:
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
        self.renew_sandbox = True
        if self.state in (EnvState.SHUT_DOWN, EnvState.SHUTTING_DOWN):
            return
        self._abandon_hold()
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
            # The caller has its answer: let extensions finish the invoke before spinning down.
            self.spindown_after_invoke = True
            return
        self._begin_shutdown(ShutdownReason.SPINDOWN, final=True)

    def _renew(self) -> None:
        self.renew_sandbox = False
        self.fresh = True
        self._do(RenewSandbox())
        self._explain("New execution environment: the next invoke cold-starts with an empty /tmp.")

    # ------------------------------------------------------------------ Init

    def _on_StartEnvironment(self, event: StartEnvironment) -> None:
        if self.state is EnvState.COLD and self.shutdown is None and self.init is None:
            self._begin_init("init")

    def _begin_init(self, phase: str) -> None:
        self.generation += 1
        self.init = InitRun(phase, self._now, self.held_total)
        self.runtime = RuntimeSlot()
        self.extensions = {
            name: ExtensionSlot(name, external=True) for name in self.config.extension_names
        }
        self.registration_open = True
        self.frozen = False
        self.user_frozen.clear()
        self.expecting_exit.clear()
        self._set_state(EnvState.INIT)
        if phase == "init":
            self._start_timer(INIT_TIMER, self.config.init_timeout_ms / 1000)
        self._line(lines.init_start(self.config.runtime_version, self.config.runtime_version_arn))
        if self.current is not None:
            self._line(lines.start(self.current.invocation.request_id, self.config.function_version),
                       request_id=self.current.invocation.request_id)
        self._emit(f.PhaseStarted("init", phase, self._now.mono))
        self._reach(Boundary.INIT_EXTENSIONS)

    def _launch_extensions(self) -> None:
        if not self.extensions:
            self._reach(Boundary.INIT_RUNTIME)
            return
        for slot in self.extensions.values():
            slot.state = ExtensionState.STARTED
            slot.alive = True
            self._do(Spawn(extension_key(slot.name), self.generation))
            self._participant_changed(extension_key(slot.name), slot.state, False)

    def _launch_runtime(self) -> None:
        if self.init is not None:
            self.init.sub_phase = "runtime"
        self.runtime.state = RuntimeState.STARTED
        self.runtime.alive = True
        self._do(Spawn(RUNTIME, self.generation))
        self._participant_changed(RUNTIME, self.runtime.state, False)

    def _all_external_registered(self) -> bool:
        return all(s.registered for s in self.extensions.values() if s.external)

    def _check_init_done(self) -> None:
        if self.hold is not None or self.state is not EnvState.INIT or self.init is None:
            return
        if self.runtime.state is not RuntimeState.READY:
            return
        if any(s.state is not ExtensionState.READY for s in self.extensions.values() if s.registered):
            return
        init, self.init = self.init, None
        self._cancel_timer(INIT_TIMER)
        duration = self._elapsed_ms(init.started, init.held_before)
        for slot in self.extensions.values():
            if slot.registered:
                self._line(lines.extension(slot.name, slot.state.value, slot.events))
        self._emit(f.PhaseEnded("init", "success", duration, at=self._now.mono))
        if init.phase == "init":
            self.pending_init_duration_ms = duration
        self._reach(Boundary.INIT_DONE)

    def _on_FunctionInitGate(self, event: FunctionInitGate) -> None:
        if self.state is EnvState.INIT and self.runtime.state is RuntimeState.STARTED and self.runtime.gate is None:
            self.runtime.gate = event.token
            if self.init is not None:
                self.init.sub_phase = "function"
            self._reach(Boundary.INIT_FUNCTION)
        else:
            self._reply(event.token, 200, _json({}))

    def _fail_init(self, error_type: Optional[str], detail: str, status: str = "error") -> None:
        init, self.init = self.init, None
        if init is None:
            return
        self._cancel_timer(INIT_TIMER)
        duration = self._elapsed_ms(init.started, init.held_before)
        self._line(lines.init_report(duration, init.phase, status, error_type if status == "error" else None))
        self._emit(f.PhaseEnded("init", status, duration, error_type, at=self._now.mono))
        if detail:
            self._explain(detail)
        self.fresh = False
        reason = ShutdownReason.TIMEOUT if status == "timeout" else ShutdownReason.FAILURE
        run = self.current
        if init.phase == "invoke" and run is not None:
            request_id = run.invocation.request_id
            if status == "timeout":
                payload = self._timeout_body(request_id)
                self._line(lines.task_timed_out(self._now.wall_ms, request_id, self.config.timeout_ms / 1000),
                           request_id=request_id)
            elif error_type == self.runtime.init_error_type and self.runtime.init_error_body:
                payload = self.runtime.init_error_body
            else:
                payload = _error_body(error_type or et.SANDBOX_FAILURE, lines.request_error(request_id, detail))
            if run.result is None:
                run.result = f.InvocationResult(request_id, payload, JSON, True, error_type or et.SANDBOX_TIMEDOUT)
            self._finish_invoke(status, error_type if status == "error" else None)
        else:
            self._explain("The first invoke will retry Init, bounded by the function timeout (a suppressed init).")
        self._begin_shutdown(reason, final=False)

    # ------------------------------------------------------------------ Runtime API

    def _on_RuntimeNext(self, event: RuntimeNext) -> None:
        rt = self.runtime
        run = self.current
        if rt.state is RuntimeState.RUNNING and run is not None and rt.parked is None:
            # RAPID re-renders the in-flight event to a runtime that asks again (lambda-spec §1.3).
            self._send_event_to_runtime(event.token, run)
            return
        if rt.state is RuntimeState.READY and rt.parked is None:
            # It reconnected after dropping a parked /next; an event that found nobody parked goes out now.
            if run is not None and run.delivered and run.result is None and self.state is EnvState.RUNNING:
                rt.state = RuntimeState.RUNNING
                self._send_event_to_runtime(event.token, run)
                self._participant_changed(RUNTIME, rt.state, False)
            else:
                self._park_runtime(event.token)
            return
        try:
            new_state = runtime_transition(rt.state, RuntimeCall.NEXT)
        except TransitionNotAllowed as refused:
            self._reply_error(event.token, 403, et.INVALID_STATE_TRANSITION, str(refused))
            return
        was = rt.state
        rt.state = new_state
        self._park_runtime(event.token)
        if was is RuntimeState.STARTED:
            self.registration_open = False
            self._check_init_done()
        else:
            self._check_invoke_done()

    def _park_runtime(self, token: Token) -> None:
        self.runtime.parked = token
        self.runtime.parked_since = self._now.mono
        self._participant_changed(RUNTIME, self.runtime.state, True)

    def _check_request(self, token: Token, request_id: str, call: RuntimeCall) -> bool:
        run = self.current
        rt = self.runtime
        if run is None or request_id != run.invocation.request_id or rt.state not in (
            RuntimeState.RUNNING, RuntimeState.RESPONSE_SENT, RuntimeState.READY
        ) or not run.delivered:
            self._reply_error(token, 400, et.INVALID_REQUEST_ID, "Invalid request ID")
            return False
        try:
            rt.state = runtime_transition(rt.state, call)
        except TransitionNotAllowed as refused:
            self._reply_error(token, 403, et.INVALID_STATE_TRANSITION, str(refused))
            return False
        return True

    def _on_RuntimeResponse(self, event: RuntimeResponse) -> None:
        if not self._check_request(event.token, event.request_id, RuntimeCall.RESPONSE):
            return
        if event.invalid_mode is not None:
            # RAPID refuses the header and fails the invocation (lambda-spec §1.4).
            self._reply_error(event.token, 400, et.INVALID_FUNCTION_RESPONSE_MODE, "Invalid function response mode")
            payload = _error_body(et.RUNTIME_INVALID_RESPONSE_MODE,
                                  f"Invalid Lambda-Runtime-Function-Response-Mode {event.invalid_mode!r}")
            result = f.InvocationResult(event.request_id, payload, JSON, True, et.RUNTIME_INVALID_RESPONSE_MODE)
        elif event.too_large:
            message = f"Exceeded maximum allowed payload size ({et.MAX_RESPONSE_BYTES} bytes)."
            self._reply_error(event.token, 413, et.REQUEST_ENTITY_TOO_LARGE, message)
            payload = _error_body(
                et.FUNCTION_RESPONSE_SIZE_TOO_LARGE,
                f"Response payload size exceeded maximum allowed payload size ({et.MAX_RESPONSE_BYTES} bytes).",
            )
            result = f.InvocationResult(event.request_id, payload, JSON, True, et.FUNCTION_RESPONSE_SIZE_TOO_LARGE)
        else:
            self._reply_ok(event.token)
            result = f.InvocationResult(event.request_id, event.body, event.content_type or JSON)
        self._responded(result)

    def _on_RuntimeInvocationError(self, event: RuntimeInvocationError) -> None:
        if not self._check_request(event.token, event.request_id, RuntimeCall.ERROR):
            return
        self._reply_ok(event.token)
        body = _forwarded_error_body(event.body, event.content_type, event.error_type)
        try:
            body_type = json.loads(body).get("errorType")
        except (ValueError, AttributeError):
            body_type = None
        error_type = body_type or sanitize_error_type(event.error_type)
        self._responded(f.InvocationResult(event.request_id, body, JSON, True, error_type))

    def _responded(self, result: f.InvocationResult) -> None:
        run = self.current
        assert run is not None
        run.result = result
        self._participant_changed(RUNTIME, self.runtime.state, False)
        if not run.invocation.wants_log_tail:
            self._complete(run)
        self._reach(Boundary.INVOKE_RESPONSE, result.request_id)

    def _on_RuntimeInitError(self, event: RuntimeInitError) -> None:
        rt = self.runtime
        try:
            rt.state = runtime_transition(rt.state, RuntimeCall.INIT_ERROR)
        except TransitionNotAllowed as refused:
            self._reply_error(event.token, 403, et.INVALID_STATE_TRANSITION, str(refused))
            return
        body = _forwarded_error_body(event.body, event.content_type, event.error_type)
        rt.init_error_type = sanitize_error_type(event.error_type) if event.error_type else _body_type(body)
        rt.init_error_body = body
        self._reply_ok(event.token)
        self._participant_changed(RUNTIME, rt.state, False)
        # The failure takes effect when the runtime exits, as it must right after (lambda-spec §1.6).

    # ------------------------------------------------------------------ Extensions API

    def _on_ExtensionRegister(self, event: ExtensionRegister) -> None:
        if not self.registration_open or self.state is not EnvState.INIT:
            self._reply_error(event.token, 403, et.EXT_REGISTRATION_CLOSED, "Extension registration closed already")
            return
        slot = self.extensions.get(event.name)
        if slot is not None and slot.external and slot.state is ExtensionState.STARTED:
            slot.state = extension_transition(slot.state, ExtensionCall.REGISTER, event.name)
        elif slot is not None:
            self._reply_error(event.token, 403, et.EXT_INVALID_STATE, "Extension with this name already registered")
            return
        else:
            # A name Lambda did not launch registers an internal extension (lambda-spec §2.2).
            if "SHUTDOWN" in event.events:
                self._reply_error(event.token, 403, et.EXT_INVALID_EVENT_TYPE,
                                  "ShutdownEventNotSupportedForInternalExtension")
                return
            if sum(1 for s in self.extensions.values() if s.registered) >= et.MAX_EXTENSIONS:
                self._reply_error(event.token, 403, et.EXT_TOO_MANY,
                                  f"Extension limit ({et.MAX_EXTENSIONS}) reached")
                return
            slot = ExtensionSlot(event.name, external=False, state=ExtensionState.REGISTERED)
            self.extensions[event.name] = slot
            if self.config.extension_names:
                self._explain(
                    f"Extension '{event.name}' registered, but no launched extension has that name "
                    f"(launched: {', '.join(self.config.extension_names)}): it counts as an internal extension."
                )
        slot.id = self._new_id()
        slot.events = tuple(event.events)
        body: dict[str, str] = {
            "functionName": self.config.function_name,
            "functionVersion": self.config.function_version,
            "handler": self.config.handler,
        }
        if event.wants_account_id:
            body["accountId"] = self.config.account_id
        self._reply(event.token, 200, _json(body), (("Lambda-Extension-Identifier", slot.id),))
        self._participant_changed(extension_key(slot.name), slot.state, False)
        if slot.name in self.init_error_pending:
            self.init_error_pending.discard(slot.name)
            self._extension_reports_init_error(slot)
            return
        if slot.external and self._all_external_registered() and self.runtime.state is RuntimeState.NOT_STARTED:
            if self.init is not None:
                self.init.sub_phase = "runtime"
            self._reach(Boundary.INIT_RUNTIME)

    def _slot_by_id(self, token: Token, extension_id: str) -> Optional[ExtensionSlot]:
        for slot in self.extensions.values():
            if slot.id == extension_id:
                return slot
        self._reply_error(token, 403, et.EXT_UNKNOWN_IDENTIFIER, f"Unknown extension {extension_id}")
        return None

    def _on_ExtensionNext(self, event: ExtensionNext) -> None:
        slot = self._slot_by_id(event.token, event.extension_id)
        if slot is None:
            return
        if slot.state is ExtensionState.READY and slot.parked is None:
            # Reconnected after dropping a parked /next: hand over whatever waited for it meanwhile.
            if slot.pending is not None:
                self._hand_over(slot, event.token, slot.pending)
            else:
                self._park_extension(slot, event.token)
            return
        try:
            slot.state = extension_transition(slot.state, ExtensionCall.NEXT, slot.name)
        except ExtensionTransitionNotAllowed as refused:
            self._reply_error(event.token, 403, et.EXT_INVALID_STATE, str(refused))
            return
        if slot.pending is not None:
            self._hand_over(slot, event.token, slot.pending)
            return
        self._park_extension(slot, event.token)
        self._check_init_done()
        self._check_invoke_done()

    def _park_extension(self, slot: ExtensionSlot, token: Token) -> None:
        slot.parked = token
        slot.parked_since = self._now.mono
        self._participant_changed(extension_key(slot.name), slot.state, True)

    def _hand_over(self, slot: ExtensionSlot, token: Token, event: bytes) -> None:
        slot.pending = None
        slot.parked = None
        slot.state = ExtensionState.RUNNING
        self._reply(token, 200, event, (("Lambda-Extension-Event-Identifier", self._new_id()),))
        self._participant_changed(extension_key(slot.name), slot.state, False)

    def _send_to_extension(self, slot: ExtensionSlot, event: bytes) -> None:
        if slot.parked is not None:
            self._hand_over(slot, slot.parked, event)
        else:
            slot.pending = event

    def _on_ExtensionInitError(self, event: ExtensionInitError) -> None:
        self._extension_error(event.token, event.extension_id, ExtensionCall.INIT_ERROR, et.EXTENSION_INIT_ERROR)

    def _on_ExtensionExitError(self, event: ExtensionExitError) -> None:
        self._extension_error(event.token, event.extension_id, ExtensionCall.EXIT_ERROR, et.EXTENSION_EXIT_ERROR)

    def _extension_error(self, token: Token, extension_id: str, call: ExtensionCall, fatal: str) -> None:
        slot = self._slot_by_id(token, extension_id)
        if slot is None:
            return
        try:
            slot.state = extension_transition(slot.state, call, slot.name)
        except ExtensionTransitionNotAllowed as refused:
            self._reply_error(token, 403, et.EXT_INVALID_STATE, str(refused))
            return
        slot.fatal_type = slot.fatal_type or fatal
        slot.parked = None
        self._reply_ok(token)
        self._participant_changed(extension_key(slot.name), slot.state, False)

    def _on_RequestAbandoned(self, event: RequestAbandoned) -> None:
        if self.runtime.parked == event.token:
            self.runtime.parked = None
        if self.runtime.gate == event.token:
            self.runtime.gate = None
        for slot in self.extensions.values():
            if slot.parked == event.token:
                slot.parked = None
        if self.current is not None and self.current.token == event.token:
            self.current.token = None  # Lambda still runs an invoke whose caller went away
        self.queue = deque((None if tok == event.token else tok, inv) for tok, inv in self.queue)

    # ------------------------------------------------------------------ Invoke

    def _on_InvokeRequested(self, event: InvokeRequested) -> None:
        inv = event.invocation
        if self.state is EnvState.SHUT_DOWN or (self.shutdown is not None and self.shutdown.final):
            payload = _error_body(et.SANDBOX_FAILURE, "The execution environment has shut down.")
            self._do(CompleteInvocation(event.token, f.InvocationResult(inv.request_id, payload, JSON, True,
                                                                         et.SANDBOX_FAILURE)))
            return
        self.queue.append((event.token, inv))
        self._emit(f.InvocationQueued(inv.request_id, len(self.queue)))
        self._try_start_next()

    def _try_start_next(self) -> None:
        if self.current is not None or self.hold is not None or not self.queue or self.shutdown is not None:
            return
        if self.expecting_exit:
            return  # an injected crash is on its way: the invoke runs after it has played out
        if self.state is EnvState.FROZEN:
            token, inv = self.queue.popleft()
            self.current = InvokeRun(inv, token, self._now, self.held_total)
            self._reach(Boundary.INVOKE_START, inv.request_id)
        elif self.state is EnvState.COLD and self.init is None:
            if self.renew_sandbox:
                self._renew()
            if self.fresh:
                self._begin_init("init")  # the invoke waits in the queue for an on-demand Init
                return
            token, inv = self.queue.popleft()
            self.current = InvokeRun(inv, token, self._now, self.held_total, ran_init=True)
            self._start_timer(INVOKE_TIMER, self.config.timeout_ms / 1000)
            self._emit(f.PhaseStarted("invoke", inv.request_id, self._now.mono))
            self._begin_init("invoke")

    def _deliver(self) -> None:
        run = self.current
        assert run is not None
        inv = run.invocation
        self._set_state(EnvState.RUNNING)
        self._thaw()
        if INVOKE_TIMER not in self.timers:  # a suppressed Init already started the clock
            run.started = self._now
            run.held_before = self.held_total
            run.init_duration_ms, self.pending_init_duration_ms = self.pending_init_duration_ms, None
            self._line(lines.start(inv.request_id, self.config.function_version), request_id=inv.request_id)
            self._emit(f.PhaseStarted("invoke", inv.request_id, self._now.mono))
            self._start_timer(INVOKE_TIMER, self.config.timeout_ms / 1000)
        left = self._timer_left(INVOKE_TIMER) or 0.0
        run.deadline_wall_ms = self._now.wall_ms + round(left * 1000)
        run.delivered = True
        invoke_event = _json({
            "eventType": "INVOKE",
            "deadlineMs": run.deadline_wall_ms,
            "requestId": inv.request_id,
            "invokedFunctionArn": self.config.function_arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": inv.trace_id},
        })
        # RAPID releases extensions first, then the runtime (lambda-spec §4.4).
        for slot in self.extensions.values():
            if slot.registered and slot.subscribed("INVOKE") and (slot.alive or not slot.external):
                self._send_to_extension(slot, invoke_event)
        rt = self.runtime
        if rt.parked is not None:
            token, rt.parked = rt.parked, None
            rt.state = RuntimeState.RUNNING
            self._send_event_to_runtime(token, run)
            self._participant_changed(RUNTIME, rt.state, False)
        if self.timeout_on_delivery:
            self.timeout_on_delivery = False
            self._force_timeout()

    def _send_event_to_runtime(self, token: Token, run: InvokeRun) -> None:
        inv = run.invocation
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(run.deadline_wall_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", self.config.function_arn),
            ("Content-Type", inv.content_type),
        ]
        if inv.trace_id:
            headers.append(("Lambda-Runtime-Trace-Id", inv.trace_id))
        if inv.client_context is not None:
            headers.append(("Lambda-Runtime-Client-Context", inv.client_context))
        if inv.cognito_identity is not None:
            headers.append(("Lambda-Runtime-Cognito-Identity", inv.cognito_identity))
        if self.raise_next is not None:
            exception, message = self.raise_next
            self.raise_next = None
            headers.append(("Lambdatui-Raise", json.dumps({"type": exception, "message": message})))
        self._do(Reply(token, 200, inv.payload, tuple(headers)))

    def _check_invoke_done(self) -> None:
        run = self.current
        if self.hold is not None or self.state is not EnvState.RUNNING or run is None or run.result is None:
            return
        if self.runtime.state is not RuntimeState.READY:
            return
        for slot in self.extensions.values():
            if slot.registered and slot.subscribed("INVOKE") and slot.state is not ExtensionState.READY:
                return
        request_id = run.invocation.request_id
        self._finish_invoke("success", None)
        self._reach(Boundary.INVOKE_DONE, request_id)

    def _complete(self, run: InvokeRun) -> None:
        if run.completed or run.result is None:
            return
        run.completed = True
        self._do(CompleteInvocation(run.token, run.result, with_log_tail=run.invocation.wants_log_tail))

    def _finish_invoke(self, status: str, error_type: Optional[str]) -> None:
        run, self.current = self.current, None
        assert run is not None and run.result is not None
        self._cancel_timer(INVOKE_TIMER)
        request_id = run.invocation.request_id
        duration = self._elapsed_ms(run.started, run.held_before)
        init_ms = run.init_duration_ms
        # Since August 2025 Lambda bills Init too: the cold invoke's billed time covers both.
        billed = lines.billed_ms(duration + (init_ms or 0.0))
        self._line(lines.end(request_id), request_id=request_id)
        self._emit(f.InvokeReported(request_id, duration, billed, self.config.memory_mb, None, init_ms, status,
                                    error_type, cold=init_ms is not None or run.ran_init))
        self._emit(f.PhaseEnded("invoke", status, duration, error_type, at=self._now.mono))
        self.invocations_done += 1
        self._complete(run)

    def _timeout_body(self, request_id: str) -> bytes:
        seconds = self.config.timeout_ms / 1000
        return _error_body(et.SANDBOX_TIMEDOUT, f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds")

    def _fail_invoke(self, error_type: str, detail: str, status: str) -> None:
        run = self.current
        assert run is not None
        request_id = run.invocation.request_id
        if not run.delivered and not run.ran_init:
            self._line(lines.start(request_id, self.config.function_version), request_id=request_id)
        if status == "timeout":
            self._line(lines.task_timed_out(self._now.wall_ms, request_id, self.config.timeout_ms / 1000),
                       request_id=request_id)
            payload = self._timeout_body(request_id)
        else:
            self._line(lines.request_error(request_id, detail), request_id=request_id)
            self._line(error_type, request_id=request_id)
            payload = _error_body(error_type, lines.request_error(request_id, detail))
        if run.result is None:
            run.result = f.InvocationResult(request_id, payload, JSON, True, error_type)
        self._finish_invoke(status, error_type if status == "error" else None)
        reason = ShutdownReason.TIMEOUT if status == "timeout" else ShutdownReason.FAILURE
        self._begin_shutdown(reason, final=False)

    # ------------------------------------------------------------------ processes and time

    def _on_LaunchFailed(self, event: LaunchFailed) -> None:
        if event.generation != self.generation:
            return
        if event.participant == RUNTIME:
            self.runtime.alive = False
            self.runtime.state = RuntimeState.EXITED
            self._fail_init(et.RUNTIME_INVALID_ENTRYPOINT, f"The runtime could not be started: {event.message}")
            return
        slot = self.extensions.get(event.participant.split(":", 1)[1])
        if slot is None:
            return
        slot.alive = False
        slot.state = ExtensionState.LAUNCH_ERROR
        self._participant_changed(event.participant, slot.state, False)
        self._fail_init(et.EXTENSION_LAUNCH_ERROR, f"Extension '{slot.name}' could not be launched: {event.message}")

    def _on_ProcessExited(self, event: ProcessExited) -> None:
        if event.generation != self.generation:
            return
        self.expecting_exit.discard(event.participant)
        expected = self.shutdown is not None
        self._emit(f.ProcessExitedFact(event.participant, event.description, expected))
        if event.participant == RUNTIME:
            rt = self.runtime
            rt.alive = False
            rt.parked = None
            was = rt.state
            rt.state = RuntimeState.EXITED
            self._participant_changed(RUNTIME, rt.state, False)
            if expected:
                self._runtime_gone_during_shutdown()
                return
            if was is RuntimeState.INIT_ERROR and rt.init_error_type:
                error_type = rt.init_error_type
                detail = ""
            else:
                error_type = et.RUNTIME_EXIT_ERROR
                detail = ("Runtime exited without providing a reason" if event.code == 0
                          else f"Runtime exited with error: {event.description}")
        else:
            slot = self.extensions.get(event.participant.split(":", 1)[1])
            if slot is None:
                return
            slot.alive = False
            slot.parked = None
            if expected:
                slot.state = ExtensionState.EXITED if event.code == 0 else ExtensionState.SHUTDOWN_FAILED
                self._participant_changed(event.participant, slot.state, False)
                self._check_shutdown_done()
                return
            error_type = slot.fatal_type or et.EXTENSION_CRASH
            detail = f"Extension '{slot.name}' exited ({event.description})"
            slot.state = ExtensionState.EXITED
            self._participant_changed(event.participant, slot.state, False)
        self._fail_phase(error_type, detail)

    def _fail_phase(self, error_type: str, detail: str) -> None:
        """A process exited outside shutdown: whatever phase is running fails (lambda-spec §2.8)."""
        self._abandon_hold()
        if self.state is EnvState.INIT:
            self._fail_init(error_type, detail)
        elif self.current is not None:  # running, or held before its event went out
            self._fail_invoke(error_type, detail, "error")
        else:
            self._explain(f"{detail} while the environment was idle: it resets, and the next invoke re-initialises.")
            self.fresh = False
            self._begin_shutdown(ShutdownReason.FAILURE, final=False)

    def _on_TimerFired(self, event: TimerFired) -> None:
        if self.timers.pop(event.name, None) is None:
            return  # cancelled, or paused by a hold, after it fired
        if event.name == INIT_TIMER:
            self._fail_init(None, self._init_waiting_on(), status="timeout")
        elif event.name == INVOKE_TIMER:
            if self.state is EnvState.INIT:
                self._fail_init(None, self._init_waiting_on(), status="timeout")
            elif self.current is not None:
                if self.runtime.alive:
                    self._do(CaptureStacks(RUNTIME, self.current.invocation.request_id))
                self._fail_invoke(et.SANDBOX_TIMEDOUT, "", "timeout")
        elif event.name == RUNTIME_STOP_TIMER:
            if self.runtime.alive:
                self._do(Kill(RUNTIME))
        elif event.name == SHUTDOWN_TIMER:
            for key in self._alive():
                self._do(Kill(key))

    def _init_waiting_on(self) -> str:
        waiting = [f"extension '{s.name}' never registered" for s in self.extensions.values()
                   if s.external and not s.registered and s.state is ExtensionState.STARTED]
        waiting += [f"extension '{s.name}' never called /event/next" for s in self.extensions.values()
                    if s.registered and s.state is ExtensionState.REGISTERED]
        if self.runtime.state is RuntimeState.STARTED:
            waiting.append("the runtime never called /runtime/invocation/next")
        elif self.runtime.state is RuntimeState.NOT_STARTED and not waiting:
            waiting.append("the runtime was never launched")
        return "Init timed out: " + ("; ".join(waiting) if waiting else "no participant finished")

    # ------------------------------------------------------------------ faults

    def _on_FaultRequested(self, event: FaultRequested) -> None:
        fault = event.fault
        if fault.at is not None:
            self.armed.append(fault)
            self._emit(f.FaultArmed(flt.describe(fault), fault.at))
            return
        self._inject(fault)

    def _participant_key(self, target: str) -> Optional[str]:
        if target == flt.RUNTIME_TARGET:
            return RUNTIME
        if target in self.extensions:
            return extension_key(target)
        self._explain(f"No participant named '{target}': the runtime is 'runtime', extensions go by their file name.")
        return None

    def _is_alive(self, key: str) -> bool:
        if key == RUNTIME:
            return self.runtime.alive
        slot = self.extensions.get(key.split(":", 1)[1])
        return slot is not None and slot.alive

    def _inject(self, fault: flt.Fault) -> None:
        self._emit(f.FaultInjected(flt.describe(fault)))
        if isinstance(fault, flt.RaiseInHandler):
            self.raise_next = (fault.exception, fault.message)
        elif isinstance(fault, flt.ForceTimeout):
            self._force_timeout()
        elif isinstance(fault, flt.ExtensionInitError):
            self._inject_init_error(fault.target)
        else:
            key = self._participant_key(fault.target)
            if key is None:
                return
            if not self._is_alive(key):
                self._explain(f"{fault.target} is not running: nothing to {flt.describe(fault).split()[0]}.")
                return
            if isinstance(fault, flt.Freeze):
                self.user_frozen.add(key)
                self._do(Freeze((key,)))
            elif isinstance(fault, flt.Thaw):
                self.user_frozen.discard(key)
                if not self.frozen:
                    self._do(Thaw((key,)))
            elif isinstance(fault, flt.Crash):
                # A stopped process acts on nothing but SIGKILL: let it run so the crash happens now.
                self.user_frozen.discard(key)
                self._thaw()
                self.expecting_exit.add(key)
                if fault.exit_code is not None:
                    self._do(ExitProcess(key, fault.exit_code))
                else:
                    self._do(SignalProcess(key, fault.signal or 9))

    def _force_timeout(self) -> None:
        hold = self.hold
        running = [name for name in (INVOKE_TIMER, INIT_TIMER, RUNTIME_STOP_TIMER, SHUTDOWN_TIMER)
                   if name in self.timers or (hold is not None and name in hold.paused_timers)]
        if not running and self.current is not None and not self.current.delivered:
            # Held before delivery: the invoke's deadline starts when the event goes out, and elapses at once.
            self.timeout_on_delivery = True
            return
        if not running:
            self._explain("No deadline is running at this point, so there is none to force.")
            return
        name = running[0]
        self._abandon_hold()  # the phase fails while held: its boundary's continuation is dropped
        self.timers[name] = self._now.mono
        self._on_TimerFired(TimerFired(name))

    def _inject_init_error(self, name: str) -> None:
        slot = self.extensions.get(name)
        if (self.state is EnvState.INIT and slot is not None and slot.registered
                and slot.state in (ExtensionState.REGISTERED, ExtensionState.READY)):
            self._extension_reports_init_error(slot)
        else:
            self.init_error_pending.add(name)
            self._explain(f"Extension '{name}' will report init/error when it next registers.")

    def _extension_reports_init_error(self, slot: ExtensionSlot) -> None:
        """As if it had called /extension/init/error and exited: the failure takes effect at its exit."""
        slot.state = ExtensionState.INIT_ERROR
        slot.fatal_type = et.EXTENSION_INIT_ERROR
        if slot.parked is not None:
            token, slot.parked = slot.parked, None
            self._reply_error(token, 403, et.EXT_INVALID_STATE, "Extension reported init/error (injected by lambdatui)")
        self._participant_changed(extension_key(slot.name), slot.state, False)
        if slot.alive:
            self._do(Kill(extension_key(slot.name)))

    # ------------------------------------------------------------------ Shutdown and reset

    def _begin_shutdown(self, reason: ShutdownReason, final: bool) -> None:
        final = final or self.spindown_after_invoke  # a spindown was waiting for this invoke to end
        if self.shutdown is not None:
            self.shutdown.final = self.shutdown.final or final
            return
        if self.current is not None:
            # Spindown under a running invoke: its caller must still get an answer.
            request_id = self.current.invocation.request_id
            if self.current.result is None:
                self.current.result = f.InvocationResult(
                    request_id, _error_body(et.SANDBOX_FAILURE, f"RequestId: {request_id} Error: environment shut down"),
                    JSON, True, et.SANDBOX_FAILURE)
            self._finish_invoke("failure", et.SANDBOX_FAILURE)
        self.init = None
        self._cancel_timer(INIT_TIMER)
        self._cancel_timer(INVOKE_TIMER)
        self.shutdown = ShutdownRun(reason, final, self._now, self.held_total)
        self._reach(Boundary.SHUTDOWN_START, reason.value)

    def _shut_down_processes(self) -> None:
        run = self.shutdown
        assert run is not None
        run.started = self._now
        run.held_before = self.held_total
        self._set_state(EnvState.SHUTTING_DOWN if run.final else EnvState.RESETTING)
        self._emit(f.PhaseStarted("shutdown" if run.final else "reset", run.reason.value, self._now.mono))
        self._thaw()  # a stopped process cannot act on SIGTERM or SHUTDOWN
        registered = [s for s in self.extensions.values() if s.registered]
        if any(s.external for s in registered):
            budget_ms = EXTERNAL_SHUTDOWN_BUDGET_MS
        elif registered:
            budget_ms = INTERNAL_SHUTDOWN_BUDGET_MS
        else:
            budget_ms = 0
        run.deadline_wall_ms = self._now.wall_ms + budget_ms
        if budget_ms:
            self._start_timer(SHUTDOWN_TIMER, budget_ms / 1000)
        if self.runtime.alive:
            if registered:  # Lambda spends no time on graceful runtime shutdown without extensions
                self._do(Terminate(RUNTIME))
                self._start_timer(RUNTIME_STOP_TIMER, min(RUNTIME_SHUTDOWN_SHARE_MS, budget_ms) / 1000)
            else:
                self._do(Kill(RUNTIME))
        else:
            self._runtime_gone_during_shutdown()
        if not budget_ms:
            for key in self._alive():
                if key != RUNTIME:
                    self._do(Kill(key))
        self._check_shutdown_done()

    def _runtime_gone_during_shutdown(self) -> None:
        run = self.shutdown
        if run is None:
            return
        self._cancel_timer(RUNTIME_STOP_TIMER)
        if not run.extensions_notified:
            run.extensions_notified = True
            for slot in self.extensions.values():
                if not slot.alive or not slot.external:
                    continue
                if slot.registered and slot.subscribed("SHUTDOWN"):
                    slot.shutdown_notified = True
                    self._send_to_extension(slot, _json({
                        "eventType": "SHUTDOWN", "shutdownReason": run.reason.value, "deadlineMs": run.deadline_wall_ms,
                    }))
                    self._emit(f.ShutdownSent(slot.name, run.reason.value, run.deadline_wall_ms))
                else:
                    self._do(Kill(extension_key(slot.name)))  # not subscribed: killed without notice
        self._check_shutdown_done()

    def _check_shutdown_done(self) -> None:
        run = self.shutdown
        if run is None or self.hold is not None or self.state not in (EnvState.SHUTTING_DOWN, EnvState.RESETTING):
            return
        if self._alive():
            return
        self._cancel_timer(SHUTDOWN_TIMER)
        self._cancel_timer(RUNTIME_STOP_TIMER)
        duration = self._elapsed_ms(run.started, run.held_before)
        self._emit(f.PhaseEnded("shutdown" if run.final else "reset", "success", duration, at=self._now.mono))
        self._reach(Boundary.SHUTDOWN_DONE, run.reason.value)

    def _after_shutdown(self) -> None:
        run, self.shutdown = self.shutdown, None
        assert run is not None
        self.frozen = False
        self.runtime = RuntimeSlot()
        self.extensions = {}
        self.registration_open = False
        self.pending_init_duration_ms = None
        if run.final:
            self._set_state(EnvState.SHUT_DOWN)
            while self.queue:
                token, inv = self.queue.popleft()
                payload = _error_body(et.SANDBOX_FAILURE, "The execution environment has shut down.")
                self._do(CompleteInvocation(token, f.InvocationResult(inv.request_id, payload, JSON, True,
                                                                       et.SANDBOX_FAILURE)))
            return
        self._set_state(EnvState.COLD)
        self.fresh = False  # a reset environment re-initialises inside its next invoke (suppressed init)
        if self.renew_sandbox:
            self._renew()
        self._try_start_next()

    # ------------------------------------------------------------------ what the UI shows

    def snapshot(self, now: float) -> EnvironmentSnapshot:
        participants: list[ParticipantView] = []
        run = self.current
        if self.runtime.state is not RuntimeState.NOT_STARTED or self.state is EnvState.INIT:
            next_up = ""
            if self.runtime.parked is not None:
                if run is not None and not run.delivered:
                    next_up = f"event {run.invocation.request_id}"
                elif self.queue:
                    next_up = f"event {self.queue[0][1].request_id}"
                else:
                    next_up = "the next invoke's event"
            participants.append(ParticipantView(
                RUNTIME, "runtime", self.runtime.state.value, self.runtime.alive, self.runtime.parked is not None,
                self.runtime.parked_since, ("INVOKE",), next_up,
            ))
        for slot in self.extensions.values():
            next_up = ""
            if slot.parked is not None:
                if self.state in (EnvState.RESETTING, EnvState.SHUTTING_DOWN) and slot.subscribed("SHUTDOWN"):
                    next_up = "SHUTDOWN"
                elif slot.subscribed("INVOKE"):
                    next_up = "INVOKE"
                elif slot.subscribed("SHUTDOWN"):
                    next_up = "SHUTDOWN (at shutdown)"
            participants.append(ParticipantView(
                extension_key(slot.name), "extension" if slot.external else "internal extension", slot.state.value,
                slot.alive, slot.parked is not None, slot.parked_since, slot.events, next_up,
            ))
        return EnvironmentSnapshot(
            state=self.state,
            generation=self.generation,
            held_at=self.hold.boundary if self.hold is not None else None,
            breakpoints=self.breakpoints,
            frozen=self.frozen,
            init_phase=self.init.phase if self.init else None,
            init_sub_phase=self.init.sub_phase if self.init else None,
            current_request_id=run.invocation.request_id if run else None,
            queued=tuple(inv.request_id for _, inv in self.queue),
            participants=tuple(participants),
            invocations_done=self.invocations_done,
            as_of=now,
            user_frozen=frozenset(self.user_frozen),
        )


def _body_type(body: bytes) -> Optional[str]:
    try:
        value = json.loads(body).get("errorType")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _forwarded_error_body(body: bytes, content_type: str, header_type: Optional[str]) -> bytes:
    """The error the caller sees: the runtime's body as-is, minus X-Ray's errorCause (lambda-spec §1.5)."""
    if not body.strip():
        return _error_body(header_type or et.RUNTIME_UNKNOWN, "")
    if content_type.startswith("application/vnd.aws.lambda.error.cause+json"):
        try:
            parsed = json.loads(body)
            parsed.pop("errorCause", None)
            return _json(parsed)
        except (ValueError, AttributeError):
            return body
    return body
