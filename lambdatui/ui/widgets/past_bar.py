"""Provides `PastBar`: the one row that says the screen shows the past, which phase, and how to get back.

Hidden while the debugger is live; shown (taking the header's second row, so no pane loses room) while the user
has travelled back to a timeline bar. The text is worked out by the pure `past_marker`.
"""

from __future__ import annotations

from typing import Optional

from textual.content import Content
from textual.widgets import Static

from lambdatui.model import timeline as tl
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.widgets._format import duration, short_id

LIVE_HINT = "esc: live  [ ]: previous / next phase"


def phase_name(snapshot: DebuggerSnapshot, bar: tl.TimelineBar) -> str:
    """"invoke 2 · a2000000", "function init", "reset: timeout": the bar, as the marker names it."""
    if bar.kind == tl.INVOKE:
        number = bar.number or sum(1 for b in snapshot.timeline if b.kind == tl.INVOKE and b.seq <= bar.seq)
        failed = f" ✗ {bar.error_type or bar.status}" if bar.status in tl.FAILED_STATUSES else ""
        caller = f" · {bar.caller}" if bar.caller else ""
        worker = f" · worker {bar.worker}" if bar.worker else ""
        return f"invoke {number} · {short_id(bar.label)}{caller}{worker}{failed}"
    if bar.kind in (tl.RESET, tl.SHUTDOWN) and bar.reason:
        return f"{bar.kind}: {bar.reason}"
    return bar.label


def past_marker(snapshot: DebuggerSnapshot) -> Optional[str]:
    """"PAST · invoke 2 · a2000000 · ended t+0.14 s (2.5 ms) · esc: live": None while live. Times are from the
    first kept bar's start (the host's clock has no wall time)."""
    seq = snapshot.selected_bar
    if seq is None:
        return None
    bar = next((b for b in snapshot.timeline if b.seq == seq), None)
    if bar is None:
        return f"PAST · phase {seq} (no longer on the timeline) · {LIVE_HINT}"
    origin = snapshot.timeline[0].start
    when = "still running: as of now" if bar.end is None else f"ended t+{bar.end - origin:.2f} s"
    took = f" ({duration(bar.duration_ms)})" if bar.duration_ms is not None else ""
    return f"PAST · {phase_name(snapshot, bar)} · {when}{took} · {LIVE_HINT}"


class PastBar(Static):
    """One bold row in the held colour; `display` only while a past bar is selected."""

    DEFAULT_CSS = """
    PastBar {
        height: 1;
        padding: 0 1;
        display: none;
        background: $phase-held;
        color: $background;
        text-style: bold;
    }
    PastBar.-past {
        display: block;
    }
    """

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__("", name=name, id=id, classes=classes)
        self.text: Optional[str] = None
        """The marker shown (None: live)."""

    def show(self, snapshot: Optional[DebuggerSnapshot]) -> None:
        """The marker for a past snapshot; hidden for None (live)."""
        text = past_marker(snapshot) if snapshot is not None else None
        self.set_class(text is not None, "-past")
        if text != self.text:
            self.text = text
            self.update(Content(text or ""))
