"""Init's steps on the timeline of a cold start nobody held add up to Init, and Function init gets its real share.

In tmux, `lambdatui sample_functions/counter/handler.py`, `c`, `N`, `i` drew

    │  Ext init  Runtime init     Fn init   92c21fe5   frozen
    │ 0.02 ms   47.6 ms          0.00 ms   1.0 ms     1 min 12 s

while that invoke's REPORT said `Init Duration: 31.37 ms`: the steps were timed from when their boundaries' facts
arrived, so Runtime init took in the time the core leaves out of Init (the sandbox settling before the spawn, the
runtime's calls waiting for the host), and the Function init step (the handler module's import, a few ms) was cut
to 0.00 ms by the cap that kept the open step within what Init's duration left it. The same after a reset
(`sample_functions/slow`, `t`, `i`). Each Init boundary now carries its Init's time on the clock Init's duration is
measured on (`BoundaryReached.init_ms`), and the steps are the differences, so together they are Init.

The debugger is composed as `lambdatui PATH` composes it (build_debugger), run headless with Textual's pilot; each
wait is on the app's own snapshot, bounded. Several cold starts are made, since the old excess depended on timing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _host import LARGE, running_debugger, until_snapshot
from lambdatui.config import resolve_function
from lambdatui.model import timeline as tl
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.tui import build_debugger

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

COUNTER = Path(__file__).resolve().parents[2] / "sample_functions" / "counter" / "handler.py"
COLD_STARTS = 4
TOLERANCE_MS = 0.5


def frozen_idle(s: DebuggerSnapshot) -> bool:
    return s.environment.state is EnvState.FROZEN and s.environment.held_at is None and not s.environment.queued


def last_init_steps(snapshot: DebuggerSnapshot) -> tuple[tl.TimelineBar, list[tl.TimelineBar]]:
    bars = list(snapshot.timeline)
    start = max(i for i, bar in enumerate(bars) if bar.kind == tl.INIT)
    steps = []
    for bar in bars[start + 1:]:
        if bar.kind != tl.SUBPHASE:
            break
        steps.append(bar)
    return bars[start], steps


async def test_init_steps_of_an_unheld_cold_start_fit_in_init_and_function_init_is_not_zero() -> None:
    app = build_debugger(resolve_function(str(COUNTER)))
    seen: list[tuple[int, float, dict[str, float]]] = []
    async with running_debugger(app, LARGE) as pilot:
        await until_snapshot(pilot, lambda s: s.environment.held_at is Boundary.INIT_EXTENSIONS, "the first hold")
        await pilot.press("c")
        await until_snapshot(pilot, frozen_idle, "env #1 frozen after Init")
        for _ in range(COLD_STARTS):
            before = app.snapshot.environment_number
            await pilot.press("N")
            await until_snapshot(pilot, lambda s: s.environment_number != before
                                 and s.environment.state is EnvState.COLD and s.environment.held_at is None,
                                 "the replacement environment, cold")
            number = app.snapshot.environment_number
            await pilot.press("i")
            done = await until_snapshot(pilot, lambda s: s.environment_number == number and s.invocations >= 1
                                        and frozen_idle(s), "the cold invoke to finish")
            init, steps = last_init_steps(done)
            durations = {bar.label: bar.duration_ms or 0.0 for bar in steps}
            seen.append((number, init.duration_ms or 0.0, durations))

    report = "\n".join(f"env #{number}: Init {init_ms:.2f} ms; " + ", ".join(f"{k} {v:.2f} ms" for k, v in steps.items())
                       for number, init_ms, steps in seen)
    for _, init_ms, steps in seen:
        assert sum(steps.values()) <= init_ms + TOLERANCE_MS, f"Init's steps outlast Init:\n{report}"
        assert steps[tl.FUNCTION_INIT] > 0.0, f"Function init (the handler's import) shown as 0.00 ms:\n{report}"
