"""Provides `GlobalsView`: the handler module's globals as the last Function init or invoke left them.

Warm-start bugs live in module state, so state comes first and every change since the previous
report is labelled: new, changed (the same object mutated in place: a list that grows), replaced
(the name now points at another object: `count += 1`), gone. Imports, functions and classes follow,
dimmed; dunders are hidden unless asked for. The threads list is what the freeze will stop.

In an environment restored from a SnapStart snapshot, a value made at Init that every restored environment
shares (an id, a seed, a token) gets a row of its own under it: "! same in N restored environments".
"""

from __future__ import annotations

from typing import Iterable, Optional

from textual.content import Content
from textual.reactive import reactive

from lambdatui.model.boundaries import EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.facts import GlobalEntry, GlobalsReported
from lambdatui.ui.widgets._format import clip, one_line, short_id
from lambdatui.ui.widgets._lines import WidthLines
from lambdatui.ui.widgets._row_cursor import CursorPanel, RowCursor

OURS = "python:3"  # FunctionInfo.runtime of lambdatui's own bootstrap, the only one that reports globals
CHANGE_STYLE = {"new": "bold $success", "changed": "bold $warning", "replaced": "bold $text-primary",
                "gone": "bold $error"}
CHANGE_WIDTH = 9
EMPTY = "Globals appear after Function init (lambdatui's Python runtime only)."
SHARED_MARK = "!"  # a character, not only a colour: it must read in the high-contrast theme and in a copied screen
SHARED_STYLE = "bold $warning"


def shared_label(count: int) -> str:
    """The row under a global that every environment restored from the snapshot shares."""
    return f"{SHARED_MARK} same in {count} restored environments"


def change_label(change: str) -> str:
    """The change column's text: blank for an unchanged entry."""
    return "" if change == "same" else change


def _entry_row(entry: GlobalEntry, name_width: int, type_width: int, width: int, dim: bool) -> Content:
    label = change_label(entry.change)
    value_width = max(width - CHANGE_WIDTH - name_width - type_width - 3, 8)
    return Content.assemble(
        (label.ljust(CHANGE_WIDTH), CHANGE_STYLE.get(entry.change, "")),
        (clip(one_line(entry.name), name_width).ljust(name_width), "dim" if dim else "bold"),
        " ",
        (clip(one_line(entry.type), type_width).ljust(type_width), "dim italic"),
        " ",
        (clip(one_line(entry.repr), value_width), "dim" if dim else ""),
    )


def _header(report: GlobalsReported, snapshot: DebuggerSnapshot) -> Content:
    when = {"init": "after Function init", "restore": "after restore (SnapStart)"}.get(
        report.phase, f"after invoke {short_id(report.request_id)}")
    env = snapshot.environment
    parts: list[tuple[str, str] | str] = [(when, "bold"),
                                          (f"  process generation {env.own_generation(report.generation)}", "dim")]
    if env.generation != report.generation or env.state in (EnvState.COLD, EnvState.SHUT_DOWN):
        parts.append(("  · that process is gone: the next Init starts these over", "$warning"))
    return Content.assemble(*parts)


class GlobalsView(CursorPanel):
    """Module state first, then definitions and imports (dim), then the live threads. Up and down move the cursor
    over the globals (enter or d opens the one under it whole)."""

    DEFAULT_CSS = """
    GlobalsView {
        height: 1fr;
        padding: 0 1;
    }
    """
    """Fills the space it is given and scrolls vertically; rows truncate to the width."""

    show_dunders: reactive[bool] = reactive(False, init=False)
    """Whether `__name__`, `__file__` and friends are listed (hidden by default: they never change)."""

    show_definitions: reactive[bool] = reactive(True, init=False)
    """Whether imports, functions and classes are listed (dimmed), or only counted."""

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._snapshot: Optional[DebuggerSnapshot] = None
        self._body = WidthLines(self._rows)
        self.cursor: RowCursor[GlobalEntry] = RowCursor(self, self._body)
        """Which global enter (or d) opens whole: drawn while the panel has the focus."""

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Render the globals and threads of this snapshot's latest report."""
        if self._snapshot is not None and snapshot.globals is self._snapshot.globals \
                and snapshot.environment.generation == self._snapshot.environment.generation \
                and snapshot.environment.state == self._snapshot.environment.state \
                and snapshot.shared_init_values == self._snapshot.shared_init_values:
            self._snapshot = snapshot
            return  # nothing this view shows changed; keep the scroll position and skip the work
        self._snapshot = snapshot
        self._body.invalidate()

    def toggle_dunders(self) -> None:
        self.show_dunders = not self.show_dunders

    def toggle_definitions(self) -> None:
        self.show_definitions = not self.show_definitions

    def watch_show_dunders(self) -> None:
        self._body.invalidate()

    def watch_show_definitions(self) -> None:
        self._body.invalidate()

    # ------------------------------------------------------------------ rows

    def _rows(self, width: int) -> list[Content]:
        self.cursor.start()
        rows = self._built_rows(width)
        self.cursor.finish()
        return rows

    def _built_rows(self, width: int) -> list[Content]:
        snapshot = self._snapshot
        report = snapshot.globals if snapshot is not None else None
        if snapshot is None or report is None:
            if snapshot is not None and snapshot.function.max_concurrency:
                return [Content.styled(f"No globals view: Managed Instances run {snapshot.function.max_concurrency} "
                                       "workers, each with its own module and globals; none is shown.", "dim italic")]
            if snapshot is not None and snapshot.function.runtime != OURS:
                return [Content.styled(f"No globals view: this runtime ({snapshot.function.runtime}) reports none; "
                                       "only lambdatui's Python runtime does.", "dim italic")]
            return [Content.styled(EMPTY, "dim italic")]
        state = [e for e in report.entries if e.kind == "state"]
        dunders = [e for e in report.entries if e.kind == "dunder"]
        definitions = [e for e in report.entries if e.kind not in ("state", "dunder")]
        listed = state + definitions + (dunders if self.show_dunders else [])
        name_width = min(max((len(e.name) for e in listed), default=8), 24, max(width // 4, 8))
        type_width = min(max((len(e.type) for e in listed), default=4), 14, max(width // 8, 4))

        rows = [_header(report, snapshot),
                Content.assemble(("new", CHANGE_STYLE["new"]), " · ", ("changed", CHANGE_STYLE["changed"]),
                                 (" in place · ", "dim"), ("replaced", CHANGE_STYLE["replaced"]),
                                 (" by another object · ", "dim"), ("gone", CHANGE_STYLE["gone"])),
                Content.styled("STATE", "bold underline")]
        shared = snapshot.shared_init_values
        for entry in state:
            self.cursor.add(rows, entry, _entry_row(entry, name_width, type_width, width, dim=False))
            if entry.name in shared:
                rows.append(Content.assemble(" " * CHANGE_WIDTH, (shared_label(shared[entry.name]), SHARED_STYLE)))
        rows += [Content.assemble(("gone".ljust(CHANGE_WIDTH), CHANGE_STYLE["gone"]), (name, "strike dim"))
                 for name in report.gone]
        if not state and not report.gone:
            rows.append(Content.styled("(no module state: only imports and definitions)", "dim italic"))
        if report.dropped:
            rows.append(Content.styled(f"{report.dropped:,} more globals not shown: lambdatui keeps the module's "
                                       f"first {len(report.entries):,}", "bold $warning"))
        rows.append(Content.styled(f"IMPORTS AND DEFINITIONS ({len(definitions)})", "dim bold underline"))
        for entry in (definitions if self.show_definitions else []) + (dunders if self.show_dunders else []):
            self.cursor.add(rows, entry, _entry_row(entry, name_width, type_width, width, dim=True))
        if dunders and not self.show_dunders:
            rows.append(Content.styled(f"{len(dunders)} dunders hidden", "dim italic"))
        rows += self._thread_rows(report, name_width)
        return rows

    @staticmethod
    def _thread_rows(report: GlobalsReported, name_width: int) -> Iterable[Content]:
        yield Content.styled(f"THREADS ({len(report.threads)}): what the freeze will stop", "bold underline")
        for thread in report.threads:
            yield Content.assemble(
                " " * CHANGE_WIDTH,
                (clip(one_line(thread.name), max(name_width, 12)).ljust(max(name_width, 12)), "bold"),
                " ",
                ("daemon" if thread.daemon else "      ", "dim"),
                " ",
                ("alive", "$success") if thread.alive else ("finished", "dim"),
            )
