"""Lambda's deadlines, and the time that never counts against them: a user holding a boundary, the debugger inspecting.

A debugger must not cause the timeouts it is used to study. Four things pause the clock: a hold (the user is
looking; processes are frozen), the debugger stopped by Ctrl-Z (frozen too), an inspection (our bootstrap is writing
the globals report inside the function's process, which Lambda would never do; not while an extension works, which
is Lambda's time), and the sandbox settling before a spawn (lambdatui's own housekeeping: Lambda starts Init's clock
with the runtime's process). While any pause lasts, the running
deadlines are stopped with what they had left, and the paused time is added to `held_total`, which every phase
duration excludes.
"""

from __future__ import annotations

from typing import Optional

from lambdatui.core.common import INIT_TIMER, INSPECTION_LIMIT_TIMER, INVOKE_TIMER, RESTORE_TIMER
from lambdatui.core.effects import CancelTimer, StartTimer
from lambdatui.core.extension_machine import ExtensionState
from lambdatui.core.inputs import (DebuggerSuspended, InspectionEnded, InspectionStarted, Instant, SandboxSettling,
                                   TimerFired)
from lambdatui.core.runtime_machine import RuntimeState
from lambdatui.core.slots import ExtensionSlot
from lambdatui.model.boundaries import EnvState

HOLD = "hold"
INSPECTION = "inspection"
SETTLING = "settling"
SUSPENDED = "suspended"

# Our bootstrap bounds every repr (50 ms each, 1 s for a whole report); only code that never yields the GIL
# can take longer. Past this the inspection's time counts again, so that such code still times out as in Lambda.
INSPECTION_LIMIT_S = 10.0
_AT_WORK = frozenset({ExtensionState.STARTED, ExtensionState.REGISTERED, ExtensionState.RUNNING})
_REPORTING = frozenset({RuntimeState.STARTED, RuntimeState.RUNNING, RuntimeState.RESPONSE_SENT})


class ClockRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""

    # ------------------------------------------------------------------ deadlines

    def _start_timer(self, name: str, seconds: float) -> None:
        at = self._now.mono + seconds
        self.timers[name] = at
        self._do(StartTimer(name, at))

    def _cancel_timer(self, name: str) -> None:
        if self.timers.pop(name, None) is not None:
            self._do(CancelTimer(name))
        self.paused_timers.pop(name, None)

    def _timer_left(self, name: str) -> float | None:
        if name in self.paused_timers:
            return self.paused_timers[name]
        at = self.timers.get(name)
        return None if at is None else max(0.0, at - self._now.mono)

    def _deadline_running(self, name: str) -> bool:
        return name in self.timers or name in self.paused_timers

    def _heard_late(self, arrived: Optional[float], extension: Optional[ExtensionSlot] = None) -> bool:
        """A call heard now (the runtime's, or `extension`'s), which reached the host's socket at `arrived`: the time
        the host took to hear it (its thread busy; in the debugger, the UI's repaint) is not the function's when the
        phase waited only on that call. It is then held, as a pause is: phase durations leave it out, and the running
        deadlines move on by as much. While the rest of the phase still worked (the handler, another extension), it
        is their time: the handler's clock counted it (its time left is read against the deadline it was given),
        and so does the Duration. True when the phase's deadline had passed before the call arrived: it is carried
        out first, as it would have been had the host heard the call in time, and the call then meets the timed-out
        phase. (Managed Instances run several invokes on one clock: none is moved for one of them.)"""
        if arrived is None or self.pauses or self.config.managed:
            return False
        for name in (INVOKE_TIMER, INIT_TIMER, RESTORE_TIMER):
            at = self.timers.get(name)
            if at is not None and at <= arrived:
                self._on_TimerFired(TimerFired(name))  # type: ignore[attr-defined]  # ProcessRules'
                return True
        if self._others_at_work(extension):
            # Until it arrived its caller worked: a call of the others' that came earlier but is heard after this one
            # is held from here on, not from its own arrival.
            self.held_until = max(self.held_until, arrived)
            return False
        late = self._now.mono - max(arrived, self.held_until)
        if late <= 0.0:
            return False
        self.held_total += late
        self.held_until = self._now.mono
        for name, at in list(self.timers.items()):
            if name != INSPECTION_LIMIT_TIMER:
                self._start_timer(name, at - self._now.mono + late)
        return False

    def _others_at_work(self, caller: Optional[ExtensionSlot]) -> bool:
        """Whether a participant other than the caller (`None`: the runtime) still works on the current invoke."""
        if caller is not None and self.runtime.state in (RuntimeState.RUNNING, RuntimeState.STREAMING):
            return True
        return any(slot is not caller and slot.alive and slot.state is ExtensionState.RUNNING
                   for slot in self.extensions.values())

    def _elapsed_ms(self, since: Instant, held_before: float) -> float:
        held = self.held_total - held_before
        if self.paused_since is not None:
            held += self._now.mono - self.paused_since
        return max(0.0, (self._now.mono - since.mono - held) * 1000)

    def _mark(self) -> tuple[Instant, float]:
        """Now, with the time held so far: the span between two marks leaves holds and inspections out."""
        held = self.held_total
        if self.paused_since is not None:
            held += self._now.mono - self.paused_since
        return self._now, held

    @staticmethod
    def _between_ms(start: tuple[Instant, float], end: tuple[Instant, float]) -> float:
        return max(0.0, (end[0].mono - start[0].mono - (end[1] - start[1])) * 1000)

    # ------------------------------------------------------------------ pauses

    def _pause_clock(self, reason: str) -> None:
        if not self.pauses:
            self.paused_since = self._now.mono
        self.pauses.add(reason)
        # Deadlines started during an earlier pause are running too: a new pause stops them as well.
        for name in list(self.timers):
            if name == INSPECTION_LIMIT_TIMER:
                continue  # the bound on the pause itself
            self.paused_timers[name] = max(0.0, self.timers.pop(name) - self._now.mono)
            self._do(CancelTimer(name))

    def _resume_clock(self, reason: str) -> None:
        if reason not in self.pauses:
            return
        self.pauses.discard(reason)
        if self.pauses:
            return
        assert self.paused_since is not None
        self.held_total += self._now.mono - self.paused_since
        self.held_until = self._now.mono
        self.paused_since = None
        paused, self.paused_timers = self.paused_timers, {}
        for name, left in paused.items():
            self._start_timer(name, left)  # the phase's deadlines still bound what comes next

    # ------------------------------------------------------------------ the sandbox settling

    def _on_SandboxSettling(self, event: SandboxSettling) -> None:
        if event.settling:
            self._pause_clock(SETTLING)
        else:
            self._resume_clock(SETTLING)

    # ------------------------------------------------------------------ the debugger stopped (Ctrl-Z)

    def _on_DebuggerSuspended(self, event: DebuggerSuspended) -> None:
        """Stopped, lambdatui reads none of the function's output, and a function that prints blocks on the full pipe:
        the environment is held as at a boundary (frozen, its deadlines stopped) until the debugger is back, so that
        the stop costs the function no time. One frozen already (idle, or held) stays as it was."""
        if event.suspended:
            if SUSPENDED not in self.pauses:
                self._pause_clock(SUSPENDED)
                if not self.frozen:
                    self._freeze()
                    self.suspend_froze = self.frozen
            return
        self._resume_clock(SUSPENDED)
        if self.suspend_froze:
            self.suspend_froze = False
            idle = (not self.config.managed and self.current is None and self.state is EnvState.FROZEN
                    and self.offered is None)
            if self.hold is None and not idle:
                self._thaw()

    # ------------------------------------------------------------------ the debugger's inspection

    def _on_InspectionStarted(self, event: InspectionStarted) -> None:
        if event.generation != self.generation or not self.runtime.alive or INSPECTION in self.pauses:
            return
        if self.inspection_waiting or self.runtime.state not in _REPORTING:
            return  # parked on /next or gone: there is no phase whose clock it could take from
        # Paused from when it asked (Init's wait for the host is `_waited_since`'s); not at all after a timeout.
        if self.runtime.state is not RuntimeState.STARTED and self._heard_late(event.arrived):
            return
        if self._extension_at_work():
            # Its work is Lambda's time, and it goes on through the report's (its sleeps and its waits on the network
            # too, which no freeze would stop): the clock stops once no extension works, so that an extension
            # flushing past the timeout still times the invoke out, and its own Init stays in Init Duration.
            self.inspection_waiting = True
            return
        self._pause_for_inspection()

    def _pause_for_inspection(self) -> None:
        self.inspection_waiting = False
        self._pause_clock(INSPECTION)
        self._start_timer(INSPECTION_LIMIT_TIMER, INSPECTION_LIMIT_S)

    def _pause_once_extensions_rest(self) -> None:
        """After each input while an inspection waits for the extensions: each has asked for its next event, or
        ended (and the runtime, still reporting, is still in the phase)."""
        if self.shutdown is not None or self.runtime.state not in _REPORTING:
            self.inspection_waiting = False  # the phase ended meanwhile (a timeout, a crash): nothing to pause
        elif not self._extension_at_work():
            self._pause_for_inspection()

    def _extension_at_work(self) -> bool:
        """An extension in its own Init, or working on an event it has not asked past (internal ones too: threads of
        the runtime's process, which the report does not stop)."""
        return any(slot.alive and slot.state in _AT_WORK for slot in self.extensions.values())

    def _on_InspectionEnded(self, event: InspectionEnded) -> None:
        if event.generation == self.generation:
            self._end_inspection()

    def _end_inspection(self) -> None:
        """The report arrived, or the runtime moved on (/next, /error) or died: the clock runs again."""
        self.inspection_waiting = False
        if INSPECTION not in self.pauses:
            return
        self._cancel_timer(INSPECTION_LIMIT_TIMER)
        self._resume_clock(INSPECTION)

    def _inspection_overran(self) -> None:
        self._explain(f"The globals report has taken over {INSPECTION_LIMIT_S:.0f} s (a repr that never yields): "
                      "from now on its time counts against the deadline, as the function's own time would.")
        self._resume_clock(INSPECTION)
