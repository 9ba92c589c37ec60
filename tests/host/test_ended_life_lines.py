"""Lines read from an ended life's pipe (a crashed runtime's daemon kept its stdout open, and the host read what it
printed late) are no invoke's: not the invoke running when they are read, nor in its log tail. They were given that
invoke's request id (a fresh-clone CI: a daemon's `tick 13` in a later invoke's `X-Amz-Log-Type: Tail`).

The late read is made deterministic here: the crashed runtime's own pipe handle is handed a line while the next
invoke runs, as the host's reader would hand it one (`EnvironmentProcesses._on_lines`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.core.effects import RUNTIME
from lambdatui.model import facts as f
from lambdatui.runner import open_environment

HANDLER = '''import os, time
def handler(event, context):
    if event.get("crash"):
        os._exit(1)
    time.sleep(event.get("sleep", 0))
    print("own line", flush=True)
    return {"ok": True}
'''
BOUND = 20.0


@pytest.mark.trio
async def test_a_late_line_of_a_crashed_runtime_is_not_the_running_invokes(code_dir: Path) -> None:
    (code_dir / "handler.py").write_text(HANDLER)
    config = resolve_function(str(code_dir / "handler.py"), timeout_s=5)
    lines: list[f.LogLine] = []
    started = trio.Event()

    def heard(fact: f.Fact) -> None:
        if isinstance(fact, f.LogLines):
            lines.extend(fact.lines)
        elif isinstance(fact, f.PhaseStarted) and fact.phase == "invoke" and fact.detail == "after":
            started.set()

    with trio.fail_after(BOUND):
        async with open_environment(config) as running:
            host = running.host
            host.start_environment()
            await running.session.settled()
            crashed = host._processes[RUNTIME][1]  # the pipe the late line comes from
            result, _ = await host.invoke(b'{"crash": true}')
            assert result.error_type == "Runtime.ExitError", result
            host.subscribe(heard)

            async def late_line() -> None:
                await started.wait()
                host._on_lines(crashed, "stdout", ["tick 13"])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(late_line)
                result, tail = await host.invoke(b'{"sleep": 0.3}', request_id="after", wants_log_tail=True)
    assert json.loads(result.payload) == {"ok": True}, result
    assert tail is not None
    text = base64.b64decode(tail).decode()
    assert "own line" in text and "tick 13" not in text, text
    [late] = [line for line in lines if line.text == "tick 13"]
    assert late.request_id is None, late
