"""Provides `timeline_items`: the bars the timeline draws, read from a snapshot's `TimelineBar`s (pure).

Init's own bar is left out where its sub-phases tell the same story, and a frozen span inside a hold is told
by the hold. Each item keeps the `seq` of the bar it draws (a click selects that bar) and the seqs of the bars
it stands for (`covers`), so that selecting a bar that is not drawn highlights the one that tells its story.

Marks besides colour (for the high-contrast theme and colour-blind users): ↺ a reset, ✗ an error or a timeout,
‖ a hold (which collapses to that one mark unless selected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lambdatui.model import timeline as tl
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.widgets._theme import FAILED, KIND_VARIABLE

# Shorter names for bars too narrow for the full one, longest first.
SHORT_LABELS = {"Extension init": ("Ext init",), "Runtime init": ("Runtime",), "Function init": ("Fn init",)}
RESET_MARK, ERROR_MARK, HOLD_MARK = "↺", "✗", "‖"
ERROR_VARIABLE = "phase-error"


@dataclass(frozen=True)
class TimelineItem:
    """One drawn bar: what the bar says, how long it took (or has taken, while `live`), its colour."""

    label: str
    duration_ms: float
    live: bool
    variable: str
    short_labels: tuple[str, ...] = ()
    kind: str = ""
    seq: int = 0  # the drawn bar's TimelineBar.seq
    covers: tuple[int, ...] = ()  # bars not drawn that this one tells (a hold's frozen span, a failed Init)

    @property
    def mark(self) -> str:
        """The glyph that tells the bar apart without colour (an error's ✗ is already in its label)."""
        if self.kind == tl.RESET:
            return RESET_MARK
        if self.kind == tl.HELD:
            return HOLD_MARK
        return ERROR_MARK if self.variable == ERROR_VARIABLE else ""

    @property
    def collapsible(self) -> bool:
        """A finished hold: drawn as its mark alone unless selected (the running one is where the lifecycle is)."""
        return self.kind == tl.HELD and not self.live

    def stands_for(self, seq: int) -> bool:
        return seq == self.seq or seq in self.covers

    def label_for(self, cells: int) -> str:
        """The longest of the label's forms that fits in `cells` (after a space or the mark), else the mark, else
        cut."""
        lead = f"{self.mark} " if self.kind in (tl.RESET, tl.HELD) else " "  # the mark takes the leading space
        for text in (self.label, *self.short_labels):
            if len(lead + text) <= cells:
                return f"{lead}{text}".ljust(cells)
        if self.mark and cells <= 2:
            return self.mark.ljust(cells)
        if self.mark and cells <= 4:
            return f" {self.mark}".ljust(cells)
        text = f"{lead}{self.label}"
        return text[: cells - 1] + "…" if len(text) > cells else text.ljust(cells)


def timeline_items(snapshot: DebuggerSnapshot, now: Optional[float] = None) -> list[TimelineItem]:
    """The bars to draw, in order, An Init that failed marks its last sub-phase as
    failed. `now` (host clock) times the running bars; by default the snapshot's own time."""
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
            _cover(items, bar.seq)  # the processes are stopped because of the hold: one bar tells it
            continue
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


def index_of(items: list[TimelineItem], seq: Optional[int]) -> Optional[int]:
    """The item that draws bar `seq` or stands for it; else the last one before it (None: no such item)."""
    if seq is None:
        return None
    found: Optional[int] = None
    for index, item in enumerate(items):
        if item.stands_for(seq):
            return index
        if item.seq <= seq:
            found = index
    return found


def running_ms(bar: tl.TimelineBar, now: float, holds: list[tuple[float, Optional[float]]]) -> float:
    """How long a running bar has run by `now`, less every hold inside it (a held bar is itself all hold)."""
    elapsed = max(now - bar.start, 0.0)
    if bar.kind != tl.HELD:
        for start, end in holds:
            overlap = min(now if end is None else end, now) - max(start, bar.start)
            elapsed -= max(overlap, 0.0)
    return max(elapsed, 0.0) * 1000


def _with_covers(item: TimelineItem, *seqs: int) -> TimelineItem:
    return TimelineItem(item.label, item.duration_ms, item.live, item.variable, item.short_labels, item.kind,
                        item.seq, (*item.covers, *seqs))


def _cover(items: list[TimelineItem], seq: int) -> None:
    """The last drawn hold tells bar `seq` (a frozen span inside it)."""
    for index in range(len(items) - 1, -1, -1):
        if items[index].kind == tl.HELD:
            items[index] = _with_covers(items[index], seq)
            return


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
    if parent is None or step is None:
        return
    last = items[step]
    if parent.seq not in last.covers:  # the whole Init ends with its last step: selecting Init selects it
        last = items[step] = _with_covers(last, parent.seq)
    if parent.status not in FAILED:
        return
    if ERROR_MARK not in last.label:
        items[step] = TimelineItem(f"{last.label} ✗ {parent.status}", last.duration_ms, last.live, ERROR_VARIABLE,
                                   tuple(f"{short} ✗" for short in last.short_labels), last.kind, last.seq,
                                   last.covers)


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
        if bar.worker:  # Managed Instances: which worker (its own globals) ran it, where there is room
            fallbacks = (label, *shorter) if failed else (f"{bar.label[:5]} w{bar.worker}", label)
            label, shorter = f"{label} w{bar.worker}", fallbacks
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
    variable = ERROR_VARIABLE if failed and bar.kind != tl.RESET else KIND_VARIABLE.get(bar.kind, "phase-init")
    return TimelineItem(label, ms, live, variable, shorter, bar.kind, bar.seq)
