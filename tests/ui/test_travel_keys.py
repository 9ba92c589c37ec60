"""Travelling back in the real app over the replayed warm counter session (tests/ui/travel_replay.py gives each
finished bar its past): `[`, `]`, escape, a click on a bar (PhaseTimeline.BarClicked), and `C`, the comparison of
two invokes. Waits are bounded polls of the app's own state, never sleeps."""

from __future__ import annotations


import pytest
from _host import screen_text, until_true as until
from textual.pilot import Pilot

from lambdatui.model.invoke_compare import CHANGED, REPLACED
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens.compare_invokes import CompareInvokesScreen
from lambdatui.ui.screens.help import HelpScreen
from lambdatui.ui.widgets import GlobalsView, LogView, PhaseTimeline
from lambdatui.ui.widgets.past_bar import PastBar
from replay_backend import ReplayBackend
from travel_replay import travelling_app

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SIZE = (140, 45)
INVOKE_1, INVOKE_2, INVOKE_3, NEWEST = 7, 9, 11, 12  # the session's bar seqs (12: the running frozen gap)


def app_of(pilot: Pilot) -> LambdaTuiApp:
    assert isinstance(pilot.app, LambdaTuiApp)
    return pilot.app


def invocations_shown(pilot: Pilot) -> str:
    shown = app_of(pilot).shown
    assert shown is not None and shown.globals is not None
    return next(e.repr for e in shown.globals.entries if e.name == "invocations")


async def started(pilot: Pilot) -> None:
    await until(pilot, lambda: app_of(pilot).controller is not None and app_of(pilot).snapshot is not None,
                "the replayed snapshot")


def marker(pilot: Pilot) -> str:
    return app_of(pilot).query_one(PastBar).text or ""


async def test_brackets_C_a_click_and_escape_in_one_session() -> None:
    """One debugger (an app start costs more than the keys) for what four tests checked apart, each part starting
    from live and ending where the next expects it: `[`/`]` step through the past and escape returns to live; `C`
    compares two invokes and escape closes it; a click on a bar selects it and new updates keep the selection (a bar
    not kept goes live, said in a notification); escape still closes a dialog while in the past."""
    made: list[ReplayBackend] = []
    app = travelling_app(made)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot)

        # ---- [ and ] step through the past; escape returns to live
        assert app.selected_bar is None and not app.query_one(PastBar).display

        await pilot.press("left_square_bracket")  # from live: the newest finished bar, invoke 3
        await until(pilot, lambda: app.selected_bar == INVOKE_3, "[ to select invoke 3")
        assert app.shown is not None and app.shown.selected_bar == INVOKE_3
        assert app.query_one(PhaseTimeline)._snapshot.selected_bar == INVOKE_3  # type: ignore[attr-defined]
        await pilot.press("left_square_bracket", "left_square_bracket")  # the frozen gap, then invoke 2
        await until(pilot, lambda: app.selected_bar == INVOKE_2, "[ [ to select invoke 2")
        assert invocations_shown(pilot) == "2" and app.snapshot is not None and app.snapshot.invocations == 3
        assert marker(pilot).startswith("PAST · invoke 2 · a2000000 · ended t+")
        await until(pilot, lambda: "PAST · invoke 2 · a2000000" in screen_text(pilot), "the marker on screen")
        # The header stays live (README): three invokes have run, whichever phase the panels show.
        assert "3 invokes" in screen_text(pilot) and "2 invokes" not in screen_text(pilot)
        # The log holds invoke 2's lines only.
        assert all("a2000000" in line for line in app.query_one(LogView).visible_lines())

        await pilot.press("right_square_bracket", "right_square_bracket")
        await until(pilot, lambda: app.selected_bar == INVOKE_3, "] ] to select invoke 3")
        await pilot.press("right_square_bracket")  # past the newest finished bar: live
        await until(pilot, lambda: app.selected_bar is None, "] past the newest bar to return to live")

        await pilot.press("left_square_bracket")
        await until(pilot, lambda: app.selected_bar == INVOKE_3, "[ again")
        await pilot.press("escape")
        await until(pilot, lambda: app.selected_bar is None and not app.query_one(PastBar).display, "escape: live")
        assert invocations_shown(pilot) == "3"
        assert any("a3000000" in line for line in app.query_one(LogView).visible_lines())  # the live log is back
        assert "PAST" not in screen_text(pilot)

        # ---- C compares two invokes and escape closes it
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, CompareInvokesScreen), "C to open the comparison")
        screen = app.screen
        assert isinstance(screen, CompareInvokesScreen)
        # The newest two by default: invoke 2 -> invoke 3.
        assert screen.comparison is not None and (screen.comparison.first.number, screen.comparison.second.number) == (2, 3)
        screen.choose(1, 3)
        await pilot.pause()
        comparison = screen.comparison
        assert comparison is not None and comparison.first.request_id == "a1000000"
        rows = {g.name: (g.change, g.old, g.new) for g in comparison.globals}
        assert rows["invocations"] == (REPLACED, "1", "3")
        (counter,) = comparison.tmp
        assert (counter.path, counter.change, counter.old_size, counter.new_size) == ("/tmp/counter.txt", CHANGED,
                                                                                       22, 66)
        await until(pilot, lambda: "replaced: another object" in screen_text(pilot), "the diff on screen")
        assert "22 B → 66 B" in screen_text(pilot)
        # The keyboard picks too: down in the "to" list is past its end; up in "from" is invoke 1 already.
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CompareInvokesScreen), "escape to close it")
        assert app.selected_bar is None

        # ---- a click on a bar selects it and new updates keep the selection
        app.post_message(PhaseTimeline.BarClicked(INVOKE_1))
        await until(pilot, lambda: app.selected_bar == INVOKE_1, "the click to select invoke 1")
        assert invocations_shown(pilot) == "1"
        assert app.query_one(GlobalsView) is not None
        await until(pilot, lambda: "PAST · invoke 1 · a1000000" in screen_text(pilot), "the marker")
        # A live update arrives (the backend hands the snapshot again): the past stays selected.
        (backend,) = made
        backend.focus(1)
        await pilot.pause()
        assert app.selected_bar == INVOKE_1 and invocations_shown(pilot) == "1"
        # A bar whose state is not kept: the controller answers live; the app says so and goes live.
        app.post_message(PhaseTimeline.BarClicked(NEWEST + 50))
        await until(pilot, lambda: app.selected_bar is None, "a bar not kept to leave the past")
        assert any("no longer kept" in n.message for n in app._notifications)

        # ---- escape still closes a dialog while in the past
        app.post_message(PhaseTimeline.BarClicked(INVOKE_1))
        await until(pilot, lambda: app.selected_bar == INVOKE_1, "the click to select invoke 1 again")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), "escape to close help")
        assert app.selected_bar == INVOKE_1  # still in the past: that escape was the dialog's
