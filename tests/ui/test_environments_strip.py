"""The environments strip and the focus rules, without the app: what a snapshot of the fleet draws, and what the
screen does when the focused environment changes (asked for, replaced, gone)."""

from __future__ import annotations

import dataclasses

import pytest
from _host import Host, hosted, screen_lines

from fleet_replay import COUNTERS, LINES, fleet_session
from lambdatui.model.boundaries import EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.fleet import MANAGED_INSTANCES, ON_DEMAND, EnvironmentLine
from lambdatui.ui.focus import EnvironmentFocus
from lambdatui.ui.widgets import EnvironmentsStrip
from lambdatui.ui.widgets.environments_strip import arrange, fleet_text

pytestmark = pytest.mark.anyio


def fleet(*alive: int, shown: int) -> DebuggerSnapshot:
    """The recorded env #1 snapshot, as if the fleet had environments `alive` and the panels showed `shown`."""
    first, _ = fleet_session()
    lines = tuple(EnvironmentLine(n, EnvState.FROZEN, None, 0, ON_DEMAND, False) for n in alive)
    return dataclasses.replace(first.snapshot, environment_number=shown, environments=lines,
                               fleet=dataclasses.replace(COUNTERS, environments=len(alive)))


# ---------------------------------------------------------------------- the fleet line and the chips


def test_the_fleet_line_counts_cold_starts_warm_hits_throttles_and_concurrency() -> None:
    assert fleet_text(COUNTERS, LINES) == ("fleet: 3 envs · 2 busy (peak 3) / limit 100 · cold 3 · warm 2 · "
                                           "throttled 1 · queued 0")
    alone = dataclasses.replace(COUNTERS, environments=1, concurrency=0, peak_concurrency=1, spun_down=2)
    assert fleet_text(alone, LINES[:1]) == ("fleet: 1 env (on-demand) · 0 busy (peak 1) / limit 100 · cold 3 · "
                                            "warm 2 · throttled 1 · queued 0 · idle shut down 2")


def test_a_managed_instances_environment_is_called_managed_not_on_demand() -> None:
    """--max-concurrency runs its environments as lambda-managed-instances (AWS_LAMBDA_INITIALIZATION_TYPE): the
    strip said on-demand (a bug hunt)."""
    managed = (EnvironmentLine(1, EnvState.RUNNING, None, 2, MANAGED_INSTANCES, False),)
    assert fleet_text(dataclasses.replace(COUNTERS, environments=1), managed).startswith("fleet: 1 env (managed) · ")


def test_chips_that_do_not_fit_leave_a_window_around_the_focused_one() -> None:
    widths = [30] * 100
    assert arrange(widths, 0, 200, rows=1) == (0, 6, [(i, 0, i * 32) for i in range(6)])
    first, end, placed = arrange(widths, 57, 100, rows=3)
    assert first <= 57 < end and [index for index, _, _ in placed] == list(range(first, end))
    assert {row for _, row, _ in placed} == {0, 1, 2}
    assert placed[0][2] >= 8 and all(x + 30 <= 100 - 8 for _, row, x in placed if row == 2)  # room for ◀ and ▶
    assert arrange([30, 30], 1, 100) == (0, 2, [(0, 0, 0), (1, 0, 32)])  # all fit: no window, no markers


async def test_one_environment_is_one_row_the_fleet_line() -> None:
    strip = EnvironmentsStrip()
    async with hosted(strip, fleet(1, shown=1), size=(100, 10)) as pilot:
        assert strip.size.height == 1
        assert screen_lines(pilot)[0].strip().startswith("fleet: 1 env (on-demand) · ")
        assert strip.placed == []


async def test_new_counts_on_the_same_rows_repaint_the_strip_without_laying_the_screen_out() -> None:
    # A layout of the whole debugger screen costs ~10-25 ms; every invoke changes the fleet's counters.
    strip = EnvironmentsStrip()
    async with hosted(strip, fleet(1, shown=1), size=(100, 10)) as pilot:
        asked: list[bool] = []
        refresh = strip.refresh
        strip.refresh = lambda *a, layout=False, **k: asked.append(layout) or refresh(*a, layout=layout, **k)  # type: ignore[method-assign]
        busier = fleet(1, shown=1)
        strip.show(dataclasses.replace(busier, fleet=dataclasses.replace(busier.fleet, warm_hits=7)))
        await pilot.pause()
        said = screen_lines(pilot)[0]
        strip.show(fleet(1, 2, shown=1))  # a second environment: a row of chips more
        await pilot.pause()
        assert "warm 7" in said and asked[0] is False and True in asked[1:] and strip.size.height == 2


async def test_a_fleet_lists_every_environment_marks_the_focused_one_and_counts() -> None:
    session, _ = fleet_session()
    strip = EnvironmentsStrip()
    async with hosted(strip, dataclasses.replace(session.snapshot, environment_number=2), size=(160, 10)) as pilot:
        first, last = screen_lines(pilot)[:2]
        assert strip.size.height == 2
        assert "#1 FROZEN · 3 inv · on-demand" in first
        assert "▶#2 RUNNING a4000000 · 0 inv · on-demand" in first
        assert "#3 HELD invoke.start a5000000 · 0 inv · provisioned" in first
        assert last.strip() == ("fleet: 3 envs · 2 busy (peak 3) / limit 100 · cold 3 · warm 2 · throttled 1 · "
                                "queued 0")
        assert [p.number for p in strip.placed] == [1, 2, 3]


class Chooser(Host):
    """Holds the strip and keeps what it asks for."""

    def __init__(self, widget: EnvironmentsStrip) -> None:
        super().__init__(widget)
        self.chosen: list[int] = []

    def on_environments_strip_environment_chosen(self, message: EnvironmentsStrip.EnvironmentChosen) -> None:
        self.chosen.append(message.number)


async def test_a_click_on_a_chip_asks_for_that_environment() -> None:
    session, _ = fleet_session()
    strip = EnvironmentsStrip()
    app = Chooser(strip)
    async with app.run_test(size=(160, 10)) as pilot:
        strip.show(session.snapshot)
        await pilot.pause()
        third = next(p for p in strip.placed if p.number == 3)
        await pilot.click(EnvironmentsStrip, offset=(third.x + 1 + 3, third.row))  # +1: the strip's left padding
        await pilot.click(EnvironmentsStrip, offset=(1 + 50, 1))  # the fleet line: no environment there
        await pilot.pause()
        assert app.chosen == [3]


# ---------------------------------------------------------------------- the focus rules


def test_the_first_snapshot_and_a_move_asked_for_show_that_environment_s_own_log() -> None:
    focus = EnvironmentFocus()
    assert focus.arrived(fleet(1, 2, shown=1)).restart_log
    assert not focus.arrived(fleet(1, 2, shown=1)).restart_log  # the same one: its lines go on
    focus.ask(2)
    arrival = focus.arrived(fleet(1, 2, shown=2))
    assert arrival.restart_log and arrival.notice is None and focus.number == 2


def test_a_replaced_environment_keeps_the_focus_and_starts_a_log_of_its_own() -> None:
    """A new environment writes a log stream of its own: its pane shows its lines, not the replaced one's (which
    the same environment, reached again with `,` and `.`, would not show either)."""
    focus = EnvironmentFocus()
    focus.arrived(fleet(1, 2, shown=2))
    focus.renewing(2)
    arrival = focus.arrived(fleet(1, 5, shown=5))
    assert arrival.restart_log and focus.number == 5
    assert arrival.notice is not None and arrival.notice.startswith("env #2 was replaced by a new environment: env #5")


def test_an_environment_that_left_the_fleet_hands_the_focus_on_and_says_so() -> None:
    focus = EnvironmentFocus()
    focus.arrived(fleet(1, 2, shown=2))
    arrival = focus.arrived(fleet(1, shown=1))  # env #2 shut down (s, or --idle-shutdown)
    assert arrival.restart_log and arrival.notice == "env #2 left the fleet: showing env #1"
    assert focus.number == 1


def test_late_answers_to_quick_moves_are_no_departures() -> None:
    focus = EnvironmentFocus()
    focus.arrived(fleet(1, 2, 3, shown=1))
    focus.ask(2)
    focus.ask(3)  # pressed twice before the first answer
    for shown in (2, 3):
        arrival = focus.arrived(fleet(1, 2, 3, shown=shown))
        assert arrival.restart_log and arrival.notice is None and focus.number == shown


def test_commands_go_to_the_environment_asked_for_before_its_snapshot_arrives() -> None:
    """Keys typed together ("2c", ".c"): the second is meant for the environment the first asked for, which the panels
    show only once its snapshot is back; a move asked for an environment that left goes nowhere."""
    focus = EnvironmentFocus()
    focus.arrived(fleet(1, 2, 3, shown=1))
    focus.ask(2)
    assert (focus.number, focus.target) == (1, 2)
    assert focus.neighbour(fleet(1, 2, 3, shown=1), +1) == 3  # `.` twice, quickly: two steps
    focus.ask(3)
    focus.arrived(fleet(1, 2, 3, shown=2))  # the answer to the first move: the second is still on its way
    assert (focus.number, focus.target) == (2, 3)
    focus.arrived(fleet(1, 2, 3, shown=3))
    assert (focus.number, focus.target) == (3, 3)
    focus.ask(2)
    focus.arrived(fleet(1, 3, shown=3))  # env #2 left before it could be shown: commands go to the one shown
    assert focus.target == 3


def test_neighbours_wrap_around_the_strip() -> None:
    focus = EnvironmentFocus()
    focus.arrived(fleet(1, 4, 7, shown=7))
    snapshot = fleet(1, 4, 7, shown=7)
    assert (focus.neighbour(snapshot, +1), focus.neighbour(snapshot, -1)) == (1, 4)
    assert focus.neighbour(fleet(7, shown=7), +1) is None  # one environment: nowhere to go
