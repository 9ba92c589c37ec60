"""Pick a participant (the runtime or an extension), and for a crash how it dies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Select
from textual.widgets.option_list import Option

from lambdatui.ui.widgets._format import one_line

SIGNALS = (("SIGKILL (killed)", 9), ("SIGTERM", 15), ("SIGSEGV (segmentation fault)", 11), ("SIGABRT", 6),
           ("SIGINT", 2))


@dataclass(frozen=True)
class TargetChoice:
    """The participant picked, and for a crash how it dies: a signal or an exit code (neither: SIGKILL)."""

    target: str  # "runtime" or an extension name
    signal: Optional[int] = None
    exit_code: Optional[int] = None


class PickTargetScreen(ModalScreen[Optional[TargetChoice]]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, targets: list[tuple[str, str]], *, with_signal: bool = False) -> None:
        """`targets`: (target, label) pairs, the runtime first."""
        super().__init__()
        self.title_text = title
        self.targets = targets
        self.with_signal = with_signal

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"[b]{self.title_text}[/b] · enter picks · esc cancels")
            # Labels are plain text, never markup: they hold what the function made (an extension's name, the
            # result or a log line to copy), and a "[/]" in it would raise MarkupError and end the debugger.
            yield OptionList(*(Option(Content(one_line(label)), id=target) for target, label in self.targets),
                             id="targets")
            if self.with_signal:
                with Horizontal(id="how"):
                    yield Select(SIGNALS, value=9, allow_blank=False, id="signal")
                    yield Input(placeholder="or exit code (our Python runtime)", id="exit-code", type="integer")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option.id or "runtime")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # enter in the exit code's field picks too ("enter picks"): the participant highlighted in the list.
        targets = self.query_one("#targets", OptionList)
        highlighted = targets.highlighted if targets.highlighted is not None else 0
        self._pick(targets.get_option_at_index(highlighted).id or "runtime")

    def _pick(self, target: str) -> None:
        if not self.with_signal:
            self.dismiss(TargetChoice(target))
            return
        code_text = self.query_one("#exit-code", Input).value.strip()
        if code_text:
            self.dismiss(TargetChoice(target, exit_code=int(code_text)))
        else:
            signal_value = self.query_one("#signal", Select).value
            self.dismiss(TargetChoice(target, signal=int(signal_value)))  # type: ignore[arg-type]

    def action_cancel(self) -> None:
        self.dismiss(None)
