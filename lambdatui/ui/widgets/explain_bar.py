"""Provides `ExplainBar`: what Lambda does at this point, and why it matters, in a sentence or two.

The text comes from the pure `lambdatui.ui.explain`; this widget only frames it: a bold headline
("held at init.runtime", "frozen") and the explanation, wrapped to at most three rows.
"""

from __future__ import annotations

from typing import Optional

from textual.content import Content
from textual.widgets import Static

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.explain import explain, headline


class ExplainBar(Static):
    """A short, wrapped paragraph; highlighted while the lifecycle is held."""

    DEFAULT_CSS = """
    ExplainBar {
        height: auto;
        min-height: 2;
        max-height: 3;
        padding: 0 1;
        background: $boost;
        border-left: outer $phase-init;
    }
    ExplainBar.-held {
        border-left: outer $phase-held;
    }
    """
    """Two rows, or three (a long sentence at 100 columns): not one while an invoke runs and two once it is over,
    which would lay the whole screen out again (~25 ms) as every invoke starts and ends, and move every panel
    below by a row. The left edge turns $phase-held while held."""

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__("", name=name, id=id, classes=classes)
        self.text = ""
        """The explanation currently shown (plain text)."""

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Explain the boundary the snapshot is held at, or else its state."""
        title, text = headline(snapshot), explain(snapshot)
        self.set_class(snapshot.environment.held_at is not None, "-held")
        if text != self.text:
            self.text = text
            style = "bold $phase-held" if snapshot.environment.held_at is not None else "bold $accent"
            content = Content.assemble((title, style), ("  ", ""), text)
            # The screen is laid out again (~10-20 ms) only when the paragraph takes another number of rows.
            width = self.content_size.width
            rows = max(2, min(3, len(content.wrap(width)))) if width else 0
            self.update(content, layout=not width or rows != self.content_size.height)
