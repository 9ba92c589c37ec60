"""What the controller reads from the core: whether the lifecycle has come to rest, and which faults wait."""

from __future__ import annotations

from driver import Driver

from lambdatui.core.effects import RUNTIME
from lambdatui.core.inputs import BreakpointsSet, FaultRequested, StepRequested
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary


def warm() -> Driver:
    d = Driver()
    d.cold_start()
    return d


def armed(d: Driver) -> tuple[str, ...]:
    return d.env.snapshot(d.mono).armed


def test_settled_when_idle_and_not_while_an_invoke_or_a_crash_is_in_flight():
    d = warm()
    assert d.env.settled()
    _, rid = d.invoke()
    assert not d.env.settled()  # delivered, not answered
    d.respond(rid)
    d.runtime_next()
    assert d.env.settled()
    d.feed(FaultRequested(flt.Crash()))
    assert not d.env.settled()  # SIGKILL sent; the exit has not played out yet
    d.killed_by_signal(RUNTIME)
    assert d.env.settled()  # reset done: cold, nothing queued


def test_settled_while_held_even_with_an_invoke_waiting():
    d = warm()
    d.feed(BreakpointsSet(frozenset({Boundary.INVOKE_START})))
    d.invoke()
    assert d.env.hold is not None and d.env.settled()
    d.feed(FaultRequested(flt.Crash()))
    assert not d.env.settled()  # held, but an injected crash comes first


def test_armed_lists_what_waits_and_forgets_what_fired():
    d = warm()
    d.feed(FaultRequested(flt.Crash(at=Boundary.INVOKE_START)))
    d.feed(FaultRequested(flt.RaiseInHandler("KeyError", "x")))
    d.feed(FaultRequested(flt.ExtensionInitError("audit")))
    assert armed(d) == (
        "crash runtime (SIGKILL) at invoke.start",
        "raise KeyError('x') in the handler on its next entry",
        "init/error from extension audit when it registers",
    )
    d.feed(StepRequested())  # hold at invoke.start, after the armed crash has fired there
    d.invoke()
    assert d.env.hold is not None and d.env.hold.boundary is Boundary.INVOKE_START
    # The crash fired at its boundary; the raise waits for the event to be delivered, which the hold prevents.
    assert armed(d) == (
        "raise KeyError('x') in the handler on its next entry",
        "init/error from extension audit when it registers",
    )
