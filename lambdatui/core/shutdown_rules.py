"""Shutdown and reset: the runtime first (SIGTERM only with extensions), then SHUTDOWN to extensions, stragglers killed (lambda-spec §4.5-§4.6)."""

from __future__ import annotations

from lambdatui.core.common import (
    EXTERNAL_SHUTDOWN_BUDGET_MS,
    INIT_TIMER,
    INTERNAL_SHUTDOWN_BUDGET_MS,
    INVOKE_TIMER,
    JSON,
    RUNTIME_SHUTDOWN_SHARE_MS,
    RUNTIME_WITH_INTERNAL_SHUTDOWN_SHARE_MS,
    RUNTIME_STOP_TIMER,
    SHUTDOWN_TIMER,
    SPINDOWN_WAIT_TIMER,
    error_body,
    json_bytes,
)
from lambdatui.core.effects import (
    RUNTIME,
    CompleteInvocation,
    EndSandbox,
    Kill,
    Terminate,
    extension_key,
)
from lambdatui.core.slots import RuntimeSlot, ShutdownRun
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState, ShutdownReason


class ShutdownRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""


    def _begin_shutdown(self, reason: ShutdownReason, final: bool) -> None:
        final = final or self.spindown_after_invoke  # a spindown was waiting for this invoke to end
        if self.shutdown is not None:
            self.shutdown.final = self.shutdown.final or final
            return
        if self.current is not None:
            # Spindown under a running invoke: its caller must still get an answer.
            request_id = self.current.invocation.request_id
            if self.current.result is None:
                self._emit(f.InvokeCutOff(request_id))
                if self.current.invocation.asynchronous:
                    ending = "lambdatui shut down" if final else "its environment was shut down"
                    self._event_not_run(self.current.invocation, f"did not finish: {ending} while it ran")
                self.current.result = f.InvocationResult(
                    request_id, error_body(et.SANDBOX_FAILURE, f"RequestId: {request_id} Error: environment shut down"),
                    JSON, True, et.SANDBOX_FAILURE)
            self._finish_invoke("failure", et.SANDBOX_FAILURE)
        self.init = None
        # Whatever Init was running is over: a /register still in flight from one of its processes (a sibling of
        # the extension that failed it) must neither join the reset nor start that Init's runtime.
        self.registration_open = False
        self.first_fatal = None  # the exits to come are the shutdown's own, which fail nothing (RAPID forgets it too)
        self._cancel_timer(INIT_TIMER)
        self._cancel_timer(INVOKE_TIMER)
        self._cancel_timer(SPINDOWN_WAIT_TIMER)
        self.shutdown = ShutdownRun(reason, final, self._now, self.held_total)
        self.resets_begun += 1
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
        if not budget_ms:
            # No registered extension, so nobody is owed a SHUTDOWN event: every process dies now (Lambda
            # spends no time on graceful runtime shutdown without extensions). This comes first because
            # the step below can end the run, and ending it may start the next Init at once: its fresh
            # processes are not this run's stragglers.
            for key in self._alive():
                self._do(Kill(key))
            run.extensions_notified = True  # killed above: none is left to tell
        else:
            self._start_timer(SHUTDOWN_TIMER, budget_ms / 1000)
            if self.runtime.alive:
                self._do(Terminate(RUNTIME))
                self._start_timer(RUNTIME_STOP_TIMER, self._runtime_share_ms() / 1000)
        if not self.runtime.alive:
            # This may end the run (and start the next Init): nothing of this run may follow it.
            self._runtime_gone_during_shutdown()

    def _runtime_share_ms(self) -> int:
        """How long the runtime has between SIGTERM and SIGKILL in the current shutdown (lambda-spec §4.6)."""
        run = self.shutdown
        assert run is not None
        registered = [s for s in self.extensions.values() if s.registered]
        # Internal extensions live in the runtime process: their graceful stop is the runtime's, so it gets
        # 500 ms, not 300 (with internal ones only, that is the whole budget).
        share_ms = (RUNTIME_WITH_INTERNAL_SHUTDOWN_SHARE_MS if any(not s.external for s in registered)
                    else RUNTIME_SHUTDOWN_SHARE_MS)
        return min(share_ms, run.deadline_wall_ms - run.started.wall_ms)

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
                    self._send_to_extension(slot, json_bytes({
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
        self._do(EndSandbox(run.final))
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
        self.pending_restore = None
        if run.final:
            self._set_state(EnvState.SHUT_DOWN)
            while self.queue:
                token, inv = self.queue.popleft()
                if inv.asynchronous:
                    self._event_not_run(inv, "was not run: lambdatui shut down while it was queued")
                payload = error_body(et.SANDBOX_FAILURE, "The execution environment has shut down.")
                self._do(CompleteInvocation(token, f.InvocationResult(inv.request_id, payload, JSON, True,
                                                                       et.SANDBOX_FAILURE)))
            return
        self._set_state(EnvState.COLD)
        self.fresh = False  # a reset environment re-initialises inside its next invoke (suppressed init)
        if self.renew_sandbox:
            self._renew()
        self._try_start_next()
