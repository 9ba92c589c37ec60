"""The debugger says what of the host's /tmp the function sees: in the /tmp panel, which leaves the host's folder out
of the function's listing, and in full in the log.

The real app with the real backend (`build_debugger`, as `lambdatui PATH` builds it), on a function run by an
interpreter under /tmp (as in a virtualenv cloned there): a private /tmp alone would hide it, so the folder in
/tmp that holds it is seen again, read-only, in the environment's /tmp. The function writes only its own /tmp.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest
from _host import running_debugger, screen_lines
from sandbox_support import expected_sandbox
from textual.pilot import Pilot

from lambdatui.config import resolve_function
from lambdatui.model.facts import LAMBDATUI
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


async def test_the_tmp_panel_and_the_log_say_what_of_the_hosts_tmp_is_seen(code_dir: Path,
                                                                            python_under_tmp: Path) -> None:
    if expected_sandbox(code_dir).mode != "mount-namespace":
        pytest.skip("no private /tmp here: the function sees the host's")
    (code_dir / "handler.py").write_text("open('/tmp/own-file', 'w').close()\n\n\n"
                                         "def handler(event, context):\n    return {}\n")
    folder = str(python_under_tmp.parents[1])
    app = build_debugger(resolve_function(str(code_dir / "handler.py"), python=str(python_under_tmp)))
    async with running_debugger(app, SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.environment.held_at is not None,
                    "the opening hold")
        await pilot.press("c")  # Init runs on: the function writes its file
        await until(pilot, lambda: app.snapshot.tmp is not None and bool(app.snapshot.tmp.entries),
                    "a snapshot listing the function's /tmp")
        shown = app.snapshot.sandbox_note
        assert shown.startswith(f"the host's {folder}") and shown.endswith(" seen here too (read-only)"), shown
        # The function's own file is listed; the host's folder, which it did not make, is not.
        assert [entry.path for entry in app.snapshot.tmp.entries] == ["/tmp/own-file"]
        panel = app.query_one(TmpView)
        await until(pilot, lambda: squeezed("note: " + shown) in squeezed(region_text(pilot, panel)),
                    "the /tmp panel to show the note")
        note = f"the processes need {python_under_tmp}"  # (a clone under /tmp adds its own, after it)

        logs = app.query_one(LogView)
        await until(pilot, lambda: any(note in line for line in logs.visible_lines()),
                    f"the log to carry the note as a [{LAMBDATUI}] line")
