"""SVG snapshots of the timeline (issue 15): a selected bar, the bars to scale, a reset and an error in the
high-contrast theme. The real app over recorded sessions, as in test_snapshots.py (whose determinism fixtures
apply here too); `pytest tests/ui/test_timeline_snapshots.py --snapshot-update` after a deliberate change, then
look at the SVGs in `__snapshots__/test_timeline_snapshots/`."""

from __future__ import annotations

import dataclasses

from textual.pilot import Pilot

from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.themes import DEFAULT_THEME
from replay_backend import RecordedSession, load_session, replay
from test_snapshots import LARGE, SAMPLES, no_cursor_blink, plain_terminal_environment, settled, stopped_clock

__all__ = ["no_cursor_blink", "plain_terminal_environment", "stopped_clock"]  # the autouse fixtures, used here


def app_over(state: str, sample: str, *, selected: int | None = None, theme: str = DEFAULT_THEME,
             event: str = "{}") -> LambdaTuiApp:
    recorded = load_session(state)
    snapshot = dataclasses.replace(recorded.snapshot, selected_bar=selected)
    app = LambdaTuiApp(replay(RecordedSession(recorded.name, snapshot, recorded.logs)), code_dir=SAMPLES / sample,
                       theme=theme)
    app.event_text = event
    app.event_source = "--event"
    return app


class TestTimeline:
    def test_a_selected_bar(self, snap_compare) -> None:
        """The warm counter session with bar 4 (Runtime init, out of view when live) selected: the timeline scrolled
        back so that it shows, its label reversed and underlined, its duration bold, "▲ selected: the state as of
        its end" under it; the hint row "◀ 2 earlier · bars 3-10 of 11 · 1 later ▶ · log scale" (the live frozen
        bar is out of view, and so is its boundary marker). The other panels are as in the warm snapshot
        (travelling back is the app's part, not the timeline's)."""
        assert snap_compare(app_over("warm", "counter", selected=4, event='{"n": 3}'), terminal_size=LARGE,
                            run_before=settled)

    def test_to_scale(self, snap_compare) -> None:
        """The warm counter session after `z`: the frozen bars (1.2 s) wide, the 2.5 ms invokes three columns
        each (" a…" is all that fits), the collapsed hold "‖" first; the hint row says "to scale"."""

        async def to_scale(pilot: Pilot) -> None:
            await settled(pilot)
            await pilot.press("z")
            await pilot.pause()

        assert snap_compare(app_over("warm", "counter", event='{"n": 3}'), terminal_size=LARGE, run_before=to_scale)

    def test_a_reset_and_an_error_in_high_contrast(self, snap_compare) -> None:
        """The crash session in lambdatui-high-contrast: "c4a5e0 ✗" (the invoke that made the runtime exit) in the
        error red, then "↺ reset" in orange with "▲ shutdown.done" under it; the legend shows "‖ held",
        "↺ reset" and "✗ error", each mark in its colour."""
        assert snap_compare(app_over("crash_reset", "crash", theme="lambdatui-high-contrast",
                                     event='{"mode": "exit"}'), terminal_size=LARGE, run_before=settled)
