"""Provides `PhaseTimeline`: the lifecycle as coloured bars, newest on the right.

Widths follow a logarithmic scale so that a 0.02 ms Extension init, a 3 ms warm invoke and a 3 s
timeout are all visible and still ordered by size; the widget shows the most recent bars that fit
and says how many earlier ones it left out. Rows: bar labels, durations, the boundary marker, legend.

A running bar's duration ticks: snapshots arrive only when something happens, so the widget redraws
on a timer from the bar's start and the host clock extrapolated from the snapshot's `as_of` (the host's
trio clock has its own epoch: only differences of the local monotonic clock carry over). Time held at a
boundary is never counted in a running bar, as the core never counts it in a finished one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

from textual.content import Content
from textual.message import Message
from textual.widget import Widget

from lambdatui.model import timeline as tl
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.widgets._format import duration
from lambdatui.ui.widgets._theme import FAILED, KIND_VARIABLE

MIN_WIDTH, MAX_WIDTH = 9, 30
# Shorter names for bars too narrow for the full one, longest first.
SHORT_LABELS = {"Extension init": ("Ext init",), "Runtime init": ("Runtime",), "Function init": ("Fn init",)}
LEGEND = (("init", "phase-init"), ("invoke", "phase-invoke"), ("frozen", "phase-frozen"), ("held", "phase-held"),
          ("reset", "phase-reset"), ("shutdown", "phase-shutdown"), ("error", "phase-error"))


@dataclass(frozen=True)
class TimelineItem:
    """One drawn bar: what the bar says, how long it took (or has taken, while `live`), its colour."""

    label: str
    duration_ms: float
    live: bool
    variable: str
    short_labels: tuple[str, ...] = ()

    def label_for(self, cells: int) -> str:
        """The longest of the label's forms that fits in `cells` (with a leading space), else cut."""
        for text in (self.label, *self.short_labels):
            if len(text) + 1 <= cells:
                return f" {text}".ljust(cells)
        text = f" {self.label}"
        return text[: cells - 1] + "…" if len(text) > cells else text.ljust(cells)

    @property
    def width(self) -> int:
        return bar_width(self.duration_ms)


def bar_width(ms: float) -> int:
    """Columns for a duration: 9 for anything under a millisecond, +4 per factor of ten, at most 30."""
    return max(MIN_WIDTH, min(MAX_WIDTH, round(MIN_WIDTH + 4 * math.log10(1 + max(ms, 0.0)))))


TICK_S = 0.1  # how often a running bar's duration is redrawn


def monotonic_clock() -> float:
    """The local clock running bars tick by (looked up at each widget's creation: SVG tests stop it)."""
    return time.monotonic()


def timeline_items(snapshot: DebuggerSnapshot, now: Optional[float] = None) -> list[TimelineItem]:
    """The bars to draw, in order. Init's own bar is left out where its sub-phases tell the same story,
    but an Init that failed marks its last sub-phase as failed. `now` (host clock) times the running bars;
    by default the snapshot's own time."""
    bars = snapshot.timeline
    now = snapshot.environment.as_of if now is None else now
    holds = [(bar.start, bar.end) for bar in bars if bar.kind == tl.HELD]
    items: list[TimelineItem] = []
    parent: Optional[tl.TimelineBar] = None
    last_step: Optional[int] = None  # where the parent's last sub-phase is in `items`
    held: Optional[tl.TimelineBar] = None
    for index, bar in enumerate(bars):
        if bar.kind == tl.HELD:
            held = bar
        elif bar.kind == tl.FROZEN and held is not None and (held.end is None or bar.start <= held.end):
            continue  # the processes are stopped because of the hold: one bar tells it
        if bar.kind == tl.INIT and _has_steps(bars, index):
            _fail_last_step(items, parent, last_step)
            parent, last_step = bar, None
            continue
        if bar.kind == tl.SUBPHASE:
            last_step = len(items)
        elif bar.kind not in (tl.HELD, tl.FROZEN):  # holds sit between Init's steps and after its failure
            _fail_last_step(items, parent, last_step)
            parent, last_step = None, None
        items.append(_item(bar, now, holds))
    _fail_last_step(items, parent, last_step)
    return items


def running_ms(bar: tl.TimelineBar, now: float, holds: list[tuple[float, Optional[float]]]) -> float:
    """How long a running bar has run by `now`, less every hold inside it (a held bar is itself all hold)."""
    elapsed = max(now - bar.start, 0.0)
    if bar.kind != tl.HELD:
        for start, end in holds:
            overlap = min(now if end is None else end, now) - max(start, bar.start)
            elapsed -= max(overlap, 0.0)
    return max(elapsed, 0.0) * 1000


def _has_steps(bars: tuple[tl.TimelineBar, ...], index: int) -> bool:
    """Whether the Init bar at `index` has sub-phase bars (holds may sit between them)."""
    for bar in bars[index + 1:]:
        if bar.kind == tl.SUBPHASE:
            return True
        if bar.kind != tl.HELD:
            return False
    return False


def _fail_last_step(items: list[TimelineItem], parent: Optional[tl.TimelineBar], step: Optional[int]) -> None:
    """A failed Init's last sub-phase is where it failed: ✗ and the error colour (once, if the step has it)."""
    if parent is None or parent.status not in FAILED or step is None:
        return
    last = items[step]
    if "✗" not in last.label:
        items[step] = TimelineItem(f"{last.label} ✗ {parent.status}", last.duration_ms, last.live, "phase-error",
                                   tuple(f"{short} ✗" for short in last.short_labels))


def _item(bar: tl.TimelineBar, now: float, holds: list[tuple[float, Optional[float]]]) -> TimelineItem:
    live = bar.duration_ms is None
    ms = bar.duration_ms if bar.duration_ms is not None else running_ms(bar, now, holds)
    failed = bar.status in FAILED
    shorter: tuple[str, ...] = ()
    if bar.kind in (tl.SUBPHASE, tl.INIT):
        label = bar.label[:1].upper() + bar.label[1:]
        shorter = SHORT_LABELS.get(label, ("Init",) if bar.kind == tl.INIT else ())
        if failed:
            label, shorter = f"{label} ✗ {bar.status}", tuple(f"{short} ✗" for short in shorter)
    elif bar.kind == tl.INVOKE:
        label = f"{bar.label} ✗ {bar.status}" if failed else bar.label
        shorter = (f"{bar.label[:6]} ✗",) if failed else ()
        if bar.caller:  # a function URL's invoke: its method and path first, the id where they leave room
            mark = " ✗" if failed else ""
            cut = tuple(f"{bar.caller[:n]}…{mark}" for n in range(len(bar.caller) - 1, 2, -1))
            label, shorter = f"{bar.caller} {label}", (f"{bar.caller}{mark}", *cut, *shorter)
    elif bar.kind == tl.RESET:
        label, shorter = (f"reset: {bar.detail}", ("reset",)) if bar.detail else ("reset", ())
    elif bar.kind == tl.SHUTDOWN:
        label, shorter = (f"Shutdown: {bar.detail}", ("Shutdown",)) if bar.detail else ("Shutdown", ())
    elif bar.kind == tl.HELD:
        label, shorter = bar.label, ("held",)
    else:  # frozen
        label = bar.label
    variable = "phase-error" if failed and bar.kind != tl.RESET else KIND_VARIABLE.get(bar.kind, "phase-init")
    return TimelineItem(label, ms, live, variable, shorter)


class PhaseTimeline(Widget):
    """Bars for Init's sub-phases, each invoke, frozen gaps, holds, resets and shutdown."""

    class BarClicked(Message):
        """The user clicked a bar: the app shows the state as of its end (the widget only says which)."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq  # the bar's TimelineBar.seq

    DEFAULT_CSS = """
    PhaseTimeline {
        height: 4;
        padding: 0 1;
    }
    """
    """Four rows: bar labels, durations, the marker at the current boundary, the legend."""

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None,
                 clock: Optional[Callable[[], float]] = None) -> None:
        """`clock` is any monotonic clock in seconds (a test passes its own): only its differences are used."""
        super().__init__(name=name, id=id, classes=classes)
        self._snapshot: Optional[DebuggerSnapshot] = None
        self._clock = clock or monotonic_clock
        self._received = 0.0  # the local clock when the snapshot arrived (its `as_of` on the host's clock)
        self._live = False  # whether the last render drew a running bar (only then does the timer redraw)
        self.hidden_bars = 0
        """How many earlier bars the last render left out for lack of room."""

    def on_mount(self) -> None:
        self.set_interval(TICK_S, self._tick)

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Redraw from this snapshot's timeline and marker."""
        self._snapshot = snapshot
        self._received = self._clock()
        self.refresh()

    def now(self) -> Optional[float]:
        """The host clock now: the snapshot's `as_of` plus the local time since it arrived."""
        if self._snapshot is None:
            return None
        return self._snapshot.environment.as_of + max(self._clock() - self._received, 0.0)

    def _tick(self) -> None:
        if self._live:
            self.refresh()

    def render(self) -> Content:
        width = max(self.content_size.width, 10)
        snapshot = self._snapshot
        items = timeline_items(snapshot, self.now()) if snapshot is not None else []
        self._live = any(item.live for item in items)
        if snapshot is None or not items:
            self.hidden_bars = 0
            empty = Content.styled("No phases yet: the environment is cold; the first invoke runs Init.", "dim")
            return Content("\n").join([empty.truncate(width, ellipsis=True), Content(""), Content(""),
                                       self._legend(width, 0)])
        shown = self._fit(items, width)
        self.hidden_bars = len(items) - len(shown)
        labels, durations = self._bar_rows(shown)
        marker = self._marker_row(snapshot, shown, width)
        rows = [labels, durations, marker, self._legend(width, self.hidden_bars)]
        return Content("\n").join(row.truncate(width, ellipsis=False) for row in rows)

    # ------------------------------------------------------------------ layout

    @staticmethod
    def _fit(items: list[TimelineItem], width: int) -> list[tuple[TimelineItem, int]]:
        """The newest items whose bars (plus a one-column gap each) fit; the newest is squeezed if alone."""
        fitted: list[tuple[TimelineItem, int]] = []
        used = 0
        for item in reversed(items):
            room = item.width + (1 if fitted else 0)
            if used + room > width:
                if not fitted:
                    fitted.append((item, width))
                break
            fitted.append((item, item.width))
            used += room
        fitted.reverse()
        return fitted

    @staticmethod
    def _bar_rows(shown: list[tuple[TimelineItem, int]]) -> tuple[Content, Content]:
        labels: list[tuple[str, str] | str] = []
        durations: list[tuple[str, str] | str] = []
        for index, (item, cells) in enumerate(shown):
            if index:
                labels.append(" ")
                durations.append(" ")
            text = item.label_for(cells)
            style = f"$background on ${item.variable}" + (" bold" if index == len(shown) - 1 else "")
            labels.append((text, style))
            figure = duration(item.duration_ms) + ("…" if item.live else "")
            durations.append((figure[:cells].ljust(cells), "dim"))
        return Content.assemble(*labels), Content.assemble(*durations)

    @staticmethod
    def _marker_row(snapshot: DebuggerSnapshot, shown: list[tuple[TimelineItem, int]], width: int) -> Content:
        if snapshot.marker is None:
            return Content("")
        held = snapshot.environment.held_at is not None
        text = f"▲ held at {snapshot.marker}" if held else f"▲ {snapshot.marker}"
        # The lifecycle is at the newest bar: at its start while it is still open (held, frozen),
        # at its end once it closed (a reset or shutdown that finished).
        newest, cells = shown[-1]
        start = sum(c + 1 for _, c in shown[:-1]) + (0 if newest.live else cells - 1)
        if start + len(text) > width:
            text = text.replace("▲ ", "") + " ▲"
            start = max(0, start - len(text) + 1)
        style = "bold $phase-held" if held else "$accent"
        return Content.assemble(" " * start, (text, style))

    @staticmethod
    def _legend(width: int, hidden: int) -> Content:
        """The colour key; first, when bars were left out, how many (it must survive truncation)."""
        parts: list[tuple[str, str] | str] = []
        if hidden:
            parts.append((f"◀ {hidden} earlier bar{'s' if hidden != 1 else ''}  ", "dim italic"))
        for name, variable in LEGEND:
            parts.append(("■ ", f"${variable}"))
            parts.append((f"{name}  ", "dim"))
        return Content.assemble(*parts)
