"""`C`: two invokes of the focused environment side by side: the globals diff between their ends (old -> new, the
same object kept or replaced by another) and the /tmp changes (added, removed, changed, with sizes).

The screen only renders: the states come from the controller (`snapshot(focus, as_of=seq)`, through the callback
the app gives it) and the diff from the pure `lambdatui.model.invoke_compare`.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.invoke_compare import (ADDED, ANOTHER_PROCESS, CHANGED, GONE, NEW, REMOVED, REPLACED,
                                            GlobalChange, InvokeChoice, InvokeComparison, TmpChange,
                                            compare_invokes)
from lambdatui.ui.widgets._format import clip, one_line, phase_name, size

NAME_WIDTH = 18
PathSnapshot = Callable[[int], DebuggerSnapshot]  # bar seq -> the snapshot as of its end


def choice_label(choice: InvokeChoice) -> str:
    caller = f" · {choice.caller}" if choice.caller else ""
    return f"invoke {choice.number} · {choice.request_id} · {choice.outcome}{caller}"


def _global_row(change: GlobalChange) -> Content:
    name = clip(one_line(change.name), NAME_WIDTH)  # names and paths are the function's: no control character
    head: list[tuple[str, str] | str] = [(f"  {name:<{NAME_WIDTH}} ", "bold")]
    old, new = one_line(change.old or ""), one_line(change.new or "")
    if change.change == NEW:
        return Content.assemble(*head, ("new ", "bold $phase-invoke"), new)
    if change.change == GONE:
        return Content.assemble(*head, ("gone ", "bold $phase-error"), (f"(was {old})", "dim"))
    what = {CHANGED: ("kept: same object, changed in place", "bold $phase-held"),
            REPLACED: ("replaced: another object", "bold $phase-reset"),
            ANOTHER_PROCESS: ("another process (a reset between): ids say nothing", "dim")}.get(
        change.change, (change.change, "dim"))
    types = f" ({change.old_type} → {change.new_type})" if change.old_type != change.new_type else ""
    return Content.assemble(*head, old, (" → ", "dim"), new, "  ", what, (types, "dim"))


def _tmp_row(change: TmpChange) -> Content:
    head = (f"  {one_line(change.path)}  ", "bold")
    if change.change == ADDED:
        return Content.assemble(head, ("added ", "bold $phase-invoke"), size(change.new_size or 0),
                                (f"  by {phase_name(change.changed_by)}", "dim") if change.changed_by else "")
    if change.change == REMOVED:
        return Content.assemble(head, ("removed ", "bold $phase-error"), (f"(was {size(change.old_size or 0)})", "dim"))
    return Content.assemble(head, ("changed ", "bold $phase-held"), size(change.old_size or 0), (" → ", "dim"),
                            size(change.new_size or 0),
                            (f"  last written by {phase_name(change.changed_by)}", "dim") if change.changed_by else "")


def comparison_text(comparison: InvokeComparison) -> Content:
    a, b = comparison.first, comparison.second
    process = "same process" if comparison.same_process else "another process: a reset came between them"
    rows: list[Content] = [Content.assemble((f"invoke {a.number} ({a.request_id}) → invoke {b.number} "
                                             f"({b.request_id})", "bold"), ("  ·  " + process, "dim"))]
    if comparison.note:
        rows.append(Content.styled(comparison.note, "dim italic"))
    compared = not (comparison.note and not comparison.globals and not comparison.unchanged)  # the note says why
    counts = f"  {len(comparison.globals)} differ · {comparison.unchanged} unchanged" if compared else "  not compared"
    rows.append(Content.assemble(("Globals", "bold $accent"), (counts, "dim")))
    rows.extend(_global_row(g) for g in comparison.globals)
    if compared and not comparison.globals:
        rows.append(Content.styled("  nothing differs", "dim"))
    count = len(comparison.tmp)
    rows.append(Content.assemble(("/tmp", "bold $accent"), (f"  {count} change{'' if count == 1 else 's'}", "dim")))
    rows.extend(_tmp_row(t) for t in comparison.tmp)
    if not comparison.tmp:
        rows.append(Content.styled("  nothing changed", "dim"))
    if comparison.tmp_cut:
        rows.append(Content.styled("  a listing stopped at its limit (the top of the tree is listed): paths past it "
                                   "are not compared, neither added nor removed", "$warning italic"))
    return Content("\n").join(rows)


class CompareInvokesScreen(ModalScreen[None]):
    """Two lists of the same invokes (from, to); the diff below follows the highlighted pair."""

    BINDINGS = [Binding("escape,q,C", "close", "Close")]

    def __init__(self, choices: Sequence[InvokeChoice], as_of: PathSnapshot) -> None:
        super().__init__()
        self.choices = tuple(choices)
        self._as_of = as_of
        self.comparison: Optional[InvokeComparison] = None
        """What the screen shows now."""

    def compose(self) -> ComposeResult:
        options = [Option(choice_label(x), id=str(x.seq)) for x in self.choices]
        with Vertical(id="dialog"):
            yield Label("[b]Compare two invokes[/b] · ↑↓ choose · tab: the other list, then the differences (↑↓ "
                        "scroll them) · esc closes")
            with Horizontal(id="pair"):
                yield OptionList(*options, id="first")
                yield OptionList(*options, id="second")
            with VerticalScroll(id="comparison"):
                yield Static(id="diff")

    def on_mount(self) -> None:
        first, second = self.query_one("#first", OptionList), self.query_one("#second", OptionList)
        first.border_title, second.border_title = "from", "to"
        first.highlighted, second.highlighted = len(self.choices) - 2, len(self.choices) - 1  # the newest two
        first.focus()
        self.show_pair()

    def choose(self, first: int, second: int) -> None:
        """Highlight the invokes numbered `first` and `second` (1, 2, ... as listed)."""
        self.query_one("#first", OptionList).highlighted = first - 1
        self.query_one("#second", OptionList).highlighted = second - 1
        self.show_pair()

    @on(OptionList.OptionHighlighted)
    def pair_changed(self) -> None:
        self.show_pair()

    def show_pair(self) -> None:
        first = self.query_one("#first", OptionList).highlighted
        second = self.query_one("#second", OptionList).highlighted
        if first is None or second is None:
            return
        a, b = self.choices[first], self.choices[second]
        self.comparison = compare_invokes(a, self._as_of(a.seq), b, self._as_of(b.seq))
        self.query_one("#diff", Static).update(comparison_text(self.comparison))

    def action_close(self) -> None:
        self.dismiss(None)
