"""Provides `TmpView`: the environment's /tmp, and which phase wrote each path.

/tmp outlives invokes and resets, so a file one invoke left behind is read by the next: every path
says who created or last changed it ("init", a short request id, or "before" for what was there
when lambdatui first looked). Rows are an indented tree, sizes in human units, truncated to fit.
"""

from __future__ import annotations

from typing import Optional

from textual.content import Content

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.facts import TmpChanged, TmpEntry
from lambdatui.ui.widgets._format import clip, one_line, phase_name, size
from lambdatui.ui.widgets._lines import WidthLines
from lambdatui.ui.widgets._row_cursor import CursorPanel, RowCursor

ROOT = "/tmp"
MARK_STYLE = {"new": "bold $success", "changed": "bold $warning"}
SIZE_WIDTH = 9
KIND_WIDTH = 7  # the kind column at least ("file", "dir"); wider when a longer kind ("symlink") needs its space
NAME_WHOLE = 33  # a 30-character name, indented once, and its "/" or " @"
MARK_KEPT = 15  # "new by 1a2b3c4d", "changed by init"


def entry_mark(entry: TmpEntry) -> str:
    """What the last column says: "new by 1a2b3c4d", "changed by init", or "from before"."""
    if entry.change == "new":
        return f"new by {phase_name(entry.created_by)}"
    if entry.change == "changed":
        return f"changed by {phase_name(entry.changed_by)}"
    if entry.changed_by != entry.created_by:
        return f"from {phase_name(entry.created_by)}, changed by {phase_name(entry.changed_by)}"
    return f"from {phase_name(entry.created_by)}"


def _depth_and_name(path: str) -> tuple[int, str]:
    relative = path[len(ROOT) + 1:] if path.startswith(ROOT + "/") else path.lstrip("/")
    parts = relative.split("/")
    return len(parts) - 1, parts[-1]


def _shown_name(entry: TmpEntry) -> str:
    depth, name = _depth_and_name(entry.path)
    suffix = "/" if entry.kind == "dir" else " @" if entry.kind == "symlink" else ""
    return "  " * min(depth, 8) + one_line(name) + suffix


def _entry_row(entry: TmpEntry, name_width: int, kind_width: int) -> Content:
    """`kind_width` 0: no kind column."""
    figure = "" if entry.kind == "dir" else size(entry.size)
    return Content.assemble(
        (clip(_shown_name(entry), name_width).ljust(name_width), "bold" if entry.change != "same" else ""),
        (figure.rjust(SIZE_WIDTH), "dim"),
        "  ",
        (entry.kind.ljust(kind_width) if kind_width else "", "dim italic"),
        (entry_mark(entry), MARK_STYLE.get(entry.change, "dim")),
    )


def _summary(tmp: TmpChanged) -> Content:
    files = [e for e in tmp.entries if e.kind != "dir"]
    total = sum(e.size for e in files)
    after = "at environment start" if tmp.by == "before" else "after Init" if tmp.by == "init" \
        else f"after invoke {phase_name(tmp.by)}"
    return Content.assemble((ROOT, "bold"), (f"  {len(files)} file{'s' if len(files) != 1 else ''}", ""),
                            (f" · {size(total)}", "dim"), (f"  listed {after}", "dim"))


class TmpView(CursorPanel):
    """The /tmp tree with sizes, kinds and who touched each path; removed paths struck through. Up and down move the
    cursor over the paths (enter or d opens the file under it in the viewer)."""

    DEFAULT_CSS = """
    TmpView {
        height: 1fr;
        padding: 0 1;
    }
    """
    """Fills the space it is given and scrolls vertically; rows truncate to the width."""

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._snapshot: Optional[DebuggerSnapshot] = None
        self._body = WidthLines(self._rows)
        self.cursor: RowCursor[TmpEntry] = RowCursor(self, self._body)
        """Which path enter (or d) opens in the file viewer: drawn while the panel has the focus."""

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Render this snapshot's /tmp listing (skipped when the listing itself did not change)."""
        previous = self._snapshot
        self._snapshot = snapshot
        if previous is None or previous.tmp is not snapshot.tmp or previous.sandbox_note != snapshot.sandbox_note:
            self._body.invalidate()

    def _rows(self, width: int) -> list[Content]:
        self.cursor.start()
        rows = self._built_rows(width)
        self.cursor.finish()
        return rows

    def _built_rows(self, width: int) -> list[Content]:
        snapshot = self._snapshot
        rows: list[Content] = []
        # The /tmp panel's note: why /tmp is the host's (shared), first; where the host's folders are seen in a /tmp of
        # the environment's own, after the listing, which they are not part of.
        note = snapshot.sandbox_note if snapshot is not None else None
        shared = note is not None and snapshot is not None and snapshot.sandbox_mode != "mount-namespace"
        if note and shared:
            # Wrapped, never cut: why /tmp is shared, and that absolute /tmp paths reach the host's, is all of it.
            rows += Content.assemble(("note: ", "bold $warning"), (one_line(note), "$warning")).wrap(width)
        tmp = snapshot.tmp if snapshot is not None else None
        if tmp is None:
            rows.append(Content.styled("/tmp is listed after each phase, once the environment exists.", "dim italic"))
            return rows + self._seen_note(note if not shared else None, width)
        rows.append(_summary(tmp))
        if not tmp.entries:
            rows.append(Content.styled("/tmp is empty: a new environment starts with an empty /tmp, "
                                       "which then survives invokes and resets.", "dim italic"))
        # Who touched a path matters most: the name column gives way first, then the kind column goes. Yet a name
        # up to NAME_WHOLE cells stays whole while the mark keeps MARK_KEPT (a long "from …, changed by …" is cut
        # at its end instead): at 140 columns a 30-character file name and "new by 1a2b3c4d" both show.
        mark_width = max((len(entry_mark(e)) for e in tmp.entries), default=0)
        longest = max((len(_shown_name(e)) for e in tmp.entries), default=10) + 1
        whole = min(longest, NAME_WHOLE, width - SIZE_WIDTH - 2 - MARK_KEPT)
        kind_width = max(KIND_WIDTH, max((len(e.kind) + 1 for e in tmp.entries), default=0))  # never run into the mark
        with_kind = width - SIZE_WIDTH - 2 - mark_width - kind_width >= max(20, whole)
        room = width - SIZE_WIDTH - 2 - mark_width - (kind_width if with_kind else 0)
        name_width = max(min(longest, room, 48), whole, 10)
        for entry in tmp.entries:
            self.cursor.add(rows, entry, _entry_row(entry, name_width, kind_width if with_kind else 0))
        if tmp.truncated:
            rows.append(Content.styled("… more entries than lambdatui lists (the top of the tree is shown)",
                                       "$warning italic"))
        if tmp.removed:
            rows.append(Content.styled(f"removed since the previous listing ({len(tmp.removed)}):", "bold $error"))
            by = f"  removed by {phase_name(tmp.by)}"
            rows += [Content.assemble("  ", (one_line(path), "strike $error"), (by, "dim")) for path in tmp.removed]
        return rows + self._seen_note(note if not shared else None, width)

    @staticmethod
    def _seen_note(note: Optional[str], width: int) -> list[Content]:
        if not note:
            return []
        return Content.assemble(("note: ", "bold"), (one_line(note), "dim")).wrap(width)
