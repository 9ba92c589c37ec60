"""An environment the fleet lists but never started, once a later one was (core.fleet_rules.unstarted): a replay's
env #1 when the scenario's first invoke names `env = 2`. It is no environment yet: not alive, no concurrency, never
spun down; an invoke may still start it, as it would a new one."""

from __future__ import annotations

from driver import Driver

from lambdatui.core.fleet_rules import Candidate, Choice, Fit, Route, idle_expired, next_idle_expiry, route, unstarted
from lambdatui.core.inputs import ShutdownRequested
from lambdatui.model.boundaries import EnvState


def stand_in(number: int = 1, *, idle_since: float = 0.0) -> Candidate:
    return Candidate(number, Fit.COLD, idle_since=idle_since, cold=True, unstarted=True)


def test_a_never_started_environment_counts_as_one_started_ahead_until_a_later_one_is_given_a_number() -> None:
    # serve, invoke and the debugger start env #1 ahead of traffic: until another number is given, the replay's
    # env #1 stands for that one (their recordings count it alive, and see it spun down when idle)
    d = Driver()
    assert not unstarted(d.env, 1, next_number=2)
    assert unstarted(d.env, 1, next_number=3)  # env #2 was started first: env #1 never was one
    d.feed(ShutdownRequested())  # ended without ever starting: still never one
    assert d.state is EnvState.SHUT_DOWN and unstarted(d.env, 1, next_number=3)


def test_once_its_init_has_begun_it_is_an_environment_like_any_other() -> None:
    d = Driver()
    d.start()
    assert not unstarted(d.env, 1, next_number=3)
    d = Driver()
    d.invoke()  # an invoke that starts it: its Init begins for it
    assert not unstarted(d.env, 1, next_number=3)


def test_it_is_never_spun_down_for_idleness() -> None:
    assert idle_expired([stand_in(), Candidate(2, Fit.WARM, idle_since=1.0)], now=10.0, idle_shutdown_s=5.0) == [2]
    assert next_idle_expiry([stand_in()], 5.0) is None


def test_it_is_no_concurrency_but_starting_it_takes_room_as_a_new_environment_would() -> None:
    # at a limit of 1 it leaves room for the environment an invoke names...
    assert route([stand_in()], 1, False, preferred=3, next_number=3) == Route(Choice.NEW, 3, cold=True)
    # ...and an invoke routed to it, named or not, starts it only where a new environment could start
    busy = Candidate(2, Fit.BUSY)
    assert route([stand_in(), busy], 2, False) == Route(Choice.EXISTING, 1, cold=True)
    assert route([stand_in(), busy], 2, False, preferred=1, next_number=3) == Route(Choice.EXISTING, 1, cold=True)
    assert route([stand_in(), busy], 1, False) == Route(Choice.THROTTLE)
    queued = route([stand_in(), busy], 1, True, preferred=1, next_number=3)
    assert queued == Route(Choice.QUEUE, passed_over="is not alive")
