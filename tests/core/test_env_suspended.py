"""The debugger stopped by Ctrl-Z (DebuggerSuspended): nothing of lambdatui runs, not even the reading of the
function's output, so the environment is held as at a boundary (frozen, its deadlines stopped) until it is back."""

from __future__ import annotations

import pytest
from driver import Driver

from lambdatui.core.effects import RUNTIME, CancelTimer, Freeze, StartTimer, Thaw
from lambdatui.core.inputs import BreakpointsSet, ContinueRequested, DebuggerSuspended
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState


def suspend(d: Driver, suspended: bool) -> list:
    return d.feed(DebuggerSuspended(suspended))


def test_a_stop_mid_invoke_freezes_the_environment_and_stops_its_deadline_until_it_is_back() -> None:
    d = Driver(timeout_ms=1000)
    d.cold_start()
    _, rid = d.invoke()
    d.advance(300)
    out = suspend(d, True)
    assert Freeze((RUNTIME,), whole=True) in out and CancelTimer("invoke") in out
    d.advance(60_000)  # stopped for a minute, far past the timeout
    out = suspend(d, False)
    assert Thaw((RUNTIME,), whole=True) in out
    assert StartTimer("invoke", pytest.approx(d.mono + 0.7)) in out  # what was left of the second
    d.advance(100)
    d.complete_invoke(rid)
    (report,) = d.reports()
    assert report.status == "success" and report.duration_ms == pytest.approx(400)  # the stop left out


def test_an_idle_environment_stays_frozen_through_a_stop_and_its_return() -> None:
    d = Driver()
    d.cold_start()
    m = d.mark()
    suspend(d, True)
    suspend(d, False)
    assert d.effects(Freeze, m) == [] and d.effects(Thaw, m) == []
    assert d.state is EnvState.FROZEN


def test_an_invoke_that_ends_before_the_stop_lands_leaves_the_environment_frozen_at_the_return() -> None:
    d = Driver()
    d.cold_start()
    _, rid = d.invoke()
    suspend(d, True)
    d.complete_invoke(rid)  # its response was on its way: the environment is idle now
    m = d.mark()
    suspend(d, False)
    assert d.effects(Thaw, m) == [] and d.state is EnvState.FROZEN


def test_a_stop_during_a_hold_leaves_the_hold_frozen_and_a_continue_after_it_thaws() -> None:
    d = Driver()
    d.feed(BreakpointsSet(frozenset({Boundary.INVOKE_START})))
    d.cold_start()
    d.invoke()
    assert d.held_boundaries()[-1] == "invoke.start"
    m = d.mark()
    suspend(d, True)
    suspend(d, False)
    assert d.effects(Freeze, m) == [] and d.effects(Thaw, m) == []  # held before, held after
    out = d.feed(ContinueRequested())
    assert Thaw((RUNTIME,), whole=True) in out
    assert d.facts(f.HoldReleased, m) == [f.HoldReleased(Boundary.INVOKE_START)]


def test_a_return_without_a_stop_changes_nothing() -> None:
    d = Driver()
    d.cold_start()
    _, rid = d.invoke()
    assert suspend(d, False) == []
