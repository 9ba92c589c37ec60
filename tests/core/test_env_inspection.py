"""The debugger's globals report runs inside the function's process, on no Lambda deadline (issue 7).

Our bootstrap says when it starts inspecting (InspectionStarted) and the report ends it (InspectionEnded);
so do the runtime's next /next and its exit. In between, the running deadlines are stopped and the time
is excluded from every duration, exactly like time held by the user.
"""

from __future__ import annotations

import pytest
from driver import Driver

from lambdatui.core.clock_rules import INSPECTION_LIMIT_S
from lambdatui.core.common import INSPECTION_LIMIT_TIMER
from lambdatui.core.effects import RUNTIME, CancelTimer
from lambdatui.core.inputs import BreakpointsSet, ContinueRequested, InspectionEnded, InspectionStarted
from lambdatui.model.boundaries import Boundary, EnvState


def inspect_start(d: Driver) -> list:
    return d.feed(InspectionStarted(d.env.generation))


def inspect_end(d: Driver) -> list:
    return d.feed(InspectionEnded(d.env.generation))


def init_until_runtime_started(d: Driver) -> None:
    d.start()
    assert RUNTIME in d.spawned()


def test_inspection_after_function_init_stops_the_init_deadline_and_is_not_in_init_duration():
    d = Driver(init_timeout_ms=1000)
    init_until_runtime_started(d)
    d.advance(200)
    m = d.mark()
    inspect_start(d)
    assert CancelTimer("init") in d.effects(since=m)
    assert d.started_timers(m) == {INSPECTION_LIMIT_TIMER: pytest.approx(d.mono + INSPECTION_LIMIT_S)}
    d.advance(5000)  # five times the init timeout, spent writing reprs
    assert d.fire("init") == []
    m = d.mark()
    inspect_end(d)
    assert d.started_timers(m) == {"init": pytest.approx(d.mono + 0.8)}
    assert CancelTimer(INSPECTION_LIMIT_TIMER) in d.effects(since=m)
    d.advance(30)
    d.runtime_next()
    assert d.state is EnvState.FROZEN
    _, rid = d.invoke()
    d.complete_invoke(rid)
    [report] = d.reports()
    assert report.init_duration_ms == pytest.approx(230)


def test_inspection_after_a_response_does_not_time_the_invoke_out():
    d = Driver(timeout_ms=1000)
    d.cold_start()
    caller, rid = d.invoke()
    d.advance(600)
    d.respond(rid)
    inspect_start(d)
    d.advance(2000)
    assert d.fire("invoke") == []
    assert d.state is EnvState.RUNNING
    m = d.mark()
    inspect_end(d)
    assert d.started_timers(m) == {"invoke": pytest.approx(d.mono + 0.4)}
    d.advance(10)
    d.runtime_next()
    [report] = d.reports()
    assert report.status == "success"
    assert report.duration_ms == pytest.approx(610)  # until the runtime asks for more, less the report
    assert d.result_for(caller).payload == b'"ok"'


def test_next_without_a_report_ends_the_inspection():
    d = Driver(timeout_ms=1000)
    d.cold_start()
    caller, rid = d.invoke()
    d.respond(rid)
    inspect_start(d)
    d.advance(3000)
    d.runtime_next()  # the report was lost (a bootstrap bug): asking for work still ends the pause
    assert d.env.pauses == set()
    assert d.state is EnvState.FROZEN
    assert d.reports()[-1].status == "success"


def test_a_runtime_that_dies_while_inspecting_fails_the_invoke_as_a_crash_and_the_clock_runs_again():
    d = Driver(timeout_ms=1000)
    d.cold_start()
    caller, rid = d.invoke()
    inspect_start(d)  # a report after init/response only, but a crash mid-report must not leave the clock stopped
    assert d.env.pauses == {"inspection"}
    d.killed_by_signal(RUNTIME)
    assert d.env.pauses == set()
    assert d.result_for(caller).error_type == "Runtime.ExitError"


def test_an_inspection_past_its_limit_counts_again_and_the_invoke_times_out():
    d = Driver(timeout_ms=1000)
    d.cold_start()
    caller, rid = d.invoke()
    d.advance(100)
    d.respond(rid)
    inspect_start(d)
    d.advance(INSPECTION_LIMIT_S * 1000)
    m = d.mark()
    d.fire(INSPECTION_LIMIT_TIMER)
    assert any("globals report has taken over" in line for line in d.explanations(m))
    assert d.started_timers(m) == {"invoke": pytest.approx(d.mono + 0.9)}
    d.advance(900)
    d.fire("invoke")
    assert d.reports()[-1].status == "timeout"


def test_inspection_is_ignored_when_the_runtime_is_parked_or_from_an_old_generation():
    d = Driver()
    d.cold_start()  # the runtime is parked on /next
    assert d.feed(InspectionStarted(d.env.generation)) == []
    assert d.feed(InspectionStarted(d.env.generation + 7)) == []
    assert d.env.pauses == set()


def test_a_hold_during_an_inspection_and_its_release_keep_the_deadline_paused_until_the_report():
    d = Driver(timeout_ms=1000)
    d.cold_start()
    d.feed(BreakpointsSet(frozenset({Boundary.INVOKE_RESPONSE})))
    caller, rid = d.invoke()
    d.advance(100)
    d.respond(rid)  # held at invoke.response: paused by the hold
    inspect_start(d)  # the runtime reached its report before the freeze took hold
    d.advance(5000)
    m = d.mark()
    d.feed(ContinueRequested())
    assert "invoke" not in d.started_timers(m)  # still inspecting
    d.advance(2000)
    m = d.mark()
    inspect_end(d)
    assert d.started_timers(m) == {"invoke": pytest.approx(d.mono + 0.9)}
    d.runtime_next()
    [report] = d.reports()
    assert report.duration_ms == pytest.approx(100)


def test_a_reset_that_begins_during_an_inspection_runs_on_its_own_budget():
    d = Driver(["ext-a"], timeout_ms=1000)
    d.cold_start()
    caller, rid = d.invoke()
    d.respond(rid)
    inspect_start(d)
    d.killed_by_signal("extension:ext-a")  # a reset begins while the runtime is still writing its report
    assert d.env.state is EnvState.RESETTING
    assert "shutdown" in d.env.timers and "shutdown" not in d.env.paused_timers
    d.exited(RUNTIME, code=None, description="signal: terminated")
    assert d.env.pauses == set()


def test_forcing_the_invoke_deadline_while_inspecting_times_it_out_once():
    from lambdatui.core.inputs import FaultRequested
    from lambdatui.model.faults import ForceTimeout

    d = Driver(timeout_ms=1000)
    d.cold_start()
    caller, rid = d.invoke()
    d.respond(rid)
    inspect_start(d)
    d.feed(FaultRequested(ForceTimeout()))
    assert d.reports()[-1].status == "timeout"
    assert "invoke" not in d.env.paused_timers


def test_the_clock_runs_through_a_report_while_an_extension_works_and_its_timeout_comes():
    """An extension flushing after the response works on through the report (its sleeps and network waits too, which
    no freeze would stop): Lambda's time, so the deadline runs and the invoke times out as without the debugger."""
    d = Driver(timeout_ms=1000, extensions=["flusher"])
    d.cold_start()
    caller, rid = d.invoke()
    d.advance(100)
    d.respond(rid)
    m = d.mark()
    inspect_start(d)
    assert CancelTimer("invoke") not in d.effects(since=m)  # the flusher has not asked past its INVOKE
    d.advance(900)
    d.fire("invoke")
    [report] = d.reports()
    assert report.status == "timeout"


def test_the_clock_stops_for_the_rest_of_a_report_once_the_extensions_rest():
    d = Driver(timeout_ms=1000, extensions=["flusher"])
    d.cold_start()
    caller, rid = d.invoke()
    d.advance(100)
    d.respond(rid)
    inspect_start(d)
    d.advance(300)  # the flusher's last 300 ms, the report's first
    m = d.mark()
    d.ext_next("flusher")
    assert CancelTimer("invoke") in d.effects(since=m)
    d.advance(2000)  # the rest of the report: no Lambda time
    assert d.fire("invoke") == []
    inspect_end(d)
    d.advance(10)
    d.runtime_next()
    [report] = d.reports()
    assert report.status == "success"
    assert report.duration_ms == pytest.approx(410)
