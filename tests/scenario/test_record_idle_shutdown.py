"""`--record` with `--idle-shutdown`: an environment the fleet spun down for being idle is part of what happened.

A replay runs each step as soon as the one before has settled, so without the time that passed the next invoke
found the environment still warm (a bug hunt: the recorded cold start replayed warm, every time). The recorder
writes a `pause` as long as the idle limit (a `shutdown` of that environment past what a pause may be).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.fleet import FleetOptions
from lambdatui.runner import open_environment
from lambdatui.scenario.model import InvokeAction, PauseAction, ShutdownAction
from lambdatui.scenario.parse import parse_scenario
from lambdatui.scenario.record import Recorder
from recorder_support import Line, attached
from scenario_support import BOUND, run_cli, write_probe

SAMPLES = Path(__file__).resolve().parents[2] / "sample_functions"


def ran(recorder: Recorder, request_id: str) -> None:
    recorder(f.InvocationQueued(request_id, 1, b"{}"))
    recorder(f.InvocationCompleted(f.InvocationResult(request_id, b'{"ok": true}')))


@pytest.mark.parametrize("idle_s, step", [(1.0, PauseAction(1.5)), (120.0, ShutdownAction(env=1))])
def test_environments_spun_down_between_two_invokes_are_one_step_between_them(idle_s: float, step: object) -> None:
    recorder = Recorder(resolve_function(str(SAMPLES / "counter" / "handler.py")))
    ran(recorder, "a")
    recorder(f.IdleSpunDown(1, idle_s))
    recorder(f.IdleSpunDown(2, idle_s))  # a second one going before the next invoke: the same wait covers it
    ran(recorder, "b")
    text = recorder.to_toml()
    first, between, second = parse_scenario(text, Path("r.toml")).steps
    assert isinstance(first.action, InvokeAction) and isinstance(second.action, InvokeAction), text
    assert between.action == step, text
    assert f"# env #1 was idle for {idle_s:g} s and was spun down (--idle-shutdown)" in text


def test_an_environment_spun_down_while_another_stays_warm_is_shut_down_in_the_replay_not_waited_for() -> None:
    """env #2 went idle for a second while env #1, used since, stayed: a pause would spin #1 down too in a replay,
    which runs the steps back to back (a bug hunt: the next invoke met a new #1, `n: expected 3, got 1`, 6 of 6)."""
    recorder, fleet = attached(FleetOptions(idle_shutdown_s=1))
    fleet.alive = [Line(EnvState.FROZEN, 1), Line(EnvState.FROZEN, 2)]
    for number, request_id in ((1, "a"), (2, "b"), (1, "c")):
        fleet.listener(number, f.InvocationQueued(request_id, 1, b"{}"))
        fleet.listener(number, f.InvocationCompleted(f.InvocationResult(request_id, b'{"ok": true}')))
    fleet.listener(0, f.IdleSpunDown(2, 1.0))
    fleet.alive[1] = Line(EnvState.SHUT_DOWN, 2)
    fleet.listener(1, f.InvocationQueued("d", 1, b"{}"))
    fleet.listener(1, f.InvocationCompleted(f.InvocationResult("d", b'{"ok": true}')))
    text = recorder.to_toml()
    steps = parse_scenario(text, Path("r.toml")).steps
    assert steps[-2].action == ShutdownAction(env=2), text
    assert "a replay shuts it down here (a pause would spin down the environments used since, too)" in text, text
    assert not any(isinstance(step.action, PauseAction) for step in steps), text


@pytest.mark.trio
async def test_a_session_whose_environment_was_spun_down_for_idleness_replays(code_dir: Path) -> None:
    handler = write_probe(code_dir)
    config = resolve_function(str(handler), timeout_s=3)
    recorder = Recorder(config, function_path=str(handler))
    spun_down = trio.Event()

    def heard(fact: f.Fact) -> None:
        if isinstance(fact, f.IdleSpunDown):
            spun_down.set()

    with trio.fail_after(BOUND):
        async with open_environment(config, fleet=FleetOptions(idle_shutdown_s=1)) as running:
            recorder.attach(running.session)
            running.session.subscribe(heard)
            await running.fleet.invoke(b'{"n": 1}')
            await spun_down.wait()
            await running.session.settled()
            second, _ = await running.fleet.invoke(b'{"n": 2}')
            await running.session.settled()
    assert json.loads(second.payload)["invocations"] == 1  # a new environment: cold, its globals fresh
    text = recorder.to_toml()
    steps = parse_scenario(text, Path("r.toml")).steps
    assert [type(s.action) for s in steps] == [InvokeAction, PauseAction, InvokeAction], text
    assert steps[2].expect.cold is True, text
    recording = code_dir / "idle.toml"
    recording.write_text(text)
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
