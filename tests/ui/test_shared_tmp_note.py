"""The debugger says in full when the environment shares the host's /tmp: in the /tmp panel and in the log.

The real app with the real backend (`build_debugger`, as `lambdatui PATH` builds it), on a function
written under pytest's `tmp_path`, which lies under /tmp: a private /tmp would hide the code, so
lambdatui falls back to TMPDIR. The function writes nothing, so the host's /tmp is left as it was.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable

import pytest
from _host import screen_lines
from textual.pilot import Pilot

from lambdatui.config import resolve_function
from lambdatui.model.facts import LAMBDATUI
from lambdatui.processes.sandbox import lies_under_tmp
from lambdatui.tui import build_debugger
from lambdatui.ui.widgets import LogView, TmpView

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SIZE = (160, 60)  # room for the whole wrapped note (at 140x45 it is taller than the /tmp panel, which scrolls)
WAIT_S = 10.0
POLL_S = 0.05


async def until(pilot: Pilot, check: Callable[[], bool], what: str) -> None:
    """Let the app process its messages until `check()` holds; fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_S} s for {what}")
        await pilot.pause(POLL_S)


def region_text(pilot: Pilot, widget: TmpView) -> str:
    """What the screen shows inside the widget, row by row (other panels share those rows)."""
    region = widget.content_region
    lines = screen_lines(pilot)[region.y:region.y + region.height]
    return "\n".join(line[region.x:region.x + region.width] for line in lines)


def squeezed(text: str) -> str:
    # Wrapping puts line breaks where spaces were, or inside a long path: compare the characters alone.
    return "".join(text.split())


async def test_the_tmp_panel_and_the_log_give_the_whole_note(tmp_path: Path) -> None:
    if not lies_under_tmp(tmp_path):
        pytest.skip(f"pytest's tmp_path ({tmp_path}) is not under /tmp (TMPDIR): the environment would not share it")
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text("def handler(event, context):\n    return {}\n")
    app = build_debugger(resolve_function(str(code / "handler.py")))
    try:
        async with app.run_test(size=SIZE) as pilot:
            try:
                await until(pilot, lambda: app.snapshot is not None and app.snapshot.sandbox_note is not None,
                            "a snapshot with the sandbox note")
                note = app.snapshot.sandbox_note
                assert note.startswith(f"/tmp is not isolated: {code} lies under /tmp"), note
                assert "absolute /tmp paths reach the host's /tmp" in note

                panel = app.query_one(TmpView)
                await until(pilot, lambda: squeezed("note: " + note) in squeezed(region_text(pilot, panel)),
                            "the /tmp panel to show the whole note")

                logs = app.query_one(LogView)
                await until(pilot, lambda: any(note in line for line in logs.visible_lines()),
                            f"the log to carry the note as a [{LAMBDATUI}] line")
            finally:
                await app.run_action("quit")
                deadline = time.monotonic() + WAIT_S
                while app.return_code is None and time.monotonic() < deadline:
                    await pilot.pause(POLL_S)
    finally:
        if app.backend is not None:
            app.backend.stop()  # a no-op once the host has stopped
            await asyncio.wait_for(app.backend.wait_stopped(), WAIT_S)
