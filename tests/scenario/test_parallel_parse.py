"""Parsing the fleet's parts of a scenario: [function]'s concurrency, provisioned and idle_shutdown, `parallel`
steps, `expect.each` and the step's fleet counts; every malformed case says FILE:LINE and what is wrong."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pytest

from lambdatui.model.fleet import DEFAULT_CONCURRENCY, FleetOptions
from lambdatui.scenario.fleet_settings import UNSET, UNSET_FLEET_DEFAULTS, fill_fleet_options, scenario_fleet
from lambdatui.scenario.model import FunctionSettings, ParallelAction, PauseAction
from lambdatui.scenario.parse import ScenarioError, parse_scenario


def parse(text: str):
    return parse_scenario(textwrap.dedent(text), Path("s.toml"))


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse(text)
    return caught.value


def test_the_function_table_carries_the_fleet() -> None:
    function = parse("""
        [function]
        concurrency = 3
        provisioned = 2
        idle_shutdown = 1.5

        [[step]]
        invoke = {}
    """).function
    assert (function.concurrency, function.provisioned, function.idle_shutdown) == (3, 2, 1.5)
    assert isinstance(parse("[function]\nidle_shutdown = 2\n[[step]]\ninvoke = {}\n").function.idle_shutdown, float)


def test_a_parallel_step_holds_its_events_in_order_with_each_and_the_counts() -> None:
    step = parse("""
        [[step]]
        parallel = [{ n = 1 }, '{"n": 2}', [3]]
        expect.each = [{ cold = true, response = { n = 1 } }, {}, { error_type = "TooManyRequestsException" }]
        expect.environments = 2
        expect.cold_starts = 2
        expect.warm_hits = 0
        expect.throttled = 1
        expect.spun_down = 0
    """).steps[0]
    assert isinstance(step.action, ParallelAction)
    assert [json.loads(e) for e in step.action.events] == [{"n": 1}, {"n": 2}, [3]]
    first, second, third = step.expect.each
    assert first.cold is True and first.response == {"n": 1}
    assert second.keys() == ()
    assert third.error_type == "TooManyRequestsException"
    assert step.expect.fleet_keys() == ("environments", "cold_starts", "warm_hits", "throttled", "spun_down")
    assert (step.expect.environments, step.expect.cold_starts, step.expect.throttled) == (2, 2, 1)
    assert step.expect.keys() == ("each", "environments", "cold_starts", "warm_hits", "throttled", "spun_down")


def test_fleet_counts_go_with_any_step_and_a_pause_can_check_an_idle_shutdown() -> None:
    steps = parse("""
        [[step]]
        invoke = {}
        expect = { cold = true, cold_starts = 1, environments = 1 }

        [[step]]
        pause = 2
        expect = { environments = 0, spun_down = 1, shutdown_reason = "spindown", phases = ["shutdown.start"] }

        [[step]]
        shutdown = true
        expect.environments = 0
    """).steps
    assert steps[0].expect.keys() == ("cold", "environments", "cold_starts")
    assert isinstance(steps[1].action, PauseAction)
    assert steps[1].expect.keys() == ("shutdown_reason", "phases", "environments", "spun_down")
    assert steps[2].expect.environments == 0


MALFORMED = [
    # (scenario text, line reported, fragment of the message)
    ("\n[function]\nconcurrency = 0\n[[step]]\ninvoke = {}\n", 2, "concurrency = 0: give the environments"),
    ("[function]\nconcurrency = '3'\n[[step]]\ninvoke = {}\n", 1, "concurrency = '3'"),
    ("[function]\nprovisioned = -1\n[[step]]\ninvoke = {}\n", 1, "provisioned = -1"),
    ("[function]\nconcurrency = 2\nprovisioned = 3\n[[step]]\ninvoke = {}\n", 1,
     "provisioned = 3 is more than concurrency = 2"),
    ("[function]\nprovisioned = 101\n[[step]]\ninvoke = {}\n", 1,
     f"more than the default concurrency ({DEFAULT_CONCURRENCY})"),
    ("[function]\nidle_shutdown = 0\n[[step]]\ninvoke = {}\n", 1, "idle_shutdown = 0: give the seconds"),
    ("[function]\nidle_shutdown = true\n[[step]]\ninvoke = {}\n", 1, "idle_shutdown = a boolean"),
    ("[function]\nidle_shutdown = 'off'\n[[step]]\ninvoke = {}\n", 1, "leave it out to keep idle environments"),
    ("[function]\nconcurency = 3\n[[step]]\ninvoke = {}\n", 1, "did you mean 'concurrency'"),
    ("[[step]]\ninvoke = {}\n\n[[step]]\nparallel = { n = 1 }\n", 4, "step 2: parallel takes an array of events"),
    ("[[step]]\nparallel = [{}]\n", 1, "parallel has 1 event: give at least two"),
    ("[[step]]\nparallel = []\n", 1, "parallel has 0 events"),
    ("[[step]]\nparallel = [{}, 3]\n", 1, "parallel[1] takes a table (the event) or JSON text, got an integer"),
    ("[[step]]\nparallel = [{}, '{nope']\n", 1, "parallel[1] is not valid JSON"),
    (f"[[step]]\nparallel = [{', '.join(['{}'] * 101)}]\n", 1, "parallel has 101 events: at most 100"),
    ("[[step]]\nparallel = [{}, {}]\ninvoke = {}\n", 1, "exactly one thing, this one has invoke and parallel"),
    ("[[step]]\nparallel = [{}, {}]\nexpect.cold = true\n", 1,
     "expect.cold makes no sense here: in a parallel step each invoke has its own: write expect.each"),
    ("[[step]]\nparallel = [{}, {}]\nexpect.each = [{}]\n", 1, "expect.each has 1 table for 2 parallel invokes"),
    ("[[step]]\nparallel = [{}, {}]\nexpect.each = { cold = true }\n", 1, "expect.each must be an array of tables"),
    ("[[step]]\nparallel = [{}, {}]\nexpect.each = [{}, 1]\n", 1, "expect.each must be an array of tables"),
    ("[[step]]\nparallel = [{}, {}]\nexpect.each = [{}, { cold = 'yes' }]\n", 1,
     "step 1: expect.each[1].cold must be true or false"),
    ("[[step]]\nparallel = [{}, {}]\nexpect.each = [{}, { colt = true }]\n", 1,
     "unknown key expect.each[1].colt (did you mean 'cold'?)"),
    ("[[step]]\nparallel = [{}, {}]\nexpect.each = [{ cold_starts = 1 }, {}]\n", 1,
     "expect.each[0].cold_starts makes no sense here: expect.each holds what one invoke returned"),
    ("[[step]]\nparallel = [{}, {}]\nexpect.each = [{ each = [] }, {}]\n", 1, "expect.each[0].each makes no sense"),
    ("[[step]]\ninvoke = {}\nexpect.each = [{}]\n", 1, "expect.each makes no sense here"),
    ("[[step]]\ninvoke = {}\nexpect.environments = -1\n", 1, "expect.environments = -1: give a count"),
    ("[[step]]\ninvoke = {}\nexpect.cold_starts = 1.0\n", 1, "expect.cold_starts = a number: give a count"),
    ("[[step]]\ninvoke = {}\nexpect.throttled = true\n", 1, "expect.throttled = a boolean"),
    ("[[step]]\npause = 1\nexpect.response = {}\n", 1, "during a pause the function runs nothing"),
    ("[[step]]\npause = 1\nexpect.tmp = []\n", 1, "check it with environments, spun_down"),
]


@pytest.mark.parametrize("text, line, fragment", MALFORMED)
def test_malformed_fleet_scenarios_name_file_line_and_problem(text: str, line: int, fragment: str) -> None:
    error = error_of(text)
    assert error.line == line, str(error)
    assert fragment in error.message, str(error)
    assert str(error).startswith(f"s.toml:{line}: ")


def test_an_error_in_a_later_parallel_step_points_at_that_step() -> None:
    error = error_of("""\
        [[step]]
        parallel = [{}, {}]

        [[step]]
        parallel = [{}, {}, {}]
        expect.each = [{}, {}]
    """)
    assert error.line == 4 and error.message.startswith("step 2: expect.each has 2 tables for 3"), str(error)


# ---------------------------------------------------------------------- the fleet a replay runs


def test_a_scenario_runs_the_fleet_its_table_asks_for_else_the_defaults() -> None:
    assert scenario_fleet(FunctionSettings()) == FleetOptions(DEFAULT_CONCURRENCY, 0, None)
    assert scenario_fleet(FunctionSettings(concurrency=3, provisioned=1, idle_shutdown=2.0)) == FleetOptions(3, 1, 2.0)


def test_the_command_line_wins_over_the_table_option_by_option() -> None:
    settings = FunctionSettings(concurrency=3, provisioned=1, idle_shutdown=2.0)
    args = argparse.Namespace(**{**UNSET_FLEET_DEFAULTS, "concurrency": 5})
    fill_fleet_options(args, settings)
    assert (args.concurrency, args.provisioned, args.idle_shutdown) == (5, 1, 2.0)
    off = argparse.Namespace(**{**UNSET_FLEET_DEFAULTS, "idle_shutdown": None})  # --idle-shutdown off
    fill_fleet_options(off, settings)
    assert off.idle_shutdown is None and off.concurrency == 3
    assert UNSET_FLEET_DEFAULTS["idle_shutdown"] is UNSET
