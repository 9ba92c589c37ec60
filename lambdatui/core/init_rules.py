"""Init: extensions launch and register, then the runtime; done when everyone is parked on Next (lambda-spec §4.1-§4.2)."""

from __future__ import annotations

from typing import Iterable, Optional

from lambdatui.core import platform_lines as lines
from lambdatui.core.common import (
    INIT_TIMER,
    SNAPSHOT,
    JSON,
    error_body,
    json_bytes,
)
from lambdatui.core.effects import (
    RUNTIME,
    Spawn,
    extension_key,
)
from lambdatui.core.extension_machine import ExtensionState
from lambdatui.core.inputs import (
    FunctionInitGate,
    StartEnvironment,
)
from lambdatui.core.restore_rules import RESTORE
from lambdatui.core.runtime_machine import RuntimeState
from lambdatui.core.slots import ExtensionSlot, InitRun, RuntimeSlot
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState, ShutdownReason


class InitRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""


    def _on_StartEnvironment(self, event: StartEnvironment) -> None:
        if event.started is not None:
            self._now = event.started  # its Init, and the Init's timer, began when its runtime was started
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
        self.first_fatal = None  # a new Init, with new processes (RAPID's reinitialize forgets it too)
        self.frozen = False
        self.user_frozen.clear()
        self.inspection_waiting = False
        self.expecting_exit.clear()
        self._set_state(EnvState.INIT)
        if self.config.restored:
            # Every Init of a restored environment, the first or one after a reset, restores the snapshot.
            self.init.phase = RESTORE
            self._begin_restore()
            return
        if phase == "init":
            self._start_timer(INIT_TIMER, self.config.init_timeout_ms / 1000)
        self._line(lines.init_start(self.config.runtime_version, self.config.runtime_version_arn))
        self._start_line_of_suppressed()
        self._emit(f.PhaseStarted("init", phase, self._now.mono))
        self._reach(Boundary.INIT_EXTENSIONS)

    def _start_line_of_suppressed(self) -> None:
        """START of the invoke an Init (or a restore) runs inside, after a reset: right after INIT_START."""
        if self.current is not None:
            self._line(lines.start(self.current.invocation.request_id, self.config.function_version),
                       request_id=self.current.invocation.request_id)

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
            self.init.runtime_started = self._mark()
        self.runtime.state = RuntimeState.STARTED
        self.runtime.alive = True
        self._do(Spawn(RUNTIME, self.generation))
        self._participant_changed(RUNTIME, self.runtime.state, False)

    def _all_external_registered(self) -> bool:
        return all(s.registered for s in self.extensions.values() if s.external)

    def _check_init_done(self) -> None:
        if self.hold is not None or self.state is not EnvState.INIT or self.init is None:
            return
        snapshot = self.config.snapstart == SNAPSHOT
        # A runtime that goes straight to /next has no restore hooks (lambda-spec §1.7): its /next is the snapshot.
        ready = (RuntimeState.RESTORE_READY, RuntimeState.READY) if snapshot else (RuntimeState.READY,)
        if self.runtime.state not in ready:
            return
        if any(s.state is not ExtensionState.READY for s in self.extensions.values() if s.registered):
            return
        init, self.init = self.init, None
        self._cancel_timer(INIT_TIMER)
        duration = self._init_ms(init)
        self._report_extensions(slot for slot in self.extensions.values() if slot.registered)
        if init.phase == RESTORE:
            self._restore_done(init, duration)
        self._emit(f.PhaseEnded("init", "success", duration, at=self._now.mono))
        if snapshot:
            self._line(lines.init_report(duration, init.phase, "success", None))
            self._reach(Boundary.SNAPSHOT_TAKEN)
            return
        if init.phase == RESTORE:
            pass
        elif init.phase == "init" and self.config.initialised_ahead:
            # Initialised at allocation, ahead of traffic: INIT_REPORT says how long it took, the REPORT of the
            # first invoke does not (it was no cold start).
            self._line(lines.init_report(duration, init.phase, "success", None))
        elif init.phase == "init":
            self.pending_init_duration_ms = duration
        self._reach(Boundary.INIT_DONE)

    def _report_extensions(self, slots: Iterable[ExtensionSlot]) -> None:
        """The end of an Init, successful or not: one EXTENSION line and one platform.extension per extension
        (lambda-spec §2.8), with the error type it declared, not the platform's (RAPID's AgentInfo.ErrorType)."""
        for slot in slots:
            error_type = slot.reported_error_type
            self._line(lines.extension(slot.name, slot.state.value, slot.events, error_type))
            self._emit(f.ExtensionReported(slot.name, slot.state.value, slot.events, error_type))

    def _init_ms(self, init: InitRun) -> float:
        """How long `init` has run: its duration so far, as INIT_REPORT and REPORT's Init Duration tell it."""
        return max(0.0, self._elapsed_ms(init.started, init.held_before) - init.waited_s * 1000)

    def _init_elapsed_ms(self) -> Optional[float]:
        """The running Init's `_init_ms` (a restore's as its duration counts it); None when no Init runs."""
        init = self.init
        if init is None:
            return None
        if init.phase == RESTORE:
            return self._elapsed_ms(init.started, init.held_before)
        return self._init_ms(init)

    def _waited_since(self, arrived: Optional[float]) -> None:
        """A runtime's call (or its exit) that came before the host, still starting, heard of it: that wait is not
        its Init, neither in Init Duration nor against Init's 10 s (the timer moves on by as much)."""
        if arrived is None or self.init is None or self.pauses:
            return  # (while paused, the time is held already: not left out twice)
        waited = max(0.0, self._now.mono - max(arrived, self.held_until))
        self.init.waited_s += waited
        if INIT_TIMER in self.timers:
            self._start_timer(INIT_TIMER, self.timers[INIT_TIMER] - self._now.mono + waited)

    def _on_FunctionInitGate(self, event: FunctionInitGate) -> None:
        self._waited_since(event.arrived)
        # `self.init` too: held at the start of the reset that ends a failed Init, the state still reads INIT.
        if (self.state is EnvState.INIT and self.init is not None and self.runtime.state is RuntimeState.STARTED
                and self.runtime.gate is None):
            self.runtime.gate = event.token
            if self.init is not None:
                self.init.sub_phase = "function"
            self._reach(Boundary.INIT_FUNCTION)
        else:
            self._reply(event.token, 200, json_bytes({}))

    def _fail_init(self, error_type: Optional[str], detail: str, status: str = "error") -> None:
        if self.init is not None and self.init.phase == RESTORE:
            self._restore_failed(error_type, detail, status)
            return
        init = self._report_init_failure(error_type, detail, status)
        if init is None:
            return
        self.fresh = False
        reason = ShutdownReason.TIMEOUT if status == "timeout" else ShutdownReason.FAILURE
        run = self.current
        if init.phase == "invoke" and run is not None:
            request_id = run.invocation.request_id
            if status == "timeout":
                payload, content_type = self._timeout_body(request_id), JSON
                self._line(lines.task_timed_out(self._now.wall_ms, request_id, self.config.timeout_ms / 1000),
                           request_id=request_id)
            else:
                payload, content_type = self._init_failure_answer(request_id, error_type, detail)
            if run.result is None:
                run.result = f.InvocationResult(request_id, payload, content_type, True,
                                                error_type or et.SANDBOX_TIMEDOUT)
            self._runtime_done(run, status, error_type or (et.SANDBOX_TIMEDOUT if status == "timeout" else None),
                               detail)
            self._finish_invoke(status, error_type if status == "error" else None)
        elif self.config.snapstart == SNAPSHOT:
            self._explain("The snapshot could not be made: no environment can be restored until lambdatui is "
                          "started again (Lambda fails the version's publication).")
            self._begin_shutdown(reason, final=True)
            return
        else:
            self._explain("The first invoke will retry Init, bounded by the function timeout (a suppressed init).")
        self._begin_shutdown(reason, final=False)

    def _init_failure_answer(self, request_id: str, error_type: Optional[str], detail: str) -> tuple[bytes, str]:
        """What the caller of an invoke that waited on a failed Init gets, and its Content-Type: the runtime's own
        init/error body and type when that is what failed (forwarded, lambda-spec §1.6), else the platform's error."""
        rt = self.runtime
        if error_type == rt.init_error_type and rt.init_error_body:
            return rt.init_error_body, rt.init_error_content_type or JSON
        return error_body(error_type or et.SANDBOX_FAILURE, lines.request_error(request_id, detail)), JSON

    def _report_init_failure(self, error_type: Optional[str], detail: str, status: str) -> Optional[InitRun]:
        """The Init running ends in failure: INIT_REPORT, each extension's state, the facts. Returns that Init
        (None if none was running); what follows for the environment is the caller's."""
        init, self.init = self.init, None
        if init is None:
            return None
        self._cancel_timer(INIT_TIMER)
        duration = self._init_ms(init)
        # Every extension launched, registered or not, as RAPID reports them; before INIT_REPORT, as RAPID's deferred
        # logAgentsInitStatus runs before its deferred init report, however Init ends.
        self._report_extensions(slot for slot in self.extensions.values()
                                if slot.state is not ExtensionState.NOT_LAUNCHED)
        self._line(lines.init_report(duration, init.phase, status, error_type if status == "error" else None))
        self._emit(f.PhaseEnded("init", status, duration, error_type, at=self._now.mono))
        reported = error_type is not None and error_type == self.runtime.init_error_type
        self._emit(f.InitFailed(status, error_type, detail, (self.runtime.init_error_body or b"") if reported else b"",
                                phase=init.phase))
        if detail:
            self._explain(detail)
        return init
