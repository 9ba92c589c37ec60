"""Provides `ParticipantsTable`: the runtime and each extension, and what Lambda is waiting on.

Every wait in Lambda is a parked Next request, so "parked on Next, for how long, and what it gets
next" is the column a user watches. Rows are keyed by participant and updated in place, so the
cursor and scroll position survive the many snapshots a lifecycle produces.
"""

from __future__ import annotations

import re
from typing import Optional

from rich.text import Text
from textual.widgets import DataTable

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.snapshot import EnvironmentSnapshot, ParticipantView
from lambdatui.ui.widgets._format import clip, seconds
from lambdatui.ui.widgets._theme import theme_color

# (key, header, width): fixed widths so the table never jumps; 102 cells with the cell padding. A narrower
# pane drops DROP_FIRST's columns, then scrolls sideways.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("name", "Participant", 12),
    ("kind", "Kind", 8),
    ("state", "State", 12),
    ("process", "Process", 7),
    ("parked", "Parked on Next", 14),
    ("next", "Receives next", 20),
    ("events", "Subscribed", 15),
)
DROP_FIRST = ("events", "kind")  # columns left out, in this order, when the pane is too narrow for all
EMPTY_KEY = "-empty-"
KINDS = {"runtime": "runtime", "extension": "external", "internal extension": "internal"}
_REQUEST_ID = re.compile(r"\b([0-9a-fA-F]{8})-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")


def state_name(state: str) -> str:
    """The core's state names, shortened for a column: "RuntimeResponseSentState" -> "ResponseSent"."""
    if state.startswith("Runtime") and len(state) > len("Runtime"):
        state = state[len("Runtime"):]
    return state[: -len("State")] if state.endswith("State") and len(state) > len("State") else state


def participant_name(key: str) -> str:
    """"extension:audit" -> "audit"; the runtime keeps its key."""
    return key.split(":", 1)[1] if key.startswith("extension:") else key


def participant_cells(view: ParticipantView, env: EnvironmentSnapshot) -> dict[str, str]:
    """The row as plain strings (the widget adds colour): what the tests and the table agree on."""
    if view.parked:
        waited = f" · {seconds(env.as_of - view.parked_since)}" if view.parked_since is not None else ""
        parked = f"yes{waited}"
    else:
        parked = "no"
    if not view.alive and view.state in ("NotStarted", "NotLaunched"):
        process = "not started"
    elif not view.alive:
        process = "exited"
    elif view.key in getattr(env, "user_frozen", frozenset()):
        process = "stopped"  # SIGSTOP injected by the user: it hangs until thawed
    elif env.frozen:
        process = "frozen"
    else:
        process = "alive"
    return {
        "name": participant_name(view.key),
        "kind": KINDS.get(view.kind, view.kind),
        "state": state_name(view.state),
        "parked": parked,
        "events": " ".join(view.events) or "none",
        "next": _REQUEST_ID.sub(r"\1", view.next_delivery) or "—",
        "process": process,
    }


def fitting_columns(width: int) -> tuple[tuple[str, str, int], ...]:
    """The columns for a pane `width` cells wide: all of them, or without the least useful ones."""
    columns = COLUMNS
    for key in DROP_FIRST:
        # Each cell has one column of padding either side; keep two for the vertical scrollbar.
        if width <= 0 or sum(w + 2 for _, _, w in columns) <= width - 2:
            break
        columns = tuple(c for c in columns if c[0] != key)
    return columns


class ParticipantsTable(DataTable):
    """One row per process Lambda coordinates: the runtime first, then the extensions."""

    DEFAULT_CSS = """
    ParticipantsTable {
        height: auto;
        max-height: 12;
    }
    """
    """As tall as its rows (up to 10 extensions fit without scrolling)."""

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, name=name, id=id, classes=classes)
        self._snapshot: Optional[DebuggerSnapshot] = None
        self._keys: tuple[str, ...] = ()
        self._columns: tuple[tuple[str, str, int], ...] = ()

    def on_mount(self) -> None:
        self._set_columns(fitting_columns(self.size.width))
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw(force=True))

    def on_resize(self) -> None:
        columns = fitting_columns(self.size.width)
        if columns != self._columns:
            self._set_columns(columns)

    def _set_columns(self, columns: tuple[tuple[str, str, int], ...]) -> None:
        self.clear(columns=True)
        self._columns = columns
        for key, header, width in columns:
            self.add_column(header, key=key, width=width)
        self._redraw(force=True)

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Update the rows for this snapshot (in place when the same participants are listed)."""
        self._snapshot = snapshot
        if self._columns:  # set in on_mount; before that, on_mount draws the stored snapshot
            self._redraw()

    # ------------------------------------------------------------------ drawing

    def _redraw(self, force: bool = False) -> None:
        snapshot = self._snapshot
        if snapshot is None or not snapshot.environment.participants:
            self.clear()
            self._keys = ()
            self.add_row(*self._empty_cells(snapshot), key=EMPTY_KEY)
            return
        env = snapshot.environment
        keys = tuple(p.key for p in env.participants)
        if force or keys != self._keys:
            self.clear()
            self._keys = keys
            for view in env.participants:
                self.add_row(*self._cells(view, env), key=view.key)
            return
        for view in env.participants:  # same rows: update in place, keeping cursor and scroll
            for (key, _, _), cell in zip(self._columns, self._cells(view, env)):
                self.update_cell(view.key, key, cell)

    def _empty_cells(self, snapshot: Optional[DebuggerSnapshot]) -> list[Text]:
        """A cold environment has no processes; say what brings them."""
        again = snapshot is not None and snapshot.environment.generation > 0
        cells = {"name": "—", "state": "no process", "next": "next invoke: re-Init" if again
                 else "next invoke: Init"}
        return [Text(clip(cells.get(key, ""), width), style="dim italic") for key, _, width in self._columns]

    def _cells(self, view: ParticipantView, env: EnvironmentSnapshot) -> list[Text]:
        plain = participant_cells(view, env)
        styles = {
            "name": "bold",
            "kind": "dim",
            "parked": theme_color(self, "phase-frozen") if view.parked else "",
            "events": "dim",
            "process": {
                "exited": theme_color(self, "phase-error"),
                "not started": theme_color(self, "phase-frozen"),
                "stopped": theme_color(self, "phase-error"),
                "frozen": theme_color(self, "phase-frozen"),
            }.get(plain["process"], theme_color(self, "success")),
        }
        return [Text(clip(plain[key], width), style=styles.get(key, ""), no_wrap=True)
                for key, _, width in self._columns]
