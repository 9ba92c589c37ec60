"""Provides the small dialogs of the log and the event editor: a file name (`NameDialog`, which can ask to
confirm, e.g. an overwrite) and the log's filter (`LogFilterScreen`: environment, source, request id)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from lambdatui.model.log_search import SOURCE_CHOICES

Check = Callable[[str], Optional[str]]  # a name -> what is wrong with it (None: nothing)


class NameDialog(ModalScreen[Optional[str]]):
    """Returns the name typed (enter or the button), or None (escape). `check` refuses a name, saying why;
    `confirm` asks a question (an existing file): the same name submitted again is taken."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str, *, button: str = "Save", check: Optional[Check] = None,
                 confirm: Optional[Check] = None) -> None:
        super().__init__()
        self.title_text = title
        self.initial_value = value
        self.button_label = button
        self.name_check = check
        self.name_confirm = confirm
        self._confirmed: Optional[str] = None  # the name the last question was about

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"[b]{self.title_text}[/b] · enter saves · esc cancels")
            yield Input(value=self.initial_value, id="name")
            yield Label("", id="problem")
            with Horizontal(id="buttons"):
                yield Button(self.button_label, id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Input.Submitted, "#name")
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        problem = self.name_check(name) if self.name_check else None
        if problem is None and self.name_confirm is not None and self._confirmed != name:
            problem = self.name_confirm(name)
            self._confirmed = name if problem else None
        if problem:
            self.query_one("#problem", Label).update(problem)
            return
        self.dismiss(name)

    @on(Input.Changed, "#name")
    def _edited(self) -> None:
        self.query_one("#problem", Label).update("")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class LogFilterChoice:
    """What the filter dialog returns: an environment to show, the sources (a SOURCE_CHOICES name), a request."""

    environment: Optional[int]
    source: str = "all"
    request_id: Optional[str] = None


ANY = "any"


class LogFilterScreen(ModalScreen[Optional[LogFilterChoice]]):
    """The log's filter: which environment's log (the fleet's numbers), which sources, which request."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "apply", "Apply", show=False)]

    def __init__(self, environments: Sequence[int], focused: Optional[int], source: str,
                 request_ids: Sequence[str], request_id: Optional[str]) -> None:
        super().__init__()
        self.environments = list(environments)
        self.focused_number = focused
        self.source = source if source in SOURCE_CHOICES else "all"
        self.request_ids = list(request_ids)
        if request_id is not None and request_id not in self.request_ids:
            self.request_ids.insert(0, request_id)
        self.request_id = request_id

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]Filter the log[/b] · ctrl+s or Apply · esc cancels")
            yield Label("environment (the log holds the focused environment's lines; another one replaces them)")
            environments = [(f"env #{n}", n) for n in self.environments] or [("env #?", 0)]
            focused = self.focused_number if self.focused_number in self.environments else environments[0][1]
            yield Select(environments, value=focused, allow_blank=False, id="environment")
            yield Label("source")
            yield Select([(name, name) for name in SOURCE_CHOICES], value=self.source, allow_blank=False,
                         id="source")
            yield Label("request (the invokes in the log, newest first)")
            yield Select([("any request", ANY), *((rid, rid) for rid in self.request_ids)],
                         value=self.request_id or ANY, allow_blank=False, id="request")
            with Horizontal(id="buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        environment = self.query_one("#environment", Select).value
        request = self.query_one("#request", Select).value
        self.dismiss(LogFilterChoice(
            environment=environment if isinstance(environment, int) and environment > 0 else None,
            source=str(self.query_one("#source", Select).value),
            request_id=None if request == ANY else str(request),
        ))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
