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

from pathlib import Path

import pytest

from _host import LARGE, running_debugger, screen_text, until_snapshot, until_true
from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary
from lambdatui.tui import build_debugger

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

HELLO = Path(__file__).resolve().parents[2] / "sample_functions" / "hello" / "handler.py"


async def test_the_invoke_api_address_stays_on_screen() -> None:
    app = build_debugger(resolve_function(str(HELLO)), invoke_port=0)
    async with running_debugger(app, LARGE) as pilot:
        await until_snapshot(pilot, lambda s: app.invoke_api is not None
                             and s.environment.held_at is Boundary.INIT_EXTENSIONS, "the debugger up, its API too")
        port = app.invoke_api.rsplit(":", 1)[1]
        await pilot.press("c")  # a few updates later, as a user would look
        await until_true(pilot, lambda: f":{port}" in screen_text(pilot), f"the Invoke API's address ({app.invoke_api})")
