"""Which environment takes an invoke (lambda-spec §11.1): the pure routing table."""

from __future__ import annotations

import pytest

from lambdatui.core.fleet_rules import Candidate, Choice, Fit, Route, idle_expired, route


def c(number: int, fit: Fit, *, provisioned: bool = False, idle_since: float = 0.0) -> Candidate:
    return Candidate(number, fit, provisioned, idle_since)


@pytest.mark.parametrize("candidates, limit, asynchronous, expected", [
    # the first invoke of a run: nothing exists yet but under the limit
    ([], 10, False, Route(Choice.NEW, cold=True)),
    # a warm idle environment serves at once
    ([c(1, Fit.WARM)], 10, False, Route(Choice.EXISTING, 1)),
    # busy ones are passed over: a new environment cold-starts
    ([c(1, Fit.BUSY)], 10, False, Route(Choice.NEW, cold=True)),
    # one that has answered and is finishing beats a cold start: a caller's next invoke stays warm
    ([c(1, Fit.FINISHING)], 10, False, Route(Choice.EXISTING, 1)),
    # a warm one beats one that is finishing
    ([c(1, Fit.FINISHING), c(2, Fit.WARM)], 10, False, Route(Choice.EXISTING, 2)),
    # a reset environment re-initialises inside the invoke rather than a new one starting
    ([c(1, Fit.COLD)], 10, False, Route(Choice.EXISTING, 1, cold=True)),
    # one being reset after a failed invoke takes the next (re-initialising it), even at the limit
    ([c(1, Fit.RESETTING)], 1, False, Route(Choice.EXISTING, 1, cold=True)),
    ([c(1, Fit.RESETTING), c(2, Fit.WARM)], 10, False, Route(Choice.EXISTING, 2)),
    # env #1, initialising ahead of requests, takes the first invoke
    ([c(1, Fit.INITIALISING)], 10, False, Route(Choice.EXISTING, 1, cold=True)),
    # a held environment is routed around while under the limit...
    ([c(1, Fit.HELD)], 10, False, Route(Choice.NEW, cold=True)),
    # ...and waited for at the limit (it serves once released)
    ([c(1, Fit.HELD)], 1, False, Route(Choice.EXISTING, 1)),
    # at the limit, all busy: a synchronous invoke is throttled, an Event invoke queued
    ([c(1, Fit.BUSY), c(2, Fit.BUSY)], 2, False, Route(Choice.THROTTLE)),
    ([c(1, Fit.BUSY), c(2, Fit.BUSY)], 2, True, Route(Choice.QUEUE)),
    # provisioned environments first, then the longest idle (spreading invokes over the warm ones)
    ([c(1, Fit.WARM, idle_since=1.0), c(2, Fit.WARM, provisioned=True, idle_since=5.0)], 10, False,
     Route(Choice.EXISTING, 2)),
    ([c(1, Fit.WARM, idle_since=5.0), c(2, Fit.WARM, idle_since=1.0), c(3, Fit.WARM, idle_since=3.0)], 10, False,
     Route(Choice.EXISTING, 2)),
])
def test_route(candidates: list[Candidate], limit: int, asynchronous: bool, expected: Route) -> None:
    assert route(candidates, limit, asynchronous) == expected


def test_idle_shutdown_takes_idle_on_demand_environments_only() -> None:
    candidates = [c(1, Fit.WARM, idle_since=0.0), c(2, Fit.WARM, idle_since=8.0), c(3, Fit.BUSY, idle_since=0.0),
                  c(4, Fit.WARM, provisioned=True, idle_since=0.0), c(5, Fit.COLD, idle_since=1.0),
                  c(6, Fit.RESETTING, idle_since=0.0)]
    assert idle_expired(candidates, now=10.0, idle_shutdown_s=5.0) == [1, 5]
    assert idle_expired(candidates, now=10.0, idle_shutdown_s=None) == []
