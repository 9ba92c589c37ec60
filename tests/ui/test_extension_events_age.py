"""The extension events view (`v`) says how long ago the last telemetry batch was delivered (found by a bug hunt):
opened while the environment was frozen, it counted from the moment the view opened, not from the delivery.

In tmux, `lambdatui sample_functions/telemetry/handler.py -e '{"linger_ms": 100}'`, `c`, `i`, wait ~15 s: the
Participants row says "3 batches, 11 rec · 16.8 s ago"; press `v` and the view's line says

    Delivered 3 batches, 11 records, 2.7 KB · last 359.8 ms ago

then ticks up from there (the view's `HostClock` takes the snapshot it is opened with, made when the environment
froze, for one made now: no snapshot comes while an environment is frozen). After `s` (shutdown) the same.

README: "`v` | what an extension was sent: its INVOKE and SHUTDOWN events, its telemetry batches and every delivery
attempt". The Participants panel, on the same snapshot, has it right.

Run as `lambdatui PATH` runs it, headless with Textual's pilot; each wait is bounded and on the app's own state.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _host import LARGE, running_debugger, screen_text, until_snapshot, until_true
from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.tui import build_debugger
from lambdatui.ui.screens.extension_events import ExtensionEventsScreen
from textual.widgets import Static

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

TELEMETRY = Path(__file__).resolve().parents[2] / "sample_functions" / "telemetry" / "handler.py"
AGE = re.compile(r"(\d+(?:\.\d+)?) (ms|s) ago")


def age_s(text: str) -> float:
    """The first "N ms ago" / "N s ago" of `text`, in seconds (-1: none)."""
    found = AGE.search(text)
    if found is None:
        return -1.0
    value = float(found.group(1))
    return value / 1000 if found.group(2) == "ms" else value


def frozen_after_invoke(s: DebuggerSnapshot) -> bool:
    activity = s.extension("telemetry")
    return (s.invocations >= 1 and s.environment.state is EnvState.FROZEN and s.environment.held_at is None
            and not s.environment.queued and activity is not None and activity.last_delivery_at is not None)


async def test_the_events_view_counts_the_last_delivery_from_the_delivery_not_from_its_opening() -> None:
    app = build_debugger(resolve_function(str(TELEMETRY)), event=b'{"linger_ms": 100}')
    async with running_debugger(app, LARGE) as pilot:
        await until_snapshot(pilot, lambda s: s.environment.held_at is Boundary.INIT_EXTENSIONS, "the first hold")
        await pilot.press("c")
        await until_snapshot(pilot, lambda s: s.environment.state is EnvState.FROZEN and s.invocations == 0
                             and s.environment.held_at is None, "Init over, frozen")
        await pilot.press("i")
        await until_snapshot(pilot, frozen_after_invoke, "the invoke, a telemetry delivery, then the freeze")

        def participants_age() -> float:
            line = next((row for row in screen_text(pilot).splitlines() if " rec · " in row), "")
            return age_s(line)

        # The Participants row ticks on its own: wait until it says the last delivery was over a second ago.
        await until_true(pilot, lambda: participants_age() >= 1.2, "the Participants row: delivered over 1 s ago")
        before = participants_age()

        await pilot.press("v")
        await until_true(pilot, lambda: isinstance(app.screen, ExtensionEventsScreen), "the extension events view")
        deliveries = app.screen.query_one("#deliveries", Static)
        await until_true(pilot, lambda: "Delivered" in str(deliveries.render()), "the deliveries line")
        said = str(deliveries.render())

    assert age_s(said) >= before - 0.3, (
        f"the Participants row said the last batch came {before} s ago; the view opened after it says: {said!r}")
