"""A failed Event invoke's retry in the real debugger (build_debugger with its Invoke API, --port 0), the
fleet line's "retrying N" count, and a retry that comes due while the user holds the only environment (--concurrency
1) at a breakpoint. Waits poll the app's own snapshot within a deadline."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from _host import running_debugger, screen_text
from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary
from lambdatui.model.fleet import FleetOptions
from lambdatui.tui import build_debugger
from test_app_keys import SIZE, choose_breakpoints, continued, until

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

ALWAYS_FAILS = '''def handler(event, context):
    if event.get("ok"):
        return "ok"
    raise RuntimeError("always fails")
'''


def held_with(request_id: str):
    return lambda s: s.environment.held_at is Boundary.INVOKE_RESPONSE and \
        s.environment.current_request_id == request_id


# Long enough for the UI's invoke to take the environment first on a loaded machine (0.3 s was not, once, in CI: the
# retry came due and took it), short enough to be waited for.
RETRY_WAIT_S = 1.5


async def test_a_retry_due_while_the_only_environment_is_held_waits_then_runs_and_the_count_returns_to_0(
        code_dir: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(ALWAYS_FAILS)
    app = build_debugger(resolve_function(str(handler)), invoke_port=0,
                         fleet=FleetOptions(concurrency=1, retry_wait_s=RETRY_WAIT_S, retry_attempts=1))
    async with running_debugger(app, SIZE) as pilot:
        await until(pilot, lambda s: app.invoke_api is not None and s.environment.held_at is Boundary.INIT_EXTENSIONS,
                    "the debugger up, its Invoke API too")
        await continued(pilot)
        await choose_breakpoints(pilot, Boundary.INVOKE_RESPONSE)
        url = f"{app.invoke_api}/2015-03-31/functions/function/invocations"
        if not url.startswith("http"):
            url = "http://" + url
        async with httpx.AsyncClient() as client:
            answer = await client.post(url, content=b"{}", headers={"X-Amz-Invocation-Type": "Event"}, timeout=30)
            assert answer.status_code == 202, answer.text
            request_id = answer.headers["x-amzn-RequestId"]
            await until(pilot, held_with(request_id), "the first attempt held at invoke.response")
            await pilot.press("c")
            waiting = await until(pilot, lambda s: s.fleet is not None and s.fleet.retrying == 1,
                                  "the fleet line to count the failed invoke as retrying", timeout=10)
            assert waiting.fleet is not None and waiting.fleet.queued_events == 0
            # While its retry waits, a synchronous invoke from the UI takes the only environment and is held.
            await pilot.press("i")
            sync = await until(pilot, lambda s: s.environment.held_at is Boundary.INVOKE_RESPONSE
                               and s.environment.current_request_id not in (None, request_id),
                               "the UI's invoke held on the only environment")
            # The retry comes due: it waits in the queue for the held environment, not lost, not retrying any more.
            queued = await until(pilot, lambda s: s.fleet is not None and s.fleet.queued_events == 1 and s.fleet.retrying == 0,
                                 "the retry queued behind the held environment", timeout=10)
            assert queued.environment.current_request_id == sync.environment.current_request_id
            await pilot.press("c")
            await until(pilot, held_with(request_id), "the retry, with the same request id, held in its turn")
            await pilot.press("c")
            done = await until(pilot, lambda s: s.fleet is not None and s.fleet.retrying == 0 and s.fleet.queued_events == 0
                               and s.environment.held_at is None and s.last_result is not None
                               and s.last_result.request_id == request_id, "the retry's end")
            assert "retrying" not in screen_text(pilot)
            assert done.fleet is not None and done.fleet.environments == 1
