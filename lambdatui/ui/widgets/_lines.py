"""Provides `WidthLines`: a block of single-line rows laid out for the width it actually has.

The panels that list things (globals, /tmp, stacks) must truncate, never wrap, at 100 columns and
use the room they get at 140: so rows are built from the current width by a callback of the owning
widget, cached per width, and each row is cut to fit with an ellipsis.
"""

from __future__ import annotations

from typing import Callable, Optional

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

Rows = Callable[[int], list[Content]]


class WidthLines(Widget):
    """Rows from `build(width)`, one terminal line each; `invalidate()` when the data changed."""

    DEFAULT_CSS = """
    WidthLines {
        height: auto;
        width: 1fr;
    }
    """

    def __init__(self, build: Rows, *, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(id=id, classes=classes)
        self._build = build
        self._cache: Optional[tuple[int, Content]] = None
        self._measured = True  # the height was measured for the rows drawn (False: rebuilt since)

    def invalidate(self) -> None:
        """Rebuild the rows on the next paint. The screen is laid out again (~10-20 ms) only if their number
        changed, which that paint finds out: most invokes change what a panel says, not how many rows it has."""
        self._cache = None
        self._measured = False
        self.refresh()

    def content_for(self, width: int) -> Content:
        if self._cache is None or self._cache[0] != width:
            rows = [row.truncate(width, ellipsis=True) for row in self._build(max(width, 1))]
            self._cache = (width, Content("\n").join(rows))
        return self._cache[1]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.content_for(width).plain.split("\n")))

    def render(self) -> Content:
        content = self.content_for(self.content_size.width or self.size.width or 80)
        if not self._measured:
            self._measured = True
            if max(1, len(content.plain.split("\n"))) != self.content_size.height:
                self.refresh(layout=True)  # drawn once more, at its new height
        return content
