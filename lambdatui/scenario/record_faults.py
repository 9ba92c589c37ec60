"""Where a recording places a fault that acted on the invoke in flight (part of `Recorder`, record.py).

A fault that acts at once (crash, freeze, thaw, timeout) given while an invoke ran acted on that invoke, at the point
it had reached. A replay runs each step to its end before the next, so written where it was given (after the invoke's
step) it would find no invoke to act on: it is written before the invoke instead, armed (`at`) for the boundary the
invoke had reached (invoke.start, or invoke.response once the runtime had answered; an Init boundary when it came
during the invoke's cold start, or during an Init run ahead of any invoke: the debugger's first). Armed at invoke.start alone, it would act before the event goes out, where the
handler never runs: so one given once the event was out also keeps how far into the invoke it acted (`after_ms`, the
invoke's own time that the core reports in `FaultInjected`), and the replay's handler meets it as far in. One given
while held at invoke.start, before delivery, acted there, and is written so.

On Managed Instances (no `after_ms`: several invokes run at once, none to count from), a crash, freeze or thaw given
while several invokes of one step ran in an environment's workers acted on all of them: it is armed for the
invoke.start that has as many in flight (`in_flight`), so that the replay's step has them all in flight when it acts.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary
from lambdatui.scenario.record_output import OtherStep, Overlap


class FaultPlacement:
    """Part of `Recorder` (record.py): its fault steps, placed and timed."""

    steps: list[Any]
    _invoke_at: dict[int, tuple[str, Boundary]]
    _init_at: dict[int, Boundary]
    _in_flight: dict[str, int]
    _waiting: dict[str, Any]
    _overlap_of: dict[str, Overlap]
    # env #N -> the fault step armed at invoke.start whose FaultInjected has not been heard yet, with the description
    # that fact will carry: the fact says how far into the invoke it acted (`_fault_heard`).
    _untimed: dict[int, tuple[OtherStep, str]]
    _target_number: Callable[[Optional[int]], int]  # Recorder's: the environment a command acts on
    _managed: Callable[[], bool]  # RecordOutput's: Managed Instances, several invokes at once in an environment
    _held_start: Optional[str]  # the invoke held at invoke.start, before its event went out

    def _arm_for_invoke(self, command: c.InjectFault) -> bool:
        """A fault that acts at once, given while an invoke ran: written before that invoke, armed for the boundary it
        had reached, so that a replay meets it at the same point. True when it was placed so."""
        fault = command.fault
        if fault.at is not None or not isinstance(fault, flt.ACTS_AT_ONCE):
            return False  # the others act on the next handler entry or registration: their place is already right
        number = self._target_number(command.env)
        if self._arm_for_workers(number, command):
            return True
        running = self._invoke_at.get(number) or self._waiting_for_init(number)
        if running is None:
            return self._arm_for_first_init(number, command)
        request_id, boundary = running
        armed = OtherStep(c.InjectFault(dataclasses.replace(fault, at=boundary), env=command.env))
        overlap = self._overlap_of.get(request_id)
        at = next((i for i, step in enumerate(self.steps) if step is overlap), len(self.steps))
        self.steps.insert(at, armed)  # not yet placed (held at invoke.start): it is, after this
        if boundary is flt.AFTER_MS_BOUNDARY:
            self._untimed[number] = (armed, flt.describe(fault))
        return True

    def _arm_for_workers(self, number: int, command: c.InjectFault) -> bool:
        """Managed Instances: a crash, freeze or thaw acts on processes that every invoke in flight in env #N's workers
        shares. Armed for invoke.start, a replay would meet it at the first of them, before the others are given to
        the environment (after a crash they would run in another one, and succeed): with several in flight, it is
        armed for the invoke.start that has as many in flight at once (`in_flight`), written before their step, so
        that the replay has all of them in flight when it acts. (A forced timeout acts on one invoke, the oldest:
        armed for the first invoke.start, it meets the same one.) True when it was placed so."""
        if not self._managed() or isinstance(command.fault, flt.ForceTimeout):
            return False
        together = self._running_together(number)
        if len(together) < 2:
            return False
        fault = dataclasses.replace(command.fault, at=flt.AFTER_MS_BOUNDARY, in_flight=len(together))
        overlap = self._overlap_of.get(together[-1])
        at = next((i for i, step in enumerate(self.steps) if step is overlap), len(self.steps))
        self.steps.insert(at, OtherStep(c.InjectFault(fault, env=command.env)))
        return True

    def _running_together(self, number: int) -> list[str]:
        """The invokes env #N runs now (their event went out, or is held at invoke.start) that share a step with the
        newest of them: those a replay has in flight at once (an earlier step's have ended by then), oldest first."""
        started = [request_id for request_id, env in self._in_flight.items()
                   if env == number and (request_id not in self._waiting or request_id == self._held_start)]
        if not started:
            return []
        overlap = self._overlap_of.get(started[-1])
        return [request_id for request_id in started if self._overlap_of.get(request_id) is overlap]

    def _arm_for_first_init(self, number: int, command: c.InjectFault) -> bool:
        """A fault given during an Init no invoke waits for (the debugger's own first Init, run ahead): a replay starts
        that Init with its first invoke, so the fault is written armed for the boundary the Init had reached (unarmed,
        it would go to an environment not yet started, which refuses it, and the Init would not fail)."""
        boundary = self._init_at.get(number)
        if boundary is None:
            return False
        self.steps.append(OtherStep(c.InjectFault(dataclasses.replace(command.fault, at=boundary), env=command.env)))
        return True

    def _waiting_for_init(self, number: int) -> Optional[tuple[str, Boundary]]:
        """The invoke whose cold start env #N is in, and the boundary that Init has reached: a fault given now failed
        that Init (retried inside the invoke, or failing it when it already was the retry). Written unarmed, before the
        invoke, a replay would give it to an environment not yet started, which refuses it, and the invoke succeeds."""
        boundary = self._init_at.get(number)
        if boundary is None:
            return None
        waiting = next((rid for rid, env in self._in_flight.items() if env == number and rid in self._waiting), None)
        return None if waiting is None else (waiting, boundary)

    def _fault_heard(self, number: int, fact: f.FaultInjected | f.FaultRefused) -> None:
        """The fault armed at invoke.start acted (or was refused): once the event was out, it acted this far into the
        invoke, which its step keeps as after_ms."""
        untimed = self._untimed.get(number)
        if untimed is None or untimed[1] != fact.description:
            return  # another fault's: one armed earlier, acting at its boundary
        del self._untimed[number]
        step, _ = untimed
        if isinstance(fact, f.FaultInjected) and fact.invoke_elapsed_ms is not None:
            assert isinstance(step.command, c.InjectFault)
            timed = dataclasses.replace(step.command.fault, after_ms=round(fact.invoke_elapsed_ms))
            step.command = dataclasses.replace(step.command, fault=timed)
