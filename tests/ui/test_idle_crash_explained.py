"""A crash while the environment is idle, after an invoke that raised, is explained as a process exit while idle.

In tmux, `lambdatui sample_functions/crash/handler.py -e '{"mode": "ok"}'`, `c`, `i`, `r` enter (raise RuntimeError
on the next entry), `i` (the handler raises: a function error, the environment stays warm and freezes), then `x`,
tab, tab, `3`, enter (the runtime exits with status 3 while frozen). The log said so:

    lambdatui  Runtime exited with error: exit status 3 while the environment was idle: it resets, ...

but the explain line said

    ▌ reset (failure)  The environment was reset after an error (RuntimeError) during request ce87315d: ...

since the explanation walked back past the frozen gap to the last invoke drawn as an error. A raised exception never
resets an environment (sample_functions/crash/README: it "keeps the environment warm"); a timeline bar now says
when it is an error only because the handler's error went to the caller (`TimelineBar.handler_error`), and such an
invoke is not blamed. After a successful invoke the same crash was already explained as "a process exit while the
environment was idle" (tests/ui/test_what_happened.py covers that case).

Composed as `lambdatui PATH` composes it, run headless with Textual's pilot; each wait is bounded and on the app's
own snapshot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _host import LARGE, running_debugger, until_snapshot, until_true
from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.tui import build_debugger
from lambdatui.ui.explain import explain
from lambdatui.ui.screens.pick_target import PickTargetScreen
from lambdatui.ui.widgets import ExplainBar

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

CRASH = Path(__file__).resolve().parents[2] / "sample_functions" / "crash" / "handler.py"


def frozen_idle(s: DebuggerSnapshot) -> bool:
    return s.environment.state is EnvState.FROZEN and s.environment.held_at is None and not s.environment.queued


async def test_an_idle_crash_after_a_function_error_is_not_blamed_on_that_request() -> None:
    app = build_debugger(resolve_function(str(CRASH)), event=b'{"mode": "raise"}')
    async with running_debugger(app, LARGE) as pilot:
        await until_snapshot(pilot, lambda s: s.environment.held_at is Boundary.INIT_EXTENSIONS, "the first hold")
        await pilot.press("c")
        await until_snapshot(pilot, frozen_idle, "Init over, frozen")
        await pilot.press("i")
        raised = await until_snapshot(pilot, lambda s: s.invocations >= 1 and s.last_result is not None
                                      and frozen_idle(s), "the invoke that raises, then the freeze")
        assert raised.last_result is not None and raised.last_result.function_error
        await pilot.press("x")
        await until_true(pilot, lambda: isinstance(app.screen, PickTargetScreen), "the crash dialog")
        await pilot.press("enter")  # the runtime, SIGKILL: the dialog's defaults
        reset = await until_snapshot(pilot, lambda s: s.environment.state is EnvState.COLD and s.environment.reset
                                     and s.environment.held_at is None and not s.environment.queued,
                                     "the reset after the idle crash")
        said = explain(reset)
        await until_true(pilot, lambda: app.query_one(ExplainBar).text == said, "the explain line")

    assert "during request" not in said and "idle" in said, said
