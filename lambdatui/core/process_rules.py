"""What a process exit, a failed launch or an elapsed deadline means for the phase running (lambda-spec §2.8, §4.5)."""

from __future__ import annotations

from lambdatui.core.common import (
    CRASH_TIMER_PREFIX,
    EXTERNAL_SHUTDOWN_BUDGET_MS,
    FAULT_AFTER_TIMER_PREFIX,
    INIT_TIMER,
    INSPECTION_LIMIT_TIMER,
    INVOKE_TIMER,
    OFFER_TIMER,
    RESTORE_TIMER,
    RUNTIME_STOP_TIMER,
    SHUTDOWN_TIMER,
    SPINDOWN_WAIT_TIMER,
)
from lambdatui.core.effects import (
    RUNTIME,
    CaptureStacks,
    Kill,
    Thaw,
)
from lambdatui.core.extension_machine import ExtensionState
from lambdatui.core.invoke_rules import still_finishing
from lambdatui.core.inputs import (
    LaunchFailed,
    ProcessExited,
    StacksDumped,
    TimerFired,
    WorkerExited,
)
from lambdatui.core.runtime_machine import RuntimeState
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState, ShutdownReason


class ProcessRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""


    def _on_LaunchFailed(self, event: LaunchFailed) -> None:
        if event.generation != self.generation:
            return
        if event.participant == RUNTIME:
            self.runtime.alive = False
            self.runtime.state = RuntimeState.EXITED
            self._fail_init(self._kept_fatal_error(et.RUNTIME_INVALID_ENTRYPOINT, RUNTIME, "the runtime could not be "
                                                   "started"), f"The runtime could not be started: {event.message}")
            return
        slot = self.extensions.get(event.participant.split(":", 1)[1])
        if slot is None:
            return
        slot.alive = False
        slot.state = ExtensionState.LAUNCH_ERROR
        self._participant_changed(event.participant, slot.state, False)
        self._fail_init(self._kept_fatal_error(et.EXTENSION_LAUNCH_ERROR, slot.name, f"extension '{slot.name}' "
                                               "could not be launched"),
                        f"Extension '{slot.name}' could not be launched: {event.message}")
        if self.shutdown is not None:
            # A reset already under way (a sibling's launch failed first) counted this extension among the
            # processes to wait for; it never started, so it ends nothing: the reset may be over now.
            self._check_shutdown_done()

    def _on_ProcessExited(self, event: ProcessExited) -> None:
        if event.generation != self.generation:
            return
        self.expecting_exit.discard(event.participant)
        self._cancel_timer(CRASH_TIMER_PREFIX + event.participant)
        self.user_frozen.discard(event.participant)  # a process that has ended is frozen by nobody
        expected = self.shutdown is not None
        self._emit(f.ProcessExitedFact(event.participant, event.description, expected))
        if event.participant == RUNTIME:
            self._waited_since(event.exited_at)  # an Init it ends ended then
            rt = self.runtime
            rt.alive = False
            rt.parked = None
            was = rt.state
            rt.state = RuntimeState.EXITED
            self._participant_changed(RUNTIME, rt.state, False)
            self._end_inspection()
            if expected:
                self._runtime_gone_during_shutdown()
                return
            exit_detail = ("Runtime exited without providing a reason" if event.code == 0 and not event.out_of_memory
                           else f"Runtime exited with error: {event.description}")
            if was in (RuntimeState.INIT_ERROR, RuntimeState.RESTORE_ERROR) and rt.init_error_type:
                error_type = rt.init_error_type
                detail = ""
            elif event.out_of_memory:
                # The OOM killer's SIGKILL: Lambda says so by type, in the same words as any other kill (§10.2).
                error_type = et.RUNTIME_OUT_OF_MEMORY
                detail = exit_detail
            else:
                error_type = et.RUNTIME_EXIT_ERROR
                detail = exit_detail
                if was is RuntimeState.STARTED and self.config.exec_wrapper:
                    self._explain(f"The runtime was started through AWS_LAMBDA_EXEC_WRAPPER={self.config.exec_wrapper}"
                                  f" and never called the Runtime API: a wrapper must end by running the command it "
                                  f"is given (exec \"$@\"), or the runtime never starts.")
            kept = self._kept_fatal_error(error_type, RUNTIME, "the runtime exited")
            if kept != error_type:
                error_type, detail = kept, exit_detail  # not the runtime's own init/error body: what ended it is said
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
            error_type = self._kept_fatal_error(slot.fatal_type or et.EXTENSION_CRASH, slot.name,
                                                f"extension '{slot.name}' exited")
            detail = f"Extension '{slot.name}' exited ({event.description})"
            if slot.state not in (ExtensionState.INIT_ERROR, ExtensionState.EXIT_ERROR):
                # An extension that reported its error keeps that state (lambda-spec §2.7: no transition leaves
                # InitError or ExitError; Exited is reached from Running at shutdown): platform.extension says so.
                slot.state = ExtensionState.EXITED
            self._participant_changed(event.participant, slot.state, False)
        self._fail_phase(error_type, detail)

    def _kept_fatal_error(self, error_type: str, exiting: str, what: str) -> str:
        """The error a process's exit fails the phase with: an extension's init/error or exit/error reported before
        it, if any, as RAPID keeps its first fatal error (StoreFirstFatalError; lambda-spec §2.4). An internal
        extension's process is the runtime, so its report takes effect at the runtime's exit."""
        if self.first_fatal is None:
            return error_type
        kept, reporter = self.first_fatal
        if kept != error_type:  # the same type from another reporter changes nothing worth a line
            self._explain(f"Extension '{reporter}' reported {kept} before {what}: Lambda keeps that first fatal error "
                          f"as the failure's type, not {error_type}.")
        return kept

    def _on_WorkerExited(self, event: WorkerExited) -> None:
        """One invoke at a time, the runtime has no workers (only Managed Instances fork them)."""

    def _fail_phase(self, error_type: str, detail: str) -> None:
        """A process exited outside shutdown: whatever phase is running fails (lambda-spec §2.8)."""
        self._abandon_hold()
        if self.state is EnvState.SNAPSHOT:
            self._snapshot_lost(detail)
        elif self.state is EnvState.INIT and self.init is not None:
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
        if event.name in (INIT_TIMER, RESTORE_TIMER):
            self._capture_init_stacks()
            self._fail_init(None, self._init_waiting_on(), status="timeout")
        elif event.name == INVOKE_TIMER:
            if self.state is EnvState.INIT and self.init is not None:  # a suppressed Init, still running
                self._capture_init_stacks()
                self._fail_init(None, self._init_waiting_on(), status="timeout")
            elif self.current is not None:  # running, or its Init done and its event not yet out (invoke.start)
                if self.runtime.alive and self.current.delivered:
                    self._do(CaptureStacks(RUNTIME, self.current.invocation.request_id, RUNTIME in self.user_frozen))
                self._fail_invoke(et.SANDBOX_TIMEDOUT, "", "timeout")
        elif event.name == RUNTIME_STOP_TIMER:
            if self.runtime.alive:
                # Said, or a SIGTERM handler cut short looks like one that finished (no line of its own follows).
                self._explain(f"the runtime had not exited {self._runtime_share_ms():,} ms after SIGTERM: SIGKILLed, "
                              "as Lambda does (its share of the shutdown).")
                self._do(Kill(RUNTIME))
        elif event.name == SHUTDOWN_TIMER:
            left = self._alive()
            if left:
                assert self.shutdown is not None  # the timer runs only while a shutdown does
                names = ", ".join("the runtime" if key == RUNTIME else f"extension {key.split(':', 1)[1]}"
                                  for key in left)
                budget_ms = self.shutdown.deadline_wall_ms - self.shutdown.started.wall_ms
                # Only an extension parked on /next after its SHUTDOWN is one that "never exits itself": one still
                # flushing (or hung in its own code) simply took longer than the budget.
                parked_after_shutdown = any(
                    slot.parked is not None and slot.shutdown_notified
                    for key in left if key != RUNTIME
                    for slot in [self.extensions.get(key.split(":", 1)[1])] if slot is not None)
                why = (" (an extension still calling /next after SHUTDOWN never exits itself)"
                       if parked_after_shutdown else "")
                self._explain(f"{names} had not exited when the shutdown's {budget_ms:,} ms were up: SIGKILLed, as "
                              f"Lambda does{why}.")
            for key in left:
                self._do(Kill(key))
        elif event.name == SPINDOWN_WAIT_TIMER:
            run = self.current
            if self.spindown_after_invoke and run is not None and self.shutdown is None:
                waited = " and ".join(still_finishing(self)) or "the environment"  # type: ignore[arg-type]
                self._line(f"lambdatui is stopping, and {waited} had not asked for the next event "
                           f"{EXTERNAL_SHUTDOWN_BUDGET_MS:,} ms after the invoke was answered: the shutdown begins "
                           "now and ends this invoke (Lambda would wait for it until its timeout).", f.LAMBDATUI,
                           run.invocation.request_id)
                self._begin_shutdown(ShutdownReason.SPINDOWN, final=True)
        elif event.name == OFFER_TIMER:
            self._hand_offer_back()
        elif event.name == INSPECTION_LIMIT_TIMER:
            self._inspection_overran()
        elif event.name.startswith(CRASH_TIMER_PREFIX):
            self._crash_survived(event.name[len(CRASH_TIMER_PREFIX):])
        elif event.name.startswith(FAULT_AFTER_TIMER_PREFIX):
            self._delayed_fault_due(event.name)

    def _capture_init_stacks(self) -> None:
        """Init timed out: where the runtime hung (its module's top-level code), dumped before the reset kills it."""
        if self.runtime.alive:
            run = self.current
            self._do(CaptureStacks(RUNTIME, run.invocation.request_id if run is not None else f.INIT_STACKS,
                                   RUNTIME in self.user_frozen))

    def _on_StacksDumped(self, event: StacksDumped) -> None:
        """It stopped itself once its stacks were written: it goes on, unless a freeze (the environment's, or the
        user's) stopped it meanwhile, which thaws it in its time."""
        if self.runtime.alive and not self.frozen and RUNTIME not in self.user_frozen:
            self._do(Thaw((RUNTIME,)))

    def _init_waiting_on(self) -> str:
        waiting = [f"extension '{s.name}' never registered" for s in self.extensions.values()
                   if s.external and not s.registered and s.state is ExtensionState.STARTED]
        waiting += [f"extension '{s.name}' never called /event/next" for s in self.extensions.values()
                    if s.registered and s.state is ExtensionState.REGISTERED]
        # An error it reported fails Init only when the process exits (lambda-spec §2.4): one that lingers makes it wait.
        waiting += [f"extension '{s.name}' reported {s.fatal_type} but never exited" for s in self.extensions.values()
                    if s.alive and s.fatal_type is not None]
        if self.runtime.state is RuntimeState.STARTED:
            waiting.append("the runtime never called /runtime/invocation/next")
        elif self.runtime.state is RuntimeState.INIT_ERROR:
            # Its failure takes effect when it exits, as it must right after /init/error (lambda-spec §1.6): without
            # this, the timeout said "no participant finished" and hid the error the runtime did report.
            waiting.append(f"the runtime posted /runtime/init/error ({self.runtime.init_error_type}) but never exited, "
                           "as a runtime must right after it")
        elif self.runtime.state is RuntimeState.RESTORING:
            waiting.append("the runtime's after-restore hooks never finished (it never called /runtime/invocation/next)")
        elif self.runtime.state is RuntimeState.NOT_STARTED and not waiting:
            waiting.append("the runtime was never launched")
        what = "Restore" if self.init is not None and self.init.phase == "restore" else "Init"
        return f"{what} timed out: " + ("; ".join(waiting) if waiting else "no participant finished")
