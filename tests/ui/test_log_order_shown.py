"""The log pane's order of a function's lines when it mixes `logging` records with `print`.

Python's runtime writes each logging record to its telemetry log fd (`_LAMBDA_TELEMETRY_LOG_FD`: one framed record,
newlines inside) and `print` to stdout. The function (log_order_function/logorder) writes record step 1, print step
2, record step 3, ... print step 6; with the fd a pipe of its own, the debugger's log pane showed the print lines
ahead of the records they followed (`print step 2` above `record step 1`, found by a bug hunt): lambdatui's log fd
now writes to stdout's pipe. Composed as `lambdatui PATH` composes it, run with Textual's pilot; each wait is
bounded and on the app's state.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _host import LARGE, running_debugger, until_snapshot, until_true
from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.tui import build_debugger
from lambdatui.ui.widgets import LogView

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

LOGORDER = Path(__file__).resolve().parent / "log_order_function" / "logorder" / "handler.py"
STEP = re.compile(r"(record|print) step (\d)")
INVOKES = 3


def idle(s) -> bool:
    return s.environment.state is EnvState.FROZEN and s.environment.held_at is None and not s.environment.queued


async def steps_shown() -> list[list[int]]:
    """Each invoke's step numbers, in the order the log pane shows them."""
    app = build_debugger(resolve_function(str(LOGORDER)), event=b"{}")
    async with running_debugger(app, LARGE) as pilot:
        await until_snapshot(pilot, lambda s: s.environment.held_at is Boundary.INIT_EXTENSIONS, "the first hold")
        await pilot.press("c")
        await until_snapshot(pilot, idle, "Init over, frozen")
        for n in range(1, INVOKES + 1):
            await pilot.press("i")
            await until_snapshot(pilot, lambda s: s.invocations == n and idle(s), f"invoke {n}")
        view = app.query_one(LogView)
        # every line of the three invokes, REPORT last: the pane has taken them all in
        await until_true(pilot, lambda: sum("REPORT RequestId" in t for t in view.visible_lines()) == INVOKES,
                         "three REPORT lines in the log pane")
        texts = view.visible_lines()
    shown: list[list[int]] = []
    for text in texts:
        if "START RequestId" in text and "REPORT" not in text:
            shown.append([])
        for match in STEP.finditer(text):
            shown[-1].append(int(match.group(2)))
    return shown


async def test_the_log_pane_keeps_the_order_the_function_wrote_its_lines_in() -> None:
    shown = await steps_shown()
    assert shown == [[1, 2, 3, 4, 5, 6]] * INVOKES, shown
