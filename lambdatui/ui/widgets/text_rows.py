"""Provides `TextRows`: prepared rows of text on Textual's line API, for a viewer of thousands of lines.

Only the rows in view become Strips (cached by row), so a 256 KB file or a 16,000-row hex dump scrolls as
quickly as a short one; rows never wrap and scroll sideways instead, as a file viewer's should.
"""

from __future__ import annotations

from typing import Optional, Sequence

from rich.segment import Segment
from textual.cache import LRUCache
from textual.content import Content
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class TextRows(ScrollView, can_focus=True):
    """Rows set all at once with `set_rows`; scrolls both ways."""

    DEFAULT_CSS = """
    TextRows {
        height: 1fr;
    }
    """
    """Fills its space; the rows scroll inside it."""

    def __init__(self, *, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: Sequence[Content] = []
        """The rows shown, one terminal line each."""
        self._cache: LRUCache[int, Strip] = LRUCache(1024)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())

    def _restyle(self) -> None:
        self._cache.clear()  # the rows' $variables resolve to the new theme's colours
        self.refresh()

    def set_rows(self, rows: Sequence[Content], width: Optional[int] = None) -> None:
        """Show `rows` (a sequence may make each row when asked); `width`, when known, spares measuring them all."""
        self.rows = rows
        self._cache.clear()
        widest = width if width is not None else max((row.cell_length for row in rows), default=0)
        self.virtual_size = Size(widest, len(rows))
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        index = scroll_y + y
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        strip = self._cache.get(index)
        if strip is None:
            base = self.visual_style
            parts = self.rows[index].render(base, end="", parse_style=self._get_style)
            strip = Strip([Segment(text, style.rich_style) for text, style in parts])
            self._cache[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style).apply_style(self.rich_style)
