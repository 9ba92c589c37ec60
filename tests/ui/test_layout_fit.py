"""The main screen's layout (issue 15): panels sized by what they hold, values that fit shown whole at 140x45, the
notice below the minimum size (and the layout back, nothing lost, on resizing), and a click on any panel focusing it.

The app is the real `LambdaTuiApp` over recorded sessions (`replay_backend.py`); the uncut-values scenario is the
recorded warm session with a /tmp listing and an error folded in by hand (a 30-character file name, the longest
error type Lambda has). Update the SVGs with `pytest tests/ui/test_layout_fit.py --snapshot-update`, then look at
them in `__snapshots__/test_layout_fit/` before accepting them.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from _host import screen_text, until_true
from replay_backend import load_session, replay
from test_snapshots import LARGE, SAMPLES, SMALL, settled  # noqa: F401 - its autouse fixtures are imported below
from test_snapshots import no_cursor_blink, plain_terminal_environment, stopped_clock  # noqa: F401
from textual import events
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual.geometry import Size
from textual.pilot import Pilot

from lambdatui.model import facts as f
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.themes import DEFAULT_THEME
from lambdatui.ui.widgets import HeaderBar, LogView
from lambdatui.ui.widgets.too_small import TooSmallNotice

WARM = load_session("warm")
CRASH = load_session("crash_reset")
NAME = "thirty_character_file_name.txt"  # 30 characters
ERROR_TYPE = "Function.ResponseSizeTooLarge"
RID = "a3000000-0000-4000-8000-000000000003"  # the warm session's last invoke
EVENT_LINE = '{"detail": {"bucket": "orders", "key": "2026/12/01/a.json"}}'  # 60 characters


def uncut_session():
    """The warm session after an invoke that left a 30-character file in /tmp and failed with a long error type."""
    snapshot = WARM.snapshot
    entry = f.TmpEntry(f"/tmp/{NAME}", "file", 2048, 0.0, RID, RID, "new")
    tmp = dataclasses.replace(snapshot.tmp, entries=(*snapshot.tmp.entries, entry), by=RID)
    body = json.dumps({"errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                       "errorType": ERROR_TYPE}).encode()
    result = f.InvocationResult(RID, body, function_error=True, error_type=ERROR_TYPE)
    report = dataclasses.replace(snapshot.last_report, status="error", error_type=ERROR_TYPE)
    return dataclasses.replace(WARM, snapshot=dataclasses.replace(snapshot, tmp=tmp, last_result=result,
                                                                  last_report=report))


def app_for(session, sample: str = "counter", event: str = '{"n": 3}') -> LambdaTuiApp:
    app = LambdaTuiApp(replay(session), code_dir=SAMPLES / sample, theme=DEFAULT_THEME)
    app.event_text = event
    app.event_source = "--event"
    return app


def panel_lines(pilot: Pilot, panel: str) -> list[str]:
    """The text inside a panel's border, row by row."""
    region = pilot.app.query_one(f"#{panel}").region
    lines = screen_text(pilot).splitlines()[region.y + 1: region.bottom - 1]
    return [line[region.x + 1: region.right - 1] for line in lines]


# ---------------------------------------------------------------------- sized by what they hold


@pytest.mark.anyio
@pytest.mark.parametrize("size", [SMALL, LARGE, (200, 60)])
async def test_one_participant_takes_one_row_and_globals_and_logs_get_the_rest(size: tuple[int, int]) -> None:
    async with app_for(WARM).run_test(size=size) as pilot:
        await settled(pilot)
        app = pilot.app
        participants = app.query_one("#participants").region
        assert participants.height == 4, "its border, the column heads and the runtime's row"
        assert participants.width == size[0], "across the whole width: every column fits from 100 columns"
        footer = app.screen.query_one("Footer").region
        assert footer.bottom == size[1] and app.screen.max_scroll_y == 0, "nothing scrolls the footer away"
        globals_height, logs_height = app.query_one("#globals").region.height, app.query_one("#logs").region.height
        if size != SMALL:
            assert globals_height > participants.height and logs_height > participants.height
        assert "Receives next" in screen_text(pilot)


@pytest.mark.anyio
async def test_at_100x30_two_participants_fit_and_nothing_scrolls_the_screen() -> None:
    """The runtime and an extension, and the explanation on three rows: the tightest 100x30 screen."""
    session = load_session("cold_held_init_function")
    async with app_for(session, sample="extension").run_test(size=SMALL) as pilot:
        await settled(pilot)
        app = pilot.app
        assert app.query_one("#participants").region.height == 5
        assert app.query_one("#explain").region.height == 3
        assert app.screen.max_scroll_y == 0 and app.screen.query_one("Footer").region.y == SMALL[1] - 1
        for panel in ("globals", "tmp", "event", "result", "logs"):
            assert app.query_one(f"#{panel}").region.height >= 4, panel


# ---------------------------------------------------------------------- nothing that fits is cut at 140x45


@pytest.mark.anyio
async def test_at_140x45_a_30_character_tmp_name_the_error_type_and_the_events_first_line_show_whole() -> None:
    assert len(NAME) == 30 and len(EVENT_LINE) == 60
    async with app_for(uncut_session(), event=EVENT_LINE).run_test(size=LARGE) as pilot:
        await settled(pilot)
        tmp = "\n".join(panel_lines(pilot, "tmp"))
        assert NAME in tmp and "new by a3000000" in tmp
        result = panel_lines(pilot, "result")
        assert f"function error: {ERROR_TYPE}" in result[0]
        assert f"Status error ({ERROR_TYPE})" in result[1]
        assert EVENT_LINE in "\n".join(panel_lines(pilot, "event"))


def test_snapshot_uncut_values_at_140x45(snap_compare) -> None:
    """The warm counter session with /tmp/thirty_character_file_name.txt (2.0 KB, "new by a3000000") listed whole in
    the /tmp panel (right of Globals), and a function error Function.ResponseSizeTooLarge whole in the Result
    panel's title and its Status line; the event's one line {"detail": {"bucket": …, "key": "2026/12/01/a.json"}}
    whole in the Event panel. Participants: one row under the column heads, every column."""
    assert snap_compare(app_for(uncut_session(), event=EVENT_LINE), terminal_size=LARGE, run_before=settled)


# ---------------------------------------------------------------------- resizes


def rows_drawn_whole(update: CompositorUpdate, width: int) -> set[int]:
    """The rows an update writes from the first column to the last."""
    if isinstance(update, LayoutUpdate):
        region = update.region
        return set(range(region.y, region.bottom)) if region.x == 0 and region.width >= width else set()
    covered: dict[int, list[tuple[int, int]]] = {}
    for y, x1, x2 in update.spans if isinstance(update, ChopsUpdate) else ():
        covered.setdefault(y, []).append((x1, x2))
    whole = set()
    for y, spans in covered.items():
        reach = 0
        for x1, x2 in sorted(spans):
            if x1 > reach:
                break
            reach = max(reach, x2)
        if reach >= width:
            whole.add(y)
    return whole


@pytest.mark.anyio
async def test_resizes_that_end_at_the_size_laid_out_last_still_repaint_the_whole_screen() -> None:
    """A window shrunk and grown back faster than the app reads it: Textual lays out the last size only, the one it
    had, so its reflow moves nothing and redraws nothing, while the terminal cropped or scrolled its cells at the
    smaller size (tmux, under a 100,000-line burst: header and footer gone, other sizes' frames left on screen). The
    whole screen is drawn again."""
    app = app_for(WARM)
    async with app.run_test(size=LARGE) as pilot:
        await settled(pilot)
        width, height = LARGE
        drawn: set[int] = set()
        display = app._display

        def spied(screen, update) -> None:
            if isinstance(update, CompositorUpdate):
                drawn.update(rows_drawn_whole(update, width))
            display(screen, update)

        app._display = spied  # type: ignore[method-assign]
        app.post_message(events.Resize(Size(120, 36), Size(120, 36)))
        app.post_message(events.Resize(Size(*LARGE), Size(*LARGE)))
        await until_true(pilot, lambda: drawn >= set(range(height)), "the whole screen drawn again after the resizes",
                         shown=lambda: f"rows drawn whole: {sorted(drawn)}")


# ---------------------------------------------------------------------- below the minimum size


@pytest.mark.anyio
async def test_below_100x30_a_notice_replaces_the_panels_only_q_and_the_help_act_and_resizing_restores_them() -> None:
    """Below 100x30 the notice replaces the panels; back at the smallest size they are as they were, with what came
    meanwhile, and the focus kept. Then, at 90x25, `i` sends no invoke, `x` opens no dialog, ctrl+p no palette (`?`
    opens the help, which fits any width: tests/probe/test_probe_help.py); back at full size they act again. (One
    session for what two tests checked apart: neither sent a command before its notice.)"""
    app = app_for(WARM)
    async with app.run_test(size=LARGE) as pilot:
        await settled(pilot)
        app.query_one("#globals").focus()
        lines_before = app.query_one(LogView).line_count
        notice = app.query_one(TooSmallNotice)
        assert not notice.display

        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        text = screen_text(pilot)
        assert "Make the terminal at least 100×30 (now 80×24)" in text
        assert notice.display and not app.query_one(HeaderBar).display
        assert "q Quit" not in text and "FROZEN" not in text

        await pilot.resize_terminal(120, 29)  # wide enough, one row short
        await pilot.pause()
        assert "Make the terminal at least 100×30 (now 120×29)" in screen_text(pilot)

        # The session goes on underneath: a snapshot arriving meanwhile is what the panels show once back.
        app.render_snapshot(CRASH.snapshot, list(CRASH.logs))
        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        text = screen_text(pilot)
        assert "Make the terminal" not in text and not notice.display
        assert "q Quit" in text and "Runtime.ExitError" in text and app.screen.max_scroll_y == 0
        assert app.query_one(LogView).line_count > lines_before
        assert app.focused is app.query_one("#globals"), "the panel focused before keeps the focus"

        controller = app.controller
        await pilot.resize_terminal(90, 25)
        await pilot.pause()
        await pilot.press("i", "x", "N", "s", "ctrl+p")
        await pilot.pause()
        assert controller.commands == []  # type: ignore[union-attr]
        assert len(app.screen_stack) == 1 and "Make the terminal at least" in screen_text(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()

        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        await pilot.press("i")
        await pilot.pause()
        assert len(controller.commands) == 1  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_the_log_still_follows_its_end_after_the_notice_was_shown() -> None:
    """Hidden behind the notice, the log's pane has no rows and Textual moves its scroll to the top: shown again, it
    stayed there, showing the session's first line and never following new ones (nothing said it was paused)."""
    app = app_for(WARM)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        lines = app.query_one("#log-lines")
        assert lines.max_scroll_y > 0 and lines.scroll_y == lines.max_scroll_y, "following its end"
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        await pilot.pause()
        assert lines.max_scroll_y > 0 and lines.scroll_y == lines.max_scroll_y, (lines.scroll_y, lines.max_scroll_y)
        app.render_snapshot(CRASH.snapshot, list(CRASH.logs))  # an invoke's lines arrive
        await pilot.pause()
        await pilot.pause()
        assert lines.scroll_y == lines.max_scroll_y, (lines.scroll_y, lines.max_scroll_y)
        assert "REPORT RequestId" in panel_lines(pilot, "logs")[-1]


def test_snapshot_the_small_terminal_notice(snap_compare) -> None:
    """At 80x24: only the notice, centred: "Make the terminal at least 100×30 (now 80×24)." in bold, why, and that q
    quits. No header, panels or footer."""
    assert snap_compare(app_for(WARM), terminal_size=(80, 24), run_before=settled)


# ---------------------------------------------------------------------- clicks


CLICKS = [
    ("#event-title", "event"),  # a title line: the Event panel's scroll takes the focus
    ("#event", "event"),  # its border
    ("#log-count", "logs"),  # the log's filter bar, away from the filter names
    ("#logs", "logs"),
    ("#globals", "globals"),
    ("#tmp", "tmp"),
    ("#result-title", "result"),
    ("#participants", "participants"),
]


@pytest.mark.anyio
async def test_a_click_on_a_panel_focuses_it_and_on_a_log_filter_name_switches_the_filter_too() -> None:
    """Each click in `CLICKS` focuses its panel; then a click on the log's "platform" filter name switches the filter
    and focuses the logs. One session for all (an app start costs more than all the clicks): the focus is taken away
    before each click, so each click alone has to put it in its panel, as in a fresh app."""
    async with app_for(WARM).run_test(size=LARGE) as pilot:
        await settled(pilot)
        app = pilot.app
        for target, panel in CLICKS:
            app.set_focus(None)
            await pilot.click(target, offset=(0, 0))
            await pilot.pause()
            assert app.query_one(f"#{panel}").has_focus_within, f"{target}: focus is on {app.focused!r}"

        logs = app.query_one(LogView)
        assert logs.preset == "all"
        app.set_focus(None)
        await pilot.click("#log-filter-platform")
        await pilot.pause()
        assert logs.preset == "platform" and logs.has_focus_within


@pytest.mark.anyio
async def test_a_click_on_a_participant_row_selects_it() -> None:
    session = load_session("cold_held_init_function")  # the runtime and the audit extension
    async with app_for(session, sample="extension").run_test(size=LARGE) as pilot:
        await settled(pilot)
        table = pilot.app.query_one("#participants")
        assert table.region.height == 5, "its border, the heads and two rows"
        await pilot.click("#participants", offset=(3, 3))  # border, heads, runtime, then the extension's row
        await pilot.pause()
        assert table.selected_participant == "extension:audit" and table.has_focus
