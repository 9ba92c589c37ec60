"""Provides `TooSmallNotice`: what the screen says instead of the panels when the terminal is below `MINIMUM_SIZE`.

Below it the panels cannot all show their heads, and Textual would scroll the whole screen, footer and keys gone.
The screen hides the panels instead (app.tcss, on the breakpoint classes `SIZE_BREAKPOINTS` set on the screen) and
shows this: the size to reach and the size now. The panels live on underneath, hidden: the session goes on, and
resizing back shows them with everything that happened meanwhile.
"""

from __future__ import annotations

from typing import Optional

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

from lambdatui.ui.widgets.environments_strip import TALL

# 100 columns: every key of the footer fits on its one row (app.py's compact Footer). 30 rows: the fixed rows (header
# 2, environments 1, timeline 6, explanation up to 3, footer 1) and Participants (its head and up to two rows, 5)
# leave 12 for Globals and /tmp, Event and Result, and Logs: 4 each, its border, its title line and one row.
MINIMUM_SIZE = Size(100, 30)
NARROW, WIDE = "-too-narrow", "-wide-enough"
SHORT, TALL_ENOUGH, ROOMY = "-too-short", "-tall-enough", "-tall"
HORIZONTAL_BREAKPOINTS = [(0, NARROW), (MINIMUM_SIZE.width, WIDE)]
VERTICAL_BREAKPOINTS = [(0, SHORT), (MINIMUM_SIZE.height, TALL_ENOUGH), (TALL, ROOMY)]


def too_small(size: Size) -> bool:
    """Whether a terminal of `size` is below the smallest size the debugger's screen is laid out for."""
    return size.width < MINIMUM_SIZE.width or size.height < MINIMUM_SIZE.height


def notice_text(size: Size) -> str:
    """"Make the terminal at least 100×30 (now 80×24)", and why."""
    return (f"Make the terminal at least {MINIMUM_SIZE.width}×{MINIMUM_SIZE.height} (now {size.width}×{size.height}).\n"
            "\nThe debugger's panels need that much room. The session goes on meanwhile: resize to see it again.\n"
            "q quits.")


class TooSmallNotice(Widget):
    """The size to reach and the size now, in the middle of an otherwise empty screen."""

    DEFAULT_CSS = """
    TooSmallNotice {
        display: none;
        width: 1fr;
        height: 1fr;
        padding: 1 2;
        content-align: center middle;
        text-align: center;
        color: $text-warning;
    }
    """
    """Hidden until app.tcss shows it on a screen with a too-small class."""

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._focused_before: Optional[Widget] = None  # the panel focused when the terminal became too small

    def terminal_resized(self, size: Size) -> None:
        """Called by the screen on every resize: hiding the panels takes the focus from them, so the focused one is
        kept here and focused again once the terminal is big enough."""
        if too_small(size):
            if self._focused_before is None:
                self._focused_before = self.screen.focused
        elif self._focused_before is not None:
            widget, self._focused_before = self._focused_before, None
            self.call_after_refresh(widget.focus)

    def render(self) -> Content:
        lines = notice_text(self.app.size).split("\n")
        return Content("\n").join([Content.styled(lines[0], "bold"), *(Content(line) for line in lines[1:])])

    def on_resize(self) -> None:
        self.refresh()  # the terminal's size is part of the text
