"""Enter on a file in the /tmp panel: the file, read on the host side one bounded part at a time.

The read (`Controller.read_tmp_file`) and the highlighting run in a worker thread, so a slow disk or a 256 KB
part never blocks the UI; a 2 GB file costs what its first part costs. Enter shows the next part (after the last,
the first again); escape closes. Text is highlighted by the file's type (`file_highlight`), binary is a hex dump.
"""

from __future__ import annotations

from typing import Optional

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import get_current_worker

from lambdatui import controller as c
from lambdatui.model.tmp_file import PART_BYTES, TmpFileView, human_size, part_label
from lambdatui.ui.file_highlight import HEX, HEX_ROW_WIDTH, FileRows, file_rows
from lambdatui.ui.widgets._format import visible_controls
from lambdatui.ui.widgets.text_rows import TextRows


class TmpFileScreen(ModalScreen[None]):
    """One /tmp file of the focused environment, part by part."""

    BINDINGS = [Binding("escape,q,d", "close", "Close"), Binding("enter", "next_part", "Next part")]

    DEFAULT_CSS = """
    TmpFileScreen {
        align: center middle;
    }
    TmpFileScreen > #tmp-file {
        width: 95%;
        height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    TmpFileScreen #tmp-file-title {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    TmpFileScreen #tmp-file-status {
        height: auto;
        color: $text-muted;
    }
    TmpFileScreen #tmp-file-status.-problem {
        color: $text-error;
        text-style: bold;
    }
    TmpFileScreen #tmp-file-hint {
        height: 1;
        color: $text-muted;
    }
    """
    """A framed box: the path and what part is shown stay put, the rows scroll both ways."""

    class PartRead(Message):
        """A worker read and laid out a part (posted from its thread)."""

        def __init__(self, view: TmpFileView, rows: Optional[FileRows]) -> None:
            super().__init__()
            self.view = view
            self.rows = rows

    def __init__(self, controller: c.Controller, focus: Optional[int], path: str,
                 part_bytes: int = PART_BYTES, past: Optional[tuple[str, int]] = None) -> None:
        super().__init__()
        self.past = past
        """(the phase the /tmp panel shows, the file's size in that listing) while travelling back: the host keeps
        no file contents per phase, so what is read is the file as it is now, and the viewer must say so."""
        self.controller = controller
        self.focus_number = focus
        self.path = path
        self.part_bytes = part_bytes
        self.part: Optional[TmpFileView] = None
        """The part shown, once read (None while the first one is being read)."""
        self.kind = ""
        """How the part is shown: "hex", "text", or the pygments lexer's name."""

    def compose(self) -> ComposeResult:
        with Vertical(id="tmp-file"):
            # The name is the function's: its control characters are shown, never sent to the terminal.
            yield Static(Content.styled(visible_controls(self.path), "bold"), id="tmp-file-title")
            yield Static(Content("reading…"), id="tmp-file-status")
            yield TextRows(id="tmp-file-rows")
            yield Static(id="tmp-file-hint")

    def on_mount(self) -> None:
        self.query_one(TextRows).focus()
        self.read_part(0)

    def read_part(self, offset: int) -> None:
        self.query_one("#tmp-file-status", Static).update(Content(f"reading from {human_size(offset)}…"))
        self._read(offset)

    @work(thread=True, exclusive=True, group="tmp-file", description="Reading a /tmp file")
    def _read(self, offset: int) -> None:
        view = self.controller.read_tmp_file(self.focus_number, self.path, offset, self.part_bytes)
        if get_current_worker().is_cancelled:
            return
        rows = file_rows(view) if view.problem is None else None
        self.post_message(self.PartRead(view, rows))

    @on(PartRead)
    def show_part(self, message: PartRead) -> None:
        view, rows = message.view, message.rows
        self.part = view
        status = self.query_one("#tmp-file-status", Static)
        status.set_class(view.problem is not None, "-problem")
        hint = self.query_one("#tmp-file-hint", Static)
        if view.problem is not None or rows is None:
            self.kind = ""
            status.update(Content(visible_controls(view.problem or "")))  # it names the path
            self.query_one(TextRows).set_rows([])
            hint.update(Content("escape: close"))
            return
        self.kind = rows.kind
        shown = "binary: hex" if rows.kind == HEX else rows.kind
        status.update(Content.assemble((shown, "bold"), f" · {part_label(view)}", *self._past_note(view)))
        self.query_one(TextRows).set_rows(rows.rows, HEX_ROW_WIDTH if rows.kind == HEX else None)
        after = f"enter: the next {human_size(self.part_bytes)}" if view.has_more \
            else "enter: back to the start" if view.offset > 0 else ""
        hint.update(Content(" · ".join(x for x in (after, "escape: close", "arrows: scroll") if x)))

    def _past_note(self, view: TmpFileView) -> tuple[tuple[str, str], ...]:
        if self.past is None:
            return ()
        phase, listed_size = self.past
        then = f" (its size then: {human_size(listed_size)})" if listed_size != view.size else ""
        return ((f" · as it is now, not as of {phase}{then}", "bold $warning"),)

    def action_next_part(self) -> None:
        part = self.part
        if part is None or part.problem is not None:
            return
        if part.has_more:
            self.read_part(part.end)
        elif part.offset > 0:
            self.read_part(0)

    def action_close(self) -> None:
        self.dismiss(None)
