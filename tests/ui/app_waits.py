"""Bounded waits on what the real debugger shows, polled without making the app work for the poll.

`pilot.pause(delay)` first has every widget of the screen (~60 on the debugger's main screen) run a callback
(`Pilot._wait_for_screen`), then forces a screen update. Polled every 50 ms, that alone costs ~0.1 CPU-s per second of
waiting (~0.28 at 20 ms), two to three times what the app itself spends meanwhile (0.05 CPU-s per second held at a
boundary). The states waited on here (a snapshot from the host, a screen pushed, a notification, a widget's state, the
screen's text) are reached by the app on its own: it runs on this same event loop and repaints on its own update timer,
so a plain sleep between two checks lets it get there, and each check reads its state. Keys still go through
`pilot.press`, which waits for the screen to take them.

Every UI file waits with these (most through `test_app_keys`, which re-exports them).
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Optional

import pytest
from _host import screen_text
from textual.pilot import Pilot

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.app import LambdaTuiApp

WAIT_S = 10.0  # the longest any single step may take (a cold start is well under a second here)
POLL_S = 0.05

Condition = Callable[[DebuggerSnapshot], bool]


def describe(snapshot: Optional[DebuggerSnapshot]) -> str:
    if snapshot is None:
        return "no snapshot yet"
    env = snapshot.environment
    result = snapshot.last_result
    return (f"state={env.state.value} held_at={env.held_at} frozen={env.frozen} generation={env.generation} "
            f"env#{snapshot.environment_number} invocations={snapshot.invocations} "
            f"user_frozen={sorted(env.user_frozen)} last_result={result and (result.request_id[:8], result.error_type)}")


async def until(pilot: Pilot, condition: Condition, what: str, timeout: float = WAIT_S) -> DebuggerSnapshot:
    """The app's snapshot once `condition` holds of it; fail after `timeout` seconds."""
    app = pilot.app
    assert isinstance(app, LambdaTuiApp)
    deadline = time.monotonic() + timeout
    while True:
        snapshot = app.snapshot
        if snapshot is not None and condition(snapshot):
            return snapshot
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}; the app shows {describe(snapshot)}")
        await asyncio.sleep(POLL_S)


async def until_true(pilot: Pilot, check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """The same bounded wait, on anything else the app shows (a screen, a widget's state)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}; the app shows {describe(pilot.app.snapshot)}")
        await asyncio.sleep(POLL_S)


async def shows(pilot: Pilot, *texts: str, timeout: float = WAIT_S) -> None:
    """Until the screen shows every one of `texts`: widgets repaint on their next refresh, after the state changed."""
    try:
        await until_true(pilot, lambda: all(text in screen_text(pilot) for text in texts),
                         f"the screen to show {texts!r}", timeout)
    except pytest.fail.Exception as failed:
        pytest.fail(f"{failed}\nthe screen:\n{screen_text(pilot)}")
