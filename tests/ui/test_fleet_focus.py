"""The focused environment in the real app over a replayed fleet of three (`fleet_replay.py`): keys and clicks move
the focus, every panel and the log follow it, and commands for one environment name it.

`ReplayBackend.focus` hands over the asked environment's snapshot at once, as `HostGuest` does; what each
environment's snapshot holds differs (state, request, panels, log), so the screen tells which one it shows.
`tests/ui/test_fleet_keys.py` does the same against the real host.
"""

from __future__ import annotations


import pytest
from _host import screen_text, until_true
from palette import run_palette_command
from textual.pilot import Pilot

from fleet_replay import HELD_ID, RUNNING_ID, fleet_session
from lambdatui import controller as c
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary
from lambdatui.model.log_search import LogFilter
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens.breakpoints import BreakpointsScreen
from lambdatui.ui.themes import DEFAULT_THEME
from lambdatui.ui.widgets import LogView
from replay_backend import REPO, ReplayBackend, load_session, replay

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SAMPLES = REPO / "sample_functions"
LARGE = (140, 45)


def fleet_app(made: list[ReplayBackend]) -> LambdaTuiApp:
    session, others = fleet_session()
    return LambdaTuiApp(replay(session, made, others), code_dir=SAMPLES / "counter", theme=DEFAULT_THEME)


async def showing(pilot: Pilot, number: int, *texts: str) -> None:
    """Until the panels are env #`number`'s and the screen shows every one of `texts`."""
    app = pilot.app
    assert isinstance(app, LambdaTuiApp)
    await until_true(pilot, lambda: app.snapshot is not None and app.snapshot.environment_number == number
                     and all(text in screen_text(pilot) for text in texts), f"env #{number} with {texts!r}")


def log_lines(pilot: Pilot) -> list[str]:
    return pilot.app.query_one(LogView).visible_lines()


def notices(pilot: Pilot) -> list[str]:
    return [n.message for n in pilot.app._notifications]


def commands(made: list[ReplayBackend]) -> list[c.Command]:
    backend, = made
    assert backend.controller is not None
    return backend.controller.commands


class TestKeysMoveTheFocus:
    @pytest.mark.timeout(60)  # the work of three tests (file: 30 s each)
    async def test_full_stop_comma_and_digits_switch_every_panel_and_the_log_comma_wraps_and_a_filter_follows(
            self) -> None:
        """`.`, digits and `,` move every panel and the log; `,` from the first wraps to the last; a request filter
        goes with the log of another environment. (One session for what three tests checked apart: each began on
        env #1 of the same replayed fleet.)"""
        made: list[ReplayBackend] = []
        async with fleet_app(made).run_test(size=LARGE) as pilot:
            await showing(pilot, 1, "env #1  FROZEN", '"invocations": 3', "▶#1 FROZEN · 3 inv")
            assert any("REPORT RequestId: a3000000" in line for line in log_lines(pilot))

            await pilot.press("full_stop")
            await showing(pilot, 2, "env #2  RUNNING", f"request {RUNNING_ID[:8]}", "▶#2 RUNNING",
                          "No invoke yet")  # the result pane is env #2's: it has none
            assert log_lines(pilot)[-1].endswith("env #2's own line")
            assert not any("a3000000" in line for line in log_lines(pilot)), "env #1's log is still shown"

            await pilot.press("3")
            await showing(pilot, 3, "env #3  HELD", "HELD at invoke.start", f"request {HELD_ID[:8]}")
            assert log_lines(pilot)[-1].endswith("env #3's own line")

            await pilot.press("comma")
            await showing(pilot, 2, "▶#2 RUNNING")
            await pilot.press("1")
            await showing(pilot, 1, "env #1  FROZEN", '"invocations": 3')
            assert any("REPORT RequestId: a3000000" in line for line in log_lines(pilot))
            assert not any("own line" in line for line in log_lines(pilot))
            assert made[0].focused == [2, 3, 2, 1]
            assert not notices(pilot)  # moves the user asked for need no words

            # `,` from the first wraps to the last.
            await pilot.press("comma")
            await showing(pilot, 3, "▶#3 HELD")

            # A request filter goes with the log of another environment: env #2's request kept as the filter on env
            # #3's log showed none of its lines ("0 of 26 lines"), and `L` still offered env #2's request there (found
            # by a bug hunt in tmux). The sources chosen stay.
            await pilot.press("2")
            await showing(pilot, 2, "▶#2 RUNNING")
            view = pilot.app.query_one(LogView)
            view.apply_filter(LogFilter(None, RUNNING_ID), "all")
            assert not log_lines(pilot)  # the replayed lines name no request: the filter keeps none
            await pilot.press("3")
            await showing(pilot, 3, "▶#3 HELD")
            await until_true(pilot, lambda: view.log_filter.request_id is None, "the request filter dropped")
            assert log_lines(pilot)[-1].endswith("env #3's own line")

    @pytest.mark.timeout(60)  # the work of two tests (file: 30 s each)
    async def test_a_digit_for_no_environment_says_which_there_are_and_the_palette_shows_env_3(self) -> None:
        """(One session for what two tests checked apart: each began on env #1 of the same replayed fleet.)"""
        made: list[ReplayBackend] = []
        async with fleet_app(made).run_test(size=LARGE, notifications=True) as pilot:
            await showing(pilot, 1)
            await pilot.press("7")
            await until_true(pilot, lambda: "No env #7 in the fleet (#1, #2, #3)." in notices(pilot), "the refusal")
            assert made[0].focused == [] and pilot.app.snapshot.environment_number == 1

            # Show env #3 from the palette.
            await run_palette_command(pilot, "Show env #3")
            await showing(pilot, 3, "HELD at invoke.start")

    async def test_one_environment_has_nowhere_to_move(self) -> None:
        app = LambdaTuiApp(replay(load_session("warm")), code_dir=SAMPLES / "counter", theme=DEFAULT_THEME)
        async with app.run_test(size=LARGE, notifications=True) as pilot:
            await showing(pilot, 1, "fleet: 1 env (on-demand)")
            await pilot.press("full_stop")
            await until_true(pilot, lambda: any("only environment" in n for n in notices(pilot)), "the notice")


async def choose_the_first_boundary(pilot: Pilot) -> None:
    app = pilot.app
    await pilot.press("b")
    await until_true(pilot, lambda: isinstance(app.screen, BreakpointsScreen), "the breakpoints dialog")
    await pilot.press("space", "enter")  # the first boundary listed, then apply
    await until_true(pilot, lambda: not isinstance(app.screen, BreakpointsScreen), "the dialog to close")


class TestCommandsGoToTheFocusedEnvironment:
    async def test_keys_name_env_2_once_it_is_focused(self) -> None:
        made: list[ReplayBackend] = []
        async with fleet_app(made).run_test(size=LARGE) as pilot:
            await showing(pilot, 1)
            await pilot.press("n")
            await pilot.press("full_stop")
            await showing(pilot, 2)
            await pilot.press("n", "c", "t", "N", "s", "i")
            await choose_the_first_boundary(pilot)
            await run_palette_command(pilot, "Crash runtime")
            await until_true(pilot, lambda: len(commands(made)) == 9, "nine commands")
            breakpoints = commands(made)[7]
            assert commands(made) == [
                c.Step(env=1),
                c.Step(env=2), c.Continue(env=2), c.InjectFault(flt.ForceTimeout(), env=2), c.NewEnvironment(env=2),
                c.Shutdown(env=2),
                c.Invoke(b"{}"),  # an invoke goes to the fleet: it picks the environment
                breakpoints,
                c.InjectFault(flt.Crash("runtime"), env=2),
            ]
            assert isinstance(breakpoints, c.SetBreakpoints)  # breakpoints are the fleet's: no environment named
            assert Boundary.INIT_EXTENSIONS in breakpoints.boundaries
