"""What is shown must be what happened (issue 7): failures, resets, refused faults and running phases, played
for real in the debugger (the trio host as a guest, real processes) and read off the screen.

The helpers are the key tests' (`test_app_keys.py`): bounded waits on the app's own state, never sleeps.
Generated functions live in the `code_dir` fixture, never under /tmp.
"""

from __future__ import annotations

import dataclasses
import textwrap
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest
from _host import hosted, running_debugger, screen_lines, screen_text
from test_app_keys import (
    SIZE,
    continued,
    frozen_idle,
    held_at,
    invoked,
    notifications,
    shows,
    until,
    until_true,
)
from textual.pilot import Pilot

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.model import faults as flt
from lambdatui.model import timeline as tl
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.tui import build_debugger
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.explain import explain
from lambdatui.ui.widgets import ExplainBar, HeaderBar, PhaseTimeline, ResultView
from lambdatui.ui.widgets.phase_timeline import timeline_items

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(40)]

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_functions"


@asynccontextmanager
async def debugging(handler: Path, *, timeout_s: int = 3) -> AsyncIterator[Pilot]:
    """`lambdatui HANDLER`, held at init.extensions as it opens; quit (stopping every process) when done."""
    app = build_debugger(resolve_function(str(handler), timeout_s=timeout_s))
    async with running_debugger(app, SIZE) as pilot:
        await until(pilot, held_at(Boundary.INIT_EXTENSIONS), "the cold start held at init.extensions")
        yield pilot


def app_of(pilot: Pilot) -> LambdaTuiApp:
    assert isinstance(pilot.app, LambdaTuiApp)
    return pilot.app


def write(code_dir: Path, name: str, source: str) -> Path:
    path = code_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def settled_cold(s: DebuggerSnapshot) -> bool:
    """Reset and idle: the failure has played out."""
    env = s.environment
    return env.state is EnvState.COLD and env.generation > 0 and env.held_at is None and not env.queued


# ---------------------------------------------------------------------- 1. a function error is an error


async def test_a_function_error_is_an_error_in_the_timeline_the_result_and_the_header() -> None:
    async with debugging(SAMPLES / "crash" / "handler.py") as pilot:
        app = app_of(pilot)
        await continued(pilot)
        app.set_event('{"mode": "raise"}', "test")
        await pilot.press("i")
        done = await until(pilot, invoked(1), "the invoke that raises")
        assert done.last_result is not None and done.last_result.function_error
        [bar] = [b for b in done.timeline if b.kind == tl.INVOKE]
        assert bar.status == "error"
        [item] = [i for i in timeline_items(done) if i.label.startswith(bar.label)]
        assert "✗" in item.label and item.variable == "phase-error"
        await shows(pilot, "function error: ValueError", "Status error (ValueError)")
        assert "Status success" not in screen_text(pilot)
        header = app.query_one(HeaderBar)
        assert "function error: ValueError" in header.render().plain


# ---------------------------------------------------------------------- 2. labels in failure cases


async def test_t_when_nothing_runs_is_refused_and_a_crash_after_the_request_finished_was_not_during_it() -> None:
    """t with no invoke running: refused, not an injected fault. Then, after an invoke, a crash of the frozen
    runtime: the explanation says idle, not during the request. (One session for what two tests checked apart: the
    refusal leaves the environment as it was.)"""
    async with debugging(SAMPLES / "counter" / "handler.py") as pilot:
        app = app_of(pilot)
        await continued(pilot)
        await pilot.press("t")
        await until_true(pilot, lambda: any("not injected" in n for n in notifications(pilot)), "the refusal")
        assert any("No deadline is running" in n for n in notifications(pilot))
        assert not any(n.startswith("fault:") for n in notifications(pilot))

        await pilot.press("i")
        await until(pilot, invoked(1), "the invoke")
        await until(pilot, frozen_idle, "the environment to freeze")
        app.send(c.InjectFault(flt.Crash("runtime")))
        reset = await until(pilot, settled_cold, "the reset after the crash")
        said = explain(reset)
        assert "during request" not in said and "idle" in said, said


async def init_failed(pilot):  # type: ignore[no-untyped-def]
    """Past the first hold, until Init has failed and the environment has settled, cold."""
    await pilot.press("c")
    return await until(pilot, lambda s: settled_cold(s) and s.last_init_failure is not None, "Init to fail")


async def test_a_syntax_error_at_function_init_is_an_init_error_with_the_runtimes_report(code_dir: Path) -> None:
    handler = write(code_dir, "handler.py", """\
        def handler(event, context)
            return {}
        """)
    async with debugging(handler) as pilot:
        app = app_of(pilot)
        failed = await init_failed(pilot)
        failure = failed.last_init_failure
        assert failure is not None and failure.error_type == "Runtime.UserCodeSyntaxError"
        said = explain(failed)
        assert "crash" not in said and "Init error (Runtime.UserCodeSyntaxError)" in said, said
        steps = [item for item in timeline_items(failed) if item.label.startswith("Function init")]
        assert [(item.label, item.variable) for item in steps] == [("Function init ✗ error", "phase-error")]
        await shows(pilot, "Init failed: Runtime.UserCodeSyntaxError", "Syntax error in module 'handler'")
        assert "No invoke yet" not in screen_text(pilot)
        assert "handler.py" in str(app.query_one("#result-payload").render())  # the runtime's stack trace


async def test_an_exception_at_import_shows_the_runtimes_error_type_not_the_platforms(code_dir: Path) -> None:
    """INIT_REPORT's type is sanitised by the platform (Runtime.Unknown, lambda-spec §1.5); the header and Result
    show the type as the runtime reported it in /init/error."""
    handler = write(code_dir, "handler.py", """\
        raise ValueError("x")


        def handler(event, context):
            return {}
        """)
    async with debugging(handler) as pilot:
        app = app_of(pilot)
        failed = await init_failed(pilot)
        failure = failed.last_init_failure
        assert failure is not None and failure.runtime_error_type == "ValueError"
        await shows(pilot, "Init failed: ValueError")
        assert "Init failed: ValueError" in app.query_one(HeaderBar).render().plain
        assert "Init failed: Runtime.Unknown" not in screen_text(pilot)


async def test_an_init_timeout_shows_where_the_module_hung(code_dir: Path) -> None:
    handler = write(code_dir, "handler.py", """\
        import time


        def connect():
            print("connecting", flush=True)
            time.sleep(30)


        connect()


        def handler(event, context):
            return {}
        """)
    async with debugging(handler) as pilot:
        app = app_of(pilot)
        await pilot.press("c")
        await until(pilot, lambda s: any("connecting" in line.text for line in s.logs), "the module to hang")
        await pilot.press("t")  # the Init deadline elapses now
        failed = await until(pilot, lambda s: settled_cold(s) and s.last_stacks is not None
                             and s.last_init_failure is not None, "the Init timeout and its stacks")
        assert failed.last_init_failure is not None and failed.last_init_failure.status == "timeout"
        view = app.query_one(ResultView)
        await until_true(pilot, lambda: view.hung_line is not None, "the hung line")
        assert (view.hung_file, view.hung_line) == (str(handler), line_of(handler, "time.sleep(30)"))
        await shows(pilot, "Init timed out")  # the head stays in view while the source scrolls to the hung line
        assert str(app.query_one("#stack-title").render()) == "Stack where Init hung"
        assert "Init timeout" in explain(failed)


async def test_held_at_shutdown_after_a_timeout_is_a_reset_and_the_header_is_not_running() -> None:
    async with debugging(SAMPLES / "slow" / "handler.py", timeout_s=1) as pilot:
        app = app_of(pilot)
        await continued(pilot)
        app.send(c.SetBreakpoints(frozenset({Boundary.SHUTDOWN_START})))
        app.set_event('{"seconds": 10}', "test")
        await pilot.press("i")
        held = await until(pilot, held_at(Boundary.SHUTDOWN_START), "the hold before the reset")
        said = explain(held)
        assert "spindown" not in said and "reset the environment after a timeout during request" in said, said
        await until_true(pilot, lambda: app.query_one(ExplainBar).text == said, "the explain line")
        first = app.query_one(HeaderBar).render().plain.splitlines()[0]
        assert "RUNNING" not in first and "HELD" in first, first


async def test_a_runtime_frozen_mid_invoke_is_not_shown_running() -> None:
    async with debugging(SAMPLES / "slow" / "handler.py", timeout_s=30) as pilot:
        app = app_of(pilot)
        await continued(pilot)
        await pilot.press("i")
        await until(pilot, lambda s: s.environment.state is EnvState.RUNNING
                    and any("slow: waiting" in line.text for line in s.logs), "the handler to be sleeping")
        app.send(c.InjectFault(flt.Freeze("runtime")))
        frozen = await until(pilot, lambda s: "runtime" in s.environment.user_frozen, "the runtime to be frozen")
        await until_true(pilot, lambda: "FROZEN" in app.query_one(HeaderBar).render().plain, "the FROZEN badge")
        first, second = app.query_one(HeaderBar).render().plain.splitlines()[:2]
        assert "RUNNING" not in first and "▶ running" not in second, (first, second)
        assert "is running" not in explain(frozen)


# ---------------------------------------------------------------------- 4. where it hung


async def test_a_forced_timeout_points_at_the_handler_not_a_library_or_another_thread(code_dir: Path) -> None:
    # A virtualenv inside the project: its library is under the code dir, but it is not the user's code.
    write(code_dir, ".venv/lib/python3.11/site-packages/slowlib.py", """\
        import time


        def wait():
            time.sleep(30)
        """)
    write(code_dir, "ticker.py", """\
        import threading
        import time


        def tick():
            while True:
                time.sleep(0.01)


        threading.Thread(target=tick, name="ticker", daemon=True).start()
        """)
    handler = write(code_dir, "handler.py", """\
        import os
        import sys

        sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".venv", "lib", "python3.11", "site-packages"))

        import slowlib
        import ticker


        def handler(event, context):
            print("waiting", flush=True)
            slowlib.wait()
            return {}
        """)
    async with debugging(handler, timeout_s=30) as pilot:
        app = app_of(pilot)
        await continued(pilot)
        await pilot.press("i")
        await until(pilot, lambda s: s.environment.state is EnvState.RUNNING
                    and any("waiting" in line.text for line in s.logs), "the handler to be waiting")
        app.send(c.InjectFault(flt.ForceTimeout()))
        done = await until(pilot, lambda s: invoked(1)(s) and s.last_stacks is not None, "the timeout's stacks")
        assert done.last_stacks is not None and len(done.last_stacks.threads) >= 2  # the ticker's thread too
        view = app.query_one(ResultView)
        await until_true(pilot, lambda: view.hung_line is not None, "the hung line")
        assert (view.hung_file, view.hung_line) == (str(handler), line_of(handler, "slowlib.wait()"))
        stack = str(app.query_one("#stack").render())
        assert "slowlib.py" in stack and "ticker.py" in stack  # the whole stack is still shown


def test_a_failed_init_marks_its_last_step_though_holds_sit_between_the_bars() -> None:
    bar = tl.TimelineBar
    bars = (bar(tl.INIT, "init", 1.0, 3.0, 90.0, "error", "Runtime.UserCodeSyntaxError"),
            bar(tl.HELD, "held at init.extensions", 1.0, 2.0, 1000.0, None, ""),
            bar(tl.SUBPHASE, "extension init", 2.0, 2.01, 10.0, None, ""),
            bar(tl.SUBPHASE, "runtime init", 2.01, 2.05, 40.0, None, ""),
            bar(tl.SUBPHASE, "function init", 2.05, 2.09, 40.0, "error", ""),
            bar(tl.HELD, "held at shutdown.start", 2.09, 2.5, 410.0, None, "failure"),
            bar(tl.RESET, "reset", 2.5, 2.6, 100.0, "success", "failure"))
    snapshot = DebuggerSnapshot(None, None, 1, "tmpdir", None, None, None, bars, None,  # type: ignore[arg-type]
                                None, None, None, (), (), 0)
    labels = [(item.label, item.variable) for item in timeline_items(snapshot, now=3.0)]
    assert labels == [("held at init.extensions", "phase-held"), ("Extension init", "phase-init"),
                      ("Runtime init", "phase-init"), ("Function init ✗ error", "phase-error"),
                      ("held at shutdown.start", "phase-held"), ("reset: failure", "phase-reset")]


# ---------------------------------------------------------------------- 5. running phases tick


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def running_since(snapshot: DebuggerSnapshot, *bars: tl.TimelineBar, held_at_: Boundary | None = None,
                  state: EnvState = EnvState.RUNNING) -> DebuggerSnapshot:
    env = dataclasses.replace(snapshot.environment, state=state, held_at=held_at_, as_of=50.0)
    return dataclasses.replace(snapshot, environment=env, timeline=bars, marker=None)


def duration_row(pilot: Pilot) -> str:
    return screen_lines(pilot)[1]


async def until_row(pilot: Pilot, text: str) -> None:
    await until_true(pilot, lambda: text in duration_row(pilot), f"the durations row to show {text!r}", timeout=5)


async def test_a_running_phase_ticks(cold_snapshot: DebuggerSnapshot) -> None:
    clock = FakeClock()
    init = tl.TimelineBar(tl.SUBPHASE, "function init", 50.0 - 0.0328, None, None, None, "")
    timeline = PhaseTimeline(clock=clock)
    async with hosted(timeline, running_since(cold_snapshot, init, state=EnvState.INIT)) as pilot:
        await until_row(pilot, "32.8 ms…")
        clock.now += 4.0  # four seconds later, with no new snapshot
        await until_row(pilot, "4.0 s…")


async def test_a_running_phase_keeps_its_time_when_an_older_snapshot_is_shown_again(
        cold_snapshot: DebuggerSnapshot) -> None:
    """escape (back to live), [ ] and a switch of environment show the newest snapshot the host made, which may be
    seconds old: a running bar's time went back to what it was then (a minute frozen said "347.8 ms…")."""
    clock = FakeClock()
    init = tl.TimelineBar(tl.SUBPHASE, "function init", 50.0 - 0.0328, None, None, None, "")
    timeline = PhaseTimeline(clock=clock)
    shown = running_since(cold_snapshot, init, state=EnvState.INIT)
    async with hosted(timeline, shown) as pilot:
        await until_row(pilot, "32.8 ms…")
        clock.now += 4.0
        await until_row(pilot, "4.0 s…")
        timeline.show(shown)  # the same snapshot, shown again four seconds on
        await pilot.pause()
        assert "4.0 s…" in duration_row(pilot)
        clock.now += 1.0
        await until_row(pilot, "5.0 s…")


async def test_a_held_phase_stops_and_resumes_without_the_held_time(cold_snapshot: DebuggerSnapshot) -> None:
    clock = FakeClock()
    invoke = tl.TimelineBar(tl.INVOKE, "a1b2c3d4", 49.0, None, None, None, "")
    hold = tl.TimelineBar(tl.HELD, "held at invoke.response", 49.5, None, None, None, "")
    timeline = PhaseTimeline(clock=clock)
    held = running_since(cold_snapshot, invoke, hold, held_at_=Boundary.INVOKE_RESPONSE)
    async with hosted(timeline, held) as pilot:
        await until_row(pilot, "500.0 ms…")  # 1 s since it started, of which 0.5 s held
        clock.now += 3.0
        await until_row(pilot, "3.5 s…")  # the hold's own bar grows...
        assert "500.0 ms…" in duration_row(pilot)  # ...the invoke's does not
        # Released 3.5 s into the hold: the invoke runs on from 0.5 s, without the held time.
        released = dataclasses.replace(hold, end=53.0, duration_ms=3500.0)
        after = running_since(cold_snapshot, invoke, released)
        after = dataclasses.replace(after, environment=dataclasses.replace(after.environment, as_of=53.0))
        timeline.show(after)
        await until_row(pilot, "500.0 ms…")
        clock.now += 1.0
        await until_row(pilot, "1.5 s…")
