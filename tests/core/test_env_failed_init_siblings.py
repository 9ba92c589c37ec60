"""The siblings of an extension that fails Init: nothing of the failed Init survives its reset (lambda-spec §2.8, §4.2, §4.5).

An extension exits during Extension init; its siblings may be anywhere on their way: launched and not yet
registered, with a /register in flight, registered without having asked for an event, or parked. The reset
stops every one of them (SHUTDOWN with reason failure to a registered subscriber, SIGKILL to the rest), and
the retried Init launches every extension afresh. A registration that arrives once the Init has failed is
refused: registration belongs to an Init, and that Init is over.
"""

from __future__ import annotations

import json

import pytest
from driver import BOTH, Driver, ext

from lambdatui.core.effects import RUNTIME, Kill, Spawn
from lambdatui.core.inputs import BreakpointsSet, ContinueRequested, LaunchFailed, StepRequested
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState


def shutdown_events(d: Driver, since: int = 0) -> list[tuple[str, str]]:
    return [(s.extension, s.reason) for s in d.facts(f.ShutdownSent, since)]


def relaunched_afresh(d: Driver, since: int, names: list[str]) -> None:
    assert d.state is EnvState.INIT and d.env.generation == 2
    assert d.spawns(since) == [Spawn(ext(name), 2) for name in names]
    assert d.killed(since) == []  # the retry's processes are nobody's stragglers


def finish_the_retry(d: Driver, rid: str, caller: int, names: list[str]) -> None:
    for name in names:
        assert d.register(name).status == 200
    for name in names:
        d.ext_next(name)
    d.runtime_next()
    assert d.state is EnvState.RUNNING
    for name in names:  # the retried Init's processes get the first INVOKE
        assert json.loads(d.reply(d.next_token[ext(name)]).body)["eventType"] == "INVOKE"
    d.complete_invoke(rid)
    assert d.result_for(caller).payload == b'"ok"'


# ------------------------------------------------------------------ where the sibling is when the other exits

@pytest.mark.parametrize("where", ["launched", "registered", "parked"])
def test_every_sibling_of_the_failed_init_is_stopped_and_the_retry_launches_all_afresh(where):
    d = Driver(["flaky", "good"])
    caller, rid = d.invoke()  # queued behind the on-demand Init, as `lambdatui invoke` does
    if where != "launched":
        d.register("good")
    if where == "parked":
        parked = d.ext_next("good")
    m = d.mark()
    d.exited(ext("flaky"), 1)
    assert [f_.error_type for f_ in d.facts(f.InitFailed, m)] == [et.EXTENSION_CRASH]
    assert d.state is EnvState.RESETTING
    if where == "launched":
        assert d.killed(m) == [ext("good")]  # nobody owes it a SHUTDOWN: killed at once
        assert shutdown_events(d, m) == []
        gone = d.mark()
        d.killed_by_signal(ext("good"))
    else:
        assert d.killed(m) == []
        assert shutdown_events(d, m) == [("good", "failure")]
        if where == "registered":
            parked = d.ext_next("good")  # its first /next gets the SHUTDOWN that waited for it
        event = json.loads(d.reply(parked).body)
        assert (event["eventType"], event["shutdownReason"]) == ("SHUTDOWN", "failure")
        assert d.state is EnvState.RESETTING and d.spawned(m) == []  # the reset waits for it
        gone = d.mark()
        d.exited(ext("good"), 0)
    assert RUNTIME not in d.spawned(m)
    relaunched_afresh(d, gone, ["flaky", "good"])
    finish_the_retry(d, rid, caller, ["flaky", "good"])


def test_a_registered_sibling_that_never_asks_for_its_shutdown_is_killed_at_the_budget():
    d = Driver(["flaky", "good"])
    caller, rid = d.invoke()
    d.register("good")
    d.exited(ext("flaky"), 1)
    assert d.state is EnvState.RESETTING
    m = d.mark()
    d.fire("shutdown")
    assert d.killed(m) == [ext("good")]
    m = d.mark()
    d.killed_by_signal(ext("good"))
    relaunched_afresh(d, m, ["flaky", "good"])
    finish_the_retry(d, rid, caller, ["flaky", "good"])


# ------------------------------------------------------------------ a /register that arrives after the Init failed

def test_a_sibling_s_register_arriving_during_the_reset_is_refused_and_it_is_still_killed():
    d = Driver(["flaky", "good"])
    caller, rid = d.invoke()
    m = d.mark()
    d.exited(ext("flaky"), 1)
    assert d.killed(m) == [ext("good")]
    reply = d.register("good")  # sent before the SIGKILL landed
    assert (reply.status, json.loads(reply.body)["errorType"]) == (403, et.EXT_REGISTRATION_CLOSED)
    assert not d.env.extensions["good"].registered and shutdown_events(d, m) == []
    assert d.state is EnvState.RESETTING and RUNTIME not in d.spawned(m)
    m = d.mark()
    d.killed_by_signal(ext("good"))
    relaunched_afresh(d, m, ["flaky", "good"])
    finish_the_retry(d, rid, caller, ["flaky", "good"])


@pytest.mark.parametrize("how", ["breakpoint", "stepping"])
def test_a_register_arriving_while_held_at_the_reset_s_start_is_refused_and_launches_nothing(how):
    """Held at shutdown.start the Init is already over: the last sibling registering must not start the runtime."""
    d = Driver(["flaky", "good"])
    caller, rid = d.invoke()
    d.register("flaky")
    if how == "breakpoint":
        d.feed(BreakpointsSet(frozenset({Boundary.SHUTDOWN_START})))
    else:
        d.feed(StepRequested())
    d.exited(ext("flaky"), 1)  # registered, then died: Init fails
    assert d.env.hold is not None and d.env.hold.boundary is Boundary.SHUTDOWN_START
    m = d.mark()
    reply = d.register("good")  # in flight when the environment froze for the hold
    assert (reply.status, json.loads(reply.body)["errorType"]) == (403, et.EXT_REGISTRATION_CLOSED)
    assert d.spawned(m) == [] and d.boundaries(m) == []
    assert d.env.hold.boundary is Boundary.SHUTDOWN_START
    m = d.mark()
    d.feed(ContinueRequested())
    assert d.state is EnvState.RESETTING
    assert d.killed(m) == [ext("good")] and shutdown_events(d, m) == []
    m = d.mark()
    d.killed_by_signal(ext("good"))
    relaunched_afresh(d, m, ["flaky", "good"])
    finish_the_retry(d, rid, caller, ["flaky", "good"])


def test_the_function_init_gate_arriving_while_held_at_the_reset_s_start_reaches_no_init_boundary():
    d = Driver(["flaky"])
    caller, rid = d.invoke()
    d.register("flaky")
    d.ext_next("flaky")
    assert RUNTIME in d.spawned()
    d.feed(BreakpointsSet(frozenset({Boundary.SHUTDOWN_START, Boundary.INIT_FUNCTION})))
    d.exited(ext("flaky"), 1)
    assert d.env.hold is not None and d.env.hold.boundary is Boundary.SHUTDOWN_START
    m = d.mark()
    d.gate()  # the runtime's gate request was in flight
    assert d.boundaries(m) == [] and d.env.hold.boundary is Boundary.SHUTDOWN_START
    d.feed(ContinueRequested())
    assert d.state is EnvState.RESETTING and d.terminated(m) == [RUNTIME]


def test_registration_from_the_failed_init_is_refused_in_every_state_of_its_reset():
    d = Driver(["flaky", "good"])
    d.invoke()
    d.register("good", BOTH)
    d.exited(ext("flaky"), 1)
    assert d.state is EnvState.RESETTING
    assert d.register("flaky").status == 403  # its relaunch belongs to the retry, not to this reset
    assert d.register("other").status == 403  # nor does a late internal extension register


def test_a_second_extension_that_cannot_be_launched_ends_the_reset() -> None:
    # The reset the first launch failure began waited for the second extension, whose launch then failed too: it
    # ended nothing, so the reset never ended (`invoke` hung, deaf to Ctrl-C).
    d = Driver(["ext-a", "ext-b"])
    d.start()
    m = d.mark()
    d.feed(LaunchFailed(ext("ext-a"), 1, "permission denied"))
    assert Kill(ext("ext-b")) in d.effects(Kill, m)
    # ext-b's own launch was already under way: it fails too, so there is no process to wait for.
    d.feed(LaunchFailed(ext("ext-b"), 1, "permission denied"))
    assert d.state is EnvState.COLD
