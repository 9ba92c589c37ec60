"""SnapStart's errors in the debugger, played for real (the trio host as a guest, real processes) and read off the
screen: a failed restore is the Invoke API's 400 SnapStartException, never a "function error" (an exception the
handler raised), since the event never reached the handler.

The helpers are the key tests' (`test_app_keys.py`): bounded waits on the app's own state, never sleeps.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from _host import running_debugger, screen_text
from test_app_keys import SIZE, held_at, until

from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.fleet import FleetOptions
from lambdatui.tui import build_debugger
from lambdatui.ui.widgets import HeaderBar

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60),
              pytest.mark.skipif(importlib.util.find_spec("snapshot_restore_py") is None,
                                 reason="snapshot_restore_py is not installed (the test extras have it)")]

FAILING_RESTORE = '''from snapshot_restore_py import register_after_restore


@register_after_restore
def reconnect():
    raise RuntimeError("restore hook broke")


def handler(event, context):
    return "ok"
'''


async def test_a_failed_restore_is_shown_as_the_invoke_apis_error_not_a_function_error(code_dir: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(FAILING_RESTORE)
    # This interpreter has snapshot_restore_py; the function must import it too.
    app = build_debugger(resolve_function(str(handler), timeout_s=3, python=sys.executable),
                         fleet=FleetOptions(snapstart=True))
    async with running_debugger(app, SIZE) as pilot:
        # Held at its first boundary, as every debugger's env #1 (the snapshot's Init starts with the fleet).
        await until(pilot, held_at(Boundary.INIT_EXTENSIONS), "the snapshot's Init held at init.extensions")
        await pilot.press("c")
        await until(pilot, lambda s: any(line.state is EnvState.SNAPSHOT for line in s.environments),
                    "the snapshot to be taken")
        await pilot.press("i")
        shown = await until(pilot, lambda s: s.last_result is not None
                            and s.last_result.error_type == "SnapStartException", "the failed restore")
        assert shown.last_result is not None and shown.last_result.api_status == 400
        await until(pilot, lambda s: "Invoke API error 400: SnapStartException" in screen_text(pilot),
                    "the result's title")
        header = app.query_one(HeaderBar).render().plain
        assert "Invoke API error 400: SnapStartException" in header, header
        assert "function error: SnapStartException" not in screen_text(pilot) + header
