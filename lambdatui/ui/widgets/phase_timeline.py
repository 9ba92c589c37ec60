"""Provides `PhaseTimeline`: the lifecycle as coloured bars, newest on the right.

Widths follow a logarithmic scale by default so that a 0.02 ms Extension init, a 3 ms warm invoke and a 3 s
timeout are all visible and still ordered by size; `to_scale` (the app's `z`) makes them proportional instead
(timeline_layout.py). The view follows the newest bars; the mouse wheel (shift+wheel too) and a click on the
"◀ N earlier" / "N later ▶" hints scroll through every kept bar, and a selected bar (`selected_bar`) is
scrolled into view, highlighted and pointed at. A click on a bar posts `BarClicked` with its seq.
Rows: bar labels, durations, the markers (boundary, selection), the hint and legend row.

Finished holds collapse to one cell (‖) unless selected: stepping through a cold start leaves many of them.
Their label and time show in the tooltip. A reset (↺) and an error (✗) carry marks besides their colours.

A running bar's duration ticks: snapshots arrive only when something happens, so the widget redraws
on a timer from the bar's start and the host clock extrapolated from the snapshot's `as_of` (the host's
trio clock has its own epoch: only differences of the local monotonic clock carry over). Time held at a
boundary is never counted in a running bar, as the core never counts it in a finished one.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from rich.cells import cell_len
from textual import events
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.widgets._format import duration
from lambdatui.ui.widgets._host_clock import HostClock
from lambdatui.ui.widgets.timeline_items import (  # noqa: F401  (re-exported: the tests read timeline_items)
    ERROR_MARK,
    HOLD_MARK,
    RESET_MARK,
    TimelineItem,
    index_of,
    timeline_items,
)
from lambdatui.ui.widgets.timeline_layout import Window, bar_widths, paged, scrolled, showing, window

# The colour key, with the marks that tell bars apart without colour.
LEGEND = (("■", "init", "phase-init"), ("■", "invoke", "phase-invoke"), ("■", "frozen", "phase-frozen"),
          (HOLD_MARK, "held", "phase-held"), (RESET_MARK, "reset", "phase-reset"),
          ("■", "shutdown", "phase-shutdown"), (ERROR_MARK, "error", "phase-error"))
SELECTED_TEXT = "▲ selected: the state as of its end"


TICK_S = 0.1  # how often a running bar's duration is redrawn


def monotonic_clock() -> float:
    """The local clock running bars tick by (looked up at each widget's creation: SVG tests stop it)."""
    return time.monotonic()


class PhaseTimeline(Widget):
    """Bars for Init's sub-phases, each invoke, frozen gaps, holds, resets and shutdown."""

    class BarClicked(Message):
        """The user clicked a bar: the app shows the state as of its end (the widget only says which)."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq  # the bar's TimelineBar.seq

    DEFAULT_CSS = """
    PhaseTimeline {
        height: 4;
        padding: 0 1;
    }
    """
    """Four rows: bar labels, durations, the markers, the hints and legend."""

    to_scale: reactive[bool] = reactive(False)
    """Widths proportional to durations (else logarithmic)."""

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None,
                 clock: Optional[Callable[[], float]] = None) -> None:
        """`clock` is any monotonic clock in seconds (a test passes its own): only its differences are used."""
        super().__init__(name=name, id=id, classes=classes)
        self._snapshot: Optional[DebuggerSnapshot] = None
        self._clock = clock or monotonic_clock
        self._host_clock = HostClock(self._clock)  # the host's clock now, from the snapshots' `as_of`
        self._live = False  # whether the last render drew a running bar (only then does the timer redraw)
        self._first_seq: Optional[int] = None  # the first bar in view once scrolled (None: follow the newest)
        self._selected: Optional[int] = None  # the snapshot's selected_bar
        self._reveal = False  # the selection changed: scroll it into view at the next render
        self._items: list[TimelineItem] = []  # as last drawn, with where each was drawn
        self._window: Window = window([], 1)
        self._hints: list[tuple[int, int, int]] = []  # on the last row: (first column, end column, pages)
        self.hidden_bars = 0
        """How many earlier bars the last render left out of view."""

    @property
    def view(self) -> Window:
        """The bars the last render showed (indices into `items`) and the columns each took."""
        return self._window

    @property
    def items(self) -> list[TimelineItem]:
        """Every bar as the last render laid them out, in view or not."""
        return self._items

    def on_mount(self) -> None:
        self.set_interval(TICK_S, self._tick)

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Redraw from this snapshot's timeline and marker."""
        if snapshot.selected_bar != self._selected:
            self._selected = snapshot.selected_bar
            self._reveal = True
            if snapshot.selected_bar is None:
                self._first_seq = None  # back to live: follow the newest bars again
        self._snapshot = snapshot
        self._host_clock.seen(snapshot.environment.as_of)
        self.refresh()

    def now(self) -> Optional[float]:
        """The host clock now (`HostClock`: extrapolated from the snapshots' `as_of` on the local clock)."""
        if self._snapshot is None:
            return None
        return self._host_clock.now(self._snapshot.environment.as_of)

    def _tick(self) -> None:
        if self._live:
            self.refresh()

    # ------------------------------------------------------------------ scrolling

    def scroll_bars(self, by: int) -> None:
        """Scroll `by` bars (negative: towards earlier ones)."""
        self._scroll(lambda widths, width, first: scrolled(widths, width, first, by))

    def scroll_pages(self, pages: int) -> None:
        """Scroll by whole views (negative: towards earlier bars)."""
        self._scroll(lambda widths, width, first: paged(widths, width, first, pages))

    def _scroll(self, move: Callable[[list[int], int, Optional[int]], Optional[int]]) -> None:
        items, widths, first, _ = self._geometry()
        target = move(widths, self._viewport(), first)
        self._first_seq = None if target is None else items[target].seq
        self.refresh()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.scroll_bars(-1)

    def on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        event.stop()
        self.scroll_bars(-1)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.scroll_bars(1)

    def on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        event.stop()
        self.scroll_bars(1)

    # ------------------------------------------------------------------ the mouse on bars and hints

    def _item_at(self, event: events.MouseEvent) -> Optional[TimelineItem]:
        offset = event.get_content_offset(self)
        if offset is None or offset.y > 2:  # the bar rows and the marker row under them
            return None
        index = self._window.at(offset.x)
        return None if index is None or index >= len(self._items) else self._items[index]

    def on_click(self, event: events.Click) -> None:
        item = self._item_at(event)
        if item is not None:
            event.stop()
            self.post_message(self.BarClicked(item.seq))
            return
        offset = event.get_content_offset(self)
        if offset is not None and offset.y == 3:
            for start, end, pages in self._hints:
                if start <= offset.x < end:
                    event.stop()
                    self.scroll_pages(pages)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        item = self._item_at(event)
        tip = None
        if item is not None:
            tip = f"{item.mark + ' ' if item.mark and item.mark not in item.label else ''}{item.label} · " \
                  f"{duration(item.duration_ms)}{'…' if item.live else ''}"
        if tip != self.tooltip:
            self.tooltip = tip

    # ------------------------------------------------------------------ layout

    def _viewport(self) -> int:
        return max(self.content_size.width, 10)

    def _geometry(self) -> tuple[list[TimelineItem], list[int], Optional[int], Optional[int]]:
        """The items, their widths, the index of the first in view (None: follow the newest), the selected one."""
        snapshot = self._snapshot
        items = timeline_items(snapshot, self.now()) if snapshot is not None else []
        selected = index_of(items, self._selected)
        collapsed = [item.collapsible and index != selected for index, item in enumerate(items)]
        widths = bar_widths([item.duration_ms for item in items], collapsed, self._viewport(), self.to_scale)
        first = None
        if self._first_seq is not None:
            first = next((index for index, item in enumerate(items) if item.seq >= self._first_seq), None)
        return items, widths, first, selected

    def render(self) -> Content:
        width = self._viewport()
        snapshot = self._snapshot
        items, widths, first, selected = self._geometry()
        self._live = any(item.live for item in items)
        if self._reveal and selected is not None:
            first = showing(widths, width, first, selected)
            self._first_seq = None if first is None else items[first].seq
        self._reveal = False
        shown = window(widths, width, first)
        self._items, self._window = items, shown
        self.hidden_bars = shown.earlier
        if snapshot is None or not items:
            empty = Content.styled("No phases yet: the environment is cold; the first invoke runs Init.", "dim")
            return Content("\n").join([empty.truncate(width, ellipsis=True), Content(""), Content(""),
                                       self._hint_row(shown)])
        labels, durations = self._bar_rows(items, widths, shown, selected)
        markers = self._marker_row(snapshot, items, shown, selected, width)
        rows = [labels, durations, markers, self._hint_row(shown)]
        return Content("\n").join(row.truncate(width, ellipsis=False) for row in rows)

    @staticmethod
    def _bar_rows(items: list[TimelineItem], widths: list[int], shown: Window,
                  selected: Optional[int]) -> tuple[Content, Content]:
        labels: list[tuple[str, str] | str] = []
        durations: list[tuple[str, str] | str] = []
        for number, span in enumerate(shown.spans):
            item, cells = items[span.index], span.cells
            if number:
                labels.append(" ")
                durations.append(" ")
            if widths[span.index] == 1 and item.collapsible and span.index != selected:
                labels.append((item.mark, f"bold ${item.variable}"))  # a hold, collapsed: its time is in the tooltip
                durations.append(" ")
                continue
            style = f"$background on ${item.variable}" + (" bold" if span.index == shown.total - 1 else "")
            figure = duration(item.duration_ms) + ("…" if item.live else "")
            figure_style = "dim"
            if span.index == selected:
                style, figure_style = f"{style} reverse bold underline", "bold underline"
            labels.append((item.label_for(cells), style))
            durations.append((figure[:cells].ljust(cells), figure_style))
        return Content.assemble(*labels), Content.assemble(*durations)

    @staticmethod
    def _marker_row(snapshot: DebuggerSnapshot, items: list[TimelineItem], shown: Window, selected: Optional[int],
                    width: int) -> Content:
        """▲ under the selected bar's label; the boundary marker at the newest bar when in view and room is left."""
        markers: list[tuple[int, str, str]] = []  # (first column, text, style)
        span = shown.span_of(selected) if selected is not None else None
        if span is not None:
            markers.append(_placed(span.x, SELECTED_TEXT, width) + ("bold $accent",))
        newest = shown.span_of(shown.total - 1)
        if snapshot.marker is not None and newest is not None:
            held = snapshot.environment.held_at is not None
            text = f"▲ held at {snapshot.marker}" if held else f"▲ {snapshot.marker}"
            # The lifecycle is at the newest bar: at its start while it is still open (held, frozen),
            # at its end once it closed (a reset or shutdown that finished).
            at = newest.x + (0 if items[newest.index].live else newest.cells - 1)
            boundary = _placed(at, text, width) + ("bold $phase-held" if held else "$accent",)
            if not markers or _apart(markers[0], boundary):
                markers.append(boundary)
        parts: list[tuple[str, str] | str] = []
        column = 0
        for start, text, style in sorted(markers):
            parts += [" " * (start - column), (text, style)]
            column = start + cell_len(text)
        return Content.assemble(*parts)

    def _hint_row(self, shown: Window) -> Content:
        """Where the view is and which scale is on (these must survive truncation: they come first), then the
        colour key. "◀ N earlier" and "N later ▶" scroll by a view when clicked."""
        parts: list[tuple[str, str]] = []
        self._hints = []
        column = 0

        def add(text: str, style: str, pages: int = 0) -> None:
            nonlocal column
            if pages:
                self._hints.append((column, column + cell_len(text), pages))
            parts.append((text, style))
            column += cell_len(text)

        if shown.earlier:
            add(f"◀ {shown.earlier} earlier", "bold $accent", -1)
            add(" · ", "dim")
        if shown.earlier or shown.later:
            add(f"bars {shown.start + 1}-{shown.stop} of {shown.total}", "dim")
            add(" · ", "dim")
        if shown.later:
            add(f"{shown.later} later ▶", "bold $accent", 1)
            add(" · ", "dim")
        add("to scale" if self.to_scale else "log scale", "dim italic")
        add("  ", "")
        for mark, name, variable in LEGEND:
            add(f"{mark} ", f"bold ${variable}")
            add(f"{name}  ", "dim")
        return Content.assemble(*parts)


def _placed(at: int, text: str, width: int) -> tuple[int, str]:
    """A marker's first column and text pointing (▲) at column `at`: after it, or before it near the right edge."""
    if at + cell_len(text) > width:
        text = text.replace("▲ ", "") + " ▲"
        at = max(0, at - cell_len(text) + 1)
    return at, text


def _apart(first: tuple[int, str, str], second: tuple[int, str, str]) -> bool:
    """Whether two markers leave at least a column between them."""
    (a, a_text, _), (b, b_text, _) = sorted([first, second])
    return a + cell_len(a_text) < b
