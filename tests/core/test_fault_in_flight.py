"""`in_flight = N` on a fault armed for invoke.start (Managed Instances): it acts at the invoke.start that has N
invokes in flight at once in the environment, not at the first. A recording writes it for a crash, freeze or thaw
given while several invokes of one step ran in an environment's workers (a hunt's finding: armed for the first
invoke.start, the replay's crash met the first invoke alone, before the others were given to the environment; they
ran in a new one and succeeded). The round trip through the debugger and `lambdatui replay` is
tests/ui/test_hunt_tui_managed.py.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from driver import Driver

from lambdatui.core.effects import RUNTIME, SignalProcess
from lambdatui.core.inputs import FaultRequested
from lambdatui.core.managed_environment import ManagedEnvironment
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.scenario.model import FaultAction
from lambdatui.scenario.parse import ScenarioError, parse_scenario

START = Boundary.INVOKE_START


def managed(m: int) -> Driver:
    """Initialised, with each of its `m` workers parked on /next."""
    d = Driver()
    d.config = dataclasses.replace(d.config, max_concurrency=m)
    d.env = ManagedEnvironment(d.config, new_id=lambda: f"id-{next(d._ids)}")
    d.start()
    for _ in range(m):
        d.runtime_next()
    assert d.state is EnvState.RUNNING
    return d


def test_a_crash_armed_for_three_in_flight_acts_at_the_third_invoke_start_not_the_first() -> None:
    d = managed(4)
    crash = flt.Crash(at=START, in_flight=3)
    d.feed(FaultRequested(crash))
    assert d.facts(f.FaultArmed) == [f.FaultArmed("crash runtime (SIGKILL) at invoke.start, once 3 invokes are in "
                                                  "flight", START)]
    m = d.mark()
    d.invoke()
    d.invoke()
    assert not d.effects(SignalProcess, since=m) and d.facts(f.FaultInjected, m) == []
    d.invoke()
    assert d.effects(SignalProcess, since=m) == [SignalProcess(RUNTIME, 9)]
    assert [fact.description for fact in d.facts(f.FaultInjected, m)] == [flt.describe(crash)]
    assert d.env.armed == [] and len(d.env.runs) == 3


@pytest.mark.parametrize("m, fault, reason", [
    (0, flt.Crash(at=START, in_flight=2), "only Managed Instances run more than one"),
    (4, flt.Freeze(at=Boundary.INVOKE_RESPONSE, in_flight=2), "it goes with at invoke.start only"),
    (4, flt.Thaw(at=START, in_flight=5), "in_flight = 5: this environment runs 1 to 4 invokes at once"),
])
def test_in_flight_is_refused_where_it_would_never_be_reached(m: int, fault: flt.Fault, reason: str) -> None:
    d = managed(m) if m else Driver()
    if not m:
        d.cold_start()
    mark = d.mark()
    d.feed(FaultRequested(fault))
    refused = d.facts(f.FaultRefused, mark)
    assert len(refused) == 1 and reason in refused[0].reason, refused
    assert d.env.armed == []


def parse_fault(text: str) -> flt.Fault:
    action = parse_scenario(textwrap.dedent(text), Path("s.toml")).steps[0].action
    assert isinstance(action, FaultAction)
    return action.fault


def test_a_step_reads_in_flight_for_the_faults_that_act_at_once() -> None:
    assert parse_fault("[[step]]\nfault = 'crash'\nat = 'invoke.start'\nin_flight = 3\n") == \
        flt.Crash(at=START, in_flight=3)
    assert parse_fault("[[step]]\nfault = 'freeze'\nat = 'invoke.start'\nin_flight = 2\n") == \
        flt.Freeze(at=START, in_flight=2)


@pytest.mark.parametrize("options, fragment", [
    ("fault = 'crash'\nin_flight = 2", "so it goes with at = 'invoke.start' (this step has no at)"),
    ("fault = 'crash'\nat = 'invoke.start'\nin_flight = 0", "in_flight = 0: give how many invokes"),
    ("fault = 'crash'\nat = 'invoke.start'\nin_flight = '2'", "in_flight = a string: give how many invokes"),
    ("fault = 'crash'\nat = 'invoke.start'\nin_flight = 2\nafter_ms = 5", "give one of them"),
    ("fault = 'raise'\nat = 'invoke.start'\nin_flight = 2", "in_flight is for the faults that act at once"),
])
def test_in_flight_where_it_means_nothing_is_refused_at_its_step(options: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario("[[step]]\n" + options + "\n", Path("s.toml"))
    assert fragment in caught.value.message, str(caught.value)
