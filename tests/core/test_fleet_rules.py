"""Which environment takes an invoke (lambda-spec §11.1): the pure routing table."""

from __future__ import annotations

import dataclasses

import pytest
from driver import Driver, ext

from lambdatui.core.effects import RUNTIME
from lambdatui.core.environment import Environment
from lambdatui.core.fleet_rules import (Candidate, Choice, Fit, Route, fit, idle_expired, next_idle_expiry, route,
                                       runs_an_invoke, snapshot_gone, starts_cold)
from lambdatui.core.inputs import ShutdownRequested
from lambdatui.model.boundaries import EnvState


def c(number: int, fit: Fit, *, provisioned: bool = False, idle_since: float = 0.0, cold: bool = False) -> Candidate:
    return Candidate(number, fit, provisioned, idle_since, cold)


@pytest.mark.parametrize("candidates, limit, asynchronous, expected", [
    # the first invoke of a run: nothing exists yet but under the limit
    ([], 10, False, Route(Choice.NEW, cold=True)),
    # a warm idle environment serves at once
    ([c(1, Fit.WARM)], 10, False, Route(Choice.EXISTING, 1)),
    # busy ones are passed over: a new environment cold-starts
    ([c(1, Fit.BUSY)], 10, False, Route(Choice.NEW, cold=True)),
    # one that has answered and is finishing beats a cold start: a caller's next invoke stays warm
    ([c(1, Fit.FINISHING)], 10, False, Route(Choice.EXISTING, 1)),
    # initialised ahead of its first invoke, on demand: it serves at once, and that invoke is its cold start
    ([c(1, Fit.WARM, cold=True)], 10, False, Route(Choice.EXISTING, 1, cold=True)),
    # a warm one beats one that is finishing
    ([c(1, Fit.FINISHING), c(2, Fit.WARM)], 10, False, Route(Choice.EXISTING, 2)),
    # a reset environment re-initialises inside the invoke rather than a new one starting
    ([c(1, Fit.COLD)], 10, False, Route(Choice.EXISTING, 1, cold=True)),
    # one being reset after a failed invoke takes the next (re-initialising it), even at the limit
    ([c(1, Fit.RESETTING)], 1, False, Route(Choice.EXISTING, 1, cold=True)),
    ([c(1, Fit.RESETTING), c(2, Fit.WARM)], 10, False, Route(Choice.EXISTING, 2)),
    # env #1, initialising ahead of requests, takes the first invoke
    ([c(1, Fit.INITIALISING, cold=True)], 10, False, Route(Choice.EXISTING, 1, cold=True)),
    # a provisioned one initialising ahead of traffic takes it too: no cold start (its REPORT has no Init Duration)
    ([c(1, Fit.INITIALISING, provisioned=True)], 10, False, Route(Choice.EXISTING, 1)),
    # a held environment is routed around while under the limit...
    ([c(1, Fit.HELD)], 10, False, Route(Choice.NEW, cold=True)),
    # ...and waited for at the limit (it serves once released)
    ([c(1, Fit.HELD)], 1, False, Route(Choice.EXISTING, 1)),
    ([c(1, Fit.HELD, cold=True)], 1, False, Route(Choice.EXISTING, 1, cold=True)),  # held in its Init
    # at the limit, all busy: a synchronous invoke is throttled, an Event invoke queued
    # one spinning down serves no invoke and is no concurrency: a new environment starts beside it
    ([c(1, Fit.ENDING)], 1, False, Route(Choice.NEW, cold=True)),
    ([c(1, Fit.BUSY), c(2, Fit.ENDING)], 2, True, Route(Choice.NEW, cold=True)),
    ([c(1, Fit.BUSY), c(2, Fit.ENDING)], 1, False, Route(Choice.THROTTLE)),
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


@pytest.mark.parametrize("candidates, expected", [
    # a replay sends an invoke where the session did: env #2, though env #1 has been idle longer
    ([c(1, Fit.WARM, idle_since=1.0), c(2, Fit.WARM, idle_since=5.0)], Route(Choice.EXISTING, 2)),
    # before a warm one, even a provisioned one, when it has answered and is finishing
    ([c(1, Fit.WARM, provisioned=True), c(2, Fit.FINISHING)], Route(Choice.EXISTING, 2)),
    # or must initialise, is being reset, or is initialising: a cold start there, as the session's was
    ([c(1, Fit.WARM), c(2, Fit.COLD)], Route(Choice.EXISTING, 2, cold=True)),
    ([c(1, Fit.WARM), c(2, Fit.RESETTING)], Route(Choice.EXISTING, 2, cold=True)),
    ([c(1, Fit.WARM), c(2, Fit.INITIALISING, cold=True)], Route(Choice.EXISTING, 2, cold=True)),
    ([c(1, Fit.WARM), c(2, Fit.WARM, cold=True)], Route(Choice.EXISTING, 2, cold=True)),
    # busy or held: routed as usual (never waited for, never a reason for a new environment)
    ([c(1, Fit.WARM), c(2, Fit.BUSY)], Route(Choice.EXISTING, 1)),
    ([c(1, Fit.WARM), c(2, Fit.HELD)], Route(Choice.EXISTING, 1)),
    ([c(1, Fit.BUSY), c(2, Fit.HELD)], Route(Choice.NEW, cold=True)),
    # gone (or never started in this run): routed as usual
    ([c(1, Fit.WARM)], Route(Choice.EXISTING, 1)),
])
def test_route_prefers_the_environment_asked_for_when_it_can_take_the_invoke_now(
    candidates: list[Candidate], expected: Route,
) -> None:
    assert dataclasses.replace(route(candidates, 10, False, preferred=2), passed_over="") == expected


@pytest.mark.parametrize("candidates, limit, why", [
    ([c(1, Fit.WARM)], 10, "is not alive"),
    ([c(1, Fit.WARM), c(2, Fit.BUSY)], 10, "is busy"),
    ([c(1, Fit.WARM), c(2, Fit.HELD)], 10, "is held at a boundary"),
    ([c(1, Fit.WARM), c(2, Fit.ENDING)], 10, "is shutting down"),
    ([c(1, Fit.WARM), c(2, Fit.WARM)], 10, ""),  # followed
    ([c(1, Fit.BUSY), c(2, Fit.HELD)], 2, ""),  # at the limit the held one is waited for: the one asked for
])
def test_route_says_why_the_environment_asked_for_was_passed_over(candidates: list[Candidate], limit: int,
                                                                   why: str) -> None:
    assert route(candidates, limit, False, preferred=2).passed_over == why


@pytest.mark.parametrize("starting, per_environment, asynchronous, expected", [
    # Managed Instances: an environment being started will take several invokes: wait for it to join
    (1, 4, False, Route(Choice.WAIT)),
    (1, 4, True, Route(Choice.WAIT)),
    # nothing being started, or one that takes a single invoke (on demand): throttled, or queued
    (0, 4, False, Route(Choice.THROTTLE)),
    (1, 1, False, Route(Choice.THROTTLE)),
    (1, 1, True, Route(Choice.QUEUE)),
])
def test_at_the_limit_an_invoke_waits_for_a_starting_environment_only_where_it_takes_several(
    starting: int, per_environment: int, asynchronous: bool, expected: Route,
) -> None:
    busy = [c(1, Fit.BUSY)]
    assert route(busy, 1, asynchronous, starting=starting, per_environment=per_environment) == expected
    # under the limit a new environment starts, unless the one being started has a worker to spare
    spare = Route(Choice.WAIT) if starting and per_environment > 1 else Route(Choice.NEW, cold=True)
    assert route(busy, 2, asynchronous, starting=starting, per_environment=per_environment) == spare


def test_idle_shutdown_takes_idle_on_demand_environments_only() -> None:
    candidates = [c(1, Fit.WARM, idle_since=0.0), c(2, Fit.WARM, idle_since=8.0), c(3, Fit.BUSY, idle_since=0.0),
                  c(4, Fit.WARM, provisioned=True, idle_since=0.0), c(5, Fit.COLD, idle_since=1.0),
                  c(6, Fit.RESETTING, idle_since=0.0)]
    assert idle_expired(candidates, now=10.0, idle_shutdown_s=5.0) == [1, 5]
    assert idle_expired(candidates, now=10.0, idle_shutdown_s=None) == []


def test_the_first_invoke_after_an_init_ahead_of_it_is_the_cold_start_its_report_says() -> None:
    # The debugger's `c` and serve's env #1 initialise before any invoke: Lambda's REPORT of the first one carries
    # the Init Duration (InvokeReported.cold), so the fleet's counts must call it cold too, not warm.
    d = Driver()
    assert fit(d.env) is Fit.COLD and starts_cold(d.env)
    d.cold_start()
    assert fit(d.env) is Fit.WARM and starts_cold(d.env)
    for cold in (True, False):
        _, request_id = d.invoke()
        d.complete_invoke(request_id)
        assert d.reports()[-1].cold is cold
        assert fit(d.env) is Fit.WARM and not starts_cold(d.env)


def test_a_provisioned_environment_initialised_ahead_serves_its_first_invoke_warm() -> None:
    d = Driver()
    d.config = dataclasses.replace(d.config, provisioned=True)
    d.env = Environment(d.config)
    d.cold_start()
    assert not starts_cold(d.env)
    _, request_id = d.invoke()
    d.complete_invoke(request_id)
    assert not d.reports()[-1].cold  # no Init Duration in its REPORT (lambda-spec §11.2)


def test_a_provisioned_environment_still_initialising_is_no_cold_start_an_on_demand_one_is() -> None:
    # Its Init began ahead of traffic: an invoke that arrives meanwhile waits for it and its REPORT carries no Init
    # Duration, so the fleet must not count it a cold start (an on-demand environment's Init is one).
    for provisioned in (True, False):
        d = Driver()
        d.config = dataclasses.replace(d.config, provisioned=provisioned)
        d.env = Environment(d.config)
        d.start()
        assert fit(d.env) is Fit.INITIALISING
        assert starts_cold(d.env) is not provisioned


def test_an_environment_shutting_down_for_good_is_ending_from_its_spindown_until_it_is_gone() -> None:
    # Lambda's concurrency counts environments serving invokes: one spinning down takes none and counts for none;
    # a reset is not an end (it takes the next invoke), nor is a spindown waiting for its invoke's extensions.
    d = Driver({"ext-a": ("INVOKE", "SHUTDOWN")})
    d.cold_start({"ext-a": ("INVOKE", "SHUTDOWN")})
    d.feed(ShutdownRequested())
    assert d.state is EnvState.SHUTTING_DOWN and fit(d.env) is Fit.ENDING
    d.exited(RUNTIME, 0)
    d.exited(ext("ext-a"), 0)
    assert d.state is EnvState.SHUT_DOWN and fit(d.env) is Fit.ENDING
    assert not runs_an_invoke(d.env)

    d = Driver()
    d.cold_start()
    _, request_id = d.invoke()
    d.respond(request_id)
    d.feed(ShutdownRequested())  # the caller has its answer: the spindown waits for the invoke to end
    assert d.env.spindown_after_invoke and fit(d.env) is Fit.BUSY


def test_the_next_idle_expiry_is_the_soonest_on_demand_idle_environment() -> None:
    candidates = [c(1, Fit.WARM, idle_since=4.0), c(2, Fit.COLD, idle_since=2.0), c(3, Fit.BUSY, idle_since=0.0),
                  c(4, Fit.WARM, provisioned=True, idle_since=0.0)]
    assert next_idle_expiry(candidates, 5.0) == 7.0
    # Provisioned ones never expire: a fleet of only those (and busy ones) has nothing to wake up for, however long
    # they stay idle (the spindown task slept 50 ms at a time once one had been idle longer than the period).
    assert next_idle_expiry([c(4, Fit.WARM, provisioned=True), c(3, Fit.BUSY)], 5.0) is None


def test_an_environment_with_room_only_in_workers_still_starting_comes_after_a_new_one_and_before_a_throttle() -> None:
    """Managed Instances: a worker waiting on /next anywhere first, then a new environment; at the limit the invoke
    waits for a worker still starting rather than being throttled."""
    starting = c(1, Fit.WORKERS_STARTING)
    assert route([starting, c(2, Fit.FINISHING, idle_since=5.0)], 10, False) == Route(Choice.EXISTING, 2)
    assert route([starting], 10, False) == Route(Choice.NEW, cold=True)
    assert route([starting], 1, False) == Route(Choice.EXISTING, 1)
    assert route([starting, c(2, Fit.HELD)], 2, False) == Route(Choice.EXISTING, 1)
    assert route([c(2, Fit.BUSY), starting], 10, False, preferred=1) == Route(Choice.EXISTING, 1)


@pytest.mark.parametrize("starting, per_environment, waiting, expected", [
    (1, 2, 0, Choice.WAIT),  # the environment started for the burst's first invoke has a worker to spare
    (1, 2, 1, Choice.NEW),  # that worker is promised already: another environment starts
    (2, 2, 1, Choice.WAIT),
    (1, 16, 14, Choice.WAIT),
    (1, 16, 15, Choice.NEW),
    (1, 1, 0, Choice.NEW),  # one invoke per environment: each concurrent invoke has its own, as in Lambda
    (0, 2, 0, Choice.NEW),
])
def test_a_burst_under_the_limit_fills_the_managed_environments_being_started_before_starting_more(
        starting: int, per_environment: int, waiting: int, expected: Choice) -> None:
    """A bug hunt: under the limit, every invoke of a burst that arrived while an environment of M workers was being
    started cold-started one more (5 invokes at M=2 made 4 environments, 64 at M=16 would make 64 of 16 workers)."""
    routed = route([], 10, False, starting=starting, per_environment=per_environment, waiting=waiting)
    assert routed.choice is expected


@pytest.mark.parametrize("candidates, limit, expected", [
    # the session started env #2 for this invoke (env #1 was busy); in the replay env #1 is idle: #2 is started again
    ([c(1, Fit.WARM)], 10, Route(Choice.NEW, 2, cold=True)),
    # at the limit it cannot be: routed as usual, and said
    ([c(1, Fit.WARM)], 1, Route(Choice.EXISTING, 1, passed_over="is not alive")),
])
def test_route_starts_the_environment_asked_for_when_it_is_the_next_to_be_started(
    candidates: list[Candidate], limit: int, expected: Route,
) -> None:
    assert route(candidates, limit, False, preferred=2, next_number=2) == expected
    # one past the next, or one skipped for it: started with that number (two started together in the session came up,
    # and took their invokes, in the other order)
    ahead = route(candidates, limit, False, preferred=3, next_number=2)
    assert ahead == (dataclasses.replace(expected, number=3) if expected.choice is Choice.NEW else expected)
    assert route(candidates, limit, False, preferred=2, next_number=4, skipped=frozenset({2})) == expected
    # one already given, and gone: routed as usual
    assert route(candidates, limit, False, preferred=3, next_number=4).choice is Choice.EXISTING


@pytest.mark.parametrize(("snapshot", "fits", "gone"), [
    (None, [Fit.BUSY], False),  # no SnapStart
    (EnvState.INIT, [Fit.BUSY], False),  # the snapshot is being made: invokes wait for it
    (EnvState.SNAPSHOT, [Fit.BUSY, Fit.ENDING], False),  # it is there: a new environment can be restored
    (EnvState.SHUT_DOWN, [], True),  # gone, and no environment restored from it
    (EnvState.SHUT_DOWN, [Fit.BUSY, Fit.ENDING], True),  # gone, and none of those left can take an invoke
    (EnvState.SHUT_DOWN, [Fit.BUSY, Fit.WARM], False),  # gone, but a restored one still serves
])
def test_with_snapstart_no_invoke_can_run_once_the_snapshot_is_gone_and_no_copy_can_take_one(
        snapshot: EnvState | None, fits: list[Fit], gone: bool) -> None:
    asked: list[bool] = []

    def candidates() -> list[Candidate]:
        asked.append(True)
        return [Candidate(n, f) for n, f in enumerate(fits, start=2)]

    assert snapshot_gone(snapshot, candidates) is gone
    assert bool(asked) == (snapshot is EnvState.SHUT_DOWN)  # the environments are looked at only when it matters
