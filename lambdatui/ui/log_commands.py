"""Provides `LogCommands`, the debugger app's log and clipboard keys: `/` search, `w` wrap, `p` pause / follow,
`L` filter, `S` save the visible lines, `y` copy (the result, a request id, a log line).

A mixin of `LambdaTuiApp` (it needs the app's `snapshot`, `focused_environment` and `show_environment`). Saving
is I/O: it runs in a thread worker (`lambdatui.file_saving`), so the screen never waits on a disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from textual import work

from lambdatui.file_saving import default_log_name, write_log_file
from lambdatui.model.log_search import SOURCE_CHOICES, LogFilter
from lambdatui.ui.widgets._format import clip, one_line
from lambdatui.ui.screens.log_dialogs import LogFilterChoice, LogFilterScreen, NameDialog
from lambdatui.ui.screens.pick_target import PickTargetScreen, TargetChoice
from lambdatui.ui.widgets import LogView

if TYPE_CHECKING:
    from lambdatui.ui.travel import PhaseTravel

    _Base = PhaseTravel
else:
    _Base = object

PREVIEW = 60  # characters of a copied value shown in the picker and the notification


def _preview(text: str) -> str:
    return clip(" ".join(text.split()), PREVIEW)


class LogCommands(_Base):
    """The keys that act on the log pane and the clipboard."""

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    def action_search_log(self) -> None:
        self.log_view.open_search()

    def action_toggle_log_wrap(self) -> None:
        self.log_view.toggle_wrap()

    def action_toggle_log_follow(self) -> None:
        self.log_view.toggle_pause()

    # ------------------------------------------------------------------ L: filter

    def action_filter_log(self) -> None:
        view = self.log_view
        current = view.log_filter
        source = next((name for name, sources in SOURCE_CHOICES.items() if sources == current.sources), "all")
        numbers = [line.number for line in self.snapshot.environments] if self.snapshot is not None else []
        screen = LogFilterScreen(numbers, self.focused_environment, source, view.request_ids(), current.request_id)
        self.push_screen(screen, self.apply_log_filter)

    def apply_log_filter(self, choice: Optional[LogFilterChoice]) -> None:
        if choice is None:
            return
        if choice.environment is not None:
            self.show_environment(choice.environment)
        name = choice.source if choice.source in SOURCE_CHOICES else "all"
        self.log_view.apply_filter(LogFilter(SOURCE_CHOICES[name], choice.request_id), name)

    # ------------------------------------------------------------------ S: save

    def action_save_log(self) -> None:
        lines = self.log_view.visible_lines()
        if not lines:
            self.notify("No log line to save (with this filter).", severity="warning")
            return

        def chosen(name: Optional[str]) -> None:
            if name:
                self.save_log_lines(name, lines)

        self.push_screen(NameDialog(f"Save the {len(lines):,} visible log lines as", default_log_name(),
                                    check=lambda name: None if name else "give the file a name"), chosen)

    @work(thread=True, exclusive=True, group="save-log", exit_on_error=False)
    def save_log_lines(self, name: str, lines: list[str], directory: Optional[Path] = None) -> Optional[Path]:
        """Write in a thread; say where, or why not."""
        try:
            path = write_log_file(name, lines, directory=directory)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.call_from_thread(self.notify, f"Could not save the log to {name}: {reason}", title="Save log",
                                  severity="error", timeout=10)
            return None
        self.call_from_thread(self.notify, f"Saved {len(lines):,} lines to {path}", title="Save log", timeout=8)
        return path

    # ------------------------------------------------------------------ y: copy

    def copy_choices(self) -> dict[str, tuple[str, str]]:
        """What `y` offers: key -> (what it is, the text copied)."""
        choices: dict[str, tuple[str, str]] = {}
        shown = self.shown or self.snapshot  # the result the panel shows: a past bar's while travelling back
        result = shown.last_result if shown is not None else None
        if result is not None and result.streamed < 0:
            choices["result"] = ("the result", result.payload.decode("utf-8", errors="replace"))
        request_id = result.request_id if result is not None else next(iter(self.log_view.request_ids()), None)
        if request_id:
            choices["request"] = ("the request id", request_id)
        line = self.log_view.chosen_line()
        if line is not None:
            choices["line"] = ("the log line", line)
        return choices

    def action_clipboard_copy(self) -> None:
        choices = self.copy_choices()
        if not choices:
            self.notify("Nothing to copy yet: no result, request or log line.", severity="warning")
            return

        def chosen(choice: Optional[TargetChoice]) -> None:
            if choice is not None:
                self.copy_value(choice.target)

        targets = [(key, f"{what}: {_preview(text)}") for key, (what, text) in choices.items()]
        self.push_screen(PickTargetScreen("Copy to the clipboard", targets), chosen)

    def copy_value(self, key: str) -> None:
        what, text = self.copy_choices()[key]
        self.copy_to_clipboard(text)
        shown = text if key == "request" else _preview(text)  # a request id whole: it is what was copied
        # The text is the function's: not markup (a "[/]" in a result would raise MarkupError), and on one line.
        self.notify(f"Copied {what} ({one_line(shown)}) to the clipboard.", title="Copy", markup=False)
