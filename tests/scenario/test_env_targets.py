"""Steps that act on one environment of the fleet (`env = N`): parsed, run on that environment, and recorded."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdatui import controller as c
from lambdatui.model import faults as flt
from lambdatui.scenario.model import FaultAction, NewEnvironmentAction, ShutdownAction
from lambdatui.scenario.parse import ScenarioError, parse_scenario
from lambdatui.scenario.record import Recorder
from lambdatui.config import resolve_function
from scenario_support import replay, write_probe


def steps_of(text: str):
    return parse_scenario(textwrap.dedent(text), Path("s.toml")).steps


def test_fault_new_environment_and_shutdown_steps_name_their_environment() -> None:
    crash, renew, shut, whole = steps_of("""
        [[step]]
        fault = "crash"
        env = 2
        [[step]]
        new_environment = true
        env = 3
        [[step]]
        shutdown = true
        env = 2
        [[step]]
        shutdown = true
    """)
    assert isinstance(crash.action, FaultAction) and crash.action.env == 2
    assert crash.action.fault == flt.Crash(flt.RUNTIME_TARGET, None, None, None)
    assert renew.action == NewEnvironmentAction(3)
    assert shut.action == ShutdownAction(2) and whole.action == ShutdownAction(None)


@pytest.mark.parametrize("text, fragment", [
    ('[[step]]\ninvoke = {}\nenv = 2\n', "not a invoke step (the fleet chooses where an invoke runs)"),
    ('[[step]]\nshutdown = true\nenv = 0\n', "env = 0: give an environment's number, 1 or more"),
    ('[[step]]\nfault = "crash"\nenv = "2"\n', "env = '2': give an environment's number"),
])
def test_a_misplaced_or_malformed_env_is_refused_with_its_line(text: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, Path("s.toml"))
    assert fragment in str(caught.value) and "s.toml:" in str(caught.value), str(caught.value)


@pytest.mark.trio
async def test_a_crash_on_env_2_resets_env_2_and_a_shutdown_of_env_2_leaves_env_1(code_dir: Path) -> None:
    function = write_probe(code_dir)
    done = await replay(function, """
        [[step]]
        parallel = [{}, {}]
        expect = { environments = 2, cold_starts = 2 }

        [[step]]
        fault = "crash"
        env = 2

        [[step]]
        shutdown = true
        env = 2
        expect = { environments = 1 }

        [[step]]
        invoke = {}
        expect = { cold = false, response = { invocations = 2 } }
    """, code_dir)
    assert done.result.passed, done.out
    assert "fault: crash runtime (SIGKILL) (env #2)" in done.out, done.out
    # The crash reset env #2 only: env #1 kept its globals and served the last invoke warm (asserted above).
    assert "#2  reset      reason: failure" in done.out and "#1  reset" not in done.out, done.out
    assert "#2  lambdatui  env #2 is shut down (SHUTDOWN spindown) and leaves the fleet" in done.out, done.out


def test_the_recorder_writes_the_environment_a_command_was_aimed_at() -> None:
    config = resolve_function(str(SAMPLE), timeout_s=3)
    recorder = Recorder(config)
    recorder.command(c.InjectFault(flt.Crash(flt.RUNTIME_TARGET, None, None, None), env=2))
    recorder.command(c.Shutdown(env=2))
    recorder.command(c.NewEnvironment())
    crash, shut, renew = parse_scenario(recorder.to_toml(), Path("r.toml")).steps
    assert isinstance(crash.action, FaultAction) and crash.action.env == 2
    assert shut.action == ShutdownAction(2)
    assert renew.action == NewEnvironmentAction(None)


SAMPLE = Path(__file__).resolve().parents[2] / "sample_functions" / "hello" / "handler.py"
