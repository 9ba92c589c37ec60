"""SnapStart (lambda-spec §1.7, §4.8): the snapshot environment's Init ends parked on /restore/next; a restored
environment's Init is a restore, bounded by 10 s, that ends when the after-restore hooks are done.

The snapshot environment (`config.snapstart == SNAPSHOT`) initialises as on publishing a version: its runtime's
pending /restore/next *is* the snapshot, held for every restore. A restored environment (`RESTORE`) gets its
runtime from that snapshot (the host forks it, or re-runs a runtime whose process cannot be copied); its
/restore/next is answered at once, as the call returns in a restored VM.
"""

from __future__ import annotations

import math
from typing import Optional

from lambdatui.core import platform_lines as lines
from lambdatui.core.common import (
    JSON,
    RESTORE_TIMER,
    SNAPSHOT,
    error_body,
)
from lambdatui.core.effects import RUNTIME, CompleteInvocation
from lambdatui.core.inputs import RuntimeRestoreError, RuntimeRestoreNext
from lambdatui.core.runtime_machine import RuntimeCall, RuntimeState, TransitionNotAllowed
from lambdatui.core.runtime_machine import transition as runtime_transition
from lambdatui.core.slots import InitRun
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, ShutdownReason

RESTORE = "restore"  # InitRun.phase of a restore

# What the Invoke API answers when a restore fails (botocore's lambda model): the after-restore hook failed, or
# the restore did not finish within its 10 s.
SNAPSTART_EXCEPTION = (400, "SnapStartException")
SNAPSTART_TIMEOUT = (408, "SnapStartTimeoutException")


class RestoreRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""

    def _begin_restore(self) -> None:
        """A restored environment's Init: RESTORE_START, then the usual order with the runtime copied, not started."""
        self._start_timer(RESTORE_TIMER, self.config.restore_timeout_ms / 1000)
        self._line(lines.restore_start(self.config.runtime_version, self.config.runtime_version_arn))
        self._start_line_of_suppressed()
        self._emit(f.PhaseStarted("init", RESTORE, self._now.mono))
        self._reach(Boundary.RESTORE_START)

    def _on_RuntimeRestoreNext(self, event: RuntimeRestoreNext) -> None:
        rt = self.runtime
        if not self.config.snapstart:
            self._reply_error(event.token, 404, "NotFound",
                              "/runtime/restore/next is served to SnapStart functions only (run with --snapstart)")
            return
        try:
            rt.state = runtime_transition(rt.state, RuntimeCall.RESTORE_NEXT)
        except TransitionNotAllowed as refused:
            self._reply_error(event.token, 403, et.INVALID_STATE_TRANSITION, str(refused))
            return
        self.registration_open = False
        if self.config.snapstart == SNAPSHOT:
            self._park_runtime(event.token)  # never answered: the pending call is the snapshot
            self._check_init_done()
            return
        if self.init is not None:
            self.init.runtime_restored = self._mark()
        rt.state = RuntimeState.RESTORING
        self._reply(event.token, 200, b"")
        self._participant_changed(RUNTIME, rt.state, False)

    def _on_RuntimeRestoreError(self, event: RuntimeRestoreError) -> None:
        # As with init/error, the failure takes effect when the runtime exits (status 65 from Lambda's runtime).
        self._runtime_failure_reported(event, RuntimeCall.RESTORE_ERROR)

    def _restored_runtime_next(self) -> None:
        """The restored runtime asked for its first event: its after-restore hooks are done."""
        if self.init is not None:
            self.init.runtime_done = self._mark()
        self._reach(Boundary.RESTORE_HOOKS_DONE)

    def _restore_done(self, init: InitRun, duration: float) -> None:
        """RESTORE_REPORT; the first invoke's REPORT carries the restore's durations instead of Init Duration.

        A restore inside its invoke (after a reset) is billed as a suppressed Init is: its time is in that invoke's
        Duration, whose clock started first, and its REPORT bills it there only (the spec is silent; billing it
        again as Billed Restore Duration would charge it twice)."""
        self._line(lines.restore_report(duration, "success", None))
        if self.current is not None:
            return
        started, done = init.runtime_started, init.runtime_done
        runtime_ms = self._between_ms(started, done) if started is not None and done is not None else duration
        # Lambda bills the runtime's part of a restore (loading it and the after-restore hooks), rounded up.
        self.pending_restore = (duration, max(1, math.ceil(runtime_ms)))

    def _restore_failed(self, error_type: Optional[str], detail: str, status: str) -> None:
        """The restore failed or timed out: its invokes fail with SnapStart's API error and the environment is
        discarded; the next invoke is restored into another one."""
        init, self.init = self.init, None
        if init is None:
            return
        self._cancel_timer(RESTORE_TIMER)
        duration = self._elapsed_ms(init.started, init.held_before)
        self._line(lines.restore_report(duration, status, error_type if status == "error" else None))
        self._emit(f.PhaseEnded("init", status, duration, error_type, at=self._now.mono))
        reported = error_type is not None and error_type == self.runtime.init_error_type
        self._emit(f.InitFailed(status, error_type, detail, (self.runtime.init_error_body or b"") if reported else b"",
                                phase=RESTORE))
        if detail:
            self._explain(detail)
        code, name = SNAPSTART_TIMEOUT if status == "timeout" else SNAPSTART_EXCEPTION
        if status == "timeout":
            message = "Lambda couldn't restore the snapshot within the timeout limit."
        elif error_type == et.RUNTIME_AFTER_RESTORE_ERROR:
            message = "The afterRestore() runtime hook encountered an error: see the function's log."
        else:
            message = f"The restore failed ({error_type or 'unknown error'}): see the function's log."
        run, self.current = self.current, None
        waiting = ([(run.token, run.invocation)] if run is not None else []) + list(self.queue)
        self.queue.clear()
        for token, inv in waiting:
            if inv.asynchronous:
                self._event_not_run(inv, f"was not run: the restore it waited for failed ({name})")
                continue
            result = f.InvocationResult(inv.request_id, error_body(name, message), JSON, True, name, api_status=code)
            self._emit(f.InvocationRefused(inv.request_id, f"{name}: {message}", inv.payload))
            self._do(CompleteInvocation(token, result))
        reason = ShutdownReason.TIMEOUT if status == "timeout" else ShutdownReason.FAILURE
        self._begin_shutdown(reason, final=True)

    def _snapshot_lost(self, detail: str) -> None:
        """The snapshot's process ended: nothing can be restored from it any more."""
        self._explain(f"{detail}: the snapshot is gone, no environment can be restored from it any more.")
        self._begin_shutdown(ShutdownReason.FAILURE, final=True)
