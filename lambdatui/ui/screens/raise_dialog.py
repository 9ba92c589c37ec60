"""The handler raises on its next entry: which exception, with what message."""

from __future__ import annotations

from typing import Optional

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class RaiseScreen(ModalScreen[Optional[tuple[str, str]]]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]Raise in the handler[/b] on its next entry (lambdatui's Python runtime) · enter · esc")
            yield Input(value="RuntimeError", placeholder="exception type, e.g. KeyError", id="exception")
            yield Input(value="injected by lambdatui", placeholder="message", id="message")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        exception = self.query_one("#exception", Input).value.strip() or "Exception"
        if not exception.isidentifier():
            self.notify(f"{exception!r} is not a Python name", severity="error")
            return
        self.dismiss((exception, self.query_one("#message", Input).value))

    def action_cancel(self) -> None:
        self.dismiss(None)
