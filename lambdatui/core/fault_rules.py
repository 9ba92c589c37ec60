"""Faults the user injects (design.md, Faults): each becomes what Lambda would see, then plays out by the usual rules."""

from __future__ import annotations

from typing import Optional

from lambdatui.core.common import (
    CRASH_EXIT_WAIT_S,
    CRASH_TIMER_PREFIX,
    FAULT_AFTER_TIMER_PREFIX,
    INIT_TIMER,
    INVOKE_TIMER,
    RESTORE,
    RUNTIME_STOP_TIMER,
    SHUTDOWN_TIMER,
    SNAPSHOT,
)
from lambdatui.core.effects import (
    RUNTIME,
    ExitProcess,
    Freeze,
    Kill,
    SignalProcess,
    Thaw,
    extension_key,
)
from lambdatui.core.extension_machine import ExtensionState
from lambdatui.core.inputs import (
    FaultRequested,
    TimerFired,
)
from lambdatui.core.slots import ExtensionSlot, InvokeRun
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary, EnvState


# A crash, or a new environment, of SnapStart's snapshot once it is taken would end every restored environment with it:
# they run copies of its processes (processes/snapshot_template.py), and Lambda never touches a snapshot.
SNAPSHOT_KEPT = ("This is SnapStart's snapshot: every restored environment (env #2 on) runs a copy of its processes, "
                 "which would end with them, and Lambda never changes a snapshot once taken. Aim at a restored "
                 "environment instead (env = N in a scenario; select it in the debugger).")


class FaultRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""

    runs: dict[str, InvokeRun]  # Managed Instances' invokes in flight (ManagedEnvironment's alone: see in_flight)

    def _on_FaultRequested(self, event: FaultRequested) -> None:
        fault = event.fault
        wrong = self._after_ms_wrong(fault) if flt.after_ms(fault) is not None else None
        if wrong is None and flt.in_flight(fault) is not None:
            wrong = self._in_flight_wrong(fault)
        if wrong is not None:
            self._refuse(fault, wrong)
            return
        if fault.at is not None:
            never = self._never_reached(fault.at)
            if never is not None:
                self._refuse(fault, never)  # armed, it would wait for good, and a replay would pass as if it had acted
                return
            self.armed.append(fault)
            self._emit(f.FaultArmed(flt.describe(fault), fault.at))
            return
        if isinstance(fault, flt.Crash) and self.state is EnvState.SNAPSHOT:
            self._refuse(fault, SNAPSHOT_KEPT)
            return
        self._inject(fault)

    def _after_ms_wrong(self, fault: flt.Fault) -> Optional[str]:
        """Why `fault`'s after_ms cannot be kept, or None. The scenario parser refuses the same in a file; the
        controller's callers are checked here."""
        if fault.at is not flt.AFTER_MS_BOUNDARY:
            return (f"after_ms counts from the moment an invoke's event goes out: it goes with at "
                    f"{flt.AFTER_MS_BOUNDARY.value} only.")
        delay = flt.after_ms(fault)
        if not (delay is not None and delay >= 0):  # NaN included
            return f"after_ms must be 0 or more, not {delay}."
        if self.config.managed:
            return ("after_ms counts into one invoke's time: on Managed Instances, which run several invokes at once, "
                    "there is no one invoke to count from.")
        return None

    def _in_flight_wrong(self, fault: flt.Fault) -> Optional[str]:
        """Why `fault`'s in_flight cannot be kept, or None (the scenario parser refuses the same in a file)."""
        wanted = flt.in_flight(fault)
        if fault.at is not flt.AFTER_MS_BOUNDARY:
            return (f"in_flight counts the invokes whose event is going out: it goes with at "
                    f"{flt.AFTER_MS_BOUNDARY.value} only.")
        if not self.config.managed:
            return ("in_flight counts the invokes one environment runs at once: only Managed Instances run more "
                    "than one.")
        if wanted is None or not 1 <= wanted <= self.config.max_concurrency:
            return (f"in_flight = {wanted}: this environment runs 1 to {self.config.max_concurrency} invokes at "
                    "once.")
        return None

    def _in_flight_reached(self, fault: flt.Fault) -> bool:
        """Whether a fault armed for invoke.start may act at this one: with in_flight = N, once it makes N invokes
        in flight at once (they are in `runs` from their invoke.start on; only Managed Instances take in_flight)."""
        wanted = flt.in_flight(fault)
        return wanted is None or len(self.runs) >= wanted

    def _never_reached(self, at: Boundary) -> Optional[str]:
        """Why this environment never reaches `at`, or None: SnapStart's boundaries are each one kind of
        environment's, and the snapshot is taken once, before any invoke."""
        role = self.config.snapstart
        if at in (Boundary.RESTORE_START, Boundary.RESTORE_HOOKS_DONE) and role != RESTORE:
            return (f"This environment is never restored, so it never reaches {at.value}: with SnapStart, the "
                    "environments that take invokes (env #2 on) are restored from env #1's snapshot, each made by "
                    "the invoke it takes; a fault can be armed for a restore only in one of them (it is restored "
                    "again after a reset).")
        if at is Boundary.SNAPSHOT_TAKEN and role != SNAPSHOT:
            return f"This environment takes no snapshot, so it never reaches {at.value}: only SnapStart's env #1 does."
        if at is Boundary.SNAPSHOT_TAKEN and self.state is EnvState.SNAPSHOT:
            return f"The snapshot is taken already, once: {at.value} does not come again."
        return None

    # ------------------------------------------------------------------ faults that act some time into the invoke

    def _wait_for_delivery(self, due: list[flt.Fault]) -> list[flt.Fault]:
        """Of the faults due at invoke.start, those with after_ms count from the event's delivery, which a hold there
        may put off: they wait for it (`_start_after_delivery`). Returns the ones that act now."""
        self.after_delivery += [fault for fault in due if flt.after_ms(fault) is not None]
        return [fault for fault in due if flt.after_ms(fault) is None]

    def _start_after_delivery(self) -> None:
        """The event went out: each waiting fault's time starts. A timer, so that holds and inspections stop it as
        they stop the invoke's deadline (clock_rules): it counts the invoke's own time, as after_ms was measured."""
        for number, fault in enumerate(self.after_delivery):
            name = f"{FAULT_AFTER_TIMER_PREFIX}{number}"
            self.delayed[name] = fault
            self._start_timer(name, (flt.after_ms(fault) or 0.0) / 1000)
        self.after_delivery = []

    def _delayed_fault_due(self, name: str) -> None:
        fault = self.delayed.pop(name, None)
        if fault is not None:
            self._inject(fault)

    def _drop_delayed_faults(self, run: InvokeRun) -> None:
        """The invoke ended before its faults' time came: they had nothing left to act on (the handler finished
        sooner than where the fault was given), and a later invoke is not theirs. Said, so a replay shows why."""
        if run.delivered_at is None:
            why = "before its event went out, so the time this fault counts from never began"
        else:
            why = f"{self._between_ms(run.delivered_at, self._mark()):.0f} ms after its event went out"
        for fault in self.after_delivery:
            self._refuse(fault, f"Invoke {run.invocation.request_id} ended {why}: nothing was injected.")
        self.after_delivery = []
        for name, fault in list(self.delayed.items()):
            self._cancel_timer(name)
            self._refuse(fault, f"Invoke {run.invocation.request_id} ended {why}, before this fault's "
                                f"{flt.after_ms(fault):g} ms: nothing was injected.")
        self.delayed.clear()

    # ------------------------------------------------------------------ acting

    def _participant_key(self, fault: flt.Fault, target: str) -> Optional[str]:
        if target == flt.RUNTIME_TARGET:
            return RUNTIME
        if target in self.extensions:
            return extension_key(target)
        self._refuse(fault, f"No participant named '{target}': the runtime is 'runtime', extensions go by their "
                            "file name.")
        return None

    def _is_alive(self, key: str) -> bool:
        if key == RUNTIME:
            return self.runtime.alive
        slot = self.extensions.get(key.split(":", 1)[1])
        return slot is not None and slot.alive

    def _refuse(self, fault: flt.Fault, reason: str) -> None:
        """The fault cannot take effect now: say so, rather than that it was injected."""
        self._emit(f.FaultRefused(flt.describe(fault), reason))
        self._explain(reason)

    def _injected(self, fault: flt.Fault) -> None:
        """Say that `fault` acts now, and how far into the delivered invoke (what a recording's after_ms keeps)."""
        run = self.current
        elapsed = None
        if run is not None and run.delivered_at is not None:
            elapsed = self._between_ms(run.delivered_at, self._mark())
        self._emit(f.FaultInjected(flt.describe(fault), elapsed))

    def _inject(self, fault: flt.Fault) -> None:
        # FaultInjected only once the fault is known to take effect: a refused one is a FaultRefused.
        if not isinstance(fault, flt.ACTS_AT_ONCE):  # it waits for what comes next
            self._injected(fault)
            if isinstance(fault, flt.RaiseInHandler):
                self.raise_next = (fault.exception, fault.message)
            else:
                self._inject_init_error(fault.target)
        elif isinstance(fault, flt.ForceTimeout):
            self._force_timeout(fault)
        else:
            key = self._participant_key(fault, fault.target)
            if key is None:
                return
            slot = self.extensions.get(fault.target) if key != RUNTIME else None
            if slot is not None and not slot.external:
                # Threads of the runtime process, not a process of its own: no signal can reach it alone.
                self._refuse(fault, f"{fault.target} is an internal extension: it runs inside the runtime process, "
                                    f"so {flt.describe(fault).split()[0]} the runtime instead.")
                return
            if not self._is_alive(key):
                self._refuse(fault, f"{fault.target} is not running: nothing to {flt.describe(fault).split()[0]}.")
                return
            self._injected(fault)
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
                if fault.exit_code is not None or (fault.signal or 9) != 9:
                    # Any signal but SIGKILL can be caught or ignored (a graceful-shutdown SIGTERM handler; the
                    # function's own handler of the signal our bootstrap's exit hook uses): without a bound, an exit that
                    # never comes would keep the environment busy, and thawed, for good.
                    self._start_timer(CRASH_TIMER_PREFIX + key, CRASH_EXIT_WAIT_S)

    def _crash_survived(self, key: str) -> None:
        """The crash's exit did not come: the process lives on, so the environment is what it was, idle or running."""
        if key not in self.expecting_exit or not self._is_alive(key):
            return
        self.expecting_exit.discard(key)
        who = "The runtime" if key == RUNTIME else f"Extension '{key.split(':', 1)[1]}'"
        self._explain(f"{who} is still running {CRASH_EXIT_WAIT_S:g} s after the crash's signal: it catches or "
                      "ignores it, so nothing crashed and the environment goes on as before.")
        self._settle()  # idle: frozen again (the crash thawed it so that the signal could act), or the next invoke

    def _force_timeout(self, fault: Optional[flt.Fault] = None) -> None:
        """`fault` is the user's request (None: a forced timeout armed for delivery, already announced)."""
        running = [name for name in (INVOKE_TIMER, INIT_TIMER, RUNTIME_STOP_TIMER, SHUTDOWN_TIMER)
                   if self._deadline_running(name)]
        if not running and self.current is not None and not self.current.delivered:
            # Held before delivery: the invoke's deadline starts when the event goes out, and elapses at once.
            if fault is not None:
                self._injected(fault)
            self.timeout_on_delivery = True
            return
        if not running:
            self._refuse(fault or flt.ForceTimeout(),
                         "No deadline is running at this point, so there is none to force.")
            return
        if fault is not None:
            self._injected(fault)
        name = running[0]
        if name == INVOKE_TIMER and self.current is not None:
            # Lambda's timeout line names the configured timeout, which did not pass: say what did.
            ran_s = self._elapsed_ms(self.current.started, self.current.held_before) / 1000
            configured_s = self.config.timeout_ms / 1000
            self._line(f"The deadline was forced after {ran_s:.2f} s of the configured {configured_s:g} s: Lambda's "
                       "timeout line names the configured timeout, as at the real deadline.",
                       f.LAMBDATUI, self.current.invocation.request_id)
        self._abandon_hold()  # the phase fails while held: its boundary's continuation is dropped
        self.paused_timers.pop(name, None)  # an inspection may still be pausing it
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
        self._keep_first_fatal(slot)
        if slot.parked is not None:
            token, slot.parked = slot.parked, None
            self._reply_error(token, 403, et.EXT_INVALID_STATE, "Extension reported init/error (injected by lambdatui)")
        self._participant_changed(extension_key(slot.name), slot.state, False)
        if slot.alive:
            self._do(Kill(extension_key(slot.name)))
