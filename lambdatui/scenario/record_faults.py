"""Where a recording places a fault that acted on the invoke in flight (part of `Recorder`, record.py).

A fault that acts at once (crash, freeze, thaw, timeout) given while an invoke ran acted on that invoke, at the point
it had reached. A replay runs each step to its end before the next, so written where it was given (after the invoke's
step) it would find no invoke to act on: it is written before the invoke instead, armed (`at`) for the boundary the
invoke had reached (invoke.start, or invoke.response once the runtime had answered; an Init boundary when it came
during the invoke's cold start, or during an Init run ahead of any invoke: the debugger's first). Armed at invoke.start alone, it would act before the event goes out, where the
handler never runs: so one given once the event was out also keeps how far into the invoke it acted (`after_ms`, the
invoke's own time that the core reports in `FaultInjected`), and the replay's handler meets it as far in. One given
while held at invoke.start, before delivery, acted there, and is written so.
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

    def _arm_for_invoke(self, command: c.InjectFault) -> bool:
        """A fault that acts at once, given while an invoke ran: written before that invoke, armed for the boundary it
        had reached, so that a replay meets it at the same point. True when it was placed so."""
        fault = command.fault
        if fault.at is not None or not isinstance(fault, flt.ACTS_AT_ONCE):
            return False  # the others act on the next handler entry or registration: their place is already right
        number = self._target_number(command.env)
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
