"""Bounded waits on what the real debugger shows, each failing with the state of the app's snapshot.

They poll as `_host.until_true` does, with a plain sleep, not `pilot.pause` (see there). Every UI file that drives the
real debugger waits with these (most through `test_app_keys`, which re-exports them).
"""

from __future__ import annotations

from typing import Callable, Optional

import _host
import pytest
from _host import screen_text, until_snapshot
from textual.pilot import Pilot

from lambdatui.model.debug_snapshot import DebuggerSnapshot

WAIT_S = 10.0  # the longest any single step may take (a cold start is well under a second here)

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
    return await until_snapshot(pilot, condition, what, timeout, _app_state(pilot))


async def until_true(pilot: Pilot, check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """The same bounded wait, on anything else the app shows (a screen, a widget's state)."""
    await _host.until_true(pilot, check, what, timeout, _app_state(pilot))


def _app_state(pilot: Pilot) -> Callable[[], str]:
    """What a failed wait says: the state of the app's latest snapshot."""
    return lambda: f"the app shows {describe(pilot.app.snapshot)}"  # type: ignore[attr-defined]


async def shows(pilot: Pilot, *texts: str, timeout: float = WAIT_S) -> None:
    """Until the screen shows every one of `texts`: widgets repaint on their next refresh, after the state changed."""
    try:
        await until_true(pilot, lambda: all(text in screen_text(pilot) for text in texts),
                         f"the screen to show {texts!r}", timeout)
    except pytest.fail.Exception as failed:
        pytest.fail(f"{failed}\nthe screen:\n{screen_text(pilot)}")
