"""An SVG snapshot of a log search: the matches highlighted, the current one marked, the count and position.

The warm counter session, replayed (see test_snapshots.py for how the images are made and checked).
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.themes import DEFAULT_THEME
from lambdatui.ui.widgets import LogView, phase_timeline
from replay_backend import REPO, load_session, replay

SAMPLES = REPO / "sample_functions"
LARGE = (140, 45)
SETTLE_S = 5.0


@pytest.fixture(autouse=True)
def deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cursors stay drawn, running bars show the recorded durations, no colour switches from the shell."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)
    monkeypatch.setattr(phase_timeline, "monotonic_clock", lambda: 0.0)
    for name in ("NO_COLOR", "TEXTUAL_ANIMATIONS", "TEXTUAL_THEME"):
        monkeypatch.delenv(name, raising=False)


async def searched(pilot: Pilot) -> None:
    """Until the replayed snapshot is on screen, then `/`, "a2000000" typed, and enter (the first match)."""
    app = pilot.app
    assert isinstance(app, LambdaTuiApp)
    waited = 0.0
    while app.snapshot is None or app.query_one(LogView).line_count == 0:
        assert waited < SETTLE_S, "the replayed snapshot never arrived"
        await pilot.pause(0.02)
        waited += 0.02
    await pilot.press("slash", *"a2000000", "enter")
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def test_a_search_with_its_matches_highlighted(snap_compare) -> None:
    """The warm counter state at 140x45 with the log searched for "a2000000".

    The log pane: under its filter row, the search bar reads "a2000000" with "1/3" at its right. The three
    lines of request a2000000 (START, END, REPORT) have "a2000000" highlighted (reversed); the current match, in
    START's line, is in the warning colour, bold and underlined. The other lines (INIT_START, a1000000's and
    a3000000's) are plain. The rest of the screen is the warm session's.
    """
    app = LambdaTuiApp(replay(load_session("warm")), code_dir=SAMPLES / "counter", theme=DEFAULT_THEME)
    app.event_text = '{"n": 3}'
    app.event_source = "--event"
    assert snap_compare(app, terminal_size=LARGE, run_before=searched)
