"""A reset that finishes at once and starts the next Init in the same step (lambda-spec §4.2, §4.5).

With no registered extension and no live runtime, a reset has nothing to wait for: it ends inside the
call that began it, and a queued invoke starts its suppressed Init right there. Whatever the reset still
had to do afterwards must not touch the processes of the Init that just started.
"""

from __future__ import annotations

from driver import Driver, ext

from lambdatui.core.effects import RUNTIME, RenewSandbox, Spawn
from lambdatui.core.inputs import BreakpointsSet, FaultRequested, LaunchFailed, NewEnvironmentRequested
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary, EnvState


def init_reports(d: Driver, since: int = 0) -> list[str]:
    return [line for line in d.lines(since=since) if line.startswith("INIT_REPORT")]


def test_extension_exiting_before_registering_with_an_invoke_queued_leaves_the_retry_s_extension_alone():
    d = Driver(["ext-a"])
    caller, rid = d.invoke()  # queued behind the on-demand Init, as `lambdatui invoke` does
    assert d.spawned() == [ext("ext-a")]
    d.advance(12.5)
    m = d.mark()
    d.exited(ext("ext-a"), 1)
    assert init_reports(d, m) == [
        "INIT_REPORT Init Duration: 12.50 ms\tPhase: init\tStatus: error\tError Type: Extension.Crash"]
    assert d.state is EnvState.INIT  # the queued invoke's suppressed Init
    assert d.spawns(m) == [Spawn(ext("ext-a"), 2)]
    assert d.killed(m) == []  # the fresh extension is not a straggler of the reset
    assert d.env.extensions["ext-a"].alive
    d.register("ext-a")
    d.ext_next("ext-a")
    assert RUNTIME in d.spawned(m)
    d.runtime_next()
    d.complete_invoke(rid)
    result = d.result_for(caller)
    assert (result.payload, result.function_error) == (b'"ok"', False)
    assert d.state is EnvState.FROZEN


def test_a_second_extension_that_never_registered_is_still_killed_by_the_reset():
    d = Driver(["ext-a", "ext-b"])
    d.invoke()
    m = d.mark()
    d.exited(ext("ext-a"), 1)
    assert d.killed(m) == [ext("ext-b")]  # never registered: killed at once, and once
    assert d.state is EnvState.RESETTING
    m = d.mark()
    d.killed_by_signal(ext("ext-b"))
    assert d.state is EnvState.INIT
    assert d.spawns(m) == [Spawn(ext("ext-a"), 2), Spawn(ext("ext-b"), 2)]
    assert d.killed(m) == []


def test_runtime_launch_failure_with_an_invoke_queued_does_not_kill_the_retry_s_extensions():
    d = Driver(["ext-a"])
    d.invoke()
    d.register("ext-a")
    d.ext_next("ext-a")
    d.feed(LaunchFailed(RUNTIME, 1, "no such file"))
    # ext-a is registered, so it gets a shutdown budget: the reset waits for it
    assert d.state is EnvState.RESETTING
    m = d.mark()
    d.exited(ext("ext-a"), 0)
    assert d.state is EnvState.INIT
    assert d.spawns(m) == [Spawn(ext("ext-a"), 2)]
    assert d.killed(m) == []


def test_a_deadline_forced_at_extension_init_launches_nothing_once_the_reset_is_over():
    d = Driver(["ext-a"])
    d.feed(FaultRequested(flt.ForceTimeout(at=Boundary.INIT_EXTENSIONS)))
    m = d.mark()
    d.start()
    assert init_reports(d, m) == ["INIT_REPORT Init Duration: 0.00 ms\tPhase: init\tStatus: timeout"]
    assert d.state is EnvState.COLD
    assert d.spawns(m) == []  # the failed Init's continuation (launching extensions) is abandoned


def test_a_deadline_forced_at_extension_init_with_an_invoke_queued_launches_the_retry_once():
    d = Driver(["ext-a"])
    d.feed(FaultRequested(flt.ForceTimeout(at=Boundary.INIT_EXTENSIONS)))
    m = d.mark()
    caller, rid = d.invoke()
    assert d.state is EnvState.INIT
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted, m)][-2:] == [("invoke", rid), ("init", "invoke")]
    assert d.spawns(m) == [Spawn(ext("ext-a"), 2)]  # the retry's launch, once; the failed Init's, never
    assert d.killed(m) == []


def test_new_environment_while_held_at_the_end_of_a_reset_starts_one_on_demand_init_and_leaves_it_alone():
    d = Driver()
    d.start()
    d.runtime_next()
    d.feed(BreakpointsSet(frozenset({Boundary.SHUTDOWN_DONE})))
    _, rid = d.invoke()
    d.exited(RUNTIME, 1)  # the invoke fails; the reset has nothing left to wait for and holds at its end
    assert d.env.hold is not None and d.env.hold.boundary is Boundary.SHUTDOWN_DONE
    caller, r2 = d.invoke()  # waits for the hold
    m = d.mark()
    d.feed(NewEnvironmentRequested())  # releasing the hold ends the reset, and the new environment begins
    assert d.effects(RenewSandbox, m) == [RenewSandbox()]
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted, m)] == [("init", "init")]  # on-demand, not suppressed
    assert d.spawns(m) == [Spawn(RUNTIME, 2)]
    assert d.killed(m) == [] and d.state is EnvState.INIT
    d.runtime_next()
    d.complete_invoke(r2)
    assert d.result_for(caller).payload == b'"ok"'
