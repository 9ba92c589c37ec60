"""An invoke offered to an environment finishing its answered one (InvokeOffered, core/offer_rules.py): taken within
the input that makes the environment idle, so that its event goes out in the runtime's /next batch, without a freeze
and a thaw between; handed back when the grace runs out or the environment turns to anything but idle."""

from __future__ import annotations

from driver import Driver, ext

from lambdatui.core import inputs as ins
from lambdatui.core.common import OFFER_TIMER
from lambdatui.core.effects import RUNTIME, AnswerEvent, Freeze, HandBack, Reply, Thaw
from lambdatui.core.fleet_rules import Fit, fit
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState


def answered(extensions: tuple[str, ...] = ()) -> tuple[Driver, str]:
    """A warm environment whose invoke is answered, its runtime (and extensions) not yet back on /next."""
    d = Driver(extensions)
    d.start()
    for name in extensions:
        d.register(name)
    for name in extensions:
        d.ext_next(name)
    d.runtime_next()
    _, rid = d.invoke()
    d.respond(rid)
    return d, rid


def offer(d: Driver, wait_s: float = 0.05, **fields: object) -> tuple[int, str]:
    inv = d.invocation(**fields)
    tok = d.token()
    d.feed(ins.InvokeOffered(tok, inv, wait_s))
    return tok, inv.request_id


def hand_backs(d: Driver, since: int = 0) -> list[int]:
    return [e.token for e in d.effects(HandBack, since)]


def test_an_offered_invoke_is_told_nothing_of_until_the_runtime_asks_then_its_event_goes_out_in_that_batch():
    d, _ = answered()
    m = d.mark()
    tok, rid = offer(d)
    assert d.facts(since=m) == [] and d.started_timers(m) == {OFFER_TIMER: d.mono + 0.05}
    assert fit(d.env) is Fit.BUSY  # no other invoke is offered it, nor routed to it

    m = d.mark()
    next_tok = d.runtime_next()
    queued = d.facts(f.InvocationQueued, m)
    assert [q.request_id for q in queued] == [rid]
    event = [r for r in d.effects(Reply, m) if r.token == next_tok]
    assert len(event) == 1 and dict(event[0].headers)["Lambda-Runtime-Aws-Request-Id"] == rid
    assert not d.effects(Freeze, m) and not d.effects(Thaw, m)  # never idle long enough to freeze
    assert OFFER_TIMER in d.cancelled_timers(m) and d.state is EnvState.RUNNING

    d.respond(rid)
    d.runtime_next()
    assert d.result_for(tok).payload == b'"ok"'
    assert d.env.frozen  # the next idle spell freezes as ever


def test_the_facts_of_a_taken_offer_are_those_of_an_invoke_that_arrived_as_the_runtime_asked():
    d, _ = answered()
    offered_m = d.mark()
    offer(d)
    d.runtime_next()
    with_offer = [type(x).__name__ for x in d.facts(since=offered_m)]

    plain, _ = answered()
    m = plain.mark()
    plain.runtime_next()
    plain.invoke()
    without = [type(x).__name__ for x in plain.facts(since=m)]
    # The same facts in the same order, less the freeze and the thaw between.
    dropped = {"EnvironmentFrozen", "EnvironmentThawed"}
    assert with_offer == [name for name in without if name not in dropped]


def test_an_offer_not_taken_within_its_wait_is_handed_back_and_the_environment_then_freezes_as_ever():
    d, _ = answered()
    tok, _ = offer(d, wait_s=0.05)
    d.advance(50)
    m = d.mark()
    d.feed(ins.TimerFired(OFFER_TIMER))
    assert hand_backs(d, m) == [tok] and d.facts(since=m) == []
    assert fit(d.env) is Fit.FINISHING
    m = d.mark()
    d.runtime_next()
    assert d.effects(Freeze, m) and not d.facts(f.InvocationQueued, m)


def test_an_offer_to_an_environment_already_idle_is_taken_at_once():
    d, _ = answered()
    d.runtime_next()
    m = d.mark()
    tok, rid = offer(d)
    assert [q.request_id for q in d.facts(f.InvocationQueued, m)] == [rid] and not hand_backs(d, m)
    assert d.state is EnvState.RUNNING


def test_an_offer_to_an_environment_not_finishing_is_handed_back_at_once():
    d = Driver()
    d.start()  # initialising: the fleet routes to it as an existing environment, never by an offer
    m = d.mark()
    tok, _ = offer(d)
    assert hand_backs(d, m) == [tok] and d.env.offered is None


def test_the_offer_waits_for_every_extension_subscribed_to_invoke_too():
    d, _ = answered(("ext-a",))
    tok, rid = offer(d)
    m = d.mark()
    d.runtime_next()
    assert not d.facts(f.InvocationQueued, m) and d.env.offered is not None
    d.ext_next("ext-a")
    assert [q.request_id for q in d.facts(f.InvocationQueued, m)] == [rid]
    assert d.answered(d.next_token[RUNTIME]) and d.answered(d.next_token[ext("ext-a")])


def test_a_runtime_that_dies_while_finishing_hands_the_offer_back_for_the_fleet_to_route():
    d, _ = answered()
    tok, _ = offer(d)
    m = d.mark()
    d.exited(RUNTIME, 1)
    assert hand_backs(d, m) == [tok] and d.env.offered is None
    assert not d.facts(f.InvocationQueued, m)


def test_a_hold_at_invoke_done_hands_the_offer_back_and_stays_held():
    d, _ = answered()
    d.feed(ins.BreakpointsSet(frozenset({Boundary.INVOKE_DONE})))
    tok, _ = offer(d)
    m = d.mark()
    d.runtime_next()
    assert hand_backs(d, m) == [tok]
    assert d.env.hold is not None and d.env.hold.boundary is Boundary.INVOKE_DONE
    assert fit(d.env) is Fit.HELD


def test_a_shutdown_while_an_invoke_is_offered_hands_it_back():
    d, _ = answered()
    tok, _ = offer(d)
    m = d.mark()
    d.feed(ins.ShutdownRequested())
    assert hand_backs(d, m) == [tok]


def test_an_offer_whose_caller_left_is_dropped_silently_and_the_idle_environment_freezes():
    d, _ = answered()
    tok, _ = offer(d)
    d.feed(ins.RequestAbandoned(tok))
    assert d.env.offered is None and OFFER_TIMER in d.cancelled_timers()
    m = d.mark()
    d.runtime_next()
    assert d.effects(Freeze, m) and not d.facts(f.InvocationQueued, m) and not hand_backs(d)


def test_the_offers_wait_stops_while_the_debugger_inspects():
    d, _ = answered()
    offer(d, wait_s=0.05)
    m = d.mark()
    d.feed(ins.InspectionStarted(d.env.generation))
    assert OFFER_TIMER in d.cancelled_timers(m)  # paused: the time the user looks is not the function's
    d.advance(500)
    d.feed(ins.InspectionEnded(d.env.generation))
    assert d.started_timers(m)[OFFER_TIMER] == d.mono + 0.05


def test_a_drain_takes_an_offered_event_invoke_into_the_queue_to_run_and_answers_an_offered_caller():
    d, _ = answered()
    m = d.mark()
    event_tok, event_rid = offer(d, asynchronous=True)
    assert d.env.events_pending()  # a SIGTERM now drains it (serve asks before it waits)
    d.feed(ins.DrainRequested())
    assert [q.request_id for q in d.facts(f.InvocationQueued, m)] == [event_rid] and not hand_backs(d, m)
    assert [e.refusal for e in d.effects(AnswerEvent, m) if e.token == event_tok] == [None]  # accepted: it runs
    assert d.env.offered is None and d.env.events_pending()
    d.runtime_next()
    assert d.env.current is not None and d.env.current.invocation.request_id == event_rid  # it runs

    d, _ = answered()
    tok, rid = offer(d)
    m = d.mark()
    d.feed(ins.DrainRequested())
    assert d.result_for(tok).error_type == "Sandbox.Failure" and not hand_backs(d, m)


def test_an_invoke_that_reaches_an_environment_spinning_down_after_its_invoke_is_refused_not_queued():
    """lambdatui is ending and the environment finishes its last invoke first: an invoke queued behind it would wait
    for a runtime that may never ask again (its caller left unanswered when the processes are killed)."""
    d, _ = answered()
    d.feed(ins.ShutdownRequested())
    assert d.env.spindown_after_invoke
    m = d.mark()
    tok, rid = d.invoke()
    assert d.result_for(tok).error_type == "Sandbox.Failure" and not d.facts(f.InvocationQueued, m)
    event_tok, _ = d.invoke(asynchronous=True)
    assert [e.refusal is not None for e in d.effects(AnswerEvent, m) if e.token == event_tok] == [True]


def test_a_caller_queued_behind_an_invoke_that_finishes_before_the_spin_down_is_answered_at_once():
    """At the fleet's limit an invoke waits in the environment finishing its last one past the grace; a shutdown then
    lets the runtime finish first, and the queued caller would wait for that (for good behind a stuck runtime)."""
    d, _ = answered()
    m = d.mark()
    tok, rid = d.invoke()  # queued: the environment is still finishing
    event_tok, event_rid = d.invoke(caller=False, asynchronous=True)
    assert [q.request_id for q in d.facts(f.InvocationQueued, m)] == [rid, event_rid]
    d.feed(ins.ShutdownRequested())
    assert d.result_for(tok).error_type == "Sandbox.Failure"
    assert [inv.request_id for _, inv in d.env.queue] == [event_rid]  # said not run when the shutdown ends
