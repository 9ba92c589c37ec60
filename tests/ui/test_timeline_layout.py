"""The timeline's geometry and items, pure: widths on both scales, the window a viewport shows when scrolled,
which bar a column falls on, and which drawn item stands for a selected bar."""

from __future__ import annotations

import pytest

from lambdatui.model import timeline as tl
from lambdatui.ui.widgets.timeline_items import TimelineItem, index_of, timeline_items
from lambdatui.ui.widgets.timeline_layout import (
    GAP,
    HOLD_WIDTH,
    SCALED_MIN_WIDTH,
    bar_widths,
    log_width,
    paged,
    scaled_widths,
    scrolled,
    showing,
    window,
)
from replay_backend import load_session

TEN = [9] * 10  # ten bars of 9 columns: 9 + (9 + 1) * k columns for k + 1 of them


class TestWidths:
    def test_log_scale_keeps_short_and_long_phases_visible_and_ordered(self) -> None:
        widths = [log_width(ms) for ms in (0.01, 3, 100, 1000, 60_000)]
        assert widths == sorted(widths) and widths[0] == 9 and widths[-1] <= 30 and log_width(1e9) == 30

    def test_to_scale_is_proportional_with_a_minimum(self) -> None:
        widths = scaled_widths([1000.0, 500.0, 2.5, 0.0], viewport=120)
        assert widths[0] == 60 and widths[1] == 30  # the longest spans half the viewport; half as long, half as wide
        assert widths[2] == widths[3] == SCALED_MIN_WIDTH  # too short to see: still a bar to click

    def test_collapsed_holds_take_one_cell_and_no_part_in_the_scale(self) -> None:
        durations, collapsed = [1500.0, 62.0, 1200.0], [True, False, False]
        assert bar_widths(durations, collapsed, 100, to_scale=False) == [HOLD_WIDTH, log_width(62.0),
                                                                          log_width(1200.0)]
        scaled = bar_widths(durations, collapsed, 100, to_scale=True)
        assert scaled[0] == HOLD_WIDTH and scaled[2] == 50  # the 1.2 s frozen bar is the longest, not the hold


class TestWindow:
    def test_follows_the_newest_bars_that_fit(self) -> None:
        shown = window(TEN, 39)  # four bars: 4 * 9 + 3 gaps
        assert (shown.start, shown.stop, shown.earlier, shown.later) == (6, 10, 6, 0)
        assert [span.x for span in shown.spans] == [0, 10, 20, 30]

    def test_from_a_scrolled_anchor(self) -> None:
        shown = window(TEN, 39, first=2)
        assert (shown.start, shown.stop, shown.later) == (2, 6, 4)

    def test_an_anchor_near_the_end_fills_the_view(self) -> None:
        assert (window(TEN, 39, first=8).start, window(TEN, 39, first=8).stop) == (6, 10)

    def test_a_lone_bar_wider_than_the_view_is_squeezed(self) -> None:
        shown = window([9, 60], 40)
        assert (shown.start, shown.spans[0].cells) == (1, 40)

    def test_a_column_maps_to_its_bar_and_gaps_to_none(self) -> None:
        shown = window(TEN, 39, first=3)
        assert shown.at(0) == 3 and shown.at(8) == 3 and shown.at(9) is None and shown.at(10) == 4
        assert shown.at(38) == 6 and shown.at(39) is None

    def test_empty(self) -> None:
        assert window([], 40).total == 0 and window([], 40).at(0) is None


class TestScrolling:
    def test_one_bar_back_and_forward_again_to_following(self) -> None:
        back = scrolled(TEN, 39, None, -1)
        assert back == 5
        assert scrolled(TEN, 39, back, 1) is None  # the newest in view again: follow it

    def test_never_before_the_first_bar(self) -> None:
        assert scrolled(TEN, 39, 0, -3) == 0

    def test_a_page_is_the_bars_in_view(self) -> None:
        assert paged(TEN, 39, None, -1) == 2
        assert paged(TEN, 39, 2, -1) == 0
        assert paged(TEN, 39, 0, 1) == 4 and paged(TEN, 39, 4, 1) is None

    def test_everything_fits_so_nothing_scrolls(self) -> None:
        assert scrolled([9, 9], 80, None, -1) is None

    @pytest.mark.parametrize(("first", "index", "expected"), [
        (None, 7, None),  # in view: unchanged
        (None, 1, 1),  # earlier: it becomes the first in view
        (0, 9, None),  # the newest: back to following
        (0, 6, 3),  # later: the least scroll that shows it, as the last in view
    ])
    def test_showing_a_bar_scrolls_as_little_as_it_can(self, first: int | None, index: int,
                                                       expected: int | None) -> None:
        result = showing(TEN, 39, first, index)
        assert result == expected
        shown = window(TEN, 39, result)
        assert shown.start <= index < shown.stop

    def test_gaps_count(self) -> None:
        assert GAP == 1 and window([9, 9], 18).start == 1 and window([9, 9], 19).start == 0


class TestItems:
    def test_each_item_keeps_its_bars_seq_and_what_it_stands_for(self) -> None:
        snapshot = load_session("cold_held_init_function").snapshot
        items = timeline_items(snapshot)
        assert [item.seq for item in items] == [2, 3, 4, 6, 7]  # init (1) and the frozen spans (5, 8) not drawn
        assert index_of(items, 5) == 2  # the frozen span inside the hold at init.runtime: the hold tells it
        assert index_of(items, 8) == 4
        assert index_of(items, 1) == 3  # Init: its last step so far
        assert index_of(items, None) is None

    def test_a_finished_hold_collapses_the_running_one_does_not(self) -> None:
        items = timeline_items(load_session("cold_held_init_function").snapshot)
        assert [item.collapsible for item in items] == [True, False, True, False, False]

    def test_a_reset_and_an_error_have_their_own_marks(self) -> None:
        items = timeline_items(load_session("crash_reset").snapshot)
        error = next(item for item in items if item.seq == 9)
        reset = next(item for item in items if item.kind == tl.RESET)
        assert error.mark == "✗" and error.variable == "phase-error"
        assert reset.mark == "↺" and reset.variable == "phase-reset"
        assert reset.label_for(20).startswith("↺ reset")
        assert reset.label_for(3) == " ↺ " and error.label_for(3) == " ✗ "  # to scale, the narrowest bars

    def test_a_collapsed_hold_is_its_mark(self) -> None:
        hold = TimelineItem("held at init.runtime", 1500.0, False, "phase-held", ("held",), tl.HELD, 4)
        assert hold.label_for(HOLD_WIDTH) == "‖"
        assert hold.label_for(30) == "‖ held at init.runtime".ljust(30)
