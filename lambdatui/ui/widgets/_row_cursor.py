"""Provides `RowCursor`: a cursor over the rows of a `WidthLines` panel that stand for something (a global, a file).

The panels build their rows from the width each time (`WidthLines`), so the cursor is kept as the ordinal of an
item, not a row: rows come and go around it (a new report, a narrower screen) and it stays on the same ordinal,
clamped. It is drawn (reversed) only while its panel has the focus, so an unfocused screen looks as before.
"""

from __future__ import annotations

from typing import Generic, Optional, TypeVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.geometry import Region
from textual.widget import Widget

from lambdatui.ui.widgets._lines import WidthLines

Item = TypeVar("Item")
CURSOR_STYLE = "reverse"


class RowCursor(Generic[Item]):
    """Owned by a scrolling panel whose `body` is built by a rows callback that calls `start` then `add`."""

    def __init__(self, owner: Widget, body: WidthLines) -> None:
        self.owner = owner
        self.body = body
        self.index = 0
        """The ordinal of the item under the cursor, among the items of the last build."""
        self._items: list[tuple[int, Item]] = []
        self._building: list[tuple[int, Item]] = []

    @property
    def selected(self) -> Optional[Item]:
        """The item under the cursor, None while the panel lists none."""
        if not self._items:
            return None
        return self._items[min(self.index, len(self._items) - 1)][1]

    def start(self) -> None:
        """A build begins (the rows callback's first line)."""
        self._building = []

    def add(self, rows: list[Content], item: Item, row: Content) -> None:
        """Append `row`, which stands for `item`, to `rows`, reversed when the cursor is on it."""
        if len(self._building) == self.index and self.owner.has_focus:
            row = row.stylize(CURSOR_STYLE)
        self._building.append((len(rows), item))
        rows.append(row)

    def finish(self) -> None:
        """A build ended: a cursor past the last item comes back onto it."""
        self._items = self._building
        if self._items and self.index >= len(self._items):
            self.index = len(self._items) - 1
            # Drawn on the next build: this one's rows are being cached as they are.
            self.owner.call_after_refresh(self.body.invalidate)

    def move(self, step: int) -> None:
        if not self._items:
            return
        self.index = max(0, min(self.index + step, len(self._items) - 1))
        self.body.invalidate()
        self.owner.call_after_refresh(self.scroll_to_cursor)

    def scroll_to_cursor(self) -> None:
        if self._items:
            row = self._items[min(self.index, len(self._items) - 1)][0]
            self.owner.scroll_to_region(Region(0, row, 1, 1), animate=False, immediate=True)

    def click(self, event: events.Click) -> Optional[Item]:
        """Put the cursor on the clicked row's item, if it stands for one; returns that item."""
        row = event.screen_y - self.body.region.y
        for ordinal, (at, item) in enumerate(self._items):
            if at == row:
                self.index = ordinal
                self.body.invalidate()
                return item
        return None


class CursorPanel(VerticalScroll):
    """A panel of rows (`_body`) with a `cursor` on them: up/down move it, a click puts it on a row, and it is drawn
    only while the panel has the focus. Subclasses set `_body` and `cursor` in their __init__."""

    BINDINGS = [Binding("up", "cursor(-1)", show=False), Binding("down", "cursor(1)", show=False)]

    _body: WidthLines
    cursor: RowCursor

    def compose(self) -> ComposeResult:
        yield self._body

    def action_cursor(self, step: int) -> None:
        self.cursor.move(step)

    def on_click(self, event: events.Click) -> None:
        self.cursor.click(event)

    def on_focus(self) -> None:
        self._body.invalidate()  # draw the cursor

    def on_blur(self) -> None:
        self._body.invalidate()
