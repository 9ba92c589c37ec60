"""Hunt: the debugger on Lambda Managed Instances (`lambdatui PATH --max-concurrency 4 --port 0`): several invokes run
at once in one environment's workers (lambda-spec §11.3) while the user holds them at breakpoints, gives faults
(`x`, `t`, `f`), records the session (`--record`) and quits (`q`); and the same inputs through `serve`.

The real debugger as `lambdatui PATH` composes it (`build_debugger(..., invoke_port=0, fleet=FleetOptions(...))`: the
trio host as a guest on the test's loop, real processes, real HTTP), driven with Textual's pilot; callers are urllib
POSTs on a thread pool of their own. Every wait is bounded and on the state it means. The tests pin the bugs this
hunt found (report: /work/scratch/s61/hunt_tui_managed.md), fixed since, and what held.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
from fleet_callers import CALLER_WAIT_S, pick_first_target, pool, quit_answers_every_caller, post, send
from _host import choose_breakpoints, running_debugger, screen_lines
from proc_tree import descendants
from app_waits import until, until_true
from test_app_keys import SIZE
from textual.pilot import Pilot

from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.fleet import FleetOptions
from lambdatui.tui import build_debugger
from lambdatui.ui.app import LambdaTuiApp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from e2e_support import ServeProcess  # noqa: E402

__all__ = ["pool"]  # the fixture, used by name

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

WORKERS = 4

HANDLER = """\
import json, os, time
STATE = {"n": 0}
def handler(event, context):
    STATE["n"] += 1
    print(json.dumps({"msg": "start", "caller": event.get("caller")}))
    if event.get("raise"):
        raise ValueError("caller %s" % event.get("caller"))
    if event.get("tmp"):
        with open("/tmp/caller-%s.txt" % event.get("caller"), "w") as fh:
            fh.write("x")
    time.sleep(event.get("sleep", 0))
    print(json.dumps({"msg": "end", "caller": event.get("caller")}))
    return {"caller": event.get("caller"), "n": STATE["n"], "request_id": context.aws_request_id}
"""


def write_handler(code_dir: Path) -> Path:
    handler = code_dir / "handler.py"
    handler.write_text(HANDLER)
    return handler


def debugger(code_dir: Path, *, timeout_s: int = 5, record: Optional[Path] = None) -> LambdaTuiApp:
    """`lambdatui ./handler.py --max-concurrency 4 --port 0 [--record FILE]`, composed as the CLI composes it."""
    config = resolve_function(str(write_handler(code_dir)), timeout_s=timeout_s)
    return build_debugger(config, invoke_port=0, record=record, fleet=FleetOptions(max_concurrency=WORKERS))


def runtime_line(s: DebuggerSnapshot) -> str:
    """The runtime's "Receives next" cell: "3 /next parked; 1 of 4 workers busy" once it serves."""
    return next(p.next_delivery for p in s.environment.participants if p.key == "runtime")


def busy_workers(s: DebuggerSnapshot) -> int:
    line = runtime_line(s)
    return int(line.split("; ")[1].split(" of ")[0]) if "; " in line else 0


async def opened(pilot: Pilot) -> str:
    """The debugger up, `c` from the opening hold, every worker on /next; the Invoke API's address."""
    app = pilot.app
    await until(pilot, lambda s: app.invoke_api is not None and s.environment.held_at is Boundary.INIT_EXTENSIONS,
                "the debugger up, its Invoke API too")
    await pilot.press("c")
    await until(pilot, lambda s: s.environment.held_at is None and s.environment.state is EnvState.RUNNING
                and runtime_line(s).startswith(f"{WORKERS} /next parked"), "every worker waiting on /next")
    api = app.invoke_api
    return api if api.startswith("http") else "http://" + api


def header_and_explain(pilot: Pilot) -> tuple[str, str]:
    """The header's second row (the hold and the request it names) and the explain line (its two rows, joined)."""
    lines = screen_lines(pilot)
    explain = " ".join(line.lstrip("▌ ").strip() for line in lines if line.startswith("▌"))
    return lines[1], explain


def replay(handler: Path, scenario: Path, limit_s: float = 45.0) -> tuple[Optional[int], float, str]:
    """`lambdatui replay handler scenario`: its exit status (None: still running after `limit_s`, then stopped with
    SIGINT as a user's Ctrl-C would), how long it ran, and its output."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "lambdatui", "replay", str(handler), str(scenario)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=limit_s)
        return proc.returncode, time.monotonic() - started, out
    except subprocess.TimeoutExpired:
        elapsed = time.monotonic() - started
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        return None, elapsed, out


async def one_running_one_held_at_start(pilot: Pilot, pool, endpoint: str) -> tuple[asyncio.Future, asyncio.Future]:
    """Breakpoint invoke.start. Caller 1 (sleep 2 s) is held, then released (`c`): it runs in worker #1. Caller 2
    arrives and is held at invoke.start: one invoke delivered and running, one held before its delivery."""
    await choose_breakpoints(pilot, Boundary.INVOKE_START)
    first = send(pool, endpoint, {"caller": 1, "sleep": 2})
    await until(pilot, lambda s: s.environment.held_at is Boundary.INVOKE_START, "caller 1 held at invoke.start")
    await pilot.press("c")
    await until(pilot, lambda s: s.environment.held_at is None and any(
        "START RequestId" in line.text for line in s.logs), "caller 1 delivered")
    second = send(pool, endpoint, {"caller": 2})
    await until(pilot, lambda s: s.environment.held_at is Boundary.INVOKE_START, "caller 2 held at invoke.start")
    return first, second


# ---------------------------------------------------------------------- holds: which invoke the screen names


async def test_a_hold_at_invoke_start_names_the_held_invoke_and_takes_no_worker(code_dir: Path, pool) -> None:
    """Caller 1 runs (delivered, START logged); caller 2 is held at invoke.start. README: the header shows "the boundary
    it is held at"; the explain line says "Request <id> is ready but not yet delivered". Both named caller 1's request
    (`current_request_id` is the first of the environment's in-flight invokes), which was delivered already. And at
    the same hold one worker runs caller 1, three wait on /next, caller 2 has not been given to any: the Participants
    row said "3 /next parked; 2 of 4 workers busy", five workers of four. (One session for what two tests checked
    apart, at the same hold.)"""
    app = debugger(code_dir)
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        first, second = await one_running_one_held_at_start(pilot, pool, endpoint)
        line = runtime_line(app.snapshot)
        await until_true(pilot, lambda: "HELD at invoke.start" in header_and_explain(pilot)[0], "the header")
        header, explain = header_and_explain(pilot)
        await pilot.press("c")
        one, two = await asyncio.wait_for(asyncio.gather(first, second), CALLER_WAIT_S)
    assert one["error"] is None and two["error"] is None, (one, two)
    assert line == "3 /next parked; 1 of 4 workers busy", line
    assert f"Request {one['id'][:8]} is ready but not yet delivered" not in explain, explain
    assert f"request {two['id'][:8]}" in header, f"held: caller 2 ({two['id'][:8]}); header: {header.strip()}"


async def test_a_hold_at_invoke_response_names_the_invoke_that_responded(code_dir: Path, pool) -> None:
    """Breakpoint invoke.response. Caller 1 sleeps 2 s, caller 2 (0.2 s) answers first: held at invoke.response,
    the Result panel shows caller 2's response, while the header and the explain line ("The handler returned for
    request <id> and the caller already has the response") name caller 1's invoke, whose handler still sleeps."""
    app = debugger(code_dir)
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        await choose_breakpoints(pilot, Boundary.INVOKE_RESPONSE)
        slow = send(pool, endpoint, {"caller": 1, "sleep": 2})
        await until(pilot, lambda s: busy_workers(s) == 1, "caller 1 running")
        fast = send(pool, endpoint, {"caller": 2, "sleep": 0.2})
        held = await until(pilot, lambda s: s.environment.held_at is Boundary.INVOKE_RESPONSE, "held at the response")
        await until_true(pilot, lambda: "HELD at invoke.response" in header_and_explain(pilot)[0], "the header")
        header, explain = header_and_explain(pilot)
        answered = held.last_result.request_id if held.last_result else None
        await pilot.press("c")
        await until(pilot, lambda s: s.environment.held_at is not Boundary.INVOKE_RESPONSE or (
            s.last_result is not None and s.last_result.request_id != answered), "the first hold released")
        await pilot.press("c")
        one, two = await asyncio.wait_for(asyncio.gather(slow, fast), CALLER_WAIT_S)
    assert answered == two["id"], (answered, two["id"])  # the Result panel: caller 2's response
    assert f"request {one['id'][:8]} and the caller already has the response" not in explain, explain
    assert f"request {two['id'][:8]}" in header, f"responded: caller 2 ({two['id'][:8]}); header: {header.strip()}"


async def test_t_during_a_hold_at_invoke_start_leaves_no_invoke_unanswered(code_dir: Path, pool) -> None:
    """Caller 1 runs; caller 2 is held at invoke.start; `t` ("force the focused environment's current deadline"):
    caller 1's deadline is forced (Sandbox.Timedout). The hold is abandoned with it: the header says RUNNING, no
    longer HELD, but the environment stays frozen (`frozen=True`), caller 2's invoke is never delivered, `c` has no
    hold to release, and caller 2 waits for good (until `q` fails it)."""
    app = debugger(code_dir)
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        first, second = await one_running_one_held_at_start(pilot, pool, endpoint)
        await pilot.press("t")
        one = await asyncio.wait_for(first, CALLER_WAIT_S)
        assert one["body"].get("errorType") == "Sandbox.Timedout", one
        after = await until(pilot, lambda s: s.environment.held_at is None or s.environment.held_at
                            is Boundary.INVOKE_START and s.invocations == 1, "the forced timeout done")
        await pilot.press("c")  # whatever hold is left, released
        done, _ = await asyncio.wait({second}, timeout=8)
        state = (f"held_at={after.environment.held_at} frozen={app.snapshot.environment.frozen} "
                 f"shown request={app.snapshot.environment.current_request_id}")
    assert done, f"caller 2 unanswered 8 s after t and c: {state}"
    assert second.result()["status"] == 200


# ---------------------------------------------------------------------- the /tmp panel with workers


async def test_the_tmp_panel_names_the_invoke_that_wrote_each_file(code_dir: Path, pool) -> None:
    """README (/tmp panel): "the invoke (or Init) that created or last changed each file". Caller 1 writes
    /tmp/caller-1.txt and sleeps 1.5 s; meanwhile caller 2 writes /tmp/caller-2.txt and returns. /tmp is listed when
    an invoke ends: both files were credited to caller 2 alone, caller-1.txt too. The workers share /tmp, and nothing
    tells which of two invokes running side by side wrote a file: each is now credited to both ("A or B"), the
    invoke that wrote it among them, and never to one alone that may not have."""
    app = debugger(code_dir)
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        slow = send(pool, endpoint, {"caller": 1, "tmp": True, "sleep": 1.5})
        await until(pilot, lambda s: any('"caller": 1' in line.text for line in s.logs), "caller 1 wrote its file")
        fast = await asyncio.wait_for(send(pool, endpoint, {"caller": 2, "tmp": True}), CALLER_WAIT_S)
        one = await asyncio.wait_for(slow, CALLER_WAIT_S)
        # Nothing in /tmp changed at caller 1's end, so the listing after caller 2 is the one the panel keeps.
        done = await until(pilot, lambda s: s.invocations == 2 and busy_workers(s) == 0 and s.tmp is not None
                           and len(s.tmp.entries) == 2, "both invokes done, both files listed")
    created = {e.path: set(e.created_by.split(" or ")) for e in done.tmp.entries}
    assert created["/tmp/caller-2.txt"] == {fast["id"], one["id"]}, created
    assert created["/tmp/caller-1.txt"] == {fast["id"], one["id"]}, (
        f"caller-1.txt credited to {created['/tmp/caller-1.txt']} (caller 2 is {fast['id'][:8]}, "
        f"caller 1 is {one['id'][:8]})")


# ---------------------------------------------------------------------- faults with several invokes in flight


async def test_a_crash_with_three_invokes_in_flight_is_recorded_so_that_it_replays(code_dir: Path, pool,
                                                                                   tmp_path: Path) -> None:
    """`--record`; three callers run at once in env #1's workers; `x`, runtime SIGKILL: the environment ends and all
    three callers get Runtime.ExitError (the next invokes go to env #2). The recording replays. (It wrote the crash
    `at = 'invoke.start'` before the `parallel` step: the replay's crash met the first invoke at its invoke.start,
    before the two others were given to env #1; they went to a new env #2 and succeeded. It is armed for the
    invoke.start that has all three in flight now, `in_flight = 3`.)"""
    scenario = tmp_path / "session.toml"
    app = debugger(code_dir, record=scenario)
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        # 3 s of sleep (the timeout is 5 s): the target dialog and `x` must come while all three still run (1.5 s ran
        # out first with eight workers on two cores).
        calls = [send(pool, endpoint, {"caller": n, "sleep": 3.0}) for n in (1, 2, 3)]
        await until(pilot, lambda s: busy_workers(s) == 3, "three running in env #1's workers")
        await pick_first_target(pilot, "x")
        answers = await asyncio.wait_for(asyncio.gather(*calls), CALLER_WAIT_S)
        after = await asyncio.wait_for(send(pool, endpoint, {"caller": 4}), CALLER_WAIT_S)
        await pilot.press("q")
        await until_true(pilot, lambda: app.return_code is not None, "q to quit")
    assert [x["body"].get("errorType") for x in answers] == ["Runtime.ExitError"] * 3, answers
    assert after["error"] is None, after
    assert "in_flight = 3" in scenario.read_text()
    status, _, out = replay(code_dir / "handler.py", scenario)
    assert status == 0, out[-2500:]


async def test_a_freeze_and_thaw_with_three_invokes_in_flight_replays_without_a_dead_wait(code_dir: Path, pool,
                                                                                          tmp_path: Path) -> None:
    """`--timeout 4 --record`; three callers (sleep 3 s) in env #1's workers; `f` (freeze the runtime): each times
    out (Sandbox.Timedout, the handlers frozen, nothing reset); `f` again (thaw): the handlers end, their late
    answers refused (410). The session takes ~5 s. The recording: `fault = 'freeze'` at invoke.start, the parallel
    step, then `fault = 'thaw'`. The replay meets the timeouts and goes on to the thaw at once. (It waited for the
    timed-out handlers to end before the next step, "at most 17 s", while the freeze it replayed still stopped them:
    they could end only after the thaw, which was that next step.) The handlers sleep 3 s so that the freeze, picked
    from a dialog, comes before they end on a loaded machine too (with 1 s it came too late in a six-worker run)."""
    scenario = tmp_path / "session.toml"
    app = debugger(code_dir, timeout_s=4, record=scenario)
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        calls = [send(pool, endpoint, {"caller": n, "sleep": 3}) for n in (1, 2, 3)]
        await until(pilot, lambda s: busy_workers(s) == 3, "three running in env #1's workers")
        await pick_first_target(pilot, "f")
        await until(pilot, lambda s: "runtime" in s.environment.user_frozen, "the runtime frozen")
        answers = await asyncio.wait_for(asyncio.gather(*calls), CALLER_WAIT_S)
        await pick_first_target(pilot, "f")
        await until(pilot, lambda s: busy_workers(s) == 0 and "runtime" not in s.environment.user_frozen,
                    "thawed: the three handlers ended")
        await pilot.press("q")
        await until_true(pilot, lambda: app.return_code is not None, "q to quit")
    assert [x["body"].get("errorType") for x in answers] == ["Sandbox.Timedout"] * 3, answers
    status, elapsed, out = replay(code_dir / "handler.py", scenario, limit_s=12.0)
    assert "still running after" not in out, out[-2500:]
    assert status == 0 and elapsed < 12.0, (status, elapsed, out[-2500:])


async def test_t_with_three_invokes_in_flight_times_out_one_and_the_recording_replays(code_dir: Path, pool,
                                                                                      tmp_path: Path) -> None:
    """`t` with three invokes running in one environment's workers: the oldest times out (Sandbox.Timedout, its own
    request id), the two others get their answers; nothing reset (RUNNING, the same env); the recording replays."""
    scenario = tmp_path / "session.toml"
    app = debugger(code_dir, record=scenario)
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        calls = [send(pool, endpoint, {"caller": n, "sleep": 1}) for n in (1, 2, 3)]
        running = await until(pilot, lambda s: busy_workers(s) == 3, "three running in env #1's workers")
        oldest = running.environment.current_request_id
        await pilot.press("t")
        answers = await asyncio.wait_for(asyncio.gather(*calls), CALLER_WAIT_S)
        after = await until(pilot, lambda s: busy_workers(s) == 0, "the workers free again")
        await pilot.press("q")
        await until_true(pilot, lambda: app.return_code is not None, "q to quit")
    failed = [x for x in answers if x["error"]]
    assert [x["id"] for x in failed] == [oldest] and failed[0]["body"]["errorType"] == "Sandbox.Timedout", answers
    assert all(x["body"]["request_id"] == x["id"] for x in answers if not x["error"]), answers
    assert after.environment.state is EnvState.RUNNING and after.environment_number == 1
    status, _, out = replay(code_dir / "handler.py", scenario)
    assert status == 0, out[-2500:]


async def test_q_with_three_invokes_in_flight_answers_every_caller_and_leaves_nothing(code_dir: Path, pool) -> None:
    """`q` while three handlers sleep in env #1's workers: exit 0, each caller answered Sandbox.Failure naming its own
    request id, and no process the debugger started is left."""
    app = debugger(code_dir, timeout_s=10)
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        calls = [send(pool, endpoint, {"caller": n, "sleep": 8}) for n in (1, 2, 3)]
        await until(pilot, lambda s: busy_workers(s) == 3, "three running in env #1's workers")
        started = descendants(os.getpid())
        await quit_answers_every_caller(pilot, calls, started)


# ---------------------------------------------------------------------- the debugger against serve


def burst(endpoint: str, bodies: list[dict]) -> list[dict]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(bodies)) as executor:
        return list(executor.map(lambda body: post(endpoint, body), bodies))


def outcome(answers: list[dict]) -> list[str]:
    return sorted(f"{x['status']} {x['error']} {x['body'].get('errorType')}" for x in answers)


BURSTS = [
    [{"caller": n, "sleep": 1} for n in range(1, 7)],  # 6 at once, 4 workers: a second environment
    [{"caller": 1, "sleep": 0.5}, {"caller": 2, "raise": True}, {"caller": 3, "sleep": 3}],  # an error, a timeout
]


async def test_the_debugger_and_serve_give_the_callers_the_same_answers(code_dir: Path) -> None:
    """The same bursts (`--timeout 2`) to the debugger (`c` from its opening hold, then no key) and to
    `lambdatui serve --max-concurrency 4`: each caller the same status and error type. (How many environments serve
    starts for the first burst depends on whether env #1's workers have finished their Function init when it comes,
    which nothing tells a caller: not compared.)"""
    app = debugger(code_dir, timeout_s=2)
    seen = []
    async with running_debugger(app, SIZE) as pilot:
        endpoint = await opened(pilot)
        for bodies in BURSTS:
            seen.append(outcome(await asyncio.to_thread(burst, endpoint, bodies)))
    expected = []
    with ServeProcess(code_dir / "handler.py", "--max-concurrency", str(WORKERS), "--timeout", "2") as served:
        for bodies in BURSTS:
            expected.append(outcome(await asyncio.to_thread(burst, served.base_url, bodies)))
    assert seen == expected
    assert expected[1] == ["200 None None", "200 Unhandled Sandbox.Timedout", "200 Unhandled ValueError"]
