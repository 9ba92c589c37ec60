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
        max-height: 3;
        padding: 0 1;
        background: $boost;
        border-left: outer $phase-init;
    }
    ExplainBar.-held {
        border-left: outer $phase-held;
    }
    """
    """Up to three rows (a long sentence at 100 columns); the left edge turns $phase-held while held."""

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
            self.update(Content.assemble((title, style), ("  ", ""), text))
