"""An environment that has answered its invoke and is finishing it (lambda-spec §4.4, §11.1): a caller's next invoke
waits for it while its runtime and extensions ask for their next event within FINISHING_GRACE_S (the loopback gap
Lambda's network hides), and goes past it once they take longer (an extension working after the response), to an
idle environment or a new one; at the limit it still waits in it, rather than a throttle."""

from __future__ import annotations

import dataclasses
from typing import Optional

import pytest
from driver import Driver

from lambdatui.core.fleet_rules import FINISHING_GRACE_S, Candidate, Choice, Fit, Route, finishing_for, fit, route
from lambdatui.core.invoke_rules import still_finishing
from lambdatui.core.inputs import InspectionEnded, InspectionStarted

GRACE = FINISHING_GRACE_S
LATE = GRACE * 20  # an extension's real work after the response


def c(number: int, fit: Fit, finishing_s: Optional[float] = None, *, idle_since: float = 0.0) -> Candidate:
    return Candidate(number, fit, False, idle_since, False, finishing_s)


@pytest.mark.parametrize("candidates, limit, asynchronous, expected", [
    # just answered: waited for, for the rest of the grace (a caller's next invoke stays warm)
    ([c(1, Fit.FINISHING, 0.0)], 10, False, Route(Choice.AWAIT_FINISH, 1, wait_s=GRACE)),
    ([c(1, Fit.FINISHING, GRACE / 2)], 10, True, Route(Choice.AWAIT_FINISH, 1, wait_s=GRACE / 2)),
    # at the limit too: it may be idle before the rules would throttle
    ([c(1, Fit.FINISHING, 0.0)], 1, False, Route(Choice.AWAIT_FINISH, 1, wait_s=GRACE)),
    # past the grace: a new environment, said to have gone past it
    ([c(1, Fit.FINISHING, GRACE)], 10, False, Route(Choice.NEW, cold=True, past_finishing=1)),
    ([c(1, Fit.FINISHING, LATE)], 10, True, Route(Choice.NEW, cold=True, past_finishing=1)),
    # ... or one that re-initialises, is being reset or initialises ahead, rather than a new one
    ([c(1, Fit.FINISHING, LATE), c(2, Fit.COLD)], 10, False, Route(Choice.EXISTING, 2, cold=True, past_finishing=1)),
    ([c(1, Fit.FINISHING, LATE), c(2, Fit.RESETTING)], 2, False,
     Route(Choice.EXISTING, 2, cold=True, past_finishing=1)),
    # at the limit it waits in it, as it did before the grace ran out (not a 429, nor the queue)
    ([c(1, Fit.FINISHING, LATE)], 1, False, Route(Choice.EXISTING, 1)),
    ([c(1, Fit.FINISHING, LATE)], 1, True, Route(Choice.EXISTING, 1)),
    ([c(1, Fit.BUSY), c(2, Fit.FINISHING, LATE)], 2, False, Route(Choice.EXISTING, 2)),
    ([c(1, Fit.FINISHING, LATE), c(2, Fit.HELD)], 2, False, Route(Choice.EXISTING, 1)),  # before one the user holds
    # an idle warm one first, whatever the finishing one does (nothing gone past: it would have been chosen anyway)
    ([c(1, Fit.FINISHING, 0.0), c(2, Fit.WARM)], 10, False, Route(Choice.EXISTING, 2)),
    ([c(1, Fit.FINISHING, LATE), c(2, Fit.WARM)], 1, False, Route(Choice.EXISTING, 2)),
    # one within its grace is waited for, even beside one past it; the one answered first is likely idle first
    ([c(1, Fit.FINISHING, LATE), c(2, Fit.FINISHING, GRACE / 5)], 10, False,
     Route(Choice.AWAIT_FINISH, 2, wait_s=GRACE * 4 / 5)),
    ([c(1, Fit.FINISHING, GRACE / 5), c(2, Fit.FINISHING, GRACE / 2)], 10, False,
     Route(Choice.AWAIT_FINISH, 2, wait_s=GRACE / 2)),
    # ... and before a cold start in an idle one
    ([c(1, Fit.FINISHING, 0.0), c(2, Fit.COLD)], 10, False, Route(Choice.AWAIT_FINISH, 1, wait_s=GRACE)),
    # Managed Instances: a worker asks for work (no grace to wait for): taken at once
    ([c(1, Fit.FINISHING)], 10, False, Route(Choice.EXISTING, 1)),
    ([c(1, Fit.FINISHING, LATE), c(2, Fit.FINISHING)], 10, False, Route(Choice.EXISTING, 2)),
])
def test_route_around_an_environment_finishing_its_invoke(candidates: list[Candidate], limit: int,
                                                          asynchronous: bool, expected: Route) -> None:
    routed = route(candidates, limit, asynchronous)
    assert dataclasses.replace(routed, wait_s=round(routed.wait_s, 9)) == expected


@pytest.mark.parametrize("finishing_s, limit, expected", [
    (0.0, 10, Route(Choice.AWAIT_FINISH, 2, wait_s=GRACE)),  # a replay's `env = 2`: waited for within the grace
    (LATE, 10, Route(Choice.EXISTING, 1, passed_over="is still finishing its last invoke")),
    (LATE, 1, Route(Choice.EXISTING, 2)),  # at the limit: waited for, as any one finishing is
])
def test_the_environment_asked_for_is_waited_for_within_the_grace_only(finishing_s: float, limit: int,
                                                                       expected: Route) -> None:
    other = Fit.BUSY if limit == 1 else Fit.WARM
    assert route([c(1, other), c(2, Fit.FINISHING, finishing_s)], limit, False, preferred=2) == expected


def test_finishing_for_counts_from_the_answer_in_the_environments_own_time() -> None:
    d = Driver(["slow"])
    d.cold_start()
    _, request_id = d.invoke()
    assert finishing_for(d.env, d.mono) is None  # running: not finishing
    d.respond(request_id)
    answered = d.mono
    d.advance(10)
    assert fit(d.env) is Fit.FINISHING and still_finishing(d.env) == ["the runtime", "extension slow"]
    # Our globals report after the response: while an extension still works, its time is Lambda's (the extension's
    # work goes on through it); once every extension rests, it is lambdatui's doing and left out, while it lasts
    # and after.
    d.feed(InspectionStarted(d.env.generation))
    d.advance(40)
    assert finishing_for(d.env, d.mono) == pytest.approx(0.050)
    d.ext_next("slow")
    assert still_finishing(d.env) == ["the runtime"]
    assert finishing_for(d.env, d.mono + 5.0) == pytest.approx(0.050)
    d.advance(5000)
    d.feed(InspectionEnded(d.env.generation))
    d.advance(20)
    assert finishing_for(d.env, d.mono) == pytest.approx(0.070)
    assert d.mono - answered == pytest.approx(5.070)
    d.runtime_next()
    assert fit(d.env) is Fit.WARM and finishing_for(d.env, d.mono) is None


def test_still_finishing_names_the_runtime_until_it_asks_again() -> None:
    d = Driver(["quick"])
    d.cold_start()
    _, request_id = d.invoke()
    d.ext_next("quick")  # the extension had nothing to do for this invoke
    d.respond(request_id)
    assert fit(d.env) is Fit.FINISHING and still_finishing(d.env) == ["the runtime"]
    assert finishing_for(d.env, d.mono) == 0.0
