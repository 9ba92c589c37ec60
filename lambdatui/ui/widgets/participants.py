"""Provides `ParticipantsTable`: the runtime and each extension, and what Lambda is waiting on.

Every wait in Lambda is a parked Next request, so "parked on Next, for how long, and what it gets
next" is the column a user watches. Rows are keyed by participant and updated in place, so the
cursor and scroll position survive the many snapshots a lifecycle produces.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

from rich.text import Text
from textual.widgets import DataTable

from lambdatui.model.boundaries import EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot, ExtensionActivity
from lambdatui.model.snapshot import EnvironmentSnapshot, ParticipantView
from lambdatui.model.telemetry import LOGS, Subscription
from lambdatui.ui.widgets._format import clip, seconds, size
from lambdatui.ui.widgets._host_clock import HostClock
from lambdatui.ui.widgets._theme import theme_color
from lambdatui.ui.widgets import phase_timeline

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
WIDEST_NEXT = 40  # "Receives next" grows to this when the pane has room
WIDEST_STATE = len("InvocationResponse")  # "State" grows first to the longest name (a runtime streaming its response)
DROP_FIRST = ("events", "kind")  # columns left out, in this order, when the pane is too narrow for all
# Shown once an extension subscribed to the Telemetry or Logs API, after "Parked on Next": extension authors
# who use those APIs read it before what an extension receives next.
TELEMETRY_COLUMN = ("telemetry", "Telemetry", 32)
EMPTY_KEY = "-empty-"
TICK_S = 0.25  # how often "parked for" and "delivered ago" are redrawn between snapshots
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


def destination(sub: Subscription) -> str:
    """Where a subscriber's listener is: "HTTP :4243/telemetry", "HTTP PUT :8080/", "TCP :4244"."""
    if sub.protocol == "TCP":
        return f"TCP :{sub.port}"
    method = "" if sub.method == "POST" else f" {sub.method}"
    return f"HTTP{method} :{sub.port}{sub.path or '/'}"


def buffering(sub: Subscription) -> str:
    """maxItems · maxBytes · timeoutMs, as the subscription's buffering table gives them: "1000 · 256 KB · 100 ms"."""
    kb = f"{sub.max_bytes // 1024} KB" if sub.max_bytes % 1024 == 0 else size(sub.max_bytes)
    return f"{sub.max_items} · {kb} · {sub.timeout_ms} ms"


def subscription_line(sub: Subscription) -> str:
    """"telemetry: platform function", or "logs: platform" for the Logs API."""
    return f"{'logs' if sub.api == LOGS else 'telemetry'}: {' '.join(sub.types)}"


def delivery_line(activity: ExtensionActivity, as_of: float) -> str:
    """Batches and records its listener took, and when it took the last."""
    if activity.last_delivery_at is None:
        return "nothing delivered yet"
    s = "" if activity.batches == 1 else "es"
    return (f"{activity.batches} batch{s}, {activity.records} rec · "
            f"{seconds(as_of - activity.last_delivery_at)} ago")


def trouble_line(activity: ExtensionActivity) -> str:
    """Failed attempts, retries and dropped records; empty when there were none."""
    parts = []
    if activity.failed:
        parts.append(f"{activity.failed} failed")
    if activity.retries:
        parts.append(f"{activity.retries} retr{'y' if activity.retries == 1 else 'ies'}")
    if activity.dropped_records:
        parts.append(f"{activity.dropped_records} dropped")
    return " · ".join(parts)


def telemetry_lines(activity: Optional[ExtensionActivity], as_of: float) -> list[str]:
    """The Telemetry cell of an extension's row, a line each: what it subscribed to (API and types; where its
    listener is and the buffering), then its deliveries, and what went wrong when something did."""
    if activity is None or activity.subscription is None:
        return ["not subscribed"]
    sub = activity.subscription
    lines = [subscription_line(sub), destination(sub), f"buffer {buffering(sub)}", delivery_line(activity, as_of)]
    trouble = trouble_line(activity)
    if trouble:
        lines.append(trouble)
    return lines


def participant_cells(view: ParticipantView, env: EnvironmentSnapshot,
                      activity: Optional[ExtensionActivity] = None) -> dict[str, str]:
    """The row as plain strings (the widget adds colour): what the tests and the table agree on.

    `activity` is the extension's telemetry and events (`DebuggerSnapshot.extensions`); the Telemetry cell may
    hold several lines, one per line of `telemetry_lines`."""
    if view.parked:
        waited = f" · {seconds(env.as_of - view.parked_since)}" if view.parked_since is not None else ""
        parked = f"yes{waited}"
    else:
        parked = "no"
    if not view.alive and view.state in ("NotStarted", "NotLaunched"):
        process = "none"  # fits the column: "not started" was cut to "not st…" at every width
    elif not view.alive:
        process = "exited"
    elif view.key in getattr(env, "user_frozen", frozenset()):
        process = "stopped"  # SIGSTOP injected by the user: it hangs until thawed
    elif env.frozen and env.held_at is not None and view.kind == "extension" and not view.parked:
        # Held while it worked: its own clock runs on (no clock of Linux stops with a process), so a sleep or a
        # timeout of its own may end during the hold, where on Lambda no time would pass for it.
        process = "mid-job"
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
        "telemetry": "\n".join(telemetry_lines(activity, env.as_of)) if view.key.startswith("extension:") else "",
    }


def all_columns(telemetry: bool = False) -> tuple[tuple[str, str, int], ...]:
    """Every column, with the Telemetry one when an extension subscribed to the Telemetry or Logs API."""
    if not telemetry:
        return COLUMNS
    at = next(i for i, column in enumerate(COLUMNS) if column[0] == "parked") + 1
    return COLUMNS[:at] + (TELEMETRY_COLUMN,) + COLUMNS[at:]


def fitting_columns(width: int, telemetry: bool = False) -> tuple[tuple[str, str, int], ...]:
    """The columns for a pane `width` cells wide: all of them, or without the least useful ones."""
    columns = all_columns(telemetry)
    for key in DROP_FIRST:
        # Each cell has one column of padding either side; keep two for the vertical scrollbar.
        if width <= 0 or sum(w + 2 for _, _, w in columns) <= width - 2:
            break
        columns = tuple(c for c in columns if c[0] != key)
    # Room to spare (the pane spans the screen): "State" takes it first, up to WIDEST_STATE, then "Receives next",
    # up to WIDEST_NEXT, so that a whole "InvocationResponse", "the next invoke's event" or "SHUTDOWN (timeout)"
    # shows where it fits.
    for grown, widest in (("state", WIDEST_STATE), ("next", WIDEST_NEXT)):
        spare = width - 2 - sum(w + 2 for _, _, w in columns)
        if spare > 0:
            columns = tuple((k, h, min(w + spare, widest) if k == grown and w < widest else w)
                            for k, h, w in columns)
    return columns


def _same(old: object, new: Text) -> bool:
    """Whether a cell already shows `new` (Text's own == leaves out its style)."""
    return isinstance(old, Text) and old.plain == new.plain and old.style == new.style and old.spans == new.spans


class ParticipantsTable(DataTable):
    """One row per process Lambda coordinates: the runtime first, then the extensions."""

    DEFAULT_CSS = """
    ParticipantsTable {
        height: auto;
        max-height: 12;
    }
    """
    """As tall as its rows (up to 10 extensions fit without scrolling); the app may bound it further."""

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, name=name, id=id, classes=classes)
        self._snapshot: Optional[DebuggerSnapshot] = None
        self._keys: tuple[tuple[str, int], ...] = ()  # (participant, row height)
        self._columns: tuple[tuple[str, str, int], ...] = ()
        self._telemetry = False  # the Telemetry column is shown
        # Snapshots arrive only when something happens: nothing does while a participant waits on Next (held,
        # frozen, idle), so "parked for" and "delivered ago" are extrapolated from the snapshot's `as_of` on the
        # local clock (the timeline's, which SVG tests stop), as the timeline's running bar is.
        self._host_clock = HostClock(phase_timeline.monotonic_clock)

    @property
    def host_clock(self) -> HostClock:
        """The host's clock as the snapshots shown here told it: a view opened on an old snapshot reads "now" here."""
        return self._host_clock

    def on_mount(self) -> None:
        self.set_interval(TICK_S, self._tick)
        # Not laid out yet (width 0): fit the screen's width, which the pane spans, so that the first layout has no
        # horizontal scrollbar (a row more) it would lose at once.
        self._set_columns(fitting_columns(self.size.width or self.app.size.width, self._telemetry))
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw(force=True))

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        columns = fitting_columns(self.size.width, self._telemetry)
        if columns != self._columns:
            self._set_columns(columns)

    @property
    def selected_participant(self) -> Optional[str]:
        """The participant key ("runtime", "extension:<name>") of the row under the cursor, if any."""
        if not self._keys or not 0 <= self.cursor_row < len(self._keys):
            return None
        return self._keys[self.cursor_row][0]

    def _set_columns(self, columns: tuple[tuple[str, str, int], ...]) -> None:
        self.clear(columns=True)
        self._columns = columns
        for key, header, width in columns:
            self.add_column(header, key=key, width=width)
        self._redraw(force=True)

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Update the rows for this snapshot (in place when the same participants are listed)."""
        self._snapshot = snapshot
        self._host_clock.seen(snapshot.environment.as_of)
        telemetry = any(x.subscription is not None for x in snapshot.extensions)
        if telemetry != self._telemetry:
            self._telemetry = telemetry
            if self._columns:
                self._fit()  # redraws
                return
        if self._columns:  # set in on_mount; before that, on_mount draws the stored snapshot
            self._redraw()

    # ------------------------------------------------------------------ drawing

    def _tick(self) -> None:
        snapshot = self._snapshot
        if snapshot is None or not self._columns or not self._keys:
            return
        if (any(view.parked and view.parked_since is not None for view in snapshot.environment.participants)
                or any(x.last_delivery_at is not None for x in snapshot.extensions)):
            self._redraw()

    def _now(self, env: EnvironmentSnapshot) -> EnvironmentSnapshot:
        """`env` as of now on the host's clock (`HostClock`)."""
        now = self._host_clock.now(env.as_of)
        return dataclasses.replace(env, as_of=now) if now > env.as_of else env

    def _redraw(self, force: bool = False) -> None:
        snapshot = self._snapshot
        if snapshot is None or not snapshot.environment.participants:
            self.clear()
            self._keys = ()
            self.add_row(*self._empty_cells(snapshot), key=EMPTY_KEY)
            return
        env = self._now(snapshot.environment)
        rows = [(view, self._cells(view, env, snapshot)) for view in env.participants]
        keys = tuple((view.key, max(len(cell.plain.split("\n")) for cell in cells)) for view, cells in rows)
        if force or keys != self._keys:
            cursor = self.cursor_row
            self.clear()
            self._keys = keys
            for (view, cells), (_, height) in zip(rows, keys):
                self.add_row(*cells, key=view.key, height=height)
            if 0 < cursor < len(keys):
                self.move_cursor(row=cursor)  # a row that grew a line keeps the cursor where the user put it
            return
        for view, cells in rows:  # same rows: update in place, keeping cursor and scroll
            for (key, _, _), cell in zip(self._columns, cells):
                if not _same(self.get_cell(view.key, key), cell):  # a tick changes a cell or two: redraw only those
                    self.update_cell(view.key, key, cell)

    def _empty_cells(self, snapshot: Optional[DebuggerSnapshot]) -> list[Text]:
        """A cold environment has no processes; say what brings them."""
        # Reset (a crash, a timeout, a failed Init) its next invoke re-runs Init; new (`N`: the core renews the sandbox
        # of the same environment, so its generation is not 0) it is a full cold start, as the explain line says.
        again = snapshot is not None and snapshot.environment.reset
        cells = {"name": "—", "state": "no process", "next": "next invoke: re-Init" if again
                 else "next invoke: Init"}
        if snapshot is not None and snapshot.environment.state is EnvState.SHUT_DOWN:
            # Shut down for good: no invoke comes to it again (the fleet starts a new environment instead).
            cells["next"] = "none: left the fleet"
        return [Text(clip(cells.get(key, ""), width), style="dim italic") for key, _, width in self._columns]

    def _cells(self, view: ParticipantView, env: EnvironmentSnapshot, snapshot: DebuggerSnapshot) -> list[Text]:
        activity = snapshot.extension(participant_name(view.key)) if view.key.startswith("extension:") else None
        plain = participant_cells(view, env, activity)
        styles = {
            "name": "bold",
            "kind": "dim",
            "parked": theme_color(self, "phase-frozen") if view.parked else "",
            "events": "dim",
            "process": {
                "exited": theme_color(self, "phase-error"),
                "none": theme_color(self, "phase-frozen"),
                "stopped": theme_color(self, "phase-error"),
                "frozen": theme_color(self, "phase-frozen"),
            }.get(plain["process"], theme_color(self, "success")),
        }
        cells = []
        for key, _, width in self._columns:
            if key == "telemetry":
                cells.append(self._telemetry_cell(plain[key], width, activity))
            else:
                cells.append(Text(clip(plain[key], width), style=styles.get(key, ""), no_wrap=True))
        return cells

    def _telemetry_cell(self, text: str, width: int, activity: Optional[ExtensionActivity]) -> Text:
        """The subscription in plain text, its deliveries dim, what went wrong in the error colour."""
        lines = text.split("\n")
        cell = Text(no_wrap=True)
        for i, line in enumerate(lines):
            if i:
                cell.append("\n")
            style = "dim" if i == 0 and (activity is None or activity.subscription is None) else ""
            if i == 4:
                style = theme_color(self, "phase-error")
            elif i in (1, 2):
                style = "dim"
            cell.append(clip(line, width), style=style)
        return cell
