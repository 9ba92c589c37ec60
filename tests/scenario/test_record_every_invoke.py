"""The debugger's `--record` with `--port`: every invoke goes into the recording, whatever sent it.

The debugger is composed exactly as `lambdatui PATH --port P --record FILE` composes it (`build_debugger`),
and run headless under Textual's `run_test`, with the trio host as a guest on the test's asyncio loop.
Invokes arrive over real HTTP on the Invoke API (RequestResponse and Event) and through the controller,
as the UI's `i` sends them; then the recording is replayed by the real `lambdatui replay`.
Waits are on the app's own snapshot, each bounded.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import anyio
import httpx
import pytest
from scenario_support import run_cli

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.fleet import FleetOptions
from lambdatui.scenario.model import FaultAction, InvokeAction
from lambdatui.scenario.parse import parse_scenario
from lambdatui.tui import build_debugger
from lambdatui.ui.app import LambdaTuiApp
from free_ports import free_port

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

WAIT_S = 20.0
POLL_S = 0.05

# Echoes the event and counts invokes: a replay that got a different event, or another order, fails its expect.
ECHO = '''count = 0


def handler(event, context):
    global count
    count += 1
    return {"count": count, "event": event}
'''


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio only


async def until(pilot, condition: Callable[[DebuggerSnapshot], bool], what: str) -> DebuggerSnapshot:
    app = pilot.app
    deadline = time.monotonic() + WAIT_S
    while True:
        snapshot = app.snapshot
        if snapshot is not None and condition(snapshot):
            return snapshot
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_S} s for {what}")
        await pilot.pause(POLL_S)


def idle_after(count: int) -> Callable[[DebuggerSnapshot], bool]:
    return lambda s: s.invocations >= count and s.environment.state is EnvState.FROZEN


async def quit_and_wait(pilot, app: LambdaTuiApp) -> None:
    await app.run_action("quit")
    deadline = time.monotonic() + WAIT_S
    while app.return_code is None:
        assert time.monotonic() < deadline, "the app did not quit"
        await pilot.pause(POLL_S)


async def stop_backend(app: LambdaTuiApp) -> None:
    """Whatever happened, wait for the trio guest run: one left behind would break every later test's."""
    if app.backend is not None:
        app.backend.stop()
        await asyncio.wait_for(app.backend.wait_stopped(), WAIT_S)


def echo_debugger(code_dir: Path, recording: Optional[Path] = None, **options: object) -> tuple[Path, LambdaTuiApp]:
    """The echo handler in the debugger, serving the Invoke API, recording to `recording` if given."""
    handler = code_dir / "handler.py"
    handler.write_text(ECHO)
    config = resolve_function(str(handler), timeout_s=3)
    return handler, build_debugger(config, invoke_port=free_port(), record=recording, **options)  # type: ignore[arg-type]


def assert_replays(handler: Path, recording: Path) -> subprocess.CompletedProcess[str]:
    """`lambdatui replay` of the recording passes."""
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, recording.read_text() + replayed.stdout + replayed.stderr
    return replayed


def assert_recorded_as_not_run(answers: list[object], handler: Path, recording: Path, comment: str) -> str:
    """The quit turned the caller's invoke away (200, Sandbox.Failure) before the function ran it: the recording has
    it as a `comment` only, not as a step, and replays. Its text."""
    answer = answers[0]
    assert isinstance(answer, httpx.Response), f"the caller got no HTTP answer: {answer!r}"
    assert answer.status_code == 200 and answer.json()["errorType"] == "Sandbox.Failure", answer.text
    text = recording.read_text()
    assert not any(isinstance(s.action, InvokeAction) for s in parse_scenario(text, recording).steps), text
    assert comment in text, text  # said, as a comment: it was sent, and not run
    assert_replays(handler, recording)
    return text


async def opened(pilot, app: LambdaTuiApp) -> str:
    """Until the cold start holds at its first boundary with the Invoke API up: that API's invoke URL."""
    await until(pilot, lambda s: s.environment.held_at is not None and app.invoke_api is not None,
                "the cold start held at its first boundary, with the Invoke API up")
    return f"http://{app.invoke_api}/2015-03-31/functions/function/invocations"


async def breaking_at_invoke_start(pilot, app: LambdaTuiApp) -> tuple[c.Controller, str]:
    """The debugger past Init with a breakpoint at invoke.start: its controller and its Invoke API's URL."""
    url = await opened(pilot, app)
    controller = app.controller
    assert controller is not None
    controller.submit(c.SetBreakpoints(frozenset({Boundary.INVOKE_START})))
    controller.submit(c.Continue())
    await until(pilot, idle_after(0), "Init to finish")
    return controller, url


async def test_invokes_over_http_and_the_controller_are_all_recorded_and_replay(code_dir: Path,
                                                                               tmp_path: Path) -> None:
    recording = tmp_path / "session.toml"
    handler, app = echo_debugger(code_dir, recording)
    events = [{"via": "http", "n": 1}, {"via": "http-event", "n": 2}, {"via": "controller", "n": 3},
              {"via": "http", "n": 4}]
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            url = await opened(pilot, app)
            assert app.controller is not None
            app.controller.submit(c.Continue())
            await until(pilot, idle_after(0), "Init to finish")
            async with httpx.AsyncClient(timeout=WAIT_S) as http:
                first = await http.post(url, json=events[0])
                assert first.status_code == 200 and first.json() == {"count": 1, "event": events[0]}
                queued = await http.post(url, json=events[1], headers={"X-Amz-Invocation-Type": "Event"})
                assert queued.status_code == 202
                await until(pilot, idle_after(2), "the Event invoke to run")
                app.controller.submit(c.Invoke(json.dumps(events[2]).encode()))  # as the UI's `i` sends it
                await until(pilot, idle_after(3), "the controller's invoke")
                last = await http.post(url, json=events[3])
                assert last.json() == {"count": 4, "event": events[3]}
            await until(pilot, idle_after(4), "the last invoke to settle")
            await quit_and_wait(pilot, app)
    finally:
        await stop_backend(app)

    text = recording.read_text()
    scenario = parse_scenario(text, recording)
    recorded = [json.loads(step.action.event) for step in scenario.steps]
    assert recorded == events, text
    assert [step.expect.response for step in scenario.steps] == [
        {"count": i + 1, "event": event} for i, event in enumerate(events)], text
    tomllib.loads(text)
    replayed = assert_replays(handler, recording)
    assert replayed.stdout.count("  response ") == len(events), replayed.stdout


async def test_a_fault_given_while_an_http_invoke_is_held_is_recorded_before_it(code_dir: Path,
                                                                                  tmp_path: Path) -> None:
    """Held at invoke.start, the user makes the handler raise, then continues: that invoke raises.

    The recording must say so in replayable order: the fault first, then the invoke it applied to (a replay
    runs one step at a time, and the fault waits for the next handler entry).
    """
    recording = tmp_path / "session.toml"
    handler, app = echo_debugger(code_dir, recording)
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            controller, url = await breaking_at_invoke_start(pilot, app)
            async with httpx.AsyncClient(timeout=WAIT_S) as http:
                async with anyio.create_task_group() as group:
                    answers: list[httpx.Response] = []

                    async def send() -> None:
                        answers.append(await http.post(url, json={"n": 1}))

                    group.start_soon(send)
                    await until(pilot, lambda s: s.environment.held_at is Boundary.INVOKE_START,
                                "the HTTP invoke held at invoke.start")
                    controller.submit(c.InjectFault(flt.RaiseInHandler("KeyError", "gone")))
                    controller.submit(c.SetBreakpoints(frozenset()))
                    controller.submit(c.Continue())
            assert answers[0].headers.get("X-Amz-Function-Error") == "Unhandled", answers[0].text
            await until(pilot, idle_after(1), "the invoke to settle")
            await quit_and_wait(pilot, app)
    finally:
        await stop_backend(app)

    text = recording.read_text()
    actions = [step.action for step in parse_scenario(text, recording).steps]
    assert [type(a) for a in actions] == [FaultAction, InvokeAction], text
    assert "error_type = 'KeyError'" in text, text
    assert_replays(handler, recording)


async def test_an_invoke_refused_after_a_shutdown_is_recorded(code_dir: Path, tmp_path: Path) -> None:
    """After the user shuts the environment down, an HTTP invoke is refused: that too is an invoke, and replays."""
    recording = tmp_path / "session.toml"
    handler, app = echo_debugger(code_dir, recording)
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            url = await opened(pilot, app)
            controller = app.controller
            assert controller is not None
            controller.submit(c.Continue())
            await until(pilot, idle_after(0), "Init to finish")
            controller.submit(c.Shutdown())
            await until(pilot, lambda s: s.environment.state is EnvState.SHUT_DOWN, "the shutdown")
            async with httpx.AsyncClient(timeout=WAIT_S) as http:
                refused = await http.post(url, json={"late": True})
            assert refused.headers.get("X-Amz-Function-Error") == "Unhandled", refused.text
            await quit_and_wait(pilot, app)
    finally:
        await stop_backend(app)

    text = recording.read_text()
    steps = parse_scenario(text, recording).steps
    assert [type(s.action).__name__ for s in steps] == ["ShutdownAction", "InvokeAction"], text
    assert json.loads(steps[1].action.event) == {"late": True}
    assert steps[1].expect.error_type == refused.json()["errorType"], text
    assert_replays(handler, recording)


async def test_quitting_with_an_http_invoke_queued_answers_it_and_leaves_it_out_of_the_recording(
        code_dir: Path, tmp_path: Path) -> None:
    """Quit while an HTTP invoke waits behind the cold start's first hold.

    The caller still gets Lambda's answer for an environment that went away (never a dropped connection), and
    the recording does not claim that invoke ran: it never reached the function, so a replay must not run it
    and expect the error that only the quit caused. The file still replays.
    """
    recording = tmp_path / "session.toml"
    # One environment: the invoke waits in its queue (with more allowed, a new environment would take it).
    handler, app = echo_debugger(code_dir, recording, fleet=FleetOptions(concurrency=1))
    answers: list[object] = []
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            url = await opened(pilot, app)
            async with httpx.AsyncClient(timeout=WAIT_S) as http:
                async with anyio.create_task_group() as group:

                    async def send() -> None:
                        try:
                            answers.append(await http.post(url, content=b'{"queued": true}'))
                        except httpx.HTTPError as exc:
                            answers.append(exc)

                    group.start_soon(send)
                    await until(pilot, lambda s: len(s.environment.queued) == 1, "the HTTP invoke in the queue")
                    await quit_and_wait(pilot, app)
    finally:
        await stop_backend(app)

    assert answers[0].headers.get("X-Amz-Function-Error") == "Unhandled", answers  # type: ignore[union-attr]
    text = assert_recorded_as_not_run(answers, handler, recording, '#   invoke = \'{"queued": true}\'')
    assert "Sandbox.Failure" not in text, text


async def test_quitting_with_event_invokes_queued_says_each_was_not_run_for_the_terminal(code_dir: Path) -> None:
    """Their callers had a 202 and will hear nothing more: the shutdown at quit names each, and the debugger says it
    on the terminal once its screen has closed (run_tui prints `events_not_run`)."""
    _, app = echo_debugger(code_dir, fleet=FleetOptions(concurrency=1))
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            url = await opened(pilot, app)
            async with httpx.AsyncClient(timeout=WAIT_S) as http:
                accepted = [await http.post(url, json={"n": n}, headers={"X-Amz-Invocation-Type": "Event"})
                            for n in range(2)]
            assert [a.status_code for a in accepted] == [202, 202]
            await quit_and_wait(pilot, app)
    finally:
        await stop_backend(app)
    said = app.backend.events_not_run  # type: ignore[union-attr]
    for answer in accepted:
        request_id = answer.headers["X-Amzn-RequestId"]
        assert any(text.startswith(f"Event invoke {request_id} was not run") for text in said), said
