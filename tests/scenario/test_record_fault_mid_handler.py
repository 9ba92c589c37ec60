"""The debugger's `--record` with `t` or `x` pressed while the handler runs, replayed by the real `lambdatui replay`.

A bug hunt's finding, reproduced 2 of 2: the handler appends a line to /tmp, then sleeps; the fault given meanwhile
was written `at = "invoke.start"`, where a replay forced it before the event went out ("forced after 0.00 s"): the
handler never ran, wrote no line, and the next step's `expect.response` (`lines: 2`) failed with 1. Recorded now with
how far into the invoke it acted (`after_ms`), the replay's handler runs, writes its line, and meets the fault as far
in. Composed as `lambdatui PATH --record FILE` composes it and driven through the controller as the keys drive it;
every wait is on the app's own snapshot, bounded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_record_every_invoke import assert_replays, until
from test_record_mid_invoke_faults import handler_running

from lambdatui import controller as c
from lambdatui.model import error_types as et
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary
from lambdatui.scenario.model import FaultAction, InvokeAction
from lambdatui.scenario.parse import parse_scenario

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

# The tester's handler: a line in /tmp first (the environment's own /tmp, kept across the reset), then the sleep
# that only the fault cuts short (the timeout is twice as long).
MARKS = '''import time


def handler(event, context):
    with open("/tmp/marks.txt", "a") as f:
        f.write("x\\n")
    with open("/tmp/marks.txt") as f:
        n = sum(1 for _ in f)
    print("marked", flush=True)
    time.sleep(event.get("sleep", 0))
    return {"lines": n}
'''


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio only


@pytest.mark.parametrize("fault, error_type", [
    (flt.ForceTimeout(), et.SANDBOX_TIMEDOUT),
    (flt.Crash(), et.RUNTIME_EXIT_ERROR),
], ids=["timeout", "crash"])
async def test_a_fault_given_mid_handler_replays_mid_handler(private_tmp: Path, tmp_path: Path, fault: flt.Fault,
                                                             error_type: str) -> None:
    handler = private_tmp / "handler.py"
    recording = tmp_path / "session.toml"
    async with handler_running(handler, recording, 60, MARKS, {"sleep": 30}, "marked") as (pilot, controller):
        controller.submit(c.InjectFault(fault))
        first = await until(pilot, lambda s: s.last_result is not None, "the faulted invoke to end")
        assert first.last_result is not None and first.last_result.error_type == error_type
        controller.submit(c.Invoke(b"{}"))
        second = await until(pilot, lambda s: s.invocations >= 2 and s.last_result is not None
                             and s.last_result.request_id != first.last_result.request_id, "the next invoke")
        assert second.last_result is not None and json.loads(second.last_result.payload) == {"lines": 2}

    text = recording.read_text()
    steps = parse_scenario(text, recording).steps
    assert [type(step.action) for step in steps] == [FaultAction, InvokeAction, InvokeAction], text
    armed = steps[0].action.fault
    assert armed.at is Boundary.INVOKE_START and armed.after_ms is not None and armed.after_ms < 30_000, text
    assert steps[2].expect.response == {"lines": 2}, text
    assert_replays(handler, recording)  # the handler ran before the fault: the next invoke counts 2 lines again
