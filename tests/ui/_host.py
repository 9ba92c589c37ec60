"""A tiny host App per widget, and the screen as plain text, for the widget tests; the real debugger run and ended
as a test must end it (`running_debugger`)."""

from __future__ import annotations

import asyncio
import io
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable

import pytest

from rich.console import Console
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import SelectionList

from lambdatui.model.boundaries import ALL_BOUNDARIES, Boundary
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.screens.breakpoints import BreakpointsScreen
from lambdatui.ui.widgets import PHASE_VARIABLE_DEFAULTS

LARGE = (140, 45)
SMALL = (100, 30)
WAIT_S = 5.0  # the longest one wait for the app may take; it takes milliseconds
POLL_S = 0.02


class Host(App[None]):
    """Declares the $phase-* variables as the real app does, and holds one widget."""

    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(PHASE_VARIABLE_DEFAULTS)

    def compose(self) -> ComposeResult:
        yield self.widget


@asynccontextmanager
async def hosted(widget: Widget, *shown: DebuggerSnapshot, size: tuple[int, int] = LARGE) -> AsyncIterator[Pilot]:
    """Mount `widget` alone at `size`, `show` each snapshot in turn, and let it paint."""
    app = Host(widget)
    async with app.run_test(size=size) as pilot:
        for snapshot in shown:
            widget.show(snapshot)  # type: ignore[attr-defined]
        await pilot.pause()
        await pilot.pause()
        yield pilot


def screen_text(pilot: Pilot) -> str:
    """What the terminal shows, as text (the same render `export_screenshot` uses)."""
    app = pilot.app
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def screen_lines(pilot: Pilot) -> list[str]:
    return [line.rstrip() for line in screen_text(pilot).splitlines()]


async def until_true(pilot: Pilot, check: Callable[[], bool], what: str, timeout: float = WAIT_S,
                     shown: Callable[[], str] | None = None) -> None:
    """Until `check()` holds; fail after `timeout`, saying what the app shows (`shown`; the screen by default).

    Polled with a plain sleep: the app runs on this event loop and repaints on its own timer, so it gets there by
    itself. `pilot.pause` had every widget of the screen run a callback and the screen update at each poll, ~0.1-0.3
    CPU-s per second of waiting, more than the app itself spends meanwhile."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}; " + (shown() if shown is not None
                                                              else f"the screen shows:\n{screen_text(pilot)}"))
        await asyncio.sleep(POLL_S)


# The real debugger (build_debugger's app, with its backend) gets longer: a cold start and a host's shutdown.
REAL_WAIT_S = 10.0


async def until_snapshot(pilot: Pilot, condition: Callable[[DebuggerSnapshot], bool], what: str,
                         timeout: float = REAL_WAIT_S, shown: Callable[[], str] | None = None) -> DebuggerSnapshot:
    """The real debugger's latest snapshot, once `condition` holds of it; fail after `timeout`, saying what the app
    shows (`until_true`)."""
    found: list[DebuggerSnapshot] = []

    def holds() -> bool:
        snapshot = pilot.app.snapshot  # type: ignore[attr-defined]
        if snapshot is not None and condition(snapshot):
            found.append(snapshot)
        return bool(found)

    await until_true(pilot, holds, what, timeout, shown)
    return found[0]


async def until_exited(pilot: Pilot, timeout: float = REAL_WAIT_S) -> None:
    """Until the app has exited: its return code is the state to wait on."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while app.return_code is None:
        if time.monotonic() > deadline:
            pytest.fail(f"the app did not exit within {timeout} s")
        await pilot.pause(POLL_S)


@asynccontextmanager
async def running_debugger(app: App, size: tuple[int, int]) -> AsyncIterator[Pilot]:
    """`app` (the real debugger) run for the test; then quit through the quit action, the only way out that stops
    the host (a modal may be open: `q` would be typed into it), and its backend awaited until stopped."""
    try:
        async with app.run_test(size=size, notifications=True) as pilot:
            try:
                yield pilot
            finally:
                if app.return_code is None:
                    await app.run_action("quit")
                    await until_exited(pilot)
    finally:
        backend = getattr(app, "backend", None)
        if backend is not None:
            backend.stop()  # a no-op once the host has stopped
            await asyncio.wait_for(backend.wait_stopped(), REAL_WAIT_S)


async def choose_breakpoints(pilot: Pilot, *boundaries: Boundary) -> None:
    """b, toggle each boundary with the keyboard (down to it, space), enter."""
    app = pilot.app
    await pilot.press("b")
    await until_true(pilot, lambda: isinstance(app.screen, BreakpointsScreen), "the breakpoints dialog")
    listed = app.screen.query_one(SelectionList)
    assert listed.has_focus
    row = 0
    for boundary in sorted(boundaries, key=ALL_BOUNDARIES.index):
        target = ALL_BOUNDARIES.index(boundary)
        await pilot.press(*["down"] * (target - row), "space")
        row = target
    await until_true(pilot, lambda: set(listed.selected) >= set(boundaries), "the selection")
    await pilot.press("enter")
    await until_true(pilot, lambda: not isinstance(app.screen, BreakpointsScreen), "the dialog to close")
