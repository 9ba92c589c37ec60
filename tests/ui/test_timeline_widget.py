"""The timeline with the mouse and the keys (Pilot): the wheel and the hints scroll through every bar, a click on a
bar posts its seq at any scroll position, holds collapse unless selected, the selected bar is scrolled into view
and pointed at, and `z` (in the real app) draws the bars to scale. Recorded sessions, replayed."""

from __future__ import annotations

import dataclasses
from contextlib import asynccontextmanager
from typing import AsyncIterator, Optional

import pytest
from textual import events
from textual.pilot import Pilot

from _host import Host, screen_lines, screen_text
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.widgets import PhaseTimeline, phase_timeline
from lambdatui.ui.widgets.timeline_layout import HOLD_WIDTH
from replay_backend import REPO, load_session, replay

pytestmark = pytest.mark.anyio
NARROW = (50, 6)  # the warm session's 11 bars do not fit: 5 are out of view
SETTLE_S = 5.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ClickRecorder(Host):
    """Holds one timeline and keeps the seqs its clicks post."""

    def __init__(self, widget: PhaseTimeline) -> None:
        super().__init__(widget)
        self.clicked: list[int] = []

    def on_phase_timeline_bar_clicked(self, message: PhaseTimeline.BarClicked) -> None:
        self.clicked.append(message.seq)


def session(name: str, selected: Optional[int] = None) -> DebuggerSnapshot:
    return dataclasses.replace(load_session(name).snapshot, selected_bar=selected)


@asynccontextmanager
async def timeline(*shown: DebuggerSnapshot, size: tuple[int, int] = NARROW) -> AsyncIterator[Pilot]:
    # A stopped clock: a live bar's width grows with time, and a redraw between reading where a bar is and
    # clicking there (a busy machine) would move the bars under the click.
    app = ClickRecorder(PhaseTimeline(clock=lambda: 0.0))
    async with app.run_test(size=size) as pilot:
        for snapshot in shown:
            app.widget.show(snapshot)
        await pilot.pause()
        await pilot.pause()
        yield pilot


def widget_of(pilot: Pilot) -> PhaseTimeline:
    app = pilot.app
    assert isinstance(app, Host) and isinstance(app.widget, PhaseTimeline)
    return app.widget


async def wheel(pilot: Pilot, kind: type[events.MouseEvent], *, shift: bool = False) -> None:
    """A wheel turn over the timeline, as the driver reports it (screen coordinates, through the app)."""
    region = widget_of(pilot).content_region
    x, y = region.x + 3, region.y
    pilot.app.post_message(kind(None, x, y, 0, 0, 0, shift, False, False, screen_x=x, screen_y=y))
    await pilot.pause()
    await pilot.pause()


async def click_at(pilot: Pilot, column: int, row: int) -> None:
    """A click at a column and row of the timeline's content."""
    region = widget_of(pilot).content_region
    await pilot.click(offset=(region.x + column, region.y + row))
    await pilot.pause()


async def click_bar(pilot: Pilot, index: int) -> None:
    span = widget_of(pilot).view.span_of(index)
    assert span is not None, f"bar {index} is not in view"
    await click_at(pilot, span.x + span.cells - 1, 0)  # its last column: a wrong offset lands elsewhere


async def until(pilot: Pilot, condition, what: str) -> None:
    waited = 0.0
    while not condition():
        assert waited < SETTLE_S, f"never: {what}"
        await pilot.pause(0.02)
        waited += 0.02


class TestScrolling:
    async def test_the_wheel_scrolls_one_bar_and_back_to_the_newest(self) -> None:
        async with timeline(session("warm")) as pilot:
            widget = widget_of(pilot)
            start, total = widget.view.start, widget.view.total
            assert start > 0 and widget.view.later == 0
            await wheel(pilot, events.MouseScrollUp)
            assert (widget.view.start, widget.view.later) == (start - 1, 1)
            hint = screen_lines(pilot)[3]
            assert f"◀ {start - 1} earlier" in hint and f"bars {start}-{widget.view.stop} of {total}" in hint
            assert "1 later ▶" in hint
            await wheel(pilot, events.MouseScrollLeft)  # a horizontal wheel too
            assert widget.view.start == start - 2
            await wheel(pilot, events.MouseScrollDown, shift=True)  # shift+wheel
            await wheel(pilot, events.MouseScrollRight)
            assert (widget.view.start, widget.view.later) == (start, 0)
            assert "later ▶" not in screen_lines(pilot)[3]

    async def test_a_click_on_the_earlier_hint_scrolls_a_view_back_and_the_later_one_forward(self) -> None:
        async with timeline(session("warm")) as pilot:
            widget = widget_of(pilot)
            start = widget.view.start
            await click_at(pilot, 2, 3)  # on "◀ N earlier"
            assert widget.view.start < start and widget.view.later > 0
            while widget.view.start > 0:  # every kept bar can be reached
                await click_at(pilot, 2, 3)
            assert widget.items[0].seq == 2 and widget.view.span_of(0) is not None
            later_at = screen_lines(pilot)[3].index("later ▶") - 1
            while widget.view.later:
                await click_at(pilot, later_at - 1, 3)
                later_at = screen_lines(pilot)[3].find("later ▶") - 1
            assert widget.view.stop == widget.view.total

    async def test_a_new_bar_keeps_a_scrolled_view_where_it_is(self) -> None:
        warm = session("warm")
        fewer = dataclasses.replace(warm, timeline=warm.timeline[:-2])
        async with timeline(fewer) as pilot:
            widget = widget_of(pilot)
            await wheel(pilot, events.MouseScrollUp)
            first = widget.items[widget.view.start].seq
            widget.show(warm)
            await pilot.pause()
            assert widget.items[widget.view.start].seq == first


class TestClicks:
    async def test_a_click_on_a_bar_posts_its_seq_at_every_scroll_position(self) -> None:
        async with timeline(session("warm")) as pilot:
            widget, app = widget_of(pilot), pilot.app
            assert isinstance(app, ClickRecorder)
            expected: list[int] = []
            while True:
                for span in widget.view.spans:
                    await click_bar(pilot, span.index)
                    expected.append(widget.items[span.index].seq)
                if widget.view.start == 0:
                    break
                await wheel(pilot, events.MouseScrollUp)
            assert app.clicked == expected
            assert set(app.clicked) == {item.seq for item in widget.items}
            assert 2 in app.clicked  # the collapsed hold at init.extensions: one cell, still a target

    async def test_a_click_in_a_gap_posts_nothing(self) -> None:
        async with timeline(session("warm")) as pilot:
            first = widget_of(pilot).view.spans[0]
            await click_at(pilot, first.x + first.cells, 0)
            assert pilot.app.clicked == []  # type: ignore[attr-defined]


class TestHolds:
    async def test_finished_holds_collapse_to_a_mark_with_their_time_on_hover(self) -> None:
        async with timeline(session("cold_held_init_function"), size=(140, 6)) as pilot:
            widget = widget_of(pilot)
            text = screen_text(pilot)
            assert "held at init.extensions" not in text and "held at init.runtime" not in text
            assert "held at init.function" in text  # the running hold is where the lifecycle is
            hold = widget.view.span_of(0)
            assert hold is not None and hold.cells == HOLD_WIDTH
            assert screen_lines(pilot)[0][widget.content_region.x + hold.x] == "‖"
            region = widget.content_region
            await pilot.hover(offset=(region.x + hold.x, region.y))
            await until(pilot, lambda: widget.tooltip is not None, "a tooltip")
            assert widget.tooltip == "‖ held at init.extensions · 1.5 s"

    async def test_a_selected_hold_opens_and_is_pointed_at(self) -> None:
        async with timeline(session("cold_held_init_function", selected=4), size=(140, 6)) as pilot:
            widget = widget_of(pilot)
            lines = screen_lines(pilot)
            assert "‖ held at init.runtime" in lines[0] and "1.5 s" in lines[1]
            assert "held at init.extensions" not in lines[0]
            span = widget.view.span_of(2)
            assert span is not None and span.cells > HOLD_WIDTH
            marker = lines[2]
            assert "▲ selected" in marker
            assert marker.index("▲") == widget.content_region.x + span.x  # under its label


class TestSelection:
    async def test_the_selected_bar_is_scrolled_into_view_and_live_follows_the_newest_again(self) -> None:
        warm, early = session("warm"), session("warm", selected=3)  # Extension init, out of view at 50 columns
        async with timeline(warm) as pilot:
            widget = widget_of(pilot)
            assert widget.view.start > 1
            widget.show(early)
            await pilot.pause()
            assert widget.view.start <= 1 < widget.view.stop  # item 1 draws bar 3
            assert "▲ selected" in screen_lines(pilot)[2] or "selected" in screen_lines(pilot)[2]
            widget.show(warm)
            await pilot.pause()
            assert widget.view.later == 0

    async def test_a_selected_bar_not_drawn_highlights_the_one_that_tells_it(self) -> None:
        async with timeline(session("warm", selected=1), size=(140, 6)) as pilot:  # Init: its last step
            widget = widget_of(pilot)
            span = widget.view.span_of(3)
            assert span is not None and widget.items[3].label == "Function init"
            assert screen_lines(pilot)[2].index("▲") == widget.content_region.x + span.x


class TestInTheApp:
    async def test_z_draws_the_bars_to_scale_and_back(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(phase_timeline, "monotonic_clock", lambda: 0.0)  # the live bar keeps its recorded time
        app = LambdaTuiApp(replay(load_session("warm")), code_dir=REPO / "sample_functions" / "counter")
        async with app.run_test(size=(140, 45)) as pilot:
            await until(pilot, lambda: app.snapshot is not None, "the replayed snapshot")
            await pilot.pause()
            widget = app.query_one(PhaseTimeline)
            assert not widget.to_scale and "log scale" in screen_text(pilot)
            invoke = next(i for i, item in enumerate(widget.items) if item.label == "a3000000")
            frozen = invoke - 1  # 1.2 s against 2.5 ms: 21 and 11 columns on the log scale
            await pilot.press("z")
            await until(pilot, lambda: "to scale" in screen_text(pilot), "the to-scale hint")
            assert widget.to_scale
            spans = {span.index: span.cells for span in widget.view.spans}
            assert spans[frozen] == 68 and spans[invoke] == 3  # the longest: half the view; the minimum
            await pilot.press("z")
            await until(pilot, lambda: "log scale" in screen_text(pilot), "the log-scale hint")
            assert not widget.to_scale

    async def test_a_click_in_the_app_posts_the_bars_seq_through_its_border_and_padding(self) -> None:
        posted: list[PhaseTimeline.BarClicked] = []

        def hook(message: object) -> None:
            if isinstance(message, PhaseTimeline.BarClicked) and all(message is not seen for seen in posted):
                posted.append(message)  # the hook sees a message at each node it bubbles through: once is enough

        app = LambdaTuiApp(replay(load_session("crash_reset")), code_dir=REPO / "sample_functions" / "crash")
        async with app.run_test(size=(140, 45), message_hook=hook) as pilot:
            await until(pilot, lambda: app.snapshot is not None, "the replayed snapshot")
            await pilot.pause()
            widget = app.query_one(PhaseTimeline)
            reset = next(i for i, item in enumerate(widget.items) if item.mark == "↺")
            span = widget.view.span_of(reset)
            assert span is not None
            region = widget.content_region
            await pilot.click(offset=(region.x + span.x, region.y + 1))  # its first column, on the durations row
            await until(pilot, lambda: bool(posted), "a BarClicked")
            assert [message.seq for message in posted] == [10]  # the reset is bar 10 of the crash session
