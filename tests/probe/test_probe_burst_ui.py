"""Probes of the debugger's paced updates (0f8b77b, host/bridge.py) with the real app, the real trio host as its
guest, real processes and real HTTP (the Invoke API on --port).

The app is driven as tests/ui/test_burst_pace.py drives it: `build_debugger` + `app.run_test`, waits on the app's
own state with a bound, and the backend stopped at the end.

The function reads its `go` and `stop` files in the test's folder, and marks the end of its burst in its own /tmp
(`printed`: the only place Lambda lets it write), which the test reads on the host, in the state folder it gives
lambdatui (`state_home`).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, Optional

import httpx
import pytest
from textual import events
from textual.pilot import Pilot

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.host import bridge
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.fleet import FleetOptions
from lambdatui.tui import build_debugger
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.widgets import LogView

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from test_fleet_support import env_tmp_dirs, state_home  # noqa: E402

__all__ = ["state_home"]  # the fixture, used by name
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

SIZE = (140, 45)
WAIT_S = 30.0
POLL_S = 0.01
QUIET_BOUND_S = 2.5  # what a step of the lifecycle may take to show while the burst pace is raised to 5 s

HANDLER = '''import os, sys, time

def handler(event, context):
    if "go" in event:
        deadline = time.monotonic() + 30
        while not os.path.exists(event["go"]) and time.monotonic() < deadline:
            time.sleep(0.002)
    chunks = 0
    for chunk in range(event.get("chunks", 0)):
        if "until" in event and os.path.exists(event["until"]):
            break  # the test has seen what it probes: the rest of the burst would prove nothing more
        sys.stdout.write("".join(f"{event['tag']} chunk {chunk} line {i}\\n" for i in range(event["lines"])))
        sys.stdout.flush()
        chunks += 1
        if event.get("pause"):
            time.sleep(event["pause"])
    if "printed" in event:
        open(event["printed"], "w").close()
    if "stop" in event:  # stays busy (another invoke goes elsewhere) until told
        deadline = time.monotonic() + 30
        while not os.path.exists(event["stop"]) and time.monotonic() < deadline:
            time.sleep(0.002)
    print(f"{event.get('tag')} done" + (f" after {chunks} chunks" if "until" in event else ""), flush=True)
    return {"tag": event.get("tag")}
'''


class Recorder:
    """Every update the host hands the UI: when, the snapshot's environment, the facts."""

    def __init__(self, app: LambdaTuiApp) -> None:
        self.updates: list[tuple[float, int, list[f.Fact]]] = []
        hand_over = app._snapshot_arrived

        def recorded(snapshot, facts) -> None:  # type: ignore[no-untyped-def]
            self.updates.append((time.monotonic(), snapshot.environment_number, list(facts)))
            hand_over(snapshot, facts)

        app._snapshot_arrived = recorded  # type: ignore[method-assign]


async def until(app: LambdaTuiApp, pilot, check: Callable[[], object], what: str,  # type: ignore[no-untyped-def]
                timeout: float = WAIT_S) -> float:
    """Let the app run until `check()` holds; the monotonic time it was first seen to."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return time.monotonic()
        except (AttributeError, TypeError):
            pass  # no snapshot yet
        if time.monotonic() > deadline:
            snap = app.snapshot
            raise AssertionError(f"waited {timeout} s for {what}; env #{snap and snap.environment_number} "
                                 f"{snap and snap.environment.state} held_at={snap and snap.environment.held_at}")
        await asyncio.sleep(POLL_S)  # not pilot.pause: that waits for the screen to be idle, which a burst is not


async def stop(app: LambdaTuiApp) -> None:
    if app.backend is not None:
        app.backend.stop()
        await asyncio.wait_for(app.backend.wait_stopped(), WAIT_S)


@asynccontextmanager
async def continued(code_dir: Path, event: Optional[dict] = None,
                    fleet: bool = False) -> AsyncIterator[tuple[LambdaTuiApp, Pilot, Recorder]]:
    """The debugger on HANDLER (with `fleet`: up to 3 environments and the Invoke API on a free port), past Init,
    its environment frozen and waiting; the app quit and its host stopped however the test ends."""
    (code_dir / "handler.py").write_text(HANDLER)
    config = resolve_function(str(code_dir / "handler.py"), timeout_s=60)
    options: dict = {"invoke_port": 0, "fleet": FleetOptions(concurrency=3)} if fleet else {}
    app = build_debugger(config, event=json.dumps(event or {}).encode(), **options)
    recorder = Recorder(app)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(app, pilot, lambda: app.snapshot.environment.held_at is not None, "the opening hold")
            await pilot.press("c")
            await until(app, pilot, lambda: app.snapshot.environment.state is EnvState.FROZEN
                        and (app.invoke_api or not fleet), "Init to end")
            yield app, pilot, recorder
            if app.return_code is None:
                await app.run_action("quit")
    finally:
        await stop(app)


PRINTED = "/tmp/printed"  # in the environment's own /tmp


def printed_in(state: Path) -> Callable[[], bool]:
    """Whether an environment's function has marked the end of its burst (PRINTED), as the host sees it."""
    return lambda: any((folder / "printed").exists() for folder in env_tmp_dirs(state))


async def gated_burst_beside_env_2(app: LambdaTuiApp, pilot: Pilot, code_dir: Path, state: Path, tag: str, *,
                                   chunks: int, lines: int, pause: float
                                   ) -> tuple["asyncio.Future", tuple[Path, Path, Path, Callable[[], bool]]]:
    """env #1 running an invoke that prints its burst once the test touches `go` (up to `chunks` chunks, fewer once
    the test touches `until`) and ends once it touches `stop` (`printed` says whether the burst is over); env #2
    cold-started meanwhile by an invoke tagged `tag`, so warm. The burst's invoke (a future of its answer), the go,
    stop and until files, and `printed`."""
    go, halt, until_file, printed = code_dir / "go", code_dir / "stop", code_dir / "until", printed_in(state)
    burst = asyncio.ensure_future(http_invoke(app, {"go": str(go), "stop": str(halt), "tag": "burst",
                                                    "printed": PRINTED, "chunks": chunks, "lines": lines,
                                                    "pause": pause, "until": str(until_file)}))
    await until(app, pilot, lambda: app.snapshot.environment.state is EnvState.RUNNING, "env #1 to run")
    _, first = await http_invoke(app, {"tag": tag})  # env #1 is busy: env #2 cold-starts for it
    assert first.json() == {"tag": tag}
    return burst, (go, halt, until_file, printed)


def times_reached(app: LambdaTuiApp, boundary: Boundary) -> list[float]:
    """When the host reaches `boundary` from now on (in any environment), as the controller tells its facts."""
    reached: list[float] = []

    def heard(fact: f.Fact) -> None:
        if isinstance(fact, f.BoundaryReached) and fact.boundary is boundary:
            reached.append(time.monotonic())

    assert app.controller is not None
    app.controller.subscribe(heard)
    return reached


def invoke_url(app: LambdaTuiApp) -> str:
    return f"http://{app.invoke_api}/2015-03-31/functions/function/invocations"


async def http_invoke(app: LambdaTuiApp, event: dict) -> tuple[float, httpx.Response]:
    """An invoke from another thread (as curl or boto3 would send it): when its answer came, and the answer."""
    def send() -> tuple[float, httpx.Response]:
        with httpx.Client(timeout=WAIT_S) as client:
            response = client.post(invoke_url(app), content=json.dumps(event).encode())
            return time.monotonic(), response

    return await asyncio.to_thread(send)


def press(app: LambdaTuiApp, key: str, character: Optional[str] = None) -> None:
    """A key as the terminal driver posts it (pilot.press also waits for the app to be idle: not during a burst)."""
    app.post_message(events.Key(key, character if character is not None else key))


def function_lines(facts: list[f.Fact]) -> list[f.LogLine]:
    return [line for fact in facts for line in f.log_lines(fact) if line.source == f.FUNCTION]


async def test_a_burst_in_another_environment_neither_reaches_nor_delays_the_focused_one(
        code_dir: Path, state_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A burst pace so slow that being held to it would show, whatever else the machine is doing.
    monkeypatch.setattr(bridge, "BURST_REFRESH_S", 5.0)
    async with continued(code_dir, fleet=True) as (app, pilot, recorder):
        # env #1 takes an invoke that waits for `go`, prints 300,000 lines (over ~1 s), then waits for `stop`.
        burst, (go, halt, until_file, printed) = await gated_burst_beside_env_2(
            app, pilot, code_dir, state_home, "quick1", chunks=300, lines=1000, pause=0.003)
        await pilot.press("2")
        await until(app, pilot, lambda: app.snapshot.environment_number == 2, "the focus on env #2")
        await until(app, pilot, lambda: app.snapshot.environment.state is EnvState.FROZEN, "env #2 to be idle")
        start = len(recorder.updates)
        go.touch()
        latencies = []
        for n in range(5):  # while env #1 prints its burst, env #2 serves invokes one after the other
            answered, response = await http_invoke(app, {"tag": f"quick{n + 2}"})
            request_id = response.headers["x-amzn-RequestId"]
            shown = await until(app, pilot, lambda: app.snapshot.last_result is not None
                                and app.snapshot.last_result.request_id == request_id, "its result in the UI")
            latencies.append(shown - answered)
        during = not printed()  # env #1 was still printing when the last of them showed
        until_file.touch()  # (its burst may end here)
        halt.touch()
        _, burst_response = await burst
        assert burst_response.json() == {"tag": "burst"}
        assert printed(), "the burst's end was never seen in env #1's /tmp"  # so `during` could have been False
        env1_lines_during = [line for _, number, facts in recorder.updates[start:]
                             for line in function_lines(facts) if line.text.startswith("burst ")]
        shown_lines = app.query_one(LogView).visible_lines()
    assert during, "env #1's burst was over before env #2's invokes: nothing was probed"
    assert not env1_lines_during, f"{len(env1_lines_during)} of env #1's lines were handed to the UI of env #2"
    assert not any("burst chunk" in text for text in shown_lines)
    assert any("quick6 done" in text for text in shown_lines)
    # The quiet pace is 30 ms: a result in the focused environment shows well within a burst's pace (bounds here
    # leave room for a loaded machine, far below the 5 s pace).
    assert max(latencies) < QUIET_BOUND_S, [round(x, 3) for x in latencies]


async def test_a_hold_reached_at_the_end_of_a_burst_shows_at_the_quiet_pace(code_dir: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # A burst pace so slow that waiting it out would show.
    monkeypatch.setattr(bridge, "BURST_REFRESH_S", 5.0)
    held_event = {"tag": "held", "chunks": 60, "lines": 1000}
    async with continued(code_dir, event=held_event) as (app, pilot, recorder):
        app.send(c.SetBreakpoints(frozenset({Boundary.INVOKE_RESPONSE})))
        await until(app, pilot, lambda: Boundary.INVOKE_RESPONSE in app.snapshot.environment.breakpoints,
                    "the breakpoint")
        held_at = times_reached(app, Boundary.INVOKE_RESPONSE)
        start = len(recorder.updates)
        await pilot.press("i")
        shown = await until(app, pilot, lambda: app.snapshot.environment.held_at is Boundary.INVOKE_RESPONSE,
                            "the hold at invoke.response in the UI", timeout=20)
        sizes = [bridge.batch_size(facts) for _, _, facts in recorder.updates[start:]]
        await pilot.press("c")
        await until(app, pilot, lambda: app.snapshot.environment.held_at is None
                    and app.snapshot.invocations == 1, "the invoke to end")
    assert held_at, "the host never reached invoke.response"
    assert any(size >= bridge.BURST_SIZE for size in sizes), sizes  # it was a burst
    assert shown - held_at[0] < QUIET_BOUND_S, f"the hold showed {shown - held_at[0]:.2f} s after the host held"


async def test_every_line_of_a_burst_reaches_the_log_view(code_dir: Path) -> None:
    """Each of the focused environment's lines is handed to the UI once, in order; the view keeps the newest and
    counts the rest (bounded in memory)."""
    chunks, lines = 150, 1000
    published: list[f.LogLine] = []
    burst_event = {"tag": "all", "chunks": chunks, "lines": lines, "pause": 0.001}
    async with continued(code_dir, event=burst_event) as (app, pilot, recorder):

        def heard(fact: f.Fact) -> None:
            published.extend(line for line in f.log_lines(fact) if line.source == f.FUNCTION)

        assert app.controller is not None
        app.controller.subscribe(heard)
        start = len(recorder.updates)
        await pilot.press("i")
        await until(app, pilot, lambda: app.snapshot.invocations == 1 and app.snapshot.last_result is not None,
                    "the burst's result")
        await until(app, pilot, lambda: any(line.text == "all done" for _, _, facts in recorder.updates[start:]
                                             for line in function_lines(facts)), "the last line")
        view = app.query_one(LogView)
        kept, dropped, shown = view.line_count, view.dropped, view.visible_lines()
        delivered = [line for _, _, facts in recorder.updates[start:] for line in function_lines(facts)]
    expected = [f"all chunk {chunk} line {i}" for chunk in range(chunks) for i in range(lines)] + ["all done"]
    assert [line.text for line in published] == expected
    assert [line.text for line in delivered] == expected, f"{len(delivered)} of {len(expected)} handed to the UI"
    tail = [text for text in shown if "all chunk" in text or "all done" in text]
    assert tail and tail[-1].endswith("all done")
    assert kept <= view.max_lines and dropped >= len(expected) - view.max_lines


async def test_another_environments_hold_shows_in_the_strip_while_the_focused_one_bursts(
        code_dir: Path, state_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The focused environment prints a long burst (its updates at the burst pace, here 5 s); meanwhile env #2 is
    held at a breakpoint. The strip must say so at the quiet pace: a step of the lifecycle is never held back."""
    monkeypatch.setattr(bridge, "BURST_REFRESH_S", 5.0)
    async with continued(code_dir, fleet=True) as (app, pilot, recorder):
        # env #1 (focused) will print up to 2,000 chunks of 500 lines, 2 ms apart: a burst of several seconds, cut
        # short once env #2's hold has shown.
        burst, (go, halt, until_file, printed) = await gated_burst_beside_env_2(
            app, pilot, code_dir, state_home, "warm2", chunks=2000, lines=500, pause=0.002)
        app.send(c.SetBreakpoints(frozenset({Boundary.INVOKE_START})))  # env #1 has passed it already
        go.touch()
        await until(app, pilot, lambda: bridge.batch_size(recorder.updates[-1][2]) >= bridge.BURST_SIZE,
                    "an update carrying a burst's worth of lines")
        reached = times_reached(app, Boundary.INVOKE_START)
        held = asyncio.ensure_future(http_invoke(app, {"tag": "held2"}))
        shown = await until(app, pilot, lambda: any(line.number == 2 and line.held_at is Boundary.INVOKE_START
                                                    for line in app.snapshot.environments),
                            "env #2 held, in the strip", timeout=20)
        during = not printed()
        until_file.touch()  # (its burst may end here)
        app.send(c.SetBreakpoints(frozenset()))
        app.send(c.Continue(env=2))
        halt.touch()
        _, held_response = await held
        _, burst_response = await burst
        assert held_response.json() == {"tag": "held2"} and burst_response.json() == {"tag": "burst"}
        assert printed(), "the burst's end was never seen in env #1's /tmp"  # so `during` could have been False
    assert during, "env #1's burst was over before env #2 was held: nothing was probed"
    assert reached, "env #2 never reached invoke.start"
    assert shown - reached[0] < QUIET_BOUND_S, f"env #2's hold showed {shown - reached[0]:.2f} s after it happened"


async def test_moving_the_focus_away_and_back_during_a_burst_leaves_no_gap_in_the_log(code_dir: Path,
                                                                                      state_home: Path) -> None:
    """env #1 prints a burst; the user looks at env #2 and comes back, twice, meanwhile. The log view then shows
    env #1's newest lines, each once and in order, ending with its last one. The burst (up to 1,000 chunks) is cut
    short once the focus is back the second time: its function says how many chunks it printed."""
    go, halt, until_file, printed = code_dir / "go", code_dir / "stop", code_dir / "until", printed_in(state_home)
    chunks, lines = 1000, 100
    async with continued(code_dir, fleet=True) as (app, pilot, recorder):
        burst = asyncio.ensure_future(http_invoke(app, {"go": str(go), "stop": str(halt), "tag": "b",
                                                        "printed": PRINTED, "chunks": chunks,
                                                        "lines": lines, "pause": 0.003,
                                                        "until": str(until_file)}))
        await until(app, pilot, lambda: app.snapshot.environment.state is EnvState.RUNNING, "env #1 to run")
        _, first = await http_invoke(app, {"tag": "other"})
        assert first.json() == {"tag": "other"}
        go.touch()
        view = app.query_one(LogView)
        for _ in range(2):
            await until(app, pilot, lambda: any("b chunk" in text for text in view.visible_lines()[-3:]),
                        "env #1's burst in the log")
            press(app, "2")
            await until(app, pilot, lambda: app.snapshot.environment_number == 2, "the focus on env #2")
            press(app, "1")
            await until(app, pilot, lambda: app.snapshot.environment_number == 1, "the focus back on env #1")
        during = not printed()
        until_file.touch()  # (its burst may end here)
        halt.touch()
        _, response = await burst
        assert response.json() == {"tag": "b"}
        assert printed(), "the burst's end was never seen in env #1's /tmp"  # so `during` could have been False
        done = re.compile(r"b done after (\d+) chunks$")
        await until(app, pilot, lambda: any(done.search(text) for text in view.visible_lines()[-5:]),
                    "env #1's last line in the log")
        [printed_chunks] = [int(m.group(1)) for text in view.visible_lines()[-5:] if (m := done.search(text))]
        shown = [text for text in view.visible_lines() if " chunk " in text]
    assert during, "the burst was over before the focus moved: nothing was probed"
    assert 0 < printed_chunks <= chunks, printed_chunks
    expected = [f"b chunk {chunk} line {i}" for chunk in range(printed_chunks) for i in range(lines)]
    texts = [text[text.index("b chunk"):] for text in shown]
    assert texts, "no line of the burst in the log view"
    start = expected.index(texts[0])
    assert texts == expected[start:start + len(texts)] and start + len(texts) == len(expected), (
        f"{len(texts)} lines shown from #{start}: a gap or a repeat")
