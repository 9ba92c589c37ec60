"""Provides `PhaseTravel`, the base of the debugger's app that travels back to any timeline bar: `[` and `]` select
the previous / next bar, a click on a bar selects it, `escape` returns to live, and `C` compares two invokes.

While a bar is selected every panel renders `controller.snapshot(focus, as_of=seq)` (asked again on every update,
so a bar that has just ended fills in), the `PastBar` says so, and new facts keep arriving in the live state
without moving the selection. The choice of bars is pure (`previous_bar`, `next_bar`); the state as of a bar is
the controller's.
"""

from __future__ import annotations

from typing import Iterable, Optional

from textual import on

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.model import timeline as tl
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.invoke_compare import invoke_choices
from lambdatui.ui.fleet_focus import FleetFocus
from lambdatui.ui.widgets import HeaderBar, LogView, PhaseTimeline
from lambdatui.ui.widgets.past_bar import PastBar


def finished_bars(timeline: tuple[tl.TimelineBar, ...]) -> list[int]:
    """The bars that have ended, in the order they opened (the order they are drawn). An Init drawn as its steps is
    left out: its last step ends with it (at init.done), so that step shows the same state."""
    steps = {bar.seq for bar in timeline if bar.kind == tl.SUBPHASE}
    return [bar.seq for bar in timeline
            if bar.end is not None and not (bar.kind == tl.INIT and _has_steps(bar, timeline, steps))]


def _has_steps(init: tl.TimelineBar, timeline: tuple[tl.TimelineBar, ...], steps: set[int]) -> bool:
    return any(bar.seq in steps and bar.start >= init.start and (init.end is None or bar.start <= init.end)
               for bar in timeline)


def previous_bar(timeline: tuple[tl.TimelineBar, ...], selected: Optional[int]) -> Optional[int]:
    """`[`: from live the newest finished bar, else the one drawn before the selected (None: there is none). By
    place, not number: an invoke that re-runs Init after a reset is opened before the Init steps drawn ahead of it."""
    bars = finished_bars(timeline)
    if selected is None:
        return bars[-1] if bars else None
    if selected in bars:
        at = bars.index(selected)
        return bars[at - 1] if at > 0 else None
    earlier = [seq for seq in bars if seq < selected]  # a bar no longer drawn: by number
    return earlier[-1] if earlier else None


def next_bar(timeline: tuple[tl.TimelineBar, ...], selected: Optional[int]) -> Optional[int]:
    """`]`: the finished bar drawn after the selected; None past the newest (back to live)."""
    if selected is None:
        return None
    bars = finished_bars(timeline)
    if selected in bars:
        at = bars.index(selected)
        return bars[at + 1] if at + 1 < len(bars) else None
    later = [seq for seq in bars if seq > selected]
    return later[0] if later else None


class PhaseTravel(FleetFocus):
    """An app whose panels can show the state as of any timeline bar's end instead of the live one."""

    def __init__(self) -> None:
        super().__init__()
        self.controller: Optional[c.Controller] = None
        self.selected_bar: Optional[int] = None
        """The bar (TimelineBar.seq) the panels show the state as of; None: live."""
        self.shown: Optional[DebuggerSnapshot] = None
        """What the panels show: `snapshot` (live) or the past one."""
        self._log_bar: Optional[int] = None  # whose lines the log view holds (None: the live log)
        self._past_lines: tuple[f.LogLine, ...] = ()  # the lines it holds then

    # ------------------------------------------------------------------ rendering

    def shown_snapshot(self, live: DebuggerSnapshot, *, new_environment: bool = False) -> DebuggerSnapshot:
        """The snapshot the panels render: the live one, or the one as of the selected bar."""
        if new_environment:
            self.selected_bar = None  # bars are numbered per environment
        if self.selected_bar is None or self.controller is None:
            self.shown = live
            return live
        past = self.controller.snapshot(self.focused_environment, as_of=self.selected_bar)
        if past.selected_bar != self.selected_bar:  # its state is no longer kept: the controller answered live
            self.notify(f"The state as of phase {self.selected_bar} is no longer kept (only the newest are): "
                        "showing live.", severity="warning")
            self.selected_bar = None
            past = live
        self.shown = past
        return past

    def render_log(self, live: DebuggerSnapshot, shown: DebuggerSnapshot, facts: Iterable[f.Fact],
                   restart: bool) -> None:
        """The selected bar's lines while in the past; the live log, restarted on return, otherwise."""
        log = self.query_one(LogView)
        if shown.selected_bar is not None:
            if self._log_bar != shown.selected_bar or restart or self._past_lines != shown.logs:
                log.restart(shown.logs)
            self._log_bar, self._past_lines = shown.selected_bar, shown.logs
            return
        if restart or self._log_bar is not None:
            log.restart(live.logs)
            if restart:  # another environment's log
                log.forget_foreign_request()
            self._log_bar, self._past_lines = None, ()
            return
        logged = [fact for fact in facts if type(fact) is f.LogLines or type(fact) is f.LogLine]
        if logged:
            log.add_lines(logged)  # type: ignore[arg-type]  # a read's lines made only as far as the pane keeps them

    def show_past_marker(self) -> None:
        """The PAST bar, taking the header's second row, while the user has travelled back (only then: a live
        snapshot's own `selected_bar` is the timeline's to draw)."""
        past = self.selected_bar is not None and self.shown is not None
        self.query_one(PastBar).show(self.shown if past else None)
        self.query_one(HeaderBar).set_class(past, "-past")

    def travel_to(self, seq: Optional[int]) -> None:
        """Select bar `seq` (None: live) and render at once."""
        self.selected_bar = seq
        if self.snapshot is not None:
            self.render_snapshot(self.snapshot, [])  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ keys and clicks

    def action_travel_previous(self) -> None:
        timeline = self.snapshot.timeline if self.snapshot is not None else ()
        seq = previous_bar(timeline, self.selected_bar)
        if seq is None:
            self.notify("No earlier phase has ended." if self.selected_bar is None else
                        "This is the oldest phase kept.")
            return
        self.travel_to(seq)

    def action_travel_next(self) -> None:
        if self.selected_bar is None:
            self.notify("Live already: [ travels back.")
            return
        self.travel_to(next_bar(self.snapshot.timeline if self.snapshot is not None else (), self.selected_bar))

    def action_travel_live(self) -> None:
        self.travel_to(None)

    @on(PhaseTimeline.BarClicked)
    def bar_clicked(self, message: PhaseTimeline.BarClicked) -> None:
        self.travel_to(message.seq)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> Optional[bool]:
        """escape is live's only while the main screen shows the past: dialogs keep it for closing."""
        if action == "travel_live":
            return self.selected_bar is not None and self.screen is self.screen_stack[0]
        return super().check_action(action, parameters)

    def action_compare_invokes(self) -> None:
        from lambdatui.ui.screens.compare_invokes import CompareInvokesScreen  # only when asked for

        if self.snapshot is None or self.controller is None:
            self.notify("The environment is still starting.", severity="warning")
            return
        choices = [x for x in invoke_choices(self.snapshot.timeline) if x.outcome != "running"]
        if len(choices) < 2:
            self.notify("Two invokes of this environment must have ended to compare them.", severity="warning")
            return
        controller, focus = self.controller, self.focused_environment
        self.push_screen(CompareInvokesScreen(choices, lambda seq: controller.snapshot(focus, as_of=seq)))
