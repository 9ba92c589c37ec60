"""Provides `EnvironmentsStrip`: every environment of the fleet on a line, the focused one marked, and the fleet line.

With one environment it is a single row, the fleet line (the header already names the environment and its state).
With more, the environments come first, as chips that wrap onto at most `MAX_CHIP_ROWS` rows (one on a screen of
fewer than `TALL` rows): `#2 RUNNING · 1 inv · on-demand`; when they do not fit, a window of them that holds the
focused one, with how many are left out on each side. A click on a chip asks for that environment (`EnvironmentChosen`); the screen decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from textual import events
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.fleet import MANAGED_INSTANCES, PROVISIONED, SNAP_START, EnvironmentLine, FleetCounters
from lambdatui.ui.widgets._format import short_id
from lambdatui.ui.widgets._theme import STATE_VARIABLE

MAX_CHIP_ROWS = 3  # a fleet of a hundred must not push the panels off the screen
TALL = 40  # below this many rows, the environments take one row (the panels need the rest)
GAP = "  "


def init_word(init_type: str) -> str:
    """The init type as a chip says it: on-demand, provisioned or managed (Lambda's "provisioned-concurrency" and
    "lambda-managed-instances" are too long)."""
    return "provisioned" if init_type == PROVISIONED else "managed" if init_type == MANAGED_INSTANCES else init_type


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def fleet_text(fleet: Optional[FleetCounters], environments: Sequence[EnvironmentLine]) -> str:
    """The fleet line: `fleet: 3 envs · 2 busy (peak 3) / limit 1000 · cold 3 · warm 5 · throttled 1 · queued 0`
    (environments alive, those serving an invoke now and the most at once, against --concurrency; invokes that met a
    cold environment or a warm one; synchronous invokes refused with 429; Event invokes waiting; failed Event invokes
    waiting for their retry, when there are)."""
    if fleet is None:
        return "fleet: " + plural(len(environments), "env")
    envs = plural(fleet.environments, "env")
    if len(environments) == 1:  # no chips: the line says how the only one was started
        envs += f" ({init_word(environments[0].init_type)})"
    text = (f"fleet: {envs} · {fleet.concurrency} busy (peak {fleet.peak_concurrency}) / limit {fleet.limit} · "
            f"cold {fleet.cold_starts} · warm {fleet.warm_hits} · throttled {fleet.throttled} · "
            f"queued {fleet.queued_events}")
    if fleet.retrying:  # failed Event invokes waiting to run again (EventInvokeConfig)
        text += f" · retrying {fleet.retrying}"
    if fleet.spun_down:
        text += f" · idle shut down {fleet.spun_down}"
    return text


def chip_text(line: EnvironmentLine) -> tuple[str, str, str]:
    """(`#N`, the state, the rest): `#1`, `HELD invoke.start`, `· 2 inv · on-demand`."""
    state = f"HELD {line.held_at.value}" if line.held_at is not None else line.state.value
    how = init_word(line.init_type)
    if line.restored_from is not None:
        how = f"restored from #{line.restored_from}"  # SnapStart: a copy of that snapshot
    elif line.init_type == SNAP_START:
        how = "snapshot"
    rest = f" · {line.invocations} inv · {how}"
    if line.request_id:
        rest = f" {short_id(line.request_id)}" + rest
    return f"#{line.number}", state, rest


def chip(line: EnvironmentLine, focused: bool) -> Content:
    number, state, rest = chip_text(line)
    variable = "phase-held" if line.held_at is not None else STATE_VARIABLE.get(line.state)
    state_style = f"bold ${variable}" if variable else "bold"
    init_style = "italic" if line.init_type == PROVISIONED else ""
    if focused:
        return Content.assemble(("▶", "bold $accent"), (f"{number} ", "bold reverse"), (state, state_style),
                                (rest, init_style))
    return Content.assemble((f" {number} ", "bold"), (state, state_style), (rest, f"dim {init_style}".strip()))


@dataclass(frozen=True)
class Placed:
    """A chip where the strip drew it: row, first column, width, and the environment's number."""

    row: int
    x: int
    width: int
    number: int


def arrange(widths: Sequence[int], focus: int, width: int, rows: int = MAX_CHIP_ROWS
            ) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Lay chips of these widths out left to right, wrapping, in at most `rows` rows of `width` columns.

    Returns (first shown, last shown + 1, [(index, row, x)]). When not all fit, a window of chips holding index
    `focus` is shown, leaving room for the `◀ K` and `+K ▶` markers on each side.
    """
    marker = 8  # a gap and "+999 ▶"
    for first in range(0, max(focus, 0) + 1):
        placed: list[tuple[int, int, int]] = []
        row, x = 0, marker if first else 0
        index = first
        while index < len(widths):
            gap = len(GAP) if x else 0
            last_row = row == rows - 1
            reserve = marker if last_row and index < len(widths) - 1 else 0  # room for "+K ▶" after it
            if x and x + gap + widths[index] + reserve > width:
                if last_row:
                    break
                row, x = row + 1, 0
                continue
            placed.append((index, row, x + gap))
            x += gap + widths[index]
            index += 1
        if focus < index or not widths:
            return first, index, placed
    return focus, focus + 1, [(focus, 0, marker)]


class EnvironmentsStrip(Widget):
    """The fleet: its environments (the focused one marked) and its counters."""

    DEFAULT_CSS = """
    EnvironmentsStrip {
        height: auto;
        padding: 0 1;
        background: $panel-darken-1;
        color: $foreground;
    }
    """
    """As many rows as it needs (one with a single environment), on a background apart from the header's."""

    @dataclass
    class EnvironmentChosen(Message):
        """The user clicked an environment's chip."""

        strip: "EnvironmentsStrip"
        number: int

        @property
        def control(self) -> "EnvironmentsStrip":
            return self.strip

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._snapshot: Optional[DebuggerSnapshot] = None
        self._placed: list[Placed] = []

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Render this snapshot's fleet; the panels' environment (`environment_number`) is the focused one."""
        previous = self._snapshot
        self._snapshot = snapshot
        if previous is None or (previous.environments, previous.fleet, previous.environment_number) != (
                snapshot.environments, snapshot.fleet, snapshot.environment_number):
            # The number of rows may change with the fleet: only then is the screen laid out again (~10-20 ms).
            width = self.content_size.width
            drawn = self.size.height - self.styles.gutter.height  # the rows it has now
            self.refresh(layout=previous is None or not width or len(self.rows(width)) != drawn)

    @property
    def placed(self) -> list[Placed]:
        """Where each chip was drawn last (for clicks, and for tests)."""
        return list(self._placed)

    def rows(self, width: int) -> list[Content]:
        """The strip at `width` columns, row by row; records where each chip went."""
        snapshot = self._snapshot
        self._placed = []
        if snapshot is None:
            return [Content.styled("fleet: starting…", "dim")]
        lines = snapshot.environments
        fleet = Content.assemble(("fleet: ", "dim"), fleet_text(snapshot.fleet, lines).removeprefix("fleet: "))
        if len(lines) <= 1:
            return [fleet.truncate(width, ellipsis=True)]
        focus = next((i for i, line in enumerate(lines) if line.number == snapshot.environment_number), 0)
        chips = [chip(line, i == focus) for i, line in enumerate(lines)]
        rows_kept = MAX_CHIP_ROWS if self.app.size.height >= TALL else 1
        first, end, placed = arrange([c.cell_length for c in chips], focus, width, rows_kept)
        count = max((row for _, row, _ in placed), default=0) + 1
        rows: list[list[tuple[int, Content]]] = [[] for _ in range(count)]
        if first:
            rows[0].append((0, Content.styled(f"◀ {first}", "dim")))
        for index, row, x in placed:
            rows[row].append((x, chips[index]))
            self._placed.append(Placed(row, x, chips[index].cell_length, lines[index].number))
        if end < len(lines):
            last = rows[-1]
            x = max((x + c.cell_length for x, c in last), default=0) + len(GAP)
            last.append((x, Content.styled(f"+{len(lines) - end} ▶", "dim")))
        drawn = []
        for row_items in rows:
            out = Content("")
            for x, piece in row_items:
                out = out + Content(" " * max(0, x - out.cell_length)) + piece
            drawn.append(out.truncate(width, ellipsis=True))
        return [*drawn, fleet.truncate(width, ellipsis=True)]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.rows(width))

    def render(self) -> Content:
        return Content("\n").join(self.rows(max(self.content_size.width, 1)))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for placed in self._placed:
            if placed.row == offset.y and placed.x <= offset.x < placed.x + placed.width:
                self.post_message(self.EnvironmentChosen(self, placed.number))
                return
