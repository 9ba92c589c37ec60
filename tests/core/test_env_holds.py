"""Debugger holds: breakpoints, stepping, paused timers, and what the snapshot shows."""

from __future__ import annotations

import pytest
from driver import Driver, ext

from lambdatui.core.effects import RUNTIME, CancelTimer, Freeze, Spawn, StartTimer, Thaw
from lambdatui.core.inputs import BreakpointsSet, ContinueRequested, StepRequested
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState

B = Boundary


def breakpoints(d: Driver, *boundaries: Boundary) -> None:
    d.feed(BreakpointsSet(frozenset(boundaries)))


def cont(d: Driver) -> list:
    return d.feed(ContinueRequested())


def step(d: Driver) -> list:
    return d.feed(StepRequested())


def test_breakpoint_at_init_runtime_holds_before_the_runtime_is_spawned_and_pauses_the_init_timer():
    d = Driver()
    breakpoints(d, B.INIT_RUNTIME)
    d.advance(0.5)
    d.start()
    assert RUNTIME not in d.spawned()
    assert d.boundaries()[-1] == ("init.runtime", True)
    assert d.facts(f.BoundaryReached)[-1] == f.BoundaryReached(B.INIT_RUNTIME, held=True, detail="")
    assert CancelTimer("init") in d.last
    assert d.env.snapshot(d.mono).held_at is B.INIT_RUNTIME

    d.advance(60_000)  # far past the init timeout while held
    assert d.fire("init") == []  # the timer was paused: a stale firing is ignored
    assert d.state is EnvState.INIT
    m = d.mark()
    out = cont(d)
    assert StartTimer("init", d.mono + 10.0) in out  # nothing ran before the hold: all 10 s left
    assert d.facts(f.HoldReleased, m) == [f.HoldReleased(B.INIT_RUNTIME)]
    assert d.spawns(m) == [Spawn(RUNTIME, 1)]
    d.advance(200.25)
    d.runtime_next()
    assert d.state is EnvState.FROZEN
    init_ms = d.facts(f.PhaseEnded)[0].duration_ms
    assert init_ms == pytest.approx(200.25)  # held time excluded
    _, rid = d.invoke()
    d.complete_invoke(rid)
    assert d.reports()[0].init_duration_ms == pytest.approx(200.25)


def test_a_released_init_timer_restarts_with_the_time_that_was_left():
    d = Driver(["ext-a"])
    breakpoints(d, B.INIT_RUNTIME)
    d.start()
    d.advance(1500)
    d.register("ext-a")
    assert d.held_boundaries() == ["init.runtime"]
    d.advance(60_000)
    out = cont(d)
    assert StartTimer("init", d.mono + 8.5) in out
    d.advance(8500)
    d.fire("init")  # the restarted timer fires: 10 s of unheld init time
    assert [line for line in d.lines() if line.startswith("INIT_REPORT")] == [
        "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout"]


def test_holding_freezes_the_live_processes_and_releasing_thaws_them():
    d = Driver(["ext-a"])
    breakpoints(d, B.INIT_RUNTIME)
    d.start()
    m = d.mark()
    d.register("ext-a")
    assert d.effects(Freeze, m) == [Freeze((ext("ext-a"),), whole=True)]
    assert d.facts(f.EnvironmentFrozen, m) == [f.EnvironmentFrozen((ext("ext-a"),))]
    m = d.mark()
    cont(d)
    assert d.effects(Thaw, m) == [Thaw((ext("ext-a"),), whole=True)]
    assert d.spawns(m) == [Spawn(RUNTIME, 1)]


def test_held_time_is_excluded_from_the_invoke_duration_and_its_timer():
    d = Driver()
    d.cold_start()
    breakpoints(d, B.INVOKE_RESPONSE)
    caller, rid = d.invoke()
    d.advance(100.25)
    m = d.mark()
    d.respond(rid)
    assert d.result_for(caller).payload == b'"ok"'  # the caller is answered before the hold
    assert d.held_boundaries(m) == ["invoke.response"]
    assert CancelTimer("invoke") in d.effects(since=m)
    assert d.effects(Freeze, m) == [Freeze((RUNTIME,), whole=True)]
    d.advance(10_000)
    assert d.fire("invoke") == []  # paused: no timeout while held
    m = d.mark()
    cont(d)
    [restarted] = [e for e in d.effects(StartTimer, m) if e.name == "invoke"]
    assert restarted.at - d.mono == pytest.approx(3.0 - 0.10025)
    d.advance(50)
    d.runtime_next()
    [report] = d.reports()
    assert report.status == "success"
    assert report.duration_ms == pytest.approx(150.25)


def test_breakpoint_at_invoke_start_delays_the_delivery_and_the_deadline():
    d = Driver()
    d.cold_start()
    breakpoints(d, B.INVOKE_START)
    parked = d.next_token[RUNTIME]
    d.invoke()
    assert not d.answered(parked)
    assert d.env.snapshot(d.mono).held_at is B.INVOKE_START
    d.advance(5000)
    cont(d)
    headers = dict(d.reply(parked).headers)
    assert headers["Lambda-Runtime-Deadline-Ms"] == str(d.wall_ms + 3000)


STEPS = ["init.extensions", "init.runtime", "init.function", "init.done", "invoke.start", "invoke.response",
         "invoke.done"]


def test_stepping_holds_at_each_boundary_in_order():
    d = Driver(["ext-a"])
    step(d)  # while cold: hold at whatever comes next
    d.start()
    assert d.held_boundaries() == STEPS[:1] and d.spawned() == []
    step(d)
    assert d.spawned() == [ext("ext-a")]
    d.register("ext-a", ("INVOKE",))
    assert d.held_boundaries() == STEPS[:2] and RUNTIME not in d.spawned()
    step(d)
    assert d.spawned()[-1] == RUNTIME
    gate = d.gate()
    assert d.held_boundaries() == STEPS[:3] and not d.answered(gate)
    assert d.env.snapshot(d.mono).init_sub_phase == "function"
    step(d)
    assert (d.reply(gate).status, d.reply(gate).body) == (200, b"{}")
    d.ext_next("ext-a")
    d.runtime_next()
    assert d.held_boundaries() == STEPS[:4]
    assert d.state is EnvState.INIT
    step(d)
    assert d.state is EnvState.FROZEN
    caller, rid = d.invoke()
    assert d.held_boundaries() == STEPS[:5]
    assert not d.answered(d.next_token[RUNTIME])
    step(d)
    assert d.answered(d.next_token[RUNTIME]) and d.state is EnvState.RUNNING
    d.respond(rid)
    assert d.held_boundaries() == STEPS[:6]
    step(d)
    d.runtime_next()
    d.ext_next("ext-a")
    assert d.held_boundaries() == STEPS
    assert [r.request_id for r in d.reports()] == [rid]  # END/REPORT come before the invoke.done hold
    assert d.env.snapshot(d.mono).held_at is B.INVOKE_DONE
    step(d)
    assert d.state is EnvState.FROZEN
    assert [h.boundary.value for h in d.facts(f.HoldReleased)] == STEPS


def test_without_the_init_gate_stepping_goes_from_init_runtime_to_init_done():
    d = Driver()
    step(d)
    d.start()
    step(d)
    assert d.held_boundaries() == ["init.extensions", "init.runtime"]
    step(d)
    d.runtime_next()
    assert d.held_boundaries() == ["init.extensions", "init.runtime", "init.done"]


def test_init_gate_outside_init_is_answered_at_once():
    d = Driver()
    d.cold_start()
    tok = d.gate()
    assert d.reply(tok).status == 200
    assert not d.held_boundaries()


def test_init_gate_without_holds_is_answered_at_once_during_init():
    d = Driver()
    d.start()
    tok = d.gate()
    assert d.reply(tok).status == 200
    assert d.boundaries()[-1] == ("init.function", False)


def test_continue_clears_stepping():
    d = Driver()
    step(d)
    d.start()
    cont(d)
    d.runtime_next()
    assert d.held_boundaries() == ["init.extensions"]
    assert d.state is EnvState.FROZEN


def test_a_crash_while_held_releases_the_hold_and_fails_the_invoke():
    d = Driver()
    d.cold_start()
    breakpoints(d, B.INVOKE_RESPONSE)
    caller, rid = d.invoke()
    d.respond(rid)
    assert d.env.hold is not None
    d.exited(RUNTIME, 1)
    assert d.env.hold is None
    assert d.reports()[0].status == "error"


def test_a_crash_while_held_at_invoke_start_is_that_invokes_failure_with_its_phase():
    # Its event never went out, but START was said and the invoke failed: its phase starts and ends (the timeline's
    # bar, the telemetry's platform.start), rather than an error with no invoke, which read as an idle crash.
    d = Driver()
    d.cold_start()
    breakpoints(d, B.INVOKE_START)
    caller, rid = d.invoke()
    assert d.env.hold is not None
    since = d.mark()
    d.exited(RUNTIME, 1)
    started = [x for x in d.facts(f.PhaseStarted, since) if x.phase == "invoke"]
    ended = [x for x in d.facts(f.PhaseEnded, since) if x.phase == "invoke"]
    assert [x.detail for x in started] == [rid] and [x.status for x in ended] == ["error"]
    phases = [x for x in d.facts(since=since) if isinstance(x, (f.PhaseStarted, f.PhaseEnded)) and x.phase == "invoke"]
    assert isinstance(phases[0], f.PhaseStarted)
    assert d.lines(since=since)[0].startswith(f"START RequestId: {rid}")
    assert d.result_for(caller).function_error


# ---------------------------------------------------------------------- snapshot

def test_snapshot_when_frozen_shows_who_is_parked_and_what_they_get_next():
    d = Driver(["ext-a", "ext-b"])
    d.cold_start({"ext-a": ("INVOKE", "SHUTDOWN"), "ext-b": ("SHUTDOWN",)})
    snap = d.env.snapshot(d.mono)
    assert (snap.state, snap.held_at, snap.frozen, snap.current_request_id) == (EnvState.FROZEN, None, True, None)
    views = {p.key: p for p in snap.participants}
    assert [(v.key, v.kind, v.state, v.alive, v.parked) for v in snap.participants] == [
        (RUNTIME, "runtime", "Ready", True, True),
        (ext("ext-a"), "extension", "Ready", True, True),
        (ext("ext-b"), "extension", "Ready", True, True),
    ]
    assert views[RUNTIME].next_delivery == "the next invoke's event"
    assert views[ext("ext-a")].next_delivery == "INVOKE"
    assert views[ext("ext-b")].next_delivery == "SHUTDOWN (at shutdown)"
    assert snap.generation == 1 and snap.invocations_done == 0 and snap.as_of == d.mono


def test_snapshot_while_held_at_invoke_start():
    d = Driver(["ext-a"])
    d.cold_start({"ext-a": ("INVOKE",)})
    breakpoints(d, B.INVOKE_START)
    _, rid = d.invoke()
    snap = d.env.snapshot(d.mono)
    assert snap.held_at is B.INVOKE_START
    assert snap.breakpoints == frozenset({B.INVOKE_START})
    assert snap.current_request_id == rid
    assert snap.frozen is True
    views = {p.key: p for p in snap.participants}
    assert views[RUNTIME].parked and views[ext("ext-a")].parked
    assert views[ext("ext-a")].next_delivery == "INVOKE"


def test_snapshot_next_delivery_names_the_invocation_about_to_be_delivered():
    d = Driver()
    d.cold_start()
    breakpoints(d, B.INVOKE_START)
    _, r1 = d.invoke()
    _, r2 = d.invoke()
    views = {p.key: p for p in d.env.snapshot(d.mono).participants}
    assert views[RUNTIME].next_delivery == f"event {r1}"


def test_snapshot_sub_phase_while_held_at_init_runtime_without_extensions():
    d = Driver()
    breakpoints(d, B.INIT_RUNTIME)
    d.start()
    assert d.env.snapshot(d.mono).init_sub_phase == "runtime"


def test_snapshot_during_init():
    d = Driver(["ext-a"])
    breakpoints(d, B.INIT_RUNTIME)
    d.start()
    d.register("ext-a")
    snap = d.env.snapshot(d.mono)
    assert (snap.init_phase, snap.init_sub_phase, snap.held_at) == ("init", "runtime", B.INIT_RUNTIME)
    views = {p.key: p for p in snap.participants}
    assert views[RUNTIME].state == "NotStarted" and not views[RUNTIME].alive
    assert views[ext("ext-a")].state == "Registered" and not views[ext("ext-a")].parked


def test_a_runtime_that_dies_while_held_at_init_done_resets_the_environment_as_an_idle_crash_does():
    """Init is over at init.done (its duration taken) but the environment is not frozen yet: the crash found no Init
    to fail and no invoke, and the environment stayed in INIT for good, an invoke waiting on it forever."""
    d = Driver()
    breakpoints(d, B.INIT_DONE)
    d.start()
    d.runtime_next()
    assert d.env.snapshot(d.mono).held_at is B.INIT_DONE
    m = d.mark()
    d.exited(RUNTIME, None, "signal: killed")
    assert d.env.snapshot(d.mono).held_at is None
    assert any("while the environment was idle" in text for text in d.explanations(m)), d.explanations(m)
    assert d.state is EnvState.COLD  # reset: the next invoke re-initialises inside itself
    breakpoints(d)
    tok, rid = d.invoke()
    assert RUNTIME in d.spawned(m)
    d.runtime_next()
    d.respond(rid)
    d.runtime_next()
    assert d.result_for(tok).payload == b'"ok"'
    report = d.reports(m)[-1]
    assert report.init_duration_ms is None  # the Init before the crash is not this invoke's (a suppressed one is)


def test_an_invoke_that_fails_while_held_before_its_event_after_a_cold_init_reports_that_init():
    """Held at invoke.start on a cold environment, the runtime killed: the REPORT had no Init Duration, where every
    other first invoke's failure carries it."""
    d = Driver()
    d.start()
    d.advance(40)
    d.runtime_next()
    breakpoints(d, B.INVOKE_START)
    tok, rid = d.invoke()
    assert d.env.snapshot(d.mono).held_at is B.INVOKE_START
    d.exited(RUNTIME, None, "signal: killed")
    report = d.reports()[-1]
    assert report.status == "error" and report.init_duration_ms == pytest.approx(40), report
    assert report.billed_duration_ms >= 40
