"""Provides `LogLines`: the log's rows on Textual's line API, bounded and cheap to append to.

Like toolong's `LogLines`, nothing is rendered until it scrolls into view: appending stores a small
row (O(lines added)), evicts the oldest beyond `max_lines` (amortised O(1)), and only the visible
rows become Strips (cached by row). A filter is a second index over the same rows, rebuilt only when
the filter changes. `\\r` inside a line (awslambdaric's tracebacks) starts a new row, as a terminal would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lambdatui.model.facts import LAMBDATUI, PLATFORM, LogLine

TAG_WIDTH = 10
MAX_ROW_CHARS = 4000  # a single printed megabyte stays one (cut) row instead of a megabyte-wide canvas
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = {i: None for i in range(32) if i not in (9,)}
_NEWLINES = re.compile(r"\r\n|\r|\n")


@dataclass(slots=True)
class Row:
    seq: int
    source: str
    text: str
    stream: str
    width: int


def split_rows(text: str) -> list[str]:
    """One log line as terminal rows: split at CR/LF, escape codes and tabs made harmless."""
    pieces = _NEWLINES.split(text)
    if len(pieces) > 1 and pieces[-1] == "":
        pieces.pop()
    rows = []
    for piece in pieces:
        clean = _ANSI.sub("", piece).expandtabs(4).translate(_CONTROL)
        if len(clean) > MAX_ROW_CHARS:
            clean = clean[:MAX_ROW_CHARS] + f" … ({len(clean) - MAX_ROW_CHARS:,} more characters)"
        rows.append(clean)
    return rows


def tag_of(source: str) -> str:
    """The left column: "platform", "function", "lambdatui", or the extension's name."""
    return source.split(":", 1)[1] if source.startswith("extension:") else source


class LogLines(ScrollView, can_focus=True):
    """Rows of the log; follows the end while the user has not scrolled away from it."""

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
        self._match: Callable[[str], bool] = lambda source: True
        self._seq = 0
        self._widest = 0
        self._cache: LRUCache[int, Strip] = LRUCache(1024)
        self._ready = False
        self.dropped = 0
        """Rows evicted to stay within `max_lines`."""

    # ------------------------------------------------------------------ reading

    @property
    def row_count(self) -> int:
        return len(self._rows) - self._head

    @property
    def shown_count(self) -> int:
        return len(self._shown) - self._shown_head

    def shown_texts(self) -> list[str]:
        """The rows the filter lets through, oldest first (for tests and copy)."""
        return [row.text for row in self._shown[self._shown_head:]]

    # ------------------------------------------------------------------ writing

    def append(self, lines: Iterable[LogLine]) -> int:
        """Add rows for these lines; returns how many rows were added."""
        following = self.scroll_y >= self.max_scroll_y
        added = 0
        for line in lines:
            for text in split_rows(line.text):
                self._seq += 1
                row = Row(self._seq, line.source, text, line.stream, TAG_WIDTH + 1 + cell_len(text))
                self._rows.append(row)
                if self._match(row.source):
                    self._shown.append(row)
                    self._widest = max(self._widest, row.width)
                added += 1
        if added:
            gone = self._evict()
            self._resize(follow=following)
            if gone and not following and self._ready:
                # The user scrolled back: keep the rows they are reading in place as older ones go.
                self.scroll_to(y=max(0, self.scroll_y - gone), animate=False, immediate=True)
        return added

    def clear(self) -> None:
        """Drop every row (another environment's log comes next)."""
        self._rows, self._shown = [], []
        self._head = self._shown_head = self._widest = 0
        self.dropped = 0
        self._cache.clear()
        self._resize(follow=True)

    def set_match(self, match: Callable[[str], bool]) -> None:
        """Show only rows whose source `match` accepts (O(kept rows), on user action only)."""
        self._match = match
        self._shown = [row for row in self._rows[self._head:] if match(row.source)]
        self._shown_head = 0
        self._widest = max((row.width for row in self._shown), default=0)
        self._resize(follow=True)

    def restyle(self) -> None:
        """The theme changed: render visible rows again with its colours."""
        self._cache.clear()
        self.refresh()

    def _evict(self) -> int:
        """Drop the oldest rows beyond `max_lines`; returns how many of them were on show."""
        excess = self.row_count - self.max_lines
        if excess <= 0:
            return 0
        self._head += excess
        self.dropped += excess
        oldest = self._rows[self._head].seq
        shown_before = self._shown_head
        while self._shown_head < len(self._shown) and self._shown[self._shown_head].seq < oldest:
            self._shown_head += 1
        gone = self._shown_head - shown_before
        # Compact once the dead prefix is as long as what is kept: amortised O(1) per row.
        if self._head >= self.max_lines:
            del self._rows[: self._head]
            self._head = 0
        if self._shown_head >= self.max_lines:
            del self._shown[: self._shown_head]
            self._shown_head = 0
        return gone

    def on_mount(self) -> None:
        self._ready = True
        self._resize(follow=True)

    def on_resize(self) -> None:
        # Lines added before the first layout scrolled against a zero-height viewport: re-pin to the end.
        if self.scroll_y >= self.max_scroll_y:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._cache.clear()

    def _resize(self, follow: bool) -> None:
        self.virtual_size = Size(self._widest, self.shown_count)
        if not self._ready:
            return
        if follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    # ------------------------------------------------------------------ line API

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        index = self._shown_head + scroll_y + y
        if index >= len(self._shown):
            return Strip.blank(width, self.rich_style)
        row = self._shown[index]
        strip = self._cache.get(row.seq)
        if strip is None:
            strip = self._render_row(row)
            self._cache[row.seq] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style).apply_style(self.rich_style)

    def _render_row(self, row: Row) -> Strip:
        styles = self._styles()
        tag_style = styles.get(row.source) or styles.get("extension" if row.source.startswith("extension:")
                                                         else "", Style())
        text = Text(no_wrap=True, end="")
        text.append(tag_of(row.source)[: TAG_WIDTH - 1].ljust(TAG_WIDTH), tag_style)
        text.append(" ")
        if row.source == PLATFORM:
            text.append_text(_platform_text(row.text, styles))
        elif row.source == LAMBDATUI:
            text.append(row.text, styles.get("lambdatui-text", Style()))
        else:
            text.append(row.text, styles.get("stderr") if row.stream == "stderr" else None)
        return Strip(list(text.render(self.app.console)))


_PLATFORM_KEYWORDS = ("INIT_START", "INIT_REPORT", "INIT_RUNTIME_DONE", "EXTENSION", "START", "END", "REPORT",
                      "TELEMETRY", "RUNTIME")
_FAILURE = re.compile(r"timed out|Status: (error|timeout|failure)|Error Type:|Runtime\.\w+|Sandbox\.\w+")


def _platform_text(line: str, styles: dict[str, Style]) -> Text:
    """START/END/REPORT in the invoke colour, INIT_* and EXTENSION in the init colour, failures in red."""
    text = Text(line)
    for keyword in _PLATFORM_KEYWORDS:
        if line.startswith(keyword) and (len(line) == len(keyword) or line[len(keyword)] in " \t"):
            key = "init" if keyword.startswith(("INIT", "EXTENSION", "RUNTIME")) else "invoke"
            text.stylize(styles.get(key, Style()) + Style(bold=True), 0, len(keyword))
            break
    for match in _FAILURE.finditer(line):
        text.stylize(styles.get("error", Style()), match.start(), match.end())
    return text
