"""The debugger's `--record` when the user quits with an HTTP invoke held at invoke.start.

The event never went out: the function never ran that invoke, and its caller got the quit's `Sandbox.Failure`. As
README says of an invoke that was only waiting, the recording writes it as a comment, not as a step a replay would run.
Composed as `lambdatui PATH --port P --record FILE` composes it; waits are on the app's own snapshot, each bounded.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
from test_record_every_invoke import (WAIT_S, assert_recorded_as_not_run, breaking_at_invoke_start, echo_debugger,
                                     quit_and_wait, stop_backend, until)

from lambdatui.model.boundaries import Boundary

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio only


async def test_quitting_with_an_http_invoke_held_at_invoke_start_writes_it_as_a_comment(code_dir: Path,
                                                                                       tmp_path: Path) -> None:
    recording = tmp_path / "session.toml"
    handler, app = echo_debugger(code_dir, recording)
    answers: list[object] = []
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            _, url = await breaking_at_invoke_start(pilot, app)
            async with httpx.AsyncClient(timeout=WAIT_S) as http:
                async with anyio.create_task_group() as group:

                    async def send() -> None:
                        answers.append(await http.post(url, content=b'{"held": true}'))

                    group.start_soon(send)
                    await until(pilot, lambda s: s.environment.held_at is Boundary.INVOKE_START,
                                "the HTTP invoke held at invoke.start")
                    await quit_and_wait(pilot, app)
    finally:
        await stop_backend(app)

    text = assert_recorded_as_not_run(answers, handler, recording, '#   invoke = \'{"held": true}\'')
    assert "the session ended while the function ran" not in text, text
