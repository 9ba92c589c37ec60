"""Where the debugger says its Invoke API listens: in the log, where it stays.

`lambdatui PATH --port 0` (or any port) serves the Invoke API while the debugger runs (README: "invokes from curl,
boto3 or a test suite reach the fleet and can be stepped"). In tmux, the address, with the port the kernel chose for
`--port 0`, was shown once, in a toast that went after 8 s, and then nowhere: not in the header, the fleet line, the
log (where `--url-port`'s address stays: "lambdatui  function URL: http://127.0.0.1:43979/"), nor the help. A user
who looked away, or opened a dialog, had no way to learn the port to curl. The address is now a line of lambdatui's
own in the log ("lambdatui  Invoke API on http://127.0.0.1:PORT/2015-03-31/functions/function/invocations"), as the
function URL's is. The test runs the debugger headless (Textual's pilot renders no toasts) and asks that the address
be on the screen once the API is up.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot

from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary
from lambdatui.tui import build_debugger

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "sample_functions" / "hello" / "handler.py"
WAIT_S = 10.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio only


def screen_text(pilot: Pilot) -> str:
    app = pilot.app
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


async def test_the_invoke_api_address_stays_on_screen() -> None:
    app = build_debugger(resolve_function(str(HELLO)), invoke_port=0)
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            try:
                deadline = time.monotonic() + WAIT_S
                while app.invoke_api is None or app.snapshot is None \
                        or app.snapshot.environment.held_at is not Boundary.INIT_EXTENSIONS:
                    assert time.monotonic() < deadline, "the debugger did not come up"
                    await pilot.pause(0.05)
                address = app.invoke_api
                port = address.rsplit(":", 1)[1]
                await pilot.press("c")  # a few updates later, as a user would look
                deadline = time.monotonic() + 2.0
                while time.monotonic() < deadline and f":{port}" not in screen_text(pilot):
                    await pilot.pause(0.05)
                shown = screen_text(pilot)
            finally:
                await app.run_action("quit")
                deadline = time.monotonic() + WAIT_S
                while app.return_code is None and time.monotonic() < deadline:
                    await pilot.pause(0.05)
    finally:
        app.backend.stop()
        await asyncio.wait_for(app.backend.wait_stopped(), WAIT_S)

    assert f":{port}" in shown, f"the Invoke API ({address}) is nowhere on the screen:\n{shown}"
