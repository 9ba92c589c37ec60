"""The debugger's `--record` with a fault given while the function runs an invoke (`t` or `f` mid-invoke).

The fault acted on the invoke in flight, so the recording must place it where a replay reproduces that: armed
before the invoke, for the boundary the invoke had reached when it was given. Composed as
`lambdatui PATH --record FILE` composes it, driven through the controller as the UI's keys drive it, replayed by
the real `lambdatui replay`. Waits are on the app's own snapshot (the handler's first line), each bounded.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest
from textual.pilot import Pilot
from test_record_every_invoke import assert_replays, quit_and_wait, stop_backend, until

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.model import error_types as et
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.scenario.model import FaultAction, InvokeAction
from lambdatui.scenario.parse import parse_scenario
from lambdatui.tui import build_debugger
from lambdatui.ui.app import LambdaTuiApp

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

# Says when it runs, then sleeps well inside the timeout: only the fault can make it time out.
SLEEPER = '''import time


def handler(event, context):
    print("sleeping", flush=True)
    time.sleep(event["s"])
    return "done"
'''


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio only


@asynccontextmanager
async def handler_running(handler: Path, recording: Path, timeout_s: int, code: str = SLEEPER,
                          event: object = {"s": 1.5}, running: str = "sleeping"
                          ) -> AsyncIterator[tuple[Pilot, c.Controller]]:
    """The debugger on `code` (the sleeper), recording: Init continued, one invoke of `event` sent, its handler
    running (it printed the line `running`); quit after."""
    handler.write_text(code)
    app: LambdaTuiApp = build_debugger(resolve_function(str(handler), timeout_s=timeout_s), record=recording)
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            await until(pilot, lambda s: s.environment.held_at is not None, "the cold start held at its first boundary")
            controller = app.controller
            assert controller is not None
            controller.submit(c.Continue())
            controller.submit(c.Invoke(json.dumps(event).encode()))
            await until(pilot, lambda s: any(line.text == running for line in s.logs), "the handler to run")
            yield pilot, controller
            await quit_and_wait(pilot, app)
    finally:
        await stop_backend(app)


@pytest.mark.parametrize("fault", [flt.ForceTimeout(), flt.Freeze()], ids=["timeout", "freeze"])
async def test_a_fault_given_while_the_handler_runs_is_armed_before_its_invoke(code_dir: Path, tmp_path: Path,
                                                                              fault: flt.Fault) -> None:
    handler = code_dir / "handler.py"
    recording = tmp_path / "session.toml"
    async with handler_running(handler, recording, timeout_s=2) as (pilot, controller):
        controller.submit(c.InjectFault(fault))
        done = await until(pilot, lambda s: s.last_result is not None, "the invoke to end")
        assert done.last_result is not None and done.last_result.error_type == et.SANDBOX_TIMEDOUT

    text = recording.read_text()
    actions = [step.action for step in parse_scenario(text, recording).steps]
    assert [type(a) for a in actions] == [FaultAction, InvokeAction], text
    assert actions[0].fault.at is Boundary.INVOKE_START, text
    assert "error_type = 'Sandbox.Timedout'" in text, text
    assert_replays(handler, recording)


@pytest.mark.parametrize("command", [c.NewEnvironment(), c.Shutdown(env=1)], ids=["new-environment", "shutdown"])
async def test_a_new_environment_or_shutdown_given_while_the_handler_runs_leaves_that_result_uncompared(
        code_dir: Path, tmp_path: Path, command: c.Command) -> None:
    """`N` or `s` mid-invoke ends the invoke (Sandbox.Failure); a replay, which runs each step to its end, runs that
    invoke to success before the new_environment or shutdown step. It was recorded expecting Sandbox.Failure, and
    the replay failed every time (a bug hunt's finding)."""
    handler = code_dir / "handler.py"
    recording = tmp_path / "session.toml"
    async with handler_running(handler, recording, timeout_s=5) as (pilot, controller):
        controller.submit(command)
        if isinstance(command, c.NewEnvironment):  # the screen follows the environment into its new number
            await until(pilot, lambda s: s.environment_number == 2, "env #1 to be replaced by env #2")
        else:
            done = await until(pilot, lambda s: s.last_result is not None, "the invoke to end")
            assert done.last_result is not None and done.last_result.error_type == et.SANDBOX_FAILURE

    text = recording.read_text()
    steps = parse_scenario(text, recording).steps
    assert isinstance(steps[0].action, InvokeAction) and steps[0].expect.error_type is None, text
    what = "replaced (a new_environment" if isinstance(command, c.NewEnvironment) else "shut down (a shutdown"
    assert f"# its environment was {what} step after it) while the function ran this invoke: its result is not " \
           "compared" in text, text
    assert_replays(handler, recording)


async def test_a_crash_given_during_an_invokes_cold_start_is_armed_for_that_init(code_dir: Path,
                                                                                 tmp_path: Path) -> None:
    """Held at init.function of the Init a waiting invoke caused (here the retry after a reset, which fails that
    invoke), `x` kills the runtime. Written unarmed before the invoke, the replay gave the crash to an environment not
    yet started, which refused it, and the invoke succeeded against its recorded Runtime.ExitError."""
    handler = code_dir / "handler.py"
    recording = tmp_path / "session.toml"
    handler.write_text("def handler(event, context):\n    return 'done'\n")
    app: LambdaTuiApp = build_debugger(resolve_function(str(handler), timeout_s=3), record=recording)
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            await until(pilot, lambda s: s.environment.held_at is not None, "the cold start held at its first boundary")
            controller = app.controller
            assert controller is not None
            controller.submit(c.Continue())
            controller.submit(c.Invoke(b"{}"))
            await until(pilot, lambda s: s.last_result is not None, "the first invoke to end")
            controller.submit(c.InjectFault(flt.Crash()))  # idle: a reset, so the next invoke re-runs Init
            await until(pilot, lambda s: s.environment.state is EnvState.COLD, "the reset")
            controller.submit(c.SetBreakpoints(frozenset({Boundary.INIT_FUNCTION})))
            controller.submit(c.Invoke(b'{"second": 1}'))
            await until(pilot, lambda s: s.environment.held_at is Boundary.INIT_FUNCTION, "its Init held")
            controller.submit(c.InjectFault(flt.Crash()))
            controller.submit(c.SetBreakpoints(frozenset()))
            controller.submit(c.Continue())
            done = await until(pilot, lambda s: s.last_result is not None and s.last_result.error_type is not None,
                               "the second invoke to fail")
            assert done.last_result is not None and done.last_result.error_type == et.RUNTIME_EXIT_ERROR
            await quit_and_wait(pilot, app)
    finally:
        await stop_backend(app)

    text = recording.read_text()
    actions = [step.action for step in parse_scenario(text, recording).steps]
    assert [type(a) for a in actions] == [InvokeAction, FaultAction, FaultAction, InvokeAction], text
    assert actions[1].fault.at is None and actions[2].fault.at is Boundary.INIT_FUNCTION, text
    assert "error_type = 'Runtime.ExitError'" in text, text
    assert_replays(handler, recording)
