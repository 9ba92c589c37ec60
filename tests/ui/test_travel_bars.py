"""Which bar `[` and `]` select (lambdatui/ui/travel.py's pure choice), over a timeline folded from facts."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))

from test_travel_history import DebugState, cold_start, invoke  # noqa: E402

from lambdatui.ui.travel import finished_bars, next_bar, previous_bar  # noqa: E402


def test_brackets_walk_the_finished_bars_and_leave_out_an_init_drawn_as_its_steps() -> None:
    state = DebugState()
    cold_start(state)
    invoke(state, 1, 10.0)
    bars = state.timeline.bars()
    kinds = {b.seq: b.kind for b in bars}
    finished = finished_bars(bars)
    assert "init" not in {kinds[s] for s in finished} and "init step" in {kinds[s] for s in finished}
    assert all(next(b for b in bars if b.seq == s).end is not None for s in finished)
    newest = previous_bar(bars, None)
    assert newest == finished[-1] and kinds[newest] == "invoke"
    assert previous_bar(bars, finished[0]) is None  # the oldest: nowhere further back
    assert next_bar(bars, newest) is None  # past the newest finished bar: live
    assert next_bar(bars, finished[0]) == finished[1]
