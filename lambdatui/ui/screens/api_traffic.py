"""`a`: every Runtime, Extensions and Telemetry API exchange of the focused environment, per participant, in order.

One tab per participant (the runtime first, then each extension as it first called), a table per tab: when,
method, path, status, how long a /next was parked, the headers that matter in short and a body preview. A /next
that still waits says "parked 1.2 s…", counting. Enter on a row opens the whole exchange. What it shows comes from
the controller's `api_traffic(focus)` query, read again a few times a second while the screen is open: the
snapshot the app receives does not carry the traffic (it is built far more often than anyone looks at it).
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static, TabbedContent, TabPane

from lambdatui.model.api_traffic import ParticipantTraffic
from lambdatui.model.facts import ApiExchanged
from lambdatui.ui.api_traffic_format import exchange_text, row_cells
from lambdatui.ui.widgets._format import visible_controls

REFRESH_S = 0.25  # new exchanges and the parked ones' counting durations, while the screen is open
COLUMNS = ("time", "method", "path", "status", "parked", "headers", "body")
Source = Callable[[], tuple[ParticipantTraffic, ...]]


def wall_clock() -> float:
    """The clock the capture stamps exchanges with (a test stops it: a parked /next's duration then stays put)."""
    return time.time()


class ExchangeScreen(ModalScreen[None]):
    """Enter on a row: everything recorded of one exchange."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, exchange: ApiExchanged, now: float) -> None:
        super().__init__()
        self.exchange = exchange
        self._now = now

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Label("[b]One exchange[/b] · esc closes")
            # Bodies are what the processes sent: their control characters are shown, not sent to the terminal.
            yield Static(Text(visible_controls(exchange_text(self.exchange, self._now))), id="exchange")

    def action_close(self) -> None:
        self.dismiss(None)


class ApiTrafficScreen(ModalScreen[None]):
    """The API traffic of one environment; `source` reads it (the controller's query for the focused one)."""

    BINDINGS = [
        Binding("escape,q,a", "close", "Close"),
        Binding("right", "participant(1)", "Next participant", priority=True),
        Binding("left", "participant(-1)", "Previous participant", priority=True),
    ]

    def __init__(self, source: Source, title: str = "") -> None:
        super().__init__()
        self._source = source
        self._title = title
        self._shown: Optional[tuple[ParticipantTraffic, ...]] = None
        self._panes: dict[str, str] = {}  # participant -> its pane's id
        self._rows: dict[str, dict[int, ApiExchanged]] = {}  # participant -> the exchanges its table shows, by seq
        self._origin: Optional[float] = None  # the first exchange's start: rows say "+1.234 s" from it

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"[b]API traffic[/b] · {escape(self._title)} · every request a process made to the Runtime, "
                        "Extensions and Telemetry APIs and the metadata endpoint, in order · ←/→ participant · enter "
                        "opens one · esc closes")
            yield Static(Text("No exchange yet: the processes call the API once the environment starts.",
                              style="dim italic"), id="empty")
            yield TabbedContent(id="traffic-tabs")  # not #participants: the main screen's panel, capped at 14 rows

    async def on_mount(self) -> None:
        await self.refresh_traffic()
        self.set_interval(REFRESH_S, self.refresh_traffic)

    # ------------------------------------------------------------------ rendering

    async def refresh_traffic(self) -> None:
        traffic = self._source()
        now = wall_clock()
        if traffic is not self._shown:
            self._shown = traffic
            if self._origin is None and any(participant.exchanges for participant in traffic):
                self._origin = min(participant.exchanges[0].started for participant in traffic if participant.exchanges)
            for participant in traffic:
                await self._show(participant, now)
            self.query_one("#empty", Static).display = not traffic
        else:
            self._count_parked(now)

    async def _show(self, traffic: ParticipantTraffic, now: float) -> None:
        tabs = self.query_one(TabbedContent)
        name = traffic.participant
        if name not in self._panes:
            pane_id = self._panes[name] = f"participant-{len(self._panes)}"
            table: DataTable[str] = DataTable(id=f"{pane_id}-table", cursor_type="row", zebra_stripes=True)
            for column in COLUMNS:
                table.add_column(column, key=column)
            await tabs.add_pane(TabPane(name, table, id=pane_id))
            self._rows[name] = {}
            if len(self._panes) == 1:
                table.focus()
        table = self._table(name)
        shown = self._rows[name]
        kept = {exchange.seq for exchange in traffic.exchanges}
        for seq in [seq for seq in shown if seq not in kept]:  # older ones the model let go
            table.remove_row(str(seq))
            del shown[seq]
        origin = self._origin if self._origin is not None else now
        for exchange in traffic.exchanges:
            before = shown.get(exchange.seq)
            if before is exchange:
                continue
            cells = row_cells(exchange, origin, now)
            if before is None:
                table.add_row(*(self._styled(column, cell, exchange) for column, cell in zip(COLUMNS, cells)),
                              key=str(exchange.seq))
            else:  # a parked /next was answered
                for column, cell in zip(COLUMNS, cells):
                    table.update_cell(str(exchange.seq), column, self._styled(column, cell, exchange))
            shown[exchange.seq] = exchange

    def _count_parked(self, now: float) -> None:
        origin = self._origin if self._origin is not None else now
        for name, shown in self._rows.items():
            for seq, exchange in shown.items():
                if exchange.long_poll and exchange.answered is None:
                    parked = row_cells(exchange, origin, now)[COLUMNS.index("parked")]
                    self._table(name).update_cell(str(seq), "parked", self._styled("parked", parked, exchange))

    def _styled(self, column: str, cell: str, exchange: ApiExchanged) -> Text:
        if column == "status" and exchange.status >= 400:
            return Text(cell, style="bold red")
        if column in ("status", "parked") and exchange.answered is None:
            return Text(cell, style="bold yellow")
        if column in ("time", "headers", "body"):
            return Text(cell, style="dim" if column == "time" else "")
        if column == "path" and exchange.path.startswith("/lambdatui/"):
            return Text(cell, style="dim italic")  # our own bootstrap's private calls, never Lambda's
        return Text(cell)

    def _table(self, participant: str) -> DataTable[str]:
        return self.query_one(f"#{self._panes[participant]}-table", DataTable)

    @property
    def participants(self) -> list[str]:
        """The tabs, in order."""
        return list(self._panes)

    @property
    def active_participant(self) -> Optional[str]:
        active = self.query_one(TabbedContent).active
        return next((name for name, pane in self._panes.items() if pane == active), None)

    # ------------------------------------------------------------------ keys

    def action_participant(self, step: int) -> None:
        names = self.participants
        current = self.active_participant
        if not names or current is None:
            return
        name = names[(names.index(current) + step) % len(names)]
        self.query_one(TabbedContent).active = self._panes[name]
        self._table(name).focus()

    def on_tabbed_content_tab_activated(self, message: TabbedContent.TabActivated) -> None:
        name = self.active_participant
        if name is not None:
            self._table(name).focus()

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        name = self.active_participant
        if name is None or message.row_key.value is None:
            return
        exchange = self._rows[name].get(int(message.row_key.value))
        if exchange is not None:
            self.app.push_screen(ExchangeScreen(exchange, wall_clock()))

    def action_close(self) -> None:
        self.dismiss(None)
