"""The log pane after `N` (replace the focused environment): whose lines it shows.

README: "Every other panel, the log included, shows the focused environment", and `N` replaces the focused one with a
new number (a new log stream in CloudWatch: each environment writes its own). In tmux, `lambdatui
sample_functions/counter/handler.py`, `c`, `i`, `N`, `i`: the header, timeline, globals and /tmp show env #2 alone,
and so does the log pane (it listed env #1's invoke, its START, END and REPORT, above env #2's INIT_START, until a
bug hunt found it). A second environment the fleet starts beside the first (`--provisioned 2`, `.`) shows its own lines
only: that is pinned here too. Composed as `lambdatui PATH` composes it, run with Textual's pilot; each wait is
bounded and on the app's own snapshot or widgets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _host import LARGE, running_debugger, until_snapshot, until_true
from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.fleet import FleetOptions
from lambdatui.tui import build_debugger
from lambdatui.ui.widgets import LogView

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

COUNTER = Path(__file__).resolve().parents[2] / "sample_functions" / "counter" / "handler.py"


def idle(number: int, invocations: int):
    def check(s) -> bool:
        return (s.environment_number == number and s.environment.state is EnvState.FROZEN
                and s.environment.held_at is None and s.invocations == invocations and not s.environment.queued)
    return check


async def first_hold_then_continue(pilot) -> None:
    await until_snapshot(pilot, lambda s: s.environment.held_at is Boundary.INIT_EXTENSIONS, "the first hold")
    await pilot.press("c")


async def test_a_replacing_environment_does_not_show_the_replaced_ones_invoke_in_its_log() -> None:
    app = build_debugger(resolve_function(str(COUNTER)), event=b"{}")
    async with running_debugger(app, LARGE) as pilot:
        await first_hold_then_continue(pilot)
        await until_snapshot(pilot, idle(1, 0), "env #1 initialised, frozen")
        await pilot.press("i")
        first = await until_snapshot(pilot, idle(1, 1), "env #1's invoke")
        assert first.last_result is not None
        old_request = first.last_result.request_id
        await pilot.press("N")
        await until_snapshot(pilot, lambda s: s.environment_number == 2 and s.environment.state is EnvState.COLD,
                             "env #2 in env #1's place")
        await pilot.press("i")
        second = await until_snapshot(pilot, idle(2, 1), "env #2's first invoke")
        assert second.last_result is not None
        new_request = second.last_result.request_id
        view = app.query_one(LogView)
        await until_true(pilot, lambda: any(f"REPORT RequestId: {new_request}" in t for t in view.visible_lines()),
                         "env #2's REPORT in the log pane")
        assert all(old_request not in line for line in view.visible_lines()), view.visible_lines()


async def test_a_second_provisioned_environment_shows_its_own_log_only() -> None:
    app = build_debugger(resolve_function(str(COUNTER)), event=b"{}", fleet=FleetOptions(provisioned=2))
    async with running_debugger(app, LARGE) as pilot:
        await first_hold_then_continue(pilot)
        await until_snapshot(pilot, lambda s: len(s.environments) == 2
                             and all(e.state is EnvState.FROZEN for e in s.environments), "both initialised")
        await pilot.press("i")
        served = await until_snapshot(pilot, lambda s: sum(e.invocations for e in s.environments) == 1
                                      and not any(e.busy for e in s.environments), "one invoke served")
        took = next(e for e in served.environments if e.invocations == 1)
        other = next(e.number for e in served.environments if e.invocations == 0)
        assert took.number != other
        await pilot.press(str(took.number))
        shown = await until_snapshot(pilot, lambda s: s.environment_number == took.number
                                     and s.last_result is not None, "the environment that took it")
        request = shown.last_result.request_id
        view = app.query_one(LogView)
        await until_true(pilot, lambda: any(f"REPORT RequestId: {request}" in t for t in view.visible_lines()),
                         "its REPORT in its log")
        await pilot.press(str(other))
        await until_snapshot(pilot, lambda s: s.environment_number == other, "the other environment focused")
        await until_true(pilot, lambda: any("INIT_REPORT" in t for t in view.visible_lines())
                         and not any(f"REPORT RequestId: {request}" in t for t in view.visible_lines()),
                         "the other environment's own log, without the invoke")
