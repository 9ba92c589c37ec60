"""Edit the event: a JSON editor with inline validation, sample events from `events/` and trigger templates."""

from __future__ import annotations

from typing import Optional, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, TextArea
from textual.widgets.option_list import Option

from lambdatui.ui.widgets.event_panel import json_error


validation_error = json_error  # an event Lambda accepts is JSON: one check, shared with the event panel


class EventEditorScreen(ModalScreen[Optional[tuple[str, str]]]):
    """Returns (event text, source label); ctrl+s applies (only valid JSON), escape cancels."""

    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),  # the code editor would take escape for focus
    ]

    def __init__(self, text: str, source: str, choices: list[tuple[str, str]], *, notes: Sequence[str] = ()) -> None:
        """`choices`: (label, event text) from the events/ folder and the templates; `notes`: the events/ files
        that could not be offered, each with its reason (a user looking for a file must learn why it is missing)."""
        super().__init__()
        self.text = text
        self.source = source
        self.choices = choices
        self.notes = list(notes)
        self._loaded = text  # what the editor holds unedited: a sample keeps its name until the user types

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]Event[/b] · ctrl+s applies · esc cancels · tab to the samples on the right")
            with Horizontal():
                # tab moves focus (to the samples, and back with shift+tab) rather than indenting: JSON needs no
                # tabs, and a keyboard user must be able to leave the editor.
                yield TextArea.code_editor(self.text, language="json", id="editor", tab_behavior="focus")
                yield OptionList(*(Option(label, id=str(i)) for i, (label, _) in enumerate(self.choices)),
                                 id="samples")
            if self.notes:
                yield Label("not offered: " + "; ".join(self.notes), id="skipped")
            yield Label("", id="validation")

    def on_mount(self) -> None:
        self._validate(self.text)
        self.query_one("#editor", TextArea).focus()

    @on(TextArea.Changed, "#editor")
    def revalidate(self, event: TextArea.Changed) -> None:
        if event.text_area.text != self._loaded:
            self.source = "edited"
        self._validate(event.text_area.text)

    @on(OptionList.OptionSelected, "#samples")
    def use_sample(self, event: OptionList.OptionSelected) -> None:
        label, text = self.choices[int(event.option.id or 0)]
        editor = self.query_one("#editor", TextArea)
        self._loaded = text
        editor.load_text(text)
        self.source = label
        self._validate(text)
        editor.focus()

    def _validate(self, text: str) -> None:
        problem = validation_error(text)
        label = self.query_one("#validation", Label)
        label.update(f"[b]not JSON[/b] — {problem}" if problem else "valid JSON")
        label.set_class(problem is not None, "-invalid")

    def action_apply(self) -> None:
        text = self.query_one("#editor", TextArea).text
        problem = validation_error(text)
        if problem:
            self.notify(f"The event must be JSON, as Lambda requires: {problem}", severity="error")
            return
        self.dismiss((text, self.source))

    def action_cancel(self) -> None:
        self.dismiss(None)
