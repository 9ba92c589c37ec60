"""Spinning down for good, and asking for a brand-new environment (lambda-spec §4.6, §4.5)."""

from __future__ import annotations

import json

import pytest
from driver import BOTH, Driver, ext

from lambdatui.core.effects import RUNTIME, CompleteInvocation, Emit, RenewSandbox, Spawn, StartTimer, Thaw
from lambdatui.core.inputs import NewEnvironmentRequested, ShutdownRequested
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState

SHUT_DOWN_BODY = {"errorMessage": "The execution environment has shut down.", "errorType": "Sandbox.Failure"}


def warm(subscriptions=None) -> Driver:
    subscriptions = subscriptions or {}
    d = Driver(subscriptions)
    d.cold_start(subscriptions)
    return d


def shutdown(d: Driver) -> int:
    m = d.mark()
    d.feed(ShutdownRequested())
    return m


def test_without_extensions_the_runtime_is_killed_at_once_and_the_environment_shuts_down_after_it_exits():
    d = warm()
    m = shutdown(d)
    assert d.effects(Thaw, m) == [Thaw((RUNTIME,), whole=True)]
    assert d.killed(m) == [RUNTIME]
    assert not d.terminated(m) and not d.started_timers(m)  # budget 0
    assert d.state is EnvState.SHUTTING_DOWN
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted, m)] == [("shutdown", "spindown")]
    d.killed_by_signal(RUNTIME)
    assert d.state is EnvState.SHUT_DOWN
    assert d.states(m) == [EnvState.SHUTTING_DOWN, EnvState.SHUT_DOWN]
    assert [(p.phase, p.status) for p in d.facts(f.PhaseEnded, m)] == [("shutdown", "success")]
    assert d.facts(f.ProcessExitedFact, m) == [f.ProcessExitedFact(RUNTIME, "signal: killed", True)]


def test_with_external_extensions_the_runtime_gets_sigterm_then_extensions_get_spindown():
    d = warm({"ext-a": BOTH, "ext-b": ("INVOKE",)})
    wall = d.wall_ms
    m = shutdown(d)
    assert d.terminated(m) == [RUNTIME]
    assert not d.killed(m)
    assert d.started_timers(m) == {"shutdown": d.mono + 2.0, "runtime-stop": d.mono + 0.3}
    parked_a = d.next_token[ext("ext-a")]
    assert not d.answered(parked_a)
    d.advance(120)
    m2 = d.mark()
    d.exited(RUNTIME, 0)
    assert json.loads(d.reply(parked_a).body) == {
        "eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": wall + 2000}
    assert d.killed(m2) == [ext("ext-b")]
    assert d.facts(f.ShutdownSent, m2) == [f.ShutdownSent("ext-a", "spindown", wall + 2000)]
    d.killed_by_signal(ext("ext-b"))
    assert d.state is EnvState.SHUTTING_DOWN
    m3 = d.mark()
    d.exited(ext("ext-a"), 0)
    assert d.state is EnvState.SHUT_DOWN
    assert set(d.cancelled_timers(m3)) == {"shutdown"}


def test_internal_extensions_only_give_a_500_ms_budget():
    d = Driver()
    d.start()
    d.register("in-proc", ("INVOKE",))
    d.ext_next("in-proc")
    d.runtime_next()
    m = shutdown(d)
    assert d.terminated(m) == [RUNTIME]
    # the internal extension lives in the runtime process: the runtime gets the whole 500 ms, not 300
    assert d.started_timers(m) == {"shutdown": d.mono + 0.5, "runtime-stop": d.mono + 0.5}


def test_with_an_internal_extension_beside_external_ones_the_runtime_gets_500_ms_of_the_2_s():
    d = Driver({"ext-a": BOTH})
    d.start()
    d.register("ext-a", BOTH)
    d.ext_next("ext-a")
    d.register("in-proc", ("INVOKE",))
    d.ext_next("in-proc")
    d.runtime_next()
    m = shutdown(d)
    assert d.terminated(m) == [RUNTIME]
    assert d.started_timers(m) == {"shutdown": d.mono + 2.0, "runtime-stop": d.mono + 0.5}


def test_shutdown_of_a_cold_environment_is_immediate():
    d = Driver()
    m = shutdown(d)
    assert d.state is EnvState.SHUT_DOWN
    assert not d.killed(m)


def test_shutdown_requested_twice_or_after_shut_down_is_harmless():
    d = warm()
    shutdown(d)
    m = shutdown(d)
    assert d.killed(m) == []
    d.exited(RUNTIME, 0)
    assert shutdown(d) == d.mark()
    assert d.last == []


def test_invoke_after_shut_down_gets_sandbox_failure():
    d = warm()
    shutdown(d)
    caller_during, rid_during = d.invoke()  # still shutting down: answered at once too
    d.exited(RUNTIME, 0)
    caller_after, rid_after = d.invoke()
    for caller, rid in ((caller_during, rid_during), (caller_after, rid_after)):
        result = d.result_for(caller)
        assert json.loads(result.payload) == SHUT_DOWN_BODY
        assert result.function_error is True and result.error_type == "Sandbox.Failure"
        assert result.request_id == rid
    assert not d.spawns(since=0)[1:]  # nothing relaunched


def test_shutdown_after_the_response_waits_for_invoke_done():
    d = warm({"ext-a": ("INVOKE",)})
    caller, rid = d.invoke()
    d.respond(rid)
    m = shutdown(d)
    # Nothing stops yet: the invoke may finish, within the shutdown's budget.
    assert d.last == [StartTimer("spindown-wait", d.mono + 2.0)] and d.state is EnvState.RUNNING
    d.runtime_next()
    assert d.state is EnvState.RUNNING  # ext-a still working on the invoke
    assert not d.terminated(m)
    d.ext_next("ext-a")
    assert d.reports(m)[0].status == "success"
    assert d.state is EnvState.SHUTTING_DOWN
    assert d.terminated(m) == [RUNTIME]
    assert "spindown-wait" in d.cancelled_timers(m)
    assert d.result_for(caller).payload == b'"ok"'


def test_a_shutdown_waits_for_an_extension_still_at_work_on_an_answered_invoke_only_within_its_budget():
    """lambdatui stopped (serve's signal, the debugger's q) while an extension works on after the answer, or was
    frozen by the user: the shutdown begins once the budget is up, SHUTDOWN goes to that extension, and its
    invoke ends with it, said; the exit is never held for the invoke's whole timeout."""
    d = warm({"ext-a": ("INVOKE", "SHUTDOWN")})
    caller, rid = d.invoke()
    d.respond(rid)
    d.runtime_next()
    m = shutdown(d)
    shutdown(d)  # asked again (the fleet, then the host's exit): the first wait goes on, not moved
    assert list(d.started_timers(m)) == ["spindown-wait"]
    d.advance(2000)
    d.fire("spindown-wait")
    assert d.state is EnvState.SHUTTING_DOWN
    assert d.terminated(m) == [RUNTIME]
    [report] = d.reports(m)
    assert (report.status, report.error_type) == ("failure", "Sandbox.Failure")
    said = d.lines(f.LAMBDATUI, m)
    assert any("extension ext-a had not asked for the next event 2,000 ms after the invoke was answered" in line
               for line in said), said
    assert d.result_for(caller).payload == b'"ok"'  # the caller's answer stands
    d.exited(RUNTIME, 0)
    assert d.facts(f.ShutdownSent, m) == [f.ShutdownSent("ext-a", "spindown", d.wall_ms + 2000)]


def test_the_budget_s_wait_is_over_once_the_invoke_ends():
    d = warm({"ext-a": ("INVOKE",)})
    caller, rid = d.invoke()
    d.respond(rid)
    d.runtime_next()
    m = shutdown(d)
    d.ext_next("ext-a")
    assert d.reports(m)[0].status == "success"
    assert "spindown-wait" in d.cancelled_timers(m)  # the shutdown began: nothing is left to cut short
    assert "spindown-wait" not in d.env.timers


def test_shutdown_during_an_invoke_without_a_response_answers_the_caller_with_sandbox_failure():
    d = warm()
    caller, rid = d.invoke()
    c2, r2 = d.invoke()  # queued behind it
    shutdown(d)
    result = d.result_for(caller)
    assert result.error_type == "Sandbox.Failure"
    assert json.loads(result.payload) == {"errorMessage": f"RequestId: {rid} Error: environment shut down",
                                          "errorType": "Sandbox.Failure"}
    d.exited(RUNTIME, 0)
    assert json.loads(d.result_for(c2).payload) == SHUT_DOWN_BODY


def test_shutdown_abandons_a_hold_and_ignores_breakpoints():
    from lambdatui.core.inputs import BreakpointsSet
    from lambdatui.model.boundaries import ALL_BOUNDARIES

    d = Driver()
    d.feed(BreakpointsSet(frozenset(ALL_BOUNDARIES)))
    d.start()
    assert d.env.hold is not None
    m = shutdown(d)
    assert d.env.breakpoints == frozenset()
    assert not d.held_boundaries(m)
    assert d.facts(f.HoldReleased, m)
    # The hold is abandoned, not released: nothing is launched on the way out, so nothing needs killing.
    assert d.killed(m) == []
    assert not d.spawned(m)
    assert d.state is EnvState.SHUT_DOWN


# ---------------------------------------------------------------------- new environment

def test_new_environment_resets_renews_the_sandbox_and_cold_starts_on_demand_again():
    d = warm()
    _, rid = d.invoke()
    d.complete_invoke(rid)
    m = d.mark()
    d.feed(NewEnvironmentRequested())
    assert d.killed(m) == [RUNTIME]
    assert d.state is EnvState.RESETTING
    assert not d.effects(RenewSandbox, m)  # only once the old processes are gone
    d.killed_by_signal(RUNTIME)
    assert d.effects(RenewSandbox, m) == [RenewSandbox()]
    assert d.state is EnvState.COLD
    assert any("New execution environment" in line for line in d.explanations(m))
    m = d.mark()
    caller, r2 = d.invoke()
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted, m)] == [("init", "init")]
    assert "init" in d.started_timers(m)
    assert d.spawns(m) == [Spawn(RUNTIME, 2)]
    d.advance(33.5)
    d.runtime_next()
    d.complete_invoke(r2)
    assert d.reports(m)[0].init_duration_ms == pytest.approx(33.5)


def test_a_new_environment_counts_its_own_invokes_from_zero():
    d = warm()
    for _ in range(3):
        _, rid = d.invoke()
        d.complete_invoke(rid)
    assert d.env.invocations_done == 3
    d.feed(NewEnvironmentRequested())
    assert d.env.invocations_done == 3  # still the old environment while it spins down
    d.killed_by_signal(RUNTIME)
    assert d.effects(RenewSandbox)  # the new environment: none of the old one's invokes are its own
    assert d.env.invocations_done == 0 and d.env.snapshot(d.mono).invocations_done == 0
    _, rid = d.invoke()
    d.runtime_next()  # its own Init
    d.complete_invoke(rid)
    assert d.env.invocations_done == 1


def test_new_environment_while_cold_renews_at_once():
    d = Driver()
    out = d.feed(NewEnvironmentRequested())
    assert RenewSandbox() in out
    d.invoke()
    assert d.facts(f.PhaseStarted)[0] == f.PhaseStarted("init", "init", d.mono)


def test_new_environment_after_a_failure_reset_makes_the_next_init_on_demand_again():
    d = warm()
    caller, rid = d.invoke()
    d.exited(RUNTIME, 1)  # crash: reset, the next init would be suppressed
    assert d.state is EnvState.COLD
    d.feed(NewEnvironmentRequested())
    m = d.mark()
    d.invoke()
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted, m)] == [("init", "init")]


def test_new_environment_after_shut_down_does_nothing_and_says_so():
    d = Driver()
    shutdown(d)
    m = d.mark()
    d.feed(NewEnvironmentRequested())
    (said,) = d.facts(since=m)  # nothing done: the answer is all
    assert not said.replaced and "is shut down for good" in said.text


def test_new_environment_while_shutting_down_for_good_is_refused_and_the_shutdown_stays_final():
    """The user shut the environment down (its extension still has its SHUTDOWN event), then pressed N: the
    debugger used to say it was replaced while the spindown went on and nothing came back."""
    d = warm({"ext-a": BOTH})
    shutdown(d)
    assert d.state is EnvState.SHUTTING_DOWN
    m = d.mark()
    d.feed(NewEnvironmentRequested())
    (said,) = d.facts(f.NewEnvironmentAnswered, m)
    assert not said.replaced and "is shutting down (SHUTDOWN spindown) for good" in said.text
    d.exited(RUNTIME, 0)
    d.exited(ext("ext-a"), 0)
    assert d.state is EnvState.SHUT_DOWN and not d.effects(RenewSandbox, m)


def test_new_environment_is_said_to_replace_when_it_does():
    d = warm()
    m = d.mark()
    d.feed(NewEnvironmentRequested())
    (said,) = d.facts(f.NewEnvironmentAnswered, m)
    assert said.replaced and "new number and an empty /tmp" in said.text


def test_new_environment_with_extensions_sends_spindown():
    d = warm({"ext-a": BOTH})
    wall = d.wall_ms
    d.feed(NewEnvironmentRequested())
    d.exited(RUNTIME, 0)
    assert d.facts(f.ShutdownSent) == [f.ShutdownSent("ext-a", "spindown", wall + 2000)]
    d.exited(ext("ext-a"), 0)
    assert d.effects(RenewSandbox) == [RenewSandbox()]
    assert d.state is EnvState.COLD


def test_a_deferred_spindown_stays_final_when_the_invoke_then_fails():
    d = warm({"ext-a": ("INVOKE",)})
    caller, rid = d.invoke()
    d.respond(rid)
    shutdown(d)
    d.runtime_next()
    d.advance(3000)
    d.fire("invoke")  # ext-a never parked again: the invoke times out
    assert d.reports()[0].status == "timeout"
    assert d.state is EnvState.SHUTTING_DOWN  # not merely a reset
    d.exited(RUNTIME, 0)
    d.killed_by_signal(ext("ext-a"))
    assert d.state is EnvState.SHUT_DOWN
    c2, _ = d.invoke()
    assert d.result_for(c2).error_type == "Sandbox.Failure"


def test_the_sandbox_ends_once_every_participant_has_gone_after_a_shutdown_or_a_reset():
    from lambdatui.core.effects import EndSandbox

    d = warm({"ext-a": BOTH})
    _, rid = d.invoke()
    m = d.mark()
    d.killed_by_signal(RUNTIME)  # a crash: the reset stops the extension too
    assert d.effects(EndSandbox, m) == []  # the extension still has its SHUTDOWN to handle
    d.exited(ext("ext-a"))
    assert d.effects(EndSandbox, m) == [EndSandbox(final=False)]  # a new Init follows: its sandbox is prepared
    _, rid = d.invoke()  # the retried Init inside this invoke
    for name in d.config.extension_names:
        d.register(name)
        d.ext_next(name)
    d.runtime_next()
    d.complete_invoke(rid)
    m = shutdown(d)
    d.killed_by_signal(RUNTIME)
    d.exited(ext("ext-a"))
    assert d.effects(EndSandbox, m) == [EndSandbox(final=True)]  # nothing follows: no sandbox is booted ahead
    assert d.state is EnvState.SHUT_DOWN


@pytest.mark.parametrize("ending", [NewEnvironmentRequested(), ShutdownRequested()], ids=["replaced", "shut-down"])
def test_an_invoke_the_function_had_not_answered_is_said_to_be_cut_off_before_its_answer(ending):
    d = warm()
    _, rid = d.invoke()
    m = d.mark()
    d.feed(ending)
    said = [e.fact if isinstance(e, Emit) else e for e in d.effects(since=m)
            if isinstance(e, CompleteInvocation) or (isinstance(e, Emit) and isinstance(e.fact, f.InvokeCutOff))]
    assert [type(e) for e in said] == [f.InvokeCutOff, CompleteInvocation]  # the host publishes them in this order
    assert said[0].request_id == rid and said[1].result.error_type == "Sandbox.Failure"


def test_an_invoke_the_function_had_answered_is_not_cut_off_by_a_shutdown():
    d = warm({"ext-a": ("INVOKE",)})
    _, rid = d.invoke()
    d.respond(rid)
    m = shutdown(d)
    assert not d.facts(f.InvokeCutOff, m)


def test_an_extension_still_there_at_the_shutdowns_deadline_is_killed_and_said_to_be():
    d = warm({"ext-a": BOTH})
    shutdown(d)
    d.exited(RUNTIME, 0)
    m = d.mark()
    d.fire("shutdown")  # ext-a called /next again after SHUTDOWN, as AWS's Logs API sample does
    assert d.killed(m) == [ext("ext-a")]
    assert any("extension ext-a had not exited when the shutdown's 2,000 ms were up: SIGKILLed" in line
               for line in d.explanations(m)), d.explanations(m)


def test_an_extension_killed_while_still_handling_shutdown_is_not_said_to_be_calling_next():
    d = warm({"ext-a": BOTH})
    shutdown(d)
    d.exited(RUNTIME, 0)  # ext-a gets SHUTDOWN now, and is still flushing when the budget ends
    m = d.mark()
    d.fire("shutdown")
    assert d.explanations(m) == [
        "extension ext-a had not exited when the shutdown's 2,000 ms were up: SIGKILLed, as Lambda does."]


def test_an_extension_parked_on_next_after_its_shutdown_is_said_to_never_exit_itself():
    d = warm({"ext-a": BOTH})
    shutdown(d)
    d.exited(RUNTIME, 0)
    d.ext_next("ext-a")  # asked for another event after SHUTDOWN, as AWS's Logs API sample does
    m = d.mark()
    d.fire("shutdown")
    assert d.explanations(m) == [
        "extension ext-a had not exited when the shutdown's 2,000 ms were up: SIGKILLed, as Lambda does (an "
        "extension still calling /next after SHUTDOWN never exits itself)."]
