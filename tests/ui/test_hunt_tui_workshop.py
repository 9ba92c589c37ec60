"""Hunt: the debugger (`lambdatui PATH`) as a workshop teacher drives it to teach cold starts, freezes, extensions and
resets: step through every boundary, continue, invoke, freeze the runtime, crash an extension during Init, replace an
environment (`N`), record the session and replay it, quit at odd moments.

Found first by hand in tmux (`lambdatui sample_functions/...`, keys sent with `tmux send-keys`); pinned here with the
real debugger as `lambdatui PATH` composes it (`build_debugger`: the trio host as a guest on the test's loop, real
processes, real HTTP), driven with Textual's pilot. Every wait is bounded and on the state it means; nothing sleeps to
synchronise. Each strict xfail is a bug (the report: /work/scratch/s56/hunt_tui_workshop.md); the plain tests pin what
held.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _host import running_debugger, screen_text
from proc_tree import descendants, wait_all_gone
from test_app_keys import SIZE, continued, held_at, invoked, until, until_true
from textual.pilot import Pilot

from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.timeline import FROZEN, INVOKE
from lambdatui.tui import build_debugger
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens.pick_target import PickTargetScreen

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_functions"
COUNTER = SAMPLES / "counter" / "handler.py"
EXTENSION = SAMPLES / "extension" / "handler.py"


def debugger(handler: Path, *, timeout_s: int = 3, **options: object) -> LambdaTuiApp:
    """`lambdatui HANDLER [options]`, composed as the command composes it."""
    return build_debugger(resolve_function(str(handler), timeout_s=timeout_s), **options)  # type: ignore[arg-type]


async def opened(pilot: Pilot) -> LambdaTuiApp:
    """The debugger up, held at init.extensions as it opens, then `c`: Init run, the environment frozen."""
    await until(pilot, held_at(Boundary.INIT_EXTENSIONS), "the cold start held at init.extensions")
    await continued(pilot)
    app = pilot.app
    assert isinstance(app, LambdaTuiApp)
    return app


async def pick(pilot: Pilot, key: str, row: int) -> None:
    """`key` (x or f), then the dialog's row `row` (0: the runtime, 1: the first extension), enter."""
    app = pilot.app
    await pilot.press(key)
    await until_true(pilot, lambda: isinstance(app.screen, PickTargetScreen), f"the dialog of {key}")
    await pilot.press(*["down"] * row, "enter")
    await until_true(pilot, lambda: not isinstance(app.screen, PickTargetScreen), "the dialog to close")


def replay(handler: Path, scenario: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lambdatui", "replay", str(handler), str(scenario)],
                          capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------------- --record: a crash during the first Init


async def test_an_extension_crash_during_the_first_init_is_recorded_so_that_it_replays(tmp_path: Path) -> None:
    """The workshop's extension lesson: `lambdatui sample_functions/extension/handler.py --record S.toml`, `n` (held at
    init.runtime: audit has registered), `x`, audit, SIGKILL: Init fails with Extension.Crash and the environment
    resets; `c`, `i`: the invoke re-runs Init and succeeds; `q`. README: the recording "writes what happened as a
    scenario that replays to the same outcome". It writes `fault = 'crash'`, `target = 'audit'` as a step of its own
    before the invoke, with no `at`: the replay gives it to env #1 before any Init ("refused crash audit (SIGKILL): No
    participant named 'audit'"), the invoke's Init never fails, and the replay passes a session whose Extension.Crash
    it never reproduced. (A crash during an invoke's cold start is armed for its boundary: scenario/record_faults.py
    `_waiting_for_init`; the debugger's first Init, run ahead of any invoke, is not.)"""
    scenario = tmp_path / "session.toml"
    app = debugger(EXTENSION, record=scenario)
    async with running_debugger(app, SIZE) as pilot:
        await until(pilot, held_at(Boundary.INIT_EXTENSIONS), "the cold start held at init.extensions")
        await pilot.press("n")
        await until(pilot, held_at(Boundary.INIT_RUNTIME), "n: held at init.runtime, audit registered")
        await pick(pilot, "x", 1)  # audit, SIGKILL
        await until(pilot, lambda s: s.last_init_failure is not None, "Init to fail with Extension.Crash")
        assert app.snapshot is not None and app.snapshot.last_init_failure is not None
        assert app.snapshot.last_init_failure.error_type == "Extension.Crash"
        await pilot.press("c")
        await until(pilot, lambda s: s.environment.state is EnvState.COLD and s.environment.held_at is None,
                    "the reset to end")
        await pilot.press("i")
        await until(pilot, invoked(1), "the invoke that re-runs Init")
        await pilot.press("q")
        await until_true(pilot, lambda: app.return_code is not None, "q to quit")
    result = await asyncio.to_thread(replay, EXTENSION, scenario)
    assert result.returncode == 0, result.stdout + result.stderr
    refused = [line for line in result.stdout.splitlines() if line.strip().startswith("refused")]
    assert not refused, f"the replay refused the session's fault:\n{refused}\n{scenario.read_text()}"


# ---------------------------------------------------------------------- N: the new environment's process generation


async def test_a_replaced_environment_starts_at_process_generation_1(tmp_path: Path) -> None:
    """`c`, `i`, `N`, `i` on counter. README: `N` replaces the focused environment with a new one (a new number, a
    cold start, an empty /tmp). Its first process is that environment's first: the Globals panel says "process
    generation 1" for every other new environment (env #3 the fleet starts beside it does), but for env #2 made by
    `N` it says "process generation 2", as if a reset had replaced a process of its own, in the lesson that
    generation 2 means the globals started over after a crash."""
    app = debugger(COUNTER)
    async with running_debugger(app, SIZE) as pilot:
        await opened(pilot)
        await pilot.press("i")
        await until(pilot, invoked(1), "the first invoke")
        await pilot.press("N")
        await until(pilot, lambda s: s.environment_number == 2 and s.environment.state is EnvState.COLD,
                    "N: env #2, cold")
        await pilot.press("i")
        snapshot = await until(pilot, lambda s: s.environment_number == 2 and invoked(1)(s)
                               and s.globals is not None, "env #2's first invoke")
        await until_true(pilot, lambda: "process generation" in screen_text(pilot), "the Globals panel's head")
        assert snapshot.environment.own_generation() == 1, snapshot.environment
        assert "process generation 1" in screen_text(pilot), screen_text(pilot)


# ---------------------------------------------------------------------- f: the frozen gap and the invoke


async def test_the_frozen_gap_ends_where_the_next_invoke_begins(tmp_path: Path) -> None:
    """`c`, `f` (the runtime), `i` on counter with a 1 s timeout: the invoke times out (the handler never runs) and
    the environment resets. README: the timeline shows every phase as a bar, in order (each Invoke, frozen gaps, ...).
    The frozen gap before the invoke ran on through the invoke to its timeout (in tmux: `frozen 11.7 s` for the 8.7 s
    the environment was idle, then the invoke's 3.0 s), so the bars add up to more than the time that passed."""
    app = debugger(COUNTER, timeout_s=1)
    async with running_debugger(app, SIZE) as pilot:
        await opened(pilot)
        await pick(pilot, "f", 0)  # the runtime
        await until(pilot, lambda s: bool(s.environment.user_frozen), "the runtime frozen by the user")
        await pilot.press("i")
        snapshot = await until(pilot, lambda s: s.environment.state is EnvState.COLD and s.last_result is not None
                               and s.environment.current_request_id is None, "the timeout and the reset")
        assert snapshot.last_result is not None and snapshot.last_result.error_type == "Sandbox.Timedout"
        bars = list(snapshot.timeline)
        invoke = next(b for b in bars if b.kind == INVOKE)
        gap = [b for b in bars if b.kind == FROZEN and b.seq < invoke.seq][-1]
        assert invoke.end is not None and gap.end is not None
        assert gap.end <= invoke.start + 0.01, (
            f"the frozen gap ended {gap.end - invoke.start:.2f} s into the invoke "
            f"(gap {gap.duration_ms:.0f} ms, invoke {invoke.duration_ms:.0f} ms)")


# ---------------------------------------------------------------------- replay after N: whose lines


def test_replay_names_the_replaced_environment_for_its_own_shutdown(tmp_path: Path) -> None:
    """The scenario a `--record` of `c`, `i`, `N`, `i`, then two invokes at once (one held at invoke.start) writes
    (invoke; new_environment = true, env = 1; invoke; parallel, envs = [2, 3]), replayed: with two environments in
    the session, each line says whose it is. Step 2's lines begin `#1 boundary shutdown.start`, `#1 reset reason: spindown`, `#1 thawed runtime`,
    then `#2 exited runtime: signal: killed (during shutdown/reset)`, `#2 reset done`, `#2 boundary shutdown.done`:
    env #2 has no process yet (its first invoke comes in step 3); the runtime that exited was env #1's."""
    scenario = tmp_path / "replaced.toml"
    scenario.write_text("[[step]]\ninvoke = '{}'\n\n[[step]]\nnew_environment = true\nenv = 1\n\n"
                        "[[step]]\ninvoke = '{}'\n\n[[step]]\nparallel = ['{}', '{}']\nenvs = [2, 3]\n")
    result = replay(COUNTER, scenario)
    assert result.returncode == 0, result.stdout + result.stderr
    step2 = result.stdout.split("-- step 2/4")[1].split("-- step 3/4")[0]
    lines = [line.strip() for line in step2.splitlines()[1:] if line.strip()]
    own = [line for line in lines if "shutdown" in line or "exited" in line or "reset" in line]
    assert own and all(line.startswith("#1") for line in own), "\n".join(lines)


# ---------------------------------------------------------------------- what held


async def test_quitting_during_a_running_init_leaves_nothing(code_dir: Path) -> None:
    """`c` on a function whose module sleeps 4 s at import, `q` while Function init runs: exit 0 at once, and every
    process the debugger started (sandbox, runtime) is gone."""
    handler = code_dir / "handler.py"
    handler.write_text("import time\nprint('init: sleeping', flush=True)\ntime.sleep(4)\n\n"
                       "def handler(event, context):\n    return {}\n")
    app = debugger(handler)
    async with running_debugger(app, SIZE) as pilot:
        await until(pilot, held_at(Boundary.INIT_EXTENSIONS), "the cold start held at init.extensions")
        await pilot.press("c")
        await until(pilot, lambda s: any("init: sleeping" in line.text for line in s.logs), "Function init running")
        started = descendants(os.getpid())
        assert started
        await pilot.press("q")
        await until_true(pilot, lambda: app.return_code is not None, "q to quit during Init", timeout=3.0)
        assert app.return_code == 0
    left = await asyncio.to_thread(wait_all_gone, started, 10.0)
    assert not left, "still running after q: " + "; ".join(left)


async def test_a_crash_the_session_met_while_idle_replays(tmp_path: Path) -> None:
    """The counter lesson: `c`, `i` x2, `x` runtime SIGKILL while frozen, `i` (cold: invocations 1, tmp_lines 3),
    `q`; the recording replays with every expectation held (the reset, globals back to 1, /tmp kept)."""
    scenario = tmp_path / "session.toml"
    app = debugger(COUNTER, record=scenario)
    async with running_debugger(app, SIZE) as pilot:
        await opened(pilot)
        for n in (1, 2):
            await pilot.press("i")
            await until(pilot, invoked(n), f"invoke {n}")
        await pick(pilot, "x", 0)
        await until(pilot, lambda s: s.environment.state is EnvState.COLD, "the reset after the crash")
        await pilot.press("i")
        snapshot = await until(pilot, lambda s: invoked(3)(s) and s.environment.state is EnvState.FROZEN,
                               "the cold invoke")
        assert snapshot.last_result is not None
        response = json.loads(snapshot.last_result.payload)
        assert (response["invocations"], response["tmp_lines"], response["cold"]) == (1, 3, True), response
        await pilot.press("q")
        await until_true(pilot, lambda: app.return_code is not None, "q to quit")
    result = await asyncio.to_thread(replay, COUNTER, scenario)
    assert result.returncode == 0 and "refused" not in result.stdout, result.stdout + result.stderr
