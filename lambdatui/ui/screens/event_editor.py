"""Edit the event: a JSON editor with inline validation, sample events from `events/` and trigger templates, and
"Save as…" (ctrl+o, F2, or the button) into the function's `events/` folder, where it then appears among the samples."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, OptionList, TextArea
from textual.widgets.option_list import Option

from lambdatui.file_saving import EVENTS_FOLDER, event_file_name, event_path, save_event
from lambdatui.ui.screens.log_dialogs import NameDialog
from lambdatui.ui.widgets.event_panel import event_problem


class EventEditorScreen(ModalScreen[Optional[tuple[str, str]]]):
    """Returns (event text, source label); ctrl+s applies (only valid JSON), escape cancels."""

    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", priority=True),
        Binding("ctrl+o,f2", "save_as", "Save as", priority=True),  # ctrl+o: nano's "write out"
        Binding("escape", "cancel", "Cancel", priority=True),  # the code editor would take escape for focus
    ]

    def __init__(self, text: str, source: str, choices: list[tuple[str, str]], *, notes: Sequence[str] = (),
                 code_dir: Optional[Path] = None,
                 reload_choices: Optional[Callable[[], list[tuple[str, str]]]] = None) -> None:
        """`choices`: (label, event text) from the events/ folder and the templates; `notes`: the events/ files
        that could not be offered, each with its reason (a user looking for a file must learn why it is missing).
        `code_dir`: where "Save as…" writes (`events/` under it; None: no saving); `reload_choices` lists the
        choices again after a save, the new file among them."""
        super().__init__()
        self.code_dir = code_dir
        self.reload_choices = reload_choices
        self._saved_as: Optional[str] = None  # the name last saved under: saving again suggests it
        self.text = text
        self.source = source
        self.choices = choices
        self.notes = list(notes)
        self._loaded = text  # what the editor holds unedited: a sample keeps its name until the user types

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            saving = " · ctrl+o saves as" if self.code_dir is not None else ""
            yield Label(f"[b]Event[/b] · ctrl+s applies{saving} · esc cancels · tab to the samples on the right")
            with Horizontal():
                # tab moves focus (to the samples, and back with shift+tab) rather than indenting: JSON needs no
                # tabs, and a keyboard user must be able to leave the editor.
                yield TextArea.code_editor(self.text, language="json", id="editor", tab_behavior="focus")
                yield OptionList(*(Option(label, id=str(i)) for i, (label, _) in enumerate(self.choices)),
                                 id="samples")
            if self.notes:
                yield Label("not offered: " + "; ".join(self.notes), id="skipped")
            with Horizontal(id="editor-footer"):
                yield Label("", id="validation")
                if self.code_dir is not None:
                    yield Button(f"Save as… ({EVENTS_FOLDER}/)", id="save-as", compact=True)

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
        problem = event_problem(text)
        label = self.query_one("#validation", Label)
        what = "not JSON" if problem is not None and problem.syntax else "refused"
        label.update(f"[b]{what}[/b] — {problem.message}" if problem is not None else "valid JSON")
        label.set_class(problem is not None, "-invalid")

    def action_apply(self) -> None:
        text = self.query_one("#editor", TextArea).text
        problem = event_problem(text)
        if problem is not None:
            self.notify(f"The event must be JSON of at most 6 MiB, as Lambda requires: {problem.message}",
                        severity="error")
            return
        self.dismiss((text, self.source))

    def action_cancel(self) -> None:
        self.dismiss(None)

    # ------------------------------------------------------------------ save as

    def _suggested_name(self) -> str:
        """The name last saved under, or the sample's own when it came from events/ (saving again updates it), else
        "event"."""
        prefix = f"{EVENTS_FOLDER}/"
        if self._saved_as is not None:
            return self._saved_as
        return self.source.removeprefix(prefix).removesuffix(".json") if self.source.startswith(prefix) else "event"

    def _name_problem(self, name: str) -> Optional[str]:
        try:
            event_file_name(name)
        except ValueError as exc:
            return str(exc)
        return None

    def _exists(self, name: str) -> Optional[str]:
        assert self.code_dir is not None
        path = event_path(self.code_dir, name)
        return f"{EVENTS_FOLDER}/{path.name} exists: enter again to overwrite it" if path.exists() else None

    @on(Button.Pressed, "#save-as")
    def action_save_as(self) -> None:
        if self.code_dir is None:
            self.notify("Saving needs the function's folder.", severity="warning")
            return
        text = self.query_one("#editor", TextArea).text
        problem = event_problem(text)
        if problem is not None:
            self.notify(f"Only an event Lambda takes can be saved: {problem.message}", severity="error")
            return

        def chosen(name: Optional[str]) -> None:
            if name:
                self.save_as(name, text, overwrite=self._exists(name) is not None)

        self.app.push_screen(NameDialog(f"Save the event into {EVENTS_FOLDER}/ as", self._suggested_name(),
                                        check=self._name_problem, confirm=self._exists), chosen)

    def save_as(self, name: str, text: str, *, overwrite: bool = False) -> Optional[Path]:
        """Write the event (a small file: at most Lambda's 6 MB payload) and list it among the samples."""
        assert self.code_dir is not None
        try:
            path = save_event(self.code_dir, name, text, overwrite=overwrite)
        except FileExistsError:
            self.notify(f"{EVENTS_FOLDER}/{event_file_name(name)} exists; it was not overwritten.", severity="error")
            return None
        except (OSError, ValueError) as exc:
            self.notify(f"Could not save the event: {getattr(exc, 'strerror', None) or exc}", severity="error")
            return None
        label = f"{EVENTS_FOLDER}/{path.name}"
        self.source = label
        self._saved_as = path.stem
        self._loaded = text
        if self.reload_choices is not None:
            self.choices = self.reload_choices()
            samples = self.query_one("#samples", OptionList)
            samples.clear_options()
            samples.add_options([Option(label_, id=str(i)) for i, (label_, _) in enumerate(self.choices)])
        self.notify(f"Saved {label} ({path})", title="Event")
        return path
