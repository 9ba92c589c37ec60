"""Choose the boundaries the lifecycle holds at."""

from __future__ import annotations

from rich.segment import Segment
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.widgets import Label, SelectionList
from textual.widgets.selection_list import Selection
from textual.widgets.option_list import OptionDoesNotExist

from lambdatui.model.boundaries import ALL_BOUNDARIES, Boundary

DESCRIPTIONS = {
    Boundary.INIT_EXTENSIONS: "before extensions launch",
    Boundary.INIT_RUNTIME: "all extensions registered, before the runtime starts",
    Boundary.INIT_FUNCTION: "runtime up, before the handler module is imported",
    Boundary.INIT_DONE: "everyone parked on Next: Init is over",
    Boundary.SNAPSHOT_TAKEN: "SnapStart: before-snapshot hooks done, the snapshot is taken",
    Boundary.RESTORE_START: "SnapStart: before an environment is restored from the snapshot",
    Boundary.RESTORE_HOOKS_DONE: "SnapStart: after-restore hooks done, the runtime asks for its first event",
    Boundary.INVOKE_START: "event ready, not yet delivered",
    Boundary.INVOKE_RESPONSE: "runtime responded, extensions may still work",
    Boundary.INVOKE_DONE: "everyone parked on Next again",
    Boundary.SHUTDOWN_START: "before shutdown or reset",
    Boundary.SHUTDOWN_DONE: "every process gone",
}


CHECKED, UNCHECKED = "✓", " "  # one cell each, like the "X" they replace: the gutter width stays the same


class BoundaryList(SelectionList[Boundary]):
    """A SelectionList whose checked rows show ✓ and unchecked rows a blank box.

    Textual draws the same "X" in both states and tells them apart by colour alone, which a monochrome
    terminal, a projector or a colour-blind user cannot see.
    """

    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return line
        segments = list(line)
        # SelectionList draws [left edge, mark, right edge, " ", prompt...]: replace only the mark's text.
        if len(segments) < 4 or segments[1].cell_length != 1:
            return line
        _, style, control = segments[1]
        mark = CHECKED if selection.value in self.selected else UNCHECKED
        segments[1] = Segment(mark, style, control)
        return Strip(segments, line.cell_length)


class BreakpointsScreen(ModalScreen[frozenset[Boundary] | None]):
    """Space toggles, Enter applies, Escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "apply", "Apply", priority=True),
        Binding("a", "all", "All"),
        Binding("ctrl+n", "none", "None"),
    ]

    def __init__(self, current: frozenset[Boundary]) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]Breakpoints[/b] · space toggles · a all · ctrl+n none · enter applies · esc cancels")
            yield BoundaryList(
                *(Selection(f"{b.value:<16} {DESCRIPTIONS[b]}", b, b in self.current) for b in ALL_BOUNDARIES),
                id="boundaries",
            )

    def action_apply(self) -> None:
        self.dismiss(frozenset(self.query_one(SelectionList).selected))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_all(self) -> None:
        self.query_one(SelectionList).select_all()

    def action_none(self) -> None:
        self.query_one(SelectionList).deselect_all()
