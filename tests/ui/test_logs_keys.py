"""The log's keys and the clipboard, in the real app over a replayed session: `/` search (enter, shift+enter, F3,
shift+F3, escape), `w` wrap, `p` pause, `L` filter (environment, source, request), `S` save, `y` copy, and the
event editor's "Save as…". Nothing sleeps to synchronise: each wait polls the app's state within a deadline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _host import screen_text, until_true
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, TextArea

from fleet_replay import fleet_session
from lambdatui.model.facts import FUNCTION, LogLine
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens.event_editor import EventEditorScreen
from lambdatui.ui.screens.log_dialogs import LogFilterScreen, NameDialog
from lambdatui.ui.screens.pick_target import PickTargetScreen
from lambdatui.ui.themes import DEFAULT_THEME
from lambdatui.ui.widgets import LogView
from replay_backend import REPO, ReplayBackend, load_session, replay

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SAMPLES = REPO / "sample_functions"
LARGE = (140, 45)
FIRST = "a1000000-0000-4000-8000-000000000001"
LAST = "a3000000-0000-4000-8000-000000000003"


def replayed(code_dir: Path = SAMPLES / "counter") -> LambdaTuiApp:
    return LambdaTuiApp(replay(load_session("warm")), code_dir=code_dir, theme=DEFAULT_THEME)


async def ready(pilot: Pilot) -> LogView:
    app = pilot.app
    assert isinstance(app, LambdaTuiApp)
    await until_true(pilot, lambda: app.snapshot is not None and app.query_one(LogView).line_count > 0,
                     "the replayed snapshot")
    await pilot.pause()
    return app.query_one(LogView)


def notices(pilot: Pilot) -> list[str]:
    return [n.message for n in pilot.app._notifications]


def count_label(pilot: Pilot) -> str:
    return str(pilot.app.query_one("#log-search-count").render())


# ---------------------------------------------------------------------- / search


async def test_search_highlights_counts_and_moves_between_matches_and_new_lines_are_searched_as_they_come() -> None:
    """(One session for what two tests checked apart: the second search starts from the closed first.)"""
    async with replayed().run_test(size=LARGE) as pilot:
        view = await ready(pilot)
        await pilot.press("slash")
        assert view.searching and isinstance(pilot.app.focused, Input)
        await pilot.press("E", "N", "D")  # smart case: only the END lines, not "Runtime Version" nor "Duration"
        await until_true(pilot, lambda: count_label(pilot) == "3/3", "3 matches, the newest current")
        ends = [i for i, text in enumerate(view.visible_lines()) if text.startswith("END")]
        assert len(ends) == 3 and view.search.query == "END"
        await pilot.press("enter")
        assert count_label(pilot) == "1/3"  # past the newest: round to the first
        await pilot.press("enter")
        assert count_label(pilot) == "2/3"
        await pilot.press("shift+enter")
        assert count_label(pilot) == "1/3"
        await pilot.press("f3")
        assert count_label(pilot) == "2/3"
        await pilot.press("shift+f3")
        assert count_label(pilot) == "1/3"
        # Up and down in the search bar: tmux and xterm send shift+enter as enter, and tmux's shift+F3 never arrives.
        await pilot.press("down")
        assert count_label(pilot) == "2/3"
        await pilot.press("up")
        assert count_label(pilot) == "1/3"
        assert "1/3" in screen_text(pilot)
        # Keys typed into the search are the query's, not the app's: no wrap, no pause.
        await pilot.press("w", "p")
        assert view.search.query == "ENDwp" and not view.wrapping and not view.paused
        assert count_label(pilot) == "no match"
        await pilot.press("escape")
        assert not view.searching and view.search.query == "" and pilot.app.screen is pilot.app.screen_stack[0]
        assert "no match" not in screen_text(pilot)

        # New lines are searched as they come.
        await pilot.press("slash", *"needle")
        await until_true(pilot, lambda: count_label(pilot) == "no match", "no match yet")
        view.add_lines([LogLine(FUNCTION, f"hay {i}" + (" needle" if i % 2 else "")) for i in range(10)])
        await until_true(pilot, lambda: count_label(pilot) == "5/5", "the new lines' five matches, the newest current")


# ---------------------------------------------------------------------- w, p


async def test_w_wraps_long_lines_and_p_pauses_counts_new_lines_and_resumes_at_the_end() -> None:
    """(One session for what two tests checked apart.)"""
    async with replayed().run_test(size=LARGE) as pilot:
        view = await ready(pilot)
        view.add_lines([LogLine(FUNCTION, "x" * 300 + " THE-TAIL")])
        await pilot.pause()
        assert "THE-TAIL" not in screen_text(pilot)  # cut at the pane's edge
        await pilot.press("w")
        await until_true(pilot, lambda: "THE-TAIL" in screen_text(pilot), "the wrapped line's tail")
        assert view.wrapping and "wrap" in str(pilot.app.query_one("#log-count").render())
        await pilot.press("w")
        await until_true(pilot, lambda: "THE-TAIL" not in screen_text(pilot), "the line cut again")

        # p pauses, counts new lines and resumes at the end.
        view.add_lines([LogLine(FUNCTION, f"before {i}") for i in range(40)])
        await pilot.pause()
        lines = pilot.app.query_one("#log-lines")
        await until_true(pilot, lambda: lines.scroll_y == lines.max_scroll_y > 0, "the log at its end")
        top = lines.scroll_y
        await pilot.press("p")
        assert view.paused
        view.add_lines([LogLine(FUNCTION, f"after {i}") for i in range(12)])
        await pilot.pause()
        assert "paused: 12 new lines" in screen_text(pilot)
        assert lines.scroll_y == top and "after 11" not in screen_text(pilot)  # the view did not move
        await pilot.press("p")
        await until_true(pilot, lambda: "after 11" in screen_text(pilot), "the end, followed again")
        assert not view.paused and "paused" not in screen_text(pilot)


async def at_the_end_of_60_lines(pilot: Pilot) -> tuple[LogView, Any]:
    """The log view and its lines, once 60 more lines are in and the view follows them at the end."""
    view = await ready(pilot)
    view.add_lines([LogLine(FUNCTION, f"before {i:02d}") for i in range(60)])
    lines = pilot.app.query_one("#log-lines")
    await until_true(pilot, lambda: lines.scroll_y == lines.max_scroll_y > 0, "the log at its end")
    return view, lines


async def test_batches_before_the_end_are_followed_and_a_view_scrolled_back_to_a_match_says_so_and_p_follows() -> None:
    # Two reads' lines in one tick, while following: the second comes before the scroll to the end the first asked
    # for is made. It must not count as "scrolled back", nor leave that on the bar once the view is at the end.
    # A search's match off the end stops following, as scrolling back does: the bar says so and counts what came
    # below, and p follows the end again (it had paused what was not following, and only a second p followed).
    # (One session for what two tests checked apart: each started at the end of the same 60 lines.)
    async with replayed().run_test(size=LARGE) as pilot:
        view, lines = await at_the_end_of_60_lines(pilot)
        view.add_lines([LogLine(FUNCTION, f"a {i}") for i in range(5)])
        view.add_lines([LogLine(FUNCTION, f"b {i}") for i in range(7)])
        await until_true(pilot, lambda: "b 6" in screen_text(pilot) and lines.scroll_y == lines.max_scroll_y,
                         "followed to the end")
        assert "scrolled back" not in screen_text(pilot) and view.pending == 0

        await pilot.press("slash", *"before", "space", "0", "5")
        await until_true(pilot, lambda: count_label(pilot) == "1/1", "the one match")
        await pilot.press("escape")
        top = lines.scroll_y
        assert top < lines.max_scroll_y and not view.paused
        view.add_lines([LogLine(FUNCTION, f"after {i}") for i in range(12)])
        await until_true(pilot, lambda: "scrolled back: 12 new lines below" in screen_text(pilot), "said")
        assert lines.scroll_y == top and "after 11" not in screen_text(pilot)  # the view did not move
        await pilot.press("p")
        await until_true(pilot, lambda: "after 11" in screen_text(pilot), "the end, followed again")
        assert not view.paused and "scrolled back" not in screen_text(pilot) and "paused" not in screen_text(pilot)
        view.add_lines([LogLine(FUNCTION, "later")])
        await until_true(pilot, lambda: "later" in screen_text(pilot), "followed")


# ---------------------------------------------------------------------- L


async def choose_filter(pilot: Pilot, **values: object) -> None:
    await pilot.press("L")
    await until_true(pilot, lambda: isinstance(pilot.app.screen, LogFilterScreen), "the filter dialog")
    for name, value in values.items():
        pilot.app.screen.query_one(f"#{name}", Select).value = value
    await pilot.click("#apply")
    await until_true(pilot, lambda: not isinstance(pilot.app.screen, LogFilterScreen), "the dialog closed")


async def test_L_filters_by_source_and_by_request_id() -> None:
    """By source (function, then all again), then by request id (offered newest first): one session for what two
    tests checked apart; the second starts from the unfiltered view the first ends with."""
    async with replayed().run_test(size=LARGE) as pilot:
        view = await ready(pilot)
        view.add_lines([LogLine(FUNCTION, "printed by the handler", request_id=LAST)])
        await choose_filter(pilot, source="function")
        assert view.visible_lines() == ["printed by the handler"]
        assert view.border_title == "logs: function" and "logs: function" in screen_text(pilot)
        await choose_filter(pilot, source="all")
        assert len(view.visible_lines()) == view.line_count and not view.border_title

        await pilot.press("L")
        await until_true(pilot, lambda: isinstance(pilot.app.screen, LogFilterScreen), "the filter dialog")
        offered = [value for _, value in pilot.app.screen.query_one("#request", Select)._options]
        assert offered[1:4] == [LAST, "a2000000-0000-4000-8000-000000000002", FIRST]  # newest first
        await pilot.press("escape")
        await choose_filter(pilot, request=FIRST)
        assert [text.split()[0] for text in view.visible_lines()] == ["START", "END", "REPORT"]
        assert all(FIRST in text for text in view.visible_lines())
        assert "request a1000000…" in str(view.border_title)


async def test_L_shows_another_environments_log() -> None:
    session, others = fleet_session()
    made: list[ReplayBackend] = []
    app = LambdaTuiApp(replay(session, made, others), code_dir=SAMPLES / "counter", theme=DEFAULT_THEME)
    async with app.run_test(size=LARGE) as pilot:
        view = await ready(pilot)
        await pilot.press("L")
        await until_true(pilot, lambda: isinstance(pilot.app.screen, LogFilterScreen), "the filter dialog")
        offered = [value for _, value in pilot.app.screen.query_one("#environment", Select)._options]
        assert offered == [1, 2, 3]
        await pilot.press("escape")
        await choose_filter(pilot, environment=2)
        assert made[0].focused == [2]
        await until_true(pilot, lambda: "env #2's own line" in view.visible_lines(), "env #2's log")


# ---------------------------------------------------------------------- S


async def save_as(pilot: Pilot, name: str) -> None:
    await pilot.press("S")
    await until_true(pilot, lambda: isinstance(pilot.app.screen, NameDialog), "the save dialog")
    field = pilot.app.screen.query_one("#name", Input)
    assert field.value.startswith("lambdatui-logs-") and field.value.endswith(".txt")  # the default
    field.value = name
    await pilot.press("enter")
    await until_true(pilot, lambda: not isinstance(pilot.app.screen, NameDialog), "the dialog closed")


# ---------------------------------------------------------------------- y


async def copy(pilot: Pilot, key: str) -> None:
    await pilot.press("y")
    await until_true(pilot, lambda: isinstance(pilot.app.screen, PickTargetScreen), "the copy picker")
    options = pilot.app.screen.query_one(OptionList)
    ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
    assert ids == ["result", "request", "line"]
    options.focus()
    options.highlighted = ids.index(key)
    await pilot.press("enter")
    await until_true(pilot, lambda: not isinstance(pilot.app.screen, PickTargetScreen), "the picker closed")


async def test_y_copies_the_result_the_request_id_and_a_log_line_and_S_says_why_it_cannot_write_and_saves(
        tmp_path: Path) -> None:
    """y: the result, the request id, the newest line, a clicked line. Then S into a folder that does not exist:
    refused, saying why, nothing made; then S of a request's lines: saved. (One session for what two tests checked
    apart; the S test was itself two.)"""
    async with replayed().run_test(size=LARGE) as pilot:
        view = await ready(pilot)
        await copy(pilot, "result")
        assert json.loads(pilot.app.clipboard) == {"invocations": 3, "tmp_lines": 3, "cold": False}
        await copy(pilot, "request")
        assert pilot.app.clipboard == LAST
        assert any("Copied the request id" in n for n in notices(pilot))
        await copy(pilot, "line")  # nothing clicked, no search: the newest line
        assert pilot.app.clipboard == view.visible_lines()[-1] and pilot.app.clipboard.startswith("REPORT")
        # A click picks the line under it.
        lines = pilot.app.query_one("#log-lines")
        start = view.visible_lines().index(f"START RequestId: {LAST} Version: $LATEST")
        await pilot.click("#log-lines", offset=(20, start - int(lines.scroll_y)))
        await copy(pilot, "line")
        assert pilot.app.clipboard == f"START RequestId: {LAST} Version: $LATEST"

        await save_as(pilot, str(tmp_path / "no-such-folder" / "saved.txt"))
        await until_true(pilot, lambda: any("Could not save the log" in n for n in notices(pilot)), "the error")
        assert any("No such file or directory" in n for n in notices(pilot))
        assert not (tmp_path / "no-such-folder").exists()

        await choose_filter(pilot, request=LAST)
        target = tmp_path / "saved.txt"
        await save_as(pilot, str(target))
        await until_true(pilot, lambda: any(str(target) in n for n in notices(pilot)), "the saved notice")
        assert target.read_text().splitlines() == view.visible_lines() and len(view.visible_lines()) == 3


# ---------------------------------------------------------------------- the event editor's Save as


async def open_save_as(pilot: Pilot, name: str) -> None:
    await pilot.press("ctrl+o")
    await until_true(pilot, lambda: isinstance(pilot.app.screen, NameDialog), "the save-as dialog")
    pilot.app.screen.query_one("#name", Input).value = name
    await pilot.press("enter")


async def test_save_as_refuses_a_bad_name_then_writes_into_events_and_lists_it(code_dir: Path) -> None:
    """"../escape" refused (nothing written, no events/ made), escape back to the editor; then a name: written into
    events/, listed first, asked before overwriting, applied under its name. (One session for what two tests checked
    apart.)"""
    async with replayed(code_dir).run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.press("e")
        await until_true(pilot, lambda: isinstance(pilot.app.screen, EventEditorScreen), "the editor")
        editor = pilot.app.screen
        await open_save_as(pilot, "../escape")
        await until_true(pilot, lambda: "not a path" in str(pilot.app.screen.query_one("#problem").render()),
                         "the refusal")
        assert isinstance(pilot.app.screen, NameDialog) and not (code_dir / "events").exists()
        assert not (code_dir / "escape.json").exists()
        await pilot.press("escape")
        await until_true(pilot, lambda: pilot.app.screen is editor, "back in the editor")

        editor.query_one("#editor", TextArea).load_text('{"order": 42}')
        await open_save_as(pilot, "big order")
        await until_true(pilot, lambda: pilot.app.screen is editor, "back in the editor")
        saved = code_dir / "events" / "big order.json"
        assert json.loads(saved.read_text()) == {"order": 42}
        assert editor.choices[0] == ("events/big order.json", saved.read_text())
        samples = editor.query_one("#samples", OptionList)
        assert "events/big order.json" in str(samples.get_option_at_index(0).prompt)
        # The same name again: asked first, overwritten on the second enter.
        editor.query_one("#editor", TextArea).load_text('{"order": 43}')
        await pilot.click("#save-as")
        await until_true(pilot, lambda: isinstance(pilot.app.screen, NameDialog), "the save-as dialog")
        assert pilot.app.screen.query_one("#name", Input).value == "big order"  # the sample's own name
        await pilot.press("enter")
        await until_true(pilot, lambda: "exists" in str(pilot.app.screen.query_one("#problem").render()),
                         "the overwrite question")
        assert json.loads(saved.read_text()) == {"order": 42}
        await pilot.press("enter")
        await until_true(pilot, lambda: pilot.app.screen is editor, "back in the editor")
        assert json.loads(saved.read_text()) == {"order": 43}
        # The editor applies the saved event under its new name.
        await pilot.press("ctrl+s")
        await until_true(pilot, lambda: pilot.app.event_source == "events/big order.json", "the event applied")
