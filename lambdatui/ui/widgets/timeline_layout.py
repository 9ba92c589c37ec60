"""Provides the timeline's geometry, pure (no Textual): how wide each bar is, which bars a viewport shows
when scrolled, where each one sits, and which bar a column falls on.

Two scales. The logarithmic one (the default) keeps a 0.02 ms Extension init, a 3 ms warm invoke and a 3 s
timeout all visible and still ordered by size. "To scale" makes widths proportional to durations, the longest
bar spanning half the viewport, with a minimum so the shortest bar can still be seen and clicked.

A viewport is anchored either at the newest bar (`first` None: it follows new bars as they come) or at a
bar the user scrolled to (`first`, an index). Scrolling that brings the newest bar into view goes back to
following it, as a log view does at its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

GAP = 1  # columns between two bars
MIN_WIDTH, MAX_WIDTH = 9, 30  # the logarithmic scale's bounds
SCALED_MIN_WIDTH = 3  # to scale: room for a mark (↺, ✗) between two spaces, and a target for the mouse
HOLD_WIDTH = 1  # a collapsed hold: one cell


def log_width(ms: float) -> int:
    """Columns for a duration: 9 for anything under a millisecond, +4 per factor of ten, at most 30."""
    return max(MIN_WIDTH, min(MAX_WIDTH, round(MIN_WIDTH + 4 * math.log10(1 + max(ms, 0.0)))))


def scaled_widths(durations: Sequence[float], viewport: int) -> list[int]:
    """To scale: columns proportional to each duration, the longest spanning half the viewport (at least
    MAX_WIDTH), none under SCALED_MIN_WIDTH."""
    longest = max((max(ms, 0.0) for ms in durations), default=0.0)
    full = max(viewport // 2, MAX_WIDTH)
    if longest <= 0:
        return [SCALED_MIN_WIDTH for _ in durations]
    return [max(SCALED_MIN_WIDTH, round(full * max(ms, 0.0) / longest)) for ms in durations]


@dataclass(frozen=True)
class Span:
    """Where one bar is drawn: its index among all bars, its first column, its width in columns."""

    index: int
    x: int
    cells: int


@dataclass(frozen=True)
class Window:
    """The bars a viewport shows: indices `start` to `stop` (exclusive) of `total`, and where each sits."""

    start: int
    stop: int
    total: int
    spans: tuple[Span, ...]

    @property
    def earlier(self) -> int:
        return self.start

    @property
    def later(self) -> int:
        return self.total - self.stop

    def at(self, x: int) -> Optional[int]:
        """The index of the bar drawn at column `x` (None in a gap or past the last bar)."""
        for span in self.spans:
            if span.x <= x < span.x + span.cells:
                return span.index
        return None

    def span_of(self, index: int) -> Optional[Span]:
        return next((span for span in self.spans if span.index == index), None)


def _start_of_window_ending_at(widths: Sequence[int], viewport: int, last: int) -> int:
    """The earliest bar such that it and every bar up to `last` fit (at least `last` itself)."""
    start, used = last, widths[last]
    while start > 0 and used + GAP + widths[start - 1] <= viewport:
        start -= 1
        used += GAP + widths[start]
    return start


def window(widths: Sequence[int], viewport: int, first: Optional[int] = None) -> Window:
    """The bars shown from `first` on (None: the newest that fit). A lone bar wider than the viewport is
    squeezed into it; a window that reaches the newest bar takes in earlier ones while they fit."""
    total = len(widths)
    if total == 0:
        return Window(0, 0, 0, ())
    viewport = max(viewport, 1)
    if first is None:
        start, stop = _start_of_window_ending_at(widths, viewport, total - 1), total
    else:
        start = min(max(first, 0), total - 1)
        stop, used = start + 1, widths[start]
        while stop < total and used + GAP + widths[stop] <= viewport:
            used += GAP + widths[stop]
            stop += 1
        if stop == total:  # no room left empty on the right
            start = min(start, _start_of_window_ending_at(widths, viewport, total - 1))
    spans: list[Span] = []
    x = 0
    for index in range(start, stop):
        cells = min(widths[index], viewport)
        spans.append(Span(index, x, cells))
        x += cells + GAP
    return Window(start, stop, total, tuple(spans))


def _anchor(widths: Sequence[int], viewport: int, start: int) -> Optional[int]:
    """`start` as a viewport's anchor: None when the window from it reaches the newest bar."""
    shown = window(widths, viewport, start)
    return None if shown.stop == shown.total else shown.start


def scrolled(widths: Sequence[int], viewport: int, first: Optional[int], by: int) -> Optional[int]:
    """The anchor after scrolling `by` bars (negative: towards earlier ones)."""
    current = window(widths, viewport, first)
    if current.total == 0 or (by > 0 and current.later == 0):
        return None
    return _anchor(widths, viewport, max(current.start + by, 0))


def paged(widths: Sequence[int], viewport: int, first: Optional[int], pages: int) -> Optional[int]:
    """The anchor after scrolling by whole viewports (negative: towards earlier bars)."""
    current = window(widths, viewport, first)
    return scrolled(widths, viewport, first, pages * max(current.stop - current.start, 1))


def showing(widths: Sequence[int], viewport: int, first: Optional[int], index: int) -> Optional[int]:
    """The anchor that brings bar `index` into view, scrolling as little as it can (unchanged if in view)."""
    current = window(widths, viewport, first)
    if not 0 <= index < current.total or current.start <= index < current.stop:
        return first
    if index < current.start:
        return _anchor(widths, viewport, index)
    return _anchor(widths, viewport, _start_of_window_ending_at(widths, viewport, index))


def bar_widths(durations: Sequence[float], collapsed: Sequence[bool], viewport: int, to_scale: bool) -> list[int]:
    """Each bar's columns: a collapsed hold one cell, the others on the logarithmic scale or to scale (the
    collapsed holds take no part in choosing the scale)."""
    if to_scale:
        open_ms = [ms for ms, folded in zip(durations, collapsed) if not folded]
        scaled = iter(scaled_widths(open_ms, viewport))
        return [HOLD_WIDTH if folded else next(scaled) for folded in collapsed]
    return [HOLD_WIDTH if folded else log_width(ms) for ms, folded in zip(durations, collapsed)]
