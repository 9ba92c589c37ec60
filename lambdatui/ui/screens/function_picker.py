"""`lambdatui template.yaml` with several functions and no --function: pick one before the debugger opens.

A small app of its own, run before the debugger's: the function decides the whole configuration the debugger is
built from, so nothing of the debugger exists yet while the user chooses.
"""

from __future__ import annotations

from typing import Optional, Sequence

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from lambdatui.sam_template.reader import FunctionChoice


class FunctionPickerScreen(Screen[Optional[str]]):
    DEFAULT_CSS = """
    FunctionPickerScreen { align: center middle; }
    FunctionPickerScreen #dialog {
        width: auto; min-width: 50; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; padding: 1 2; background: $surface;
    }
    FunctionPickerScreen #functions { width: auto; height: auto; max-height: 20; margin-top: 1; }
    """
    BINDINGS = [Binding("escape,q", "cancel", "Quit")]

    def __init__(self, origin: str, choices: Sequence[FunctionChoice]) -> None:
        super().__init__()
        self.origin = origin
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        width = max(len(c.logical_id) for c in self.choices)
        hwidth = max(len(c.handler) for c in self.choices)
        with Vertical(id="dialog"):
            yield Label(f"[b]{len(self.choices)} functions[/b] in {self.origin} · enter opens the debugger on one")
            yield OptionList(*(Option(f"{c.logical_id.ljust(width)}  {c.handler.ljust(hwidth)}  {c.runtime}",
                                      id=c.logical_id) for c in self.choices), id="functions")
        yield Footer()

    def on_mount(self) -> None:
        options = self.query_one("#functions", OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FunctionPickerApp(App[Optional[str]]):
    """Returns the chosen logical ID, or None when the user quits without one."""

    def __init__(self, origin: str, choices: Sequence[FunctionChoice], theme: Optional[str] = None) -> None:
        super().__init__()
        self.origin = origin
        self.choices = choices
        self._theme_name = theme

    def on_mount(self) -> None:
        from lambdatui.ui.themes import load_themes

        for theme in load_themes().values():
            self.register_theme(theme)
        if self._theme_name and self._theme_name in self.available_themes:
            self.theme = self._theme_name
        self.push_screen(FunctionPickerScreen(self.origin, self.choices), self.exit)


def pick_function(origin: str, choices: Sequence[FunctionChoice], theme: Optional[str] = None) -> Optional[str]:
    return FunctionPickerApp(origin, choices, theme).run()
