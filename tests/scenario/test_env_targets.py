"""Steps that act on one environment of the fleet (`env = N`): parsed, run on that environment, and recorded."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from lambdatui import controller as c
from lambdatui.model import faults as flt
from lambdatui.scenario.model import FaultAction, InvokeAction, NewEnvironmentAction, ShutdownAction
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


def test_an_invoke_step_names_the_environment_to_send_it_to(code_dir: Path) -> None:
    """As a recording writes it for an invoke that met busy environments in the session: a routing hint."""
    (code_dir / "e.json").write_text('{"n": 2}')
    text = '[[step]]\ninvoke = { n = 1 }\nenv = 2\n[[step]]\nevent_file = "e.json"\nenv = 3\n[[step]]\ninvoke = {}\n'
    hinted, from_file, plain = parse_scenario(text, code_dir / "s.toml").steps
    assert hinted.action == InvokeAction(b'{"n": 1}', env=2)
    assert from_file.action == InvokeAction(b'{"n": 2}', env=3)
    assert plain.action == InvokeAction(b"{}") and plain.action.env is None
    (burst, throttled) = steps_of('[[step]]\nparallel = [{ n = 1 }, { n = 2 }]\nenvs = [3, 1]\n'
                                  '[[step]]\nparallel = [{ n = 1 }, { n = 2 }]\nenvs = [1, 0]\n')
    assert burst.action.envs == (3, 1) and throttled.action.envs == (1, 0)


@pytest.mark.parametrize("text, fragment", [
    ('[[step]]\nparallel = [{}, {}]\nenv = 2\n', "not a parallel step (envs = [N, ...] names one for each of its events)"),
    ('[[step]]\ninvoke = {}\nenvs = [2]\n', "envs = [...] goes with parallel = [...], one environment for each event; "
                                           "invoke takes env = N"),
    ('[[step]]\npause = 1\nenvs = [2]\n', "envs = [...] goes with parallel = [...], one environment for each event"),
    ('[[step]]\nparallel = [{}, {}]\nenvs = [2]\n', "envs = [2]: give an environment's number, 1 or more (0: routed "
                                                  "as usual), for each of the 2 events"),
    ('[[step]]\nparallel = [{}, {}]\nenvs = [1, -1]\n', "envs = [1, -1]: give an environment's number"),
    ('[[step]]\nparallel = [{}, {}]\nenvs = 2\n', "envs = 2: give an environment's number"),
    ('[[step]]\npause = 1\nenv = 2\n', "env = N names the environment a fault / new_environment / shutdown / "
                                       "invoke / event_file step acts on or is sent to, not a pause step"),
    ('[[step]]\ninvoke = {}\nenv = 0\n', "env = 0: give an environment's number, 1 or more"),
    ('[[step]]\ninvoke = {}\nenv = true\n', "env = True: give an environment's number, 1 or more"),
    ('[[step]]\ninvoke = {}\nenv = 1.5\n', "env = 1.5: give an environment's number, 1 or more"),
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


@pytest.mark.trio
async def test_an_invoke_goes_to_the_environment_it_names_or_as_usual_when_that_one_is_not_alive(
    code_dir: Path,
) -> None:
    """env #2 has served one invoke, env #1 has been idle longer: `env = 2` sends the next there all the same.
    `env = 3`, the next environment's number, starts it (the session started it for that invoke: its environments
    were busy, and in a replay they are idle). `env = 5`, one past the next, starts #5, and `env = 4` then starts the
    #4 it passed over (in the session the two came up, and took their invokes, in the other order). #3, shut down,
    is gone: the fleet routes an invoke for it as usual, and the timeline says so."""
    function = write_probe(code_dir)
    done = await replay(function, """
        [[step]]
        parallel = [{}, {}]

        [[step]]
        invoke = {}
        env = 2
        expect = { response = { invocations = 2 } }

        [[step]]
        invoke = {}
        env = 3
        expect = { response = { invocations = 1 }, cold = true }

        [[step]]
        invoke = {}
        env = 5
        expect = { response = { invocations = 1 }, cold = true }

        [[step]]
        invoke = {}
        env = 4
        expect = { response = { invocations = 1 }, cold = true }

        [[step]]
        shutdown = true
        env = 3

        [[step]]
        invoke = {}
        env = 3
        expect = { response = { invocations = 2 }, cold = false }
    """, code_dir)
    assert done.result.passed, done.out
    for number in (2, 3, 5, 4):
        assert f"invoke {{}} (to env #{number})" in done.out, done.out
    assert re.search(r"routing    env = 3: env #3 is (not alive|shutting down); routed as usual, to env #1", done.out)
    assert done.out.count("routing") == 1, done.out


@pytest.mark.trio
async def test_a_parallel_steps_envs_and_an_event_invokes_env_send_each_where_named(code_dir: Path) -> None:
    """After [#1, #2], env #1 served one more and env #2 has been idle longer: routed as usual, the next would go to
    #2. `envs = [1, 2]` sends the burst's first to #1 (its third invoke) and its second to #2; an Event invoke's
    `env = 1` waits for its turn in the fleet's queue, then goes to #1 (a bug hunt's replays sent it elsewhere); one
    for #2, shut down, is routed as usual, which the timeline says once it is routed (it was placed when queued)."""
    function = write_probe(code_dir)
    done = await replay(function, """
        [[step]]
        parallel = [{}, {}]
        envs = [1, 2]
        expect.each = [{ cold = true }, { cold = true }]

        [[step]]
        invoke = {}
        env = 1
        expect = { response = { invocations = 2 } }

        [[step]]
        parallel = [{}, {}]
        envs = [1, 2]
        expect.each = [{ response = { invocations = 3 } }, { response = { invocations = 2 } }]

        [[step]]
        invoke = {}
        env = 1
        expect = { response = { invocations = 4 } }

        [[step]]
        invoke = {}
        invocation_type = "Event"
        env = 1
        expect = { response = { invocations = 5 } }

        [[step]]
        shutdown = true
        env = 2

        [[step]]
        invoke = {}
        invocation_type = "Event"
        env = 2
        expect = { response = { invocations = 6 } }
    """, code_dir)
    assert done.result.passed, done.out
    assert re.search(r"routing    env = 2: env #2 is (not alive|shutting down); routed as usual, to env #1", done.out)
    assert done.out.count("routing") == 1, done.out


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

