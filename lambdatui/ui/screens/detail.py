"""`d` (or enter): a value the panels cut, shown whole: highlighted (pygments, through Textual's theme-aware
`highlight`), wrapped, scrollable; escape closes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.screen import ModalScreen
from textual.widgets import Static

from lambdatui.ui.detail_texts import Detail
from lambdatui.ui.widgets._format import visible_controls


class DetailScreen(ModalScreen[None]):
    """One value whole: its title, what was cut and by whom, then each section highlighted."""

    BINDINGS = [Binding("escape,q,d", "close", "Close")]

    DEFAULT_CSS = """
    DetailScreen {
        align: center middle;
    }
    DetailScreen > #detail {
        width: 90%;
        height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    DetailScreen #detail-title {
        text-style: bold;
        height: auto;
    }
    DetailScreen #detail-notes {
        color: $text-warning;
        height: auto;
    }
    DetailScreen .detail-heading {
        margin-top: 1;
        color: $text-muted;
        text-style: bold;
    }
    DetailScreen #detail-hint {
        color: $text-muted;
        height: 1;
    }
    """
    """A framed box over the debugger: title and notes stay put, the sections scroll."""

    def __init__(self, detail: Detail) -> None:
        super().__init__()
        self.detail = detail
        """What is shown (for the tests to read)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="detail"):
            # Every text here may be the function's own (an error message, a global's name): its control
            # characters are shown, never sent to the terminal (an OSC would retitle it, a CSI clear the screen).
            yield Static(Content(visible_controls(self.detail.title)), id="detail-title")
            notes = Static(Content(visible_controls("\n".join(self.detail.notes))), id="detail-notes")
            notes.display = bool(self.detail.notes)
            yield notes
            with VerticalScroll(id="detail-body"):
                for section in self.detail.sections:
                    yield Static(Content(visible_controls(section.heading)), classes="detail-heading")
                    # Textual's pygments highlighting: theme colours on the view's own background.
                    yield Static(highlight(visible_controls(section.text), language=section.lexer),
                                 classes="detail-value")
            yield Static(Content("escape: close · arrows, page up/down: scroll"), id="detail-hint")

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()  # the arrows scroll at once

    def action_close(self) -> None:
        self.dismiss(None)
