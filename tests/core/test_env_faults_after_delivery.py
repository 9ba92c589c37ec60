"""A fault armed at invoke.start with `after_ms` acts that long into the invoke, counted from its event's delivery in
the invoke's own time; and a fault that acts says how far into the delivered invoke it did (FaultInjected).

A recording writes a fault given while the handler ran as `at = "invoke.start"` plus `after_ms`: without after_ms it
acted at invoke.start, before the event went out, so the replay's handler never ran (a bug hunt's finding: the /tmp
line it writes first was missing, and a later step's expectation failed).
"""

from __future__ import annotations

from typing import Callable

import pytest
from driver import Driver

from lambdatui.core.effects import RUNTIME, Freeze, SignalProcess, StartTimer, Thaw
from lambdatui.core.inputs import (
    BreakpointsSet,
    ContinueRequested,
    FaultRequested,
    InspectionEnded,
    InspectionStarted,
)
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary

B = Boundary
TIMER = "fault-after:0"


def warm(timeout_ms: int = 60_000) -> Driver:
    d = Driver(timeout_ms=timeout_ms)
    d.cold_start()
    return d


def delivered(d: Driver, token: int, since: int) -> bool:
    """The runtime's parked /next got the event."""
    return any(reply.status == 200 for reply in d.replies_to(token, since))


# What each fault does once its time comes, as effects or facts the test can see.
ACTED: list[tuple[str, flt.Fault, Callable[[Driver, int], bool]]] = [
    ("timeout", flt.ForceTimeout(at=B.INVOKE_START, after_ms=1500),
     lambda d, m: [r.status for r in d.reports(m)] == ["timeout"]),
    ("crash", flt.Crash(at=B.INVOKE_START, after_ms=1500),
     lambda d, m: SignalProcess(RUNTIME, 9) in d.effects(since=m)),
    ("freeze", flt.Freeze(at=B.INVOKE_START, after_ms=1500),
     lambda d, m: Freeze((RUNTIME,)) in d.effects(since=m)),
    ("thaw", flt.Thaw(at=B.INVOKE_START, after_ms=1500),
     lambda d, m: Thaw((RUNTIME,)) in d.effects(since=m)),
]


@pytest.mark.parametrize("fault, acted", [(fault, acted) for _, fault, acted in ACTED], ids=[n for n, _, _ in ACTED])
def test_it_acts_after_ms_into_the_invoke_once_the_event_is_out_not_at_invoke_start(fault, acted):
    d = warm()
    d.feed(FaultRequested(fault))
    next_token = d.next_token[RUNTIME]
    m = d.mark()
    d.invoke()
    assert delivered(d, next_token, m)  # the handler got its event: it runs, as it did when the fault was given
    assert d.facts(f.FaultInjected, m) == [] and not acted(d, m)
    assert d.started_timers(m)[TIMER] == pytest.approx(d.mono + 1.5)
    d.advance(1499)
    assert d.facts(f.FaultInjected, m) == []
    d.advance(1)
    d.fire(TIMER)
    assert d.facts(f.FaultInjected, m) == [f.FaultInjected(flt.describe(fault), 1500.0)]
    assert acted(d, m)


def test_a_forced_timeout_after_ms_says_how_long_the_invoke_ran():
    d = warm()
    d.feed(FaultRequested(flt.ForceTimeout(at=B.INVOKE_START, after_ms=2000)))
    d.invoke()
    d.advance(2000)
    m = d.mark()
    d.fire(TIMER)
    assert any("forced after 2.00 s" in line for line in d.explanations(m))
    assert d.reports(m)[0].duration_ms == pytest.approx(2000)


@pytest.mark.parametrize("pause", ["hold at invoke.start", "inspection"])
def test_held_time_does_not_count_towards_after_ms(pause):
    """A hold before delivery puts the count off; an inspection during the handler stops it, as it stops the
    invoke's deadline: after_ms is the invoke's own time, as a recording measured it."""
    d = warm()
    d.feed(FaultRequested(flt.Crash(at=B.INVOKE_START, after_ms=1000)))
    if pause == "hold at invoke.start":
        d.feed(BreakpointsSet(frozenset({B.INVOKE_START})))
    m = d.mark()
    d.invoke()
    if pause == "hold at invoke.start":
        assert TIMER not in d.started_timers(m)  # not delivered: nothing counts yet
        d.advance(30_000)
        d.feed(ContinueRequested())
        assert d.started_timers(m)[TIMER] == pytest.approx(d.mono + 1.0)
        d.advance(1000)
    else:
        d.advance(400)
        d.feed(InspectionStarted(d.env.generation))
        d.advance(30_000)
        d.feed(InspectionEnded(d.env.generation))
        assert StartTimer(TIMER, pytest.approx(d.mono + 0.6)) in d.last  # the 600 ms it had left
        d.advance(600)
    d.fire(TIMER)
    assert [fact.invoke_elapsed_ms for fact in d.facts(f.FaultInjected, m)] == [pytest.approx(1000)]


def test_an_invoke_that_ends_first_drops_the_fault_and_says_why():
    d = warm()
    d.feed(FaultRequested(flt.ForceTimeout(at=B.INVOKE_START, after_ms=5000)))
    m = d.mark()
    _, rid = d.invoke()
    d.advance(300)
    d.complete_invoke(rid)
    [refused] = d.facts(f.FaultRefused, m)
    assert refused.description == flt.describe(flt.ForceTimeout(at=B.INVOKE_START, after_ms=5000))
    assert refused.reason == f"Invoke {rid} ended 300 ms after its event went out, before this fault's 5000 ms: " \
                             "nothing was injected."
    assert TIMER in d.cancelled_timers(m)
    assert [r.status for r in d.reports(m)] == ["success"]
    # Nothing is left for the next invoke: it runs as if the fault had never been armed.
    m = d.mark()
    _, rid = d.invoke()
    assert TIMER not in d.started_timers(m) and d.env.snapshot(d.mono).armed == ()
    d.advance(5000)  # past the refused fault's after_ms: nothing acts on this invoke
    d.complete_invoke(rid)
    assert [r.status for r in d.reports(m)] == ["success"]


def test_an_invoke_that_fails_before_its_event_goes_out_drops_the_faults_waiting_for_delivery():
    d = warm()
    d.feed(BreakpointsSet(frozenset({B.INVOKE_START})))
    d.feed(FaultRequested(flt.Freeze(at=B.INVOKE_START, after_ms=100)))
    m = d.mark()
    _, rid = d.invoke()
    d.feed(FaultRequested(flt.Crash()))  # held at invoke.start: the runtime dies before the event goes out
    d.killed_by_signal(RUNTIME)
    [refused] = d.facts(f.FaultRefused, m)
    assert refused.reason == (f"Invoke {rid} ended before its event went out, so the time this fault counts from "
                              "never began: nothing was injected.")
    assert TIMER not in d.started_timers(m) and d.env.snapshot(d.mono).armed == ()


def test_the_debugger_lists_it_with_its_after_ms_until_it_acts():
    d = warm()
    d.feed(FaultRequested(flt.Freeze(at=B.INVOKE_START, after_ms=250)))
    listed = ("freeze runtime at invoke.start, 250 ms after its event went out",)
    assert d.env.snapshot(d.mono).armed == listed
    d.invoke()
    assert d.env.snapshot(d.mono).armed == listed  # counting
    d.advance(250)
    d.fire(TIMER)
    assert d.env.snapshot(d.mono).armed == ()


@pytest.mark.parametrize("at, why", [
    (None, "it goes with at invoke.start only"),
    (B.INVOKE_RESPONSE, "it goes with at invoke.start only"),
])
def test_after_ms_away_from_invoke_start_is_refused(at, why):
    d = warm()
    m = d.mark()
    d.feed(FaultRequested(flt.Crash(at=at, after_ms=10)))
    [refused] = d.facts(f.FaultRefused, m)
    assert why in refused.reason
    assert d.facts(f.FaultArmed, m) == [] and d.facts(f.FaultInjected, m) == []


# ---------------------------------------------------------------------- how far in a fault acted (FaultInjected)

def test_a_fault_says_how_far_into_the_delivered_invoke_it_acted_holds_left_out():
    """None until the event is out (idle, or held at invoke.start: a recording keeps such a fault at invoke.start);
    then the invoke's own milliseconds since delivery, the debugger's inspection left out."""
    d = warm()
    d.feed(BreakpointsSet(frozenset({B.INVOKE_START})))
    m = d.mark()
    d.feed(FaultRequested(flt.Freeze()))  # idle
    d.feed(FaultRequested(flt.Thaw()))
    d.invoke()
    d.advance(500)
    d.feed(FaultRequested(flt.Freeze()))  # held at invoke.start, before delivery
    d.feed(FaultRequested(flt.Thaw()))
    d.feed(BreakpointsSet(frozenset()))
    d.feed(ContinueRequested())
    d.advance(700)
    d.feed(InspectionStarted(d.env.generation))
    d.advance(9000)  # the debugger's globals report: not the function's time
    d.feed(InspectionEnded(d.env.generation))
    d.advance(300)
    d.feed(FaultRequested(flt.ForceTimeout()))
    assert [fact.invoke_elapsed_ms for fact in d.facts(f.FaultInjected, m)] == [None, None, None, None,
                                                                                pytest.approx(1000)]
