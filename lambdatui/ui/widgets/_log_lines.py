"""Provides `LogLines`: the log's rows on Textual's line API, bounded and cheap to append to.

Like toolong's `LogLines`, nothing is rendered until it scrolls into view: appending stores a small
row (O(lines added)), evicts the oldest beyond `max_lines` (amortised O(1)), and only the visible
rows become Strips (cached by row). A filter is a second index over the same rows, rebuilt only when
the filter changes. `\\r` inside a line (awslambdaric's tracebacks) starts a new row, as a terminal would
(_log_rows.py turns a line into rows, measures them and colours the platform's).

A search (`SearchIndex`) runs over the shown rows: all of them once per query, each new one as it comes; matches
are highlighted as rows are drawn. Wrapping makes a third index, of screen lines (a row and which piece of it),
built on toggling or resizing and extended as rows arrive. Pausing stops following the end; new rows are counted.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Callable, Iterable, Optional

from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.events import Click
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lambdatui.model.facts import LAMBDATUI, PLATFORM, LogLine
from lambdatui.model.log_search import SearchIndex, match_spans
from lambdatui.ui.widgets._log_rows import (TAG_WIDTH, Row, RowMatch, plain, platform_text, runs, split_rows,
                                            tag_of, text_width)


class LogLines(ScrollView, can_focus=True):
    """Rows of the log; follows the end while the user has not scrolled away from it (or paused it)."""

    DEFAULT_CSS = """
    LogLines {
        height: 1fr;
        background: $surface;
    }
    """

    def __init__(self, max_lines: int, styles: Callable[[], dict[str, Style]], *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self._styles = styles
        self._rows: list[Row] = []
        self._head = 0  # rows[_head:] are kept; the rest await compaction
        self._shown: list[Row] = []
        self._shown_head = 0
        self._match: RowMatch = lambda source, request_id: True
        self._seq = 0
        self._widest = 0
        self._cache: LRUCache[int, Strip] = LRUCache(1024)
        self._ready = False
        self._viewport_rows = 0  # the rows the pane showed at its last resize
        # Whether the view was at the end when last seen: hidden (the too-small notice sets display: none) the pane
        # has no rows, and Textual moves scroll_y to 0, which would otherwise read as "the user scrolled back".
        self._was_at_end = True
        self._to_end = False  # a scroll to the end is on its way (the next refresh makes it)
        self.dropped = 0
        """Rows evicted to stay within `max_lines`."""
        self.search = SearchIndex()
        """The shown rows that match the query (read it; change it through `set_query` and `step_match`)."""
        self.wrap = False
        self._pieces: list[tuple[Row, int]] = []  # wrapping: each screen line's row and which piece of it
        self._pieces_head = 0
        self._wrap_cells = 0  # the text width the pieces were cut for
        self.paused = False
        self.pending = 0
        """Rows shown since the view stopped following the end (paused, or scrolled back: it stays where it is)."""
        self.on_follow_changed: Callable[[], None] = lambda: None  # the view came back to the end, or left it
        self.selected: Optional[int] = None
        """The seq of the row last clicked (what `y` copies)."""

    # ------------------------------------------------------------------ reading

    @property
    def row_count(self) -> int:
        return len(self._rows) - self._head

    @property
    def shown_count(self) -> int:
        return len(self._shown) - self._shown_head

    @property
    def screen_lines(self) -> int:
        """Lines the shown rows take: one each, or more when wrapped."""
        return len(self._pieces) - self._pieces_head if self.wrap else self.shown_count

    def shown_texts(self) -> list[str]:
        """The rows the filter lets through, oldest first (for tests, copy and saving)."""
        return [row.text for row in self._shown[self._shown_head:]]

    def shown_request_ids(self) -> list[str]:
        """The request ids of the kept rows, newest first, each once (the invokes the log has seen)."""
        seen: dict[str, None] = {}
        for row in reversed(self._rows[self._head:]):
            if row.request_id and row.request_id not in seen:
                seen[row.request_id] = None
        return list(seen)

    def row(self, seq: Optional[int]) -> Optional[Row]:
        """The shown row with this seq (binary search), or None."""
        if seq is None:
            return None
        index = bisect_left(self._shown, seq, self._shown_head, key=lambda row: row.seq)
        return self._shown[index] if index < len(self._shown) and self._shown[index].seq == seq else None

    def chosen_row(self) -> Optional[Row]:
        """The row a copy takes: the one clicked, else the current match, else the newest shown."""
        row = self.row(self.selected) or self.row(self.search.current)
        if row is None and self.shown_count:
            row = self._shown[-1]
        return row

    # ------------------------------------------------------------------ writing

    def append(self, lines: Iterable[LogLine]) -> int:
        """Add rows for these lines; returns how many rows were added. Each new shown row is searched once."""
        following = self.following
        rows, seq, match = self._rows, self._seq, self._match
        fresh: list[Row] = []
        shown: dict[tuple[str, Optional[str]], bool] = {}  # the filter's answer for each (source, request id)
        for source, request_id, stream, texts in runs(lines):
            key = (source, request_id)
            keep = shown.get(key)
            if keep is None:
                keep = shown[key] = match(source, request_id)
            if plain(texts):  # a burst's thousands of lines: each one row of its own length, made in one go
                made = [Row(seq + i, source, text, stream, _PLAIN_WIDTH + len(text), request_id)
                        for i, text in enumerate(texts, 1)]
                seq += len(made)
                rows.extend(made)
                if keep:
                    fresh.extend(made)
                continue
            for line_text in texts:
                for text in split_rows(line_text):
                    seq += 1
                    row = Row(seq, source, text, stream, TAG_WIDTH + 1 + text_width(text), request_id)
                    rows.append(row)
                    if keep:
                        fresh.append(row)
        added, self._seq = seq - self._seq, seq
        if fresh:
            self._shown.extend(fresh)
            self._widest = max(self._widest, max(row.width for row in fresh))
            if self.search.query:
                self.search.extend((row.seq, row.text) for row in fresh)
            if self.wrap:
                self._cut(fresh)
            if not following:
                self.pending += len(fresh)
        if added:
            gone = self._evict()
            self._resize(follow=following)
            if gone and not following and self._ready:
                # The user scrolled back: keep the rows they are reading in place as older ones go.
                self.scroll_to(y=max(0, self.scroll_y - gone), animate=False, immediate=True)
        return added

    def clear(self) -> None:
        """Drop every row (another environment's log comes next)."""
        self._rows, self._shown, self._pieces = [], [], []
        self._head = self._shown_head = self._pieces_head = self._widest = 0
        self.dropped = self.pending = 0
        self.selected = None
        self.search.search(self.search.query, ())
        self._cache.clear()
        self._resize(follow=not self.paused)

    def set_match(self, match: RowMatch) -> None:
        """Show only rows whose (source, request id) `match` accepts (O(kept rows), on user action only)."""
        self._match = match
        self._shown = [row for row in self._rows[self._head:] if match(row.source, row.request_id)]
        self._shown_head = 0
        self._widest = max((row.width for row in self._shown), default=0)
        self.search.search(self.search.query, self._searchable())
        self._recut()
        self._cache.clear()
        self._resize(follow=not self.paused)

    def set_query(self, query: str) -> None:
        """Search the shown rows for `query` (once; new rows are searched as they come) and show the newest match."""
        if query == self.search.query:
            return
        self.search.search(query, self._searchable())
        self._cache.clear()
        self.refresh()
        self.reveal(self.search.current)

    def step_match(self, forward: bool) -> Optional[int]:
        """Move to the next / previous match and scroll it into view; returns its seq."""
        seq = self.search.step(forward)
        self._cache.clear()
        self.refresh()
        self.reveal(seq)
        return seq

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long rows at the pane's width (no horizontal scrolling) or cut them (scroll sideways)."""
        self.wrap = wrap
        self._recut()
        self._cache.clear()
        self._resize(follow=not self.paused and self._at_end())

    @property
    def following(self) -> bool:
        """New rows scroll into view: not paused, and the view at the end (or on its way there: `_resize`)."""
        return not self.paused and (self._to_end or self._at_end())

    @property
    def scrolled_back(self) -> bool:
        """Not paused, yet not following: the user (or a search's match) moved the view off the end."""
        return not self.paused and not self._to_end and not self._at_end()

    def set_paused(self, paused: bool) -> None:
        """Pause: the view stays, new rows are counted. Resume: jump to the end and follow it again."""
        self.paused = paused
        self.pending = 0
        if not paused and self._ready:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def restyle(self) -> None:
        """The theme changed: render visible rows again with its colours."""
        self._cache.clear()
        self.refresh()

    def reveal(self, seq: Optional[int]) -> None:
        """Scroll the row with this seq to the middle of the pane."""
        if seq is None or not self._ready:
            return
        if self.wrap:
            index = bisect_left(self._pieces, seq, self._pieces_head, key=lambda piece: piece[0].seq)
            line = index - self._pieces_head
        else:
            line = bisect_left(self._shown, seq, self._shown_head, key=lambda row: row.seq) - self._shown_head
        self.scroll_to(y=max(0, line - self.scrollable_content_region.height // 2), animate=False, immediate=True)

    def _searchable(self) -> Iterable[tuple[int, str]]:
        return ((row.seq, row.text) for row in self._shown[self._shown_head:])

    def _evict(self) -> int:
        """Drop the oldest rows beyond `max_lines`; returns how many screen lines of them were on show."""
        excess = self.row_count - self.max_lines
        if excess <= 0:
            return 0
        self._head += excess
        self.dropped += excess
        oldest = self._rows[self._head].seq
        shown_before, pieces_before = self._shown_head, self._pieces_head
        # Both indexes are in seq order: where the kept rows begin is a binary search, not a walk (a burst evicts
        # thousands of rows a snapshot).
        self._shown_head = bisect_left(self._shown, oldest, self._shown_head, key=_seq_of)
        self._pieces_head = bisect_left(self._pieces, oldest, self._pieces_head, key=_piece_seq)
        self.search.drop_before(oldest)
        gone = self._pieces_head - pieces_before if self.wrap else self._shown_head - shown_before
        # Compact once the dead prefix is as long as what is kept: amortised O(1) per row.
        if self._head >= self.max_lines:
            del self._rows[: self._head]
            self._head = 0
        if self._shown_head >= self.max_lines:
            del self._shown[: self._shown_head]
            self._shown_head = 0
        if self._pieces_head >= self.max_lines:
            del self._pieces[: self._pieces_head]
            self._pieces_head = 0
        return gone

    def _text_cells(self) -> int:
        return max(1, self.scrollable_content_region.width - TAG_WIDTH - 1)

    def _recut(self) -> None:
        """Wrapping: cut every shown row into screen lines again (toggle, resize, new filter)."""
        self._pieces, self._pieces_head = [], 0
        if self.wrap:
            self._wrap_cells = self._text_cells()
            self._cut(self._shown[self._shown_head:])

    def _cut(self, rows: Iterable[Row]) -> None:
        cells = self._wrap_cells or self._text_cells()
        for row in rows:
            count = max(1, -(-(row.width - TAG_WIDTH - 1) // cells))
            self._pieces.extend((row, piece) for piece in range(count))

    def on_mount(self) -> None:
        self._ready = True
        self._resize(follow=True)

    def _at_end(self) -> bool:
        """Whether the view shows the last row (hidden: whether it did when it was last shown)."""
        if self.scrollable_content_region.height <= 0:
            return self._was_at_end
        return self.scroll_y >= self.max_scroll_y

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.scrollable_content_region.height > 0:
            was, self._was_at_end = self._was_at_end, new_value >= self.max_scroll_y
            self._to_end = False  # the scroll it waited for came (or the user's, which decides now)
            counted = self.pending
            if self._was_at_end and not self.paused:
                self.pending = 0  # back at the end: followed again, nothing new below
            if was != self._was_at_end or (counted and not self.pending):
                self.on_follow_changed()

    def on_resize(self) -> None:
        height = self.scrollable_content_region.height
        if height <= 0:
            return  # hidden: keep the rows it showed and whether it followed, for when it is shown again
        if self.wrap and self._text_cells() != self._wrap_cells:
            self._recut()
            self.virtual_size = Size(0, self.screen_lines)
        # Lines added before the first layout scrolled against a zero-height viewport: re-pin to the end. A pane made
        # shorter (a panel above it grew) moved the end down by as many rows: pinned to the old end, it follows too.
        shorter_by, self._viewport_rows = max(0, self._viewport_rows - height), height
        if not self.paused and (self._was_at_end or self.scroll_y >= self.max_scroll_y - shorter_by):
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._cache.clear()

    def on_click(self, event: Click) -> None:
        """A click picks the row under it (what `y` copies), a second click on it lets it go."""
        index = self.scroll_offset.y + event.y
        if self.wrap:
            row = self._pieces[self._pieces_head + index][0] if index < self.screen_lines else None
        else:
            row = self._shown[self._shown_head + index] if index < self.shown_count else None
        self.selected = None if row is None or row.seq == self.selected else row.seq
        self._cache.clear()
        self.refresh()

    def _resize(self, follow: bool) -> None:
        self.virtual_size = Size(0 if self.wrap else self._widest, self.screen_lines)
        if not self._ready:
            return
        if follow:
            self._to_end = True
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    # ------------------------------------------------------------------ line API

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if self.wrap:
            index = self._pieces_head + scroll_y + y
            if index >= len(self._pieces):
                return Strip.blank(width, self.rich_style)
            row, piece = self._pieces[index]
            strip = self._strip(row)
            cells, start = self._wrap_cells, TAG_WIDTH + 1
            if piece == 0:
                strip = strip.crop(0, start + cells)
            else:
                strip = Strip.join([Strip.blank(start), strip.crop(start + piece * cells, start + (piece + 1) * cells)])
            return strip.crop_extend(0, width, self.rich_style).apply_style(self.rich_style)
        index = self._shown_head + scroll_y + y
        if index >= len(self._shown):
            return Strip.blank(width, self.rich_style)
        strip = self._strip(self._shown[index])
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style).apply_style(self.rich_style)

    def _strip(self, row: Row) -> Strip:
        strip = self._cache.get(row.seq)
        if strip is None:
            strip = self._render_row(row)
            self._cache[row.seq] = strip
        return strip

    def _render_row(self, row: Row) -> Strip:
        styles = self._styles()
        tag_style = styles.get(row.source) or styles.get("extension" if row.source.startswith("extension:")
                                                         else "", Style())
        text = Text(no_wrap=True, end="")
        text.append(tag_of(row.source)[: TAG_WIDTH - 1].ljust(TAG_WIDTH), tag_style)
        text.append(" ")
        if row.source == PLATFORM:
            text.append_text(platform_text(row.text, styles))
        elif row.source == LAMBDATUI:
            text.append(row.text, styles.get("lambdatui-text", Style()))
        else:
            text.append(row.text, styles.get("stderr") if row.stream == "stderr" else None)
        if self.search.query:
            key = "match-current" if row.seq == self.search.current else "match"
            for start, end in match_spans(row.text, self.search.query):
                text.stylize(styles.get(key, Style(reverse=True)), TAG_WIDTH + 1 + start, TAG_WIDTH + 1 + end)
        if row.seq == self.selected:
            text.stylize(styles.get("selected", Style(underline=True)))
        return Strip(list(text.render(self.app.console)))


_PLAIN_WIDTH = TAG_WIDTH + 1


def _seq_of(row: Row) -> int:
    return row.seq


def _piece_seq(piece: tuple[Row, int]) -> int:
    return piece[0].seq
