"""Provides `TextRows`: prepared rows of text on Textual's line API, for a viewer of thousands of lines.

Only the rows in view become Strips (cached by row), so a 256 KB file or a 16,000-row hex dump scrolls as
quickly as a short one; rows never wrap and scroll sideways instead, as a file viewer's should.
"""

from __future__ import annotations

from typing import Optional

from rich.cells import cell_len
from rich.text import Text
from textual.cache import LRUCache
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
        self.rows: list[Text] = []
        """The rows shown, one terminal line each."""
        self._cache: LRUCache[int, Strip] = LRUCache(1024)

    def set_rows(self, rows: list[Text]) -> None:
        self.rows = rows
        self._cache.clear()
        widest = max((cell_len(row.plain) for row in rows), default=0)
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
            strip = Strip(list(self.rows[index].render(self.app.console)))
            self._cache[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style).apply_style(self.rich_style)
