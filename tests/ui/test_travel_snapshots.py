"""SVG snapshots of travelling back: a past phase selected with its PAST marker, and two invokes compared.

The warm counter session replayed, with each finished bar's past as tests/ui/travel_replay.py builds it.
`snap_compare` runs the app with `App.run`, so these tests are sync.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from lambdatui.ui.screens.compare_invokes import CompareInvokesScreen
from lambdatui.ui.widgets import PhaseTimeline
from lambdatui.ui.widgets import phase_timeline
from test_snapshots import settled
from travel_replay import travelling_app

LARGE = (140, 45)


@pytest.fixture(autouse=True)
def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running bars show the recorded durations (as in test_snapshots.py)."""
    monkeypatch.setattr(phase_timeline, "monotonic_clock", lambda: 0.0)


def test_invoke_1_selected_shows_its_state_and_the_past_marker(snap_compare) -> None:
    """The warm counter, invoke 1 (a1000000) clicked on the timeline, live being three invokes on.

    The timeline points at a1000000 ("▲ selected: the state as of its end"). Under the header's first row
    ("1 invoke": as of then) the PAST bar: "PAST · invoke 1 · a1000000 · ended t+0.10 s
    (2.5 ms) · esc: live  [ ]: previous / next phase". Globals after a1000000 with `invocations` = 1; /tmp
    counter.txt 22 B; the result of a1000000 ("invocations": 1, "cold": true); the log holds a1000000's START, END
    and REPORT only.
    """

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        pilot.app.post_message(PhaseTimeline.BarClicked(7))
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(travelling_app(), terminal_size=LARGE, run_before=run_before)


def test_two_invokes_compared(snap_compare) -> None:
    """C, then invoke 1 -> invoke 3 chosen: `invocations` 1 → 3 "replaced: another object", the rest unchanged;
    /tmp/counter.txt changed 22 B → 66 B, last written by a3000000."""

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("C")
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, CompareInvokesScreen)
        screen.choose(1, 3)
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(travelling_app(), terminal_size=LARGE, run_before=run_before)
