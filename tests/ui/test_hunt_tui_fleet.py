"""Hunt: the debugger (`lambdatui PATH --port 0`) once the function scales to several environments: HTTP callers in
threads keep several environments busy or held while the user moves the focus (`1`-`9`), injects faults (`x`, `t`,
`f`), records the session (`--record`) and quits (`q`).

The real debugger as `lambdatui PATH` composes it (`build_debugger`: the trio host as a guest on the test's loop, real
processes, real HTTP), driven with Textual's pilot; callers are urllib requests on a thread pool of their own (asyncio's
default pool has too few threads for a dozen waiting callers). Every wait is bounded and on the state it means.
The first tests pinned bugs, fixed since (2c, a dialog for an environment that left, a fault recorded for an
environment its burst starts); the others pin what held.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fleet_callers import CALLER_WAIT_S, pick_first_target, pool, quit_answers_every_caller, send
from _host import choose_breakpoints, running_debugger
from proc_tree import descendants
from app_waits import until, until_true
from test_app_keys import SIZE, continued
from textual import events
from textual.pilot import Pilot

from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.fleet import FleetOptions
from lambdatui.tui import build_debugger
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens.breakpoints import BreakpointsScreen
from lambdatui.ui.screens.pick_target import PickTargetScreen

__all__ = ["pool"]  # the fixture, used by name

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


ECHO = """\
import os, subprocess, time
STATE = {"n": 0}
def handler(event, context):
    STATE["n"] += 1
    if event.get("child"):
        subprocess.Popen(["sleep", "60"], start_new_session=event.get("own_session", False))
    time.sleep(event.get("sleep", 0))
    return {"caller": event.get("caller"), "n": STATE["n"], "request_id": context.aws_request_id}
"""


def debugger(code_dir: Path, *, timeout_s: int = 5, **options: object) -> LambdaTuiApp:
    handler = code_dir / "handler.py"
    handler.write_text(ECHO)
    return build_debugger(resolve_function(str(handler), timeout_s=timeout_s), invoke_port=0,  # type: ignore[arg-type]
                          **options)


async def opened(pilot: Pilot) -> str:
    """The debugger up with its Invoke API, `c` from the opening hold; the API's address."""
    app = pilot.app
    await until(pilot, lambda s: app.invoke_api is not None and s.environment.held_at is Boundary.INIT_EXTENSIONS,
                "the debugger up, its Invoke API too")
    await continued(pilot)
    api = app.invoke_api
    return api if api.startswith("http") else "http://" + api


def held(snapshot: DebuggerSnapshot) -> list[int]:
    return [e.number for e in snapshot.environments if e.held_at is not None]


async def focus(pilot: Pilot, number: int) -> None:
    await pilot.press(str(number))
    await until(pilot, lambda s: s.environment_number == number, f"env #{number} shown")


async def no_breakpoints(pilot: Pilot) -> None:
    app = pilot.app
    await pilot.press("b")
    await until_true(pilot, lambda: isinstance(app.screen, BreakpointsScreen), "the breakpoints dialog")
    await pilot.press("ctrl+n", "enter")
    await until_true(pilot, lambda: not isinstance(app.screen, BreakpointsScreen), "the dialog to close")


async def two_held(pilot: Pilot, pool: concurrent.futures.Executor, endpoint: str) -> tuple[int, asyncio.Future, int,
                                                                                          asyncio.Future]:
    """Breakpoint invoke.start; caller 1 held in one environment, then caller 2 held in a second one."""
    await choose_breakpoints(pilot, Boundary.INVOKE_START)
    return await held_pair(pilot, pool, endpoint, 1, 2)


async def held_pair(pilot: Pilot, pool: concurrent.futures.Executor, endpoint: str, one_caller: int,
                    other_caller: int) -> tuple[int, asyncio.Future, int, asyncio.Future]:
    """With the breakpoint at invoke.start and nothing held: `one_caller` held in one environment, then `other_caller`
    held in a second one."""
    first = send(pool, endpoint, {"caller": one_caller})
    one = await until(pilot, lambda s: len(held(s)) == 1, f"caller {one_caller} held")
    second = send(pool, endpoint, {"caller": other_caller})
    two = await until(pilot, lambda s: len(held(s)) == 2, f"caller {other_caller} held in a second environment")
    a = held(one)[0]
    b = next(n for n in held(two) if n != a)
    return a, first, b, second


def typed_at_once(app: LambdaTuiApp, *keys: str) -> None:
    """Keys as the terminal hands them over when typed quickly (or pasted): one read, posted back to back, as
    Textual's input thread posts them; `pilot.press` would wait for the app to go idle between two keys."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        event = events.Key(key, key)
        event.set_sender(app)
        driver.send_message(event)


def replay(handler: Path, scenario: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lambdatui", "replay", str(handler), str(scenario)],
                          capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------------- the focus and the keys that act on it


async def test_2c_typed_together_continues_env_2_not_env_1_and_so_does_2_then_c_with_a_pause(code_dir: Path,
                                                                                              pool) -> None:
    """Two environments held at invoke.start, env #1 shown. The user types `2` `c` (quickly, as in tmux's `send-keys
    2c`): README, `1`-`9` "show env #N" and `c` "continue the focused environment". The focus is only moved once the
    host's snapshot of env #2 comes back, so `c` still goes to env #1: its caller is answered and env #2's waits,
    held, while the screen shows env #2 (the same in a real terminal: tmux send-keys 2c). `s`, `N`, `t`, `n` alike.
    Then, two more callers held in the same two environments, the same keys pressed one after the other (the
    snapshot of env #2 has arrived): `c` releases env #2 alone. (One session for what two tests checked apart.)"""
    app = debugger(code_dir, fleet=FleetOptions(concurrency=5))
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        a, first, b, second = await two_held(pilot, pool, endpoint)
        await focus(pilot, a)
        typed_at_once(app, str(b), "c")
        after = await until(pilot, lambda s: len(held(s)) < 2 and s.environment_number == b, "one hold released")
        shown_a = next(e for e in after.environments if e.number == a)
        assert held(after) == [a] and shown_a.held_at is Boundary.INVOKE_START, (
            f"c went to env #{a}: held now {held(after)}, env #{b} shown")
        answer = await asyncio.wait_for(second, CALLER_WAIT_S)
        assert answer["body"]["caller"] == 2 and not first.done()
        await focus(pilot, a)
        await pilot.press("c")
        await asyncio.wait_for(first, CALLER_WAIT_S)

        # `2`, then `c`, with a pause: the breakpoint is still at invoke.start.
        await until(pilot, lambda s: not held(s), "no hold left")
        a, first, b, second = await held_pair(pilot, pool, endpoint, 3, 4)
        await focus(pilot, b)
        await pilot.press("c")
        answer = await asyncio.wait_for(second, CALLER_WAIT_S)
        assert answer["body"]["caller"] == 4 and answer["body"]["request_id"] == answer["id"]
        snap = await until(pilot, lambda s: s.environment_number == b and s.environment.held_at is None, "env b free")
        assert held(snap) == [a] and not first.done()
        await focus(pilot, a)
        await pilot.press("c")
        answer = await asyncio.wait_for(first, CALLER_WAIT_S)
        assert answer["body"]["caller"] == 3 and answer["body"]["request_id"] == answer["id"]


async def test_a_crash_chosen_for_an_environment_that_left_is_not_given_to_another(code_dir: Path, pool) -> None:
    """`--idle-shutdown 1`: env A held at invoke.start with caller 1; env B served caller 2 and is idle. The user shows
    env B and presses `x` ("crash the runtime ... of the focused environment"); while the dialog is open env B spins
    down (idle) and the focus moves to env A ("env #B left the fleet: showing env #A"); enter. The dialog names no
    environment, and the crash lands on env A's runtime: caller 1's invoke fails with Runtime.ExitError. Expected:
    refused (env B is gone), env A untouched, caller 1 answered after `c`."""
    app = debugger(code_dir, fleet=FleetOptions(concurrency=5, idle_shutdown_s=1.0))
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        a, first, b, second = await two_held(pilot, pool, endpoint)
        await focus(pilot, b)
        await pilot.press("c")
        assert (await asyncio.wait_for(second, CALLER_WAIT_S))["body"]["caller"] == 2
        await pilot.press("x")
        await until_true(pilot, lambda: isinstance(app.screen, PickTargetScreen), "the crash dialog")
        await until(pilot, lambda s: all(e.number != b for e in s.environments), f"env #{b} spun down (idle)")
        await pilot.press("enter")  # the runtime, SIGKILL
        await until_true(pilot, lambda: not isinstance(app.screen, PickTargetScreen), "the dialog to close")
        await until(pilot, lambda s: s.environment_number == a, f"env #{a} shown")
        await pilot.press("c")
        answer = await asyncio.wait_for(first, CALLER_WAIT_S)
        assert answer["error"] is None and answer["body"]["caller"] == 1, answer


async def test_a_crash_in_env_2_fails_its_own_caller_only(code_dir: Path, pool) -> None:
    """Three callers run at once in three environments; `2`, `x`, runtime SIGKILL: env #2's caller gets
    Runtime.ExitError with its own request id, the two others their answers; env #2 is reset, the others frozen."""
    app = debugger(code_dir, fleet=FleetOptions(concurrency=5))
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        calls = [send(pool, endpoint, {"caller": n, "sleep": 2.5}) for n in (1, 2, 3)]
        busy = await until(pilot, lambda s: sum(1 for e in s.environments if e.request_id) == 3, "three running")
        victim = next(e.request_id for e in busy.environments if e.number == 2)
        await focus(pilot, 2)
        await pick_first_target(pilot, "x")
        answers = await asyncio.wait_for(asyncio.gather(*calls), CALLER_WAIT_S)
        failed = [x for x in answers if x["error"]]
        assert len(failed) == 1 and failed[0]["id"] == victim, answers
        assert failed[0]["body"]["errorType"] == "Runtime.ExitError" and victim in failed[0]["body"]["errorMessage"]
        for x in answers:
            if not x["error"]:
                assert x["body"]["request_id"] == x["id"], answers
        after = await until(pilot, lambda s: s.fleet is not None and s.fleet.concurrency == 0
                            and all(e.request_id is None for e in s.environments), "the fleet idle")
        states = {e.number: e.state for e in after.environments}
        assert states == {1: EnvState.FROZEN, 2: EnvState.COLD, 3: EnvState.FROZEN}, states


# ---------------------------------------------------------------------- holds at scale


async def test_twelve_callers_are_held_in_twelve_environments_and_each_gets_its_answer(code_dir: Path, pool) -> None:
    """Breakpoint invoke.start, 12 callers at `--concurrency 12`: 12 environments, each HELD with one invoke, the fleet
    line at 12 busy; breakpoints off, `c` on each: every caller gets its own answer; no throttle."""
    app = debugger(code_dir, fleet=FleetOptions(concurrency=12))
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        await choose_breakpoints(pilot, Boundary.INVOKE_START)
        calls = [send(pool, endpoint, {"caller": n}) for n in range(1, 13)]
        snap = await until(pilot, lambda s: len(held(s)) == 12, "12 held", timeout=20)
        assert snap.fleet is not None and (snap.fleet.environments, snap.fleet.concurrency) == (12, 12), snap.fleet
        assert len({e.request_id for e in snap.environments}) == 12
        await no_breakpoints(pilot)
        deadline = asyncio.get_running_loop().time() + 20
        while not all(x.done() for x in calls):
            assert asyncio.get_running_loop().time() < deadline, "the holds were not all released"
            now = app.snapshot
            if now is not None and held(now):
                if now.environment_number in held(now):
                    await pilot.press("c")
                else:
                    await pilot.press("full_stop")
            await asyncio.sleep(0.02)  # a poll: the keys above are what the app acts on
        answers = [x.result() for x in calls]
        assert sorted(x["body"]["caller"] for x in answers) == list(range(1, 13))
        assert all(x["status"] == 200 and x["body"]["request_id"] == x["id"] for x in answers), answers
        idle = await until(pilot, lambda s: s.fleet is not None and s.fleet.concurrency == 0, "the fleet idle")
        assert idle.fleet is not None and idle.fleet.throttled == 0 and idle.fleet.cold_starts == 12


# ---------------------------------------------------------------------- --record with a fleet


async def test_a_crash_in_env_2_during_a_burst_is_recorded_so_that_it_replays(code_dir: Path, pool,
                                                                              tmp_path: Path) -> None:
    """`--record S.toml`; two callers at once (env #1 and a new env #2); `2`, `x`, runtime SIGKILL mid-invoke; `q`.
    README: a crash given while an invoke ran "is written before that invoke, armed (`at`) for the boundary it had
    reached, with `after_ms` ... so that the replay meets it at the same point". It is written as a step of its own,
    `env = 2`, before the `parallel` step that starts env #2: the replay says "No environment #2: the command was not
    carried out", both invokes succeed, and `expect.each[..].error_type = 'Runtime.ExitError'` fails (exit 1)."""
    scenario = tmp_path / "session.toml"
    app = debugger(code_dir, fleet=FleetOptions(concurrency=5), record=scenario)
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        calls = [send(pool, endpoint, {"caller": n, "sleep": 2.5}) for n in (1, 2)]
        await until(pilot, lambda s: sum(1 for e in s.environments if e.request_id) == 2, "two running")
        await focus(pilot, 2)
        await pick_first_target(pilot, "x")
        answers = await asyncio.wait_for(asyncio.gather(*calls), CALLER_WAIT_S)
        assert sorted(str(x["error"]) for x in answers) == ["None", "Unhandled"], answers
        await until(pilot, lambda s: s.fleet is not None and s.fleet.concurrency == 0, "the fleet idle")
        await pilot.press("q")
    assert "Runtime.ExitError" in scenario.read_text()
    result = replay(code_dir / "handler.py", scenario)
    assert "No environment #2" not in result.stdout, result.stdout[:1500]
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]


async def test_a_burst_with_a_shutdown_and_a_replacement_mid_invoke_replays(code_dir: Path, pool, tmp_path: Path) -> None:
    """`--record`; three callers at once; `2` `s` (env #2 shut down mid-invoke) and `3` `N` (env #3 replaced
    mid-invoke); three more callers at once. Both interrupted callers get Sandbox.Failure; the recording replays (0)."""
    scenario = tmp_path / "session.toml"
    app = debugger(code_dir, fleet=FleetOptions(concurrency=5), record=scenario)
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        calls = [send(pool, endpoint, {"caller": n, "sleep": 2.5}) for n in (1, 2, 3)]
        await until(pilot, lambda s: sum(1 for e in s.environments if e.request_id) == 3, "three running")
        await focus(pilot, 2)
        await pilot.press("s")
        await focus(pilot, 3)
        await pilot.press("N")
        answers = await asyncio.wait_for(asyncio.gather(*calls), CALLER_WAIT_S)
        assert sorted(str(x["body"].get("errorType")) for x in answers) == ["None", "Sandbox.Failure",
                                                                           "Sandbox.Failure"], answers
        later = await asyncio.wait_for(asyncio.gather(*[send(pool, endpoint, {"caller": n}) for n in (4, 5, 6)]),
                                       CALLER_WAIT_S)
        assert all(x["error"] is None for x in later), later
        await until(pilot, lambda s: s.fleet is not None and s.fleet.concurrency == 0, "the fleet idle")
        await pilot.press("q")
    result = replay(code_dir / "handler.py", scenario)
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]


# ---------------------------------------------------------------------- quitting with a fleet


async def test_q_with_four_environments_running_answers_every_caller_and_leaves_nothing(code_dir: Path, pool) -> None:
    """Four callers run in four environments, their handlers each having started a `sleep 60` child (two in a session
    of their own); env #2's runtime frozen by the user (`f`); `q`: exit 0, each caller answered 200 Sandbox.Failure
    with its own request id, and no process the debugger started is left."""
    app = debugger(code_dir, timeout_s=10, fleet=FleetOptions(concurrency=5))
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        calls = [send(pool, endpoint, {"caller": n, "sleep": 8, "child": True, "own_session": n % 2 == 0})
                 for n in (1, 2, 3, 4)]
        await until(pilot, lambda s: sum(1 for e in s.environments if e.request_id) == 4, "four running")
        await focus(pilot, 2)
        await pick_first_target(pilot, "f")
        await until(pilot, lambda s: "runtime" in s.environment.user_frozen, "env #2's runtime frozen")
        started = descendants(os.getpid())
        assert len(started) >= 8
        await quit_answers_every_caller(pilot, calls, started)
