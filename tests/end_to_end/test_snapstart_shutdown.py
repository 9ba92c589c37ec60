"""SnapStart: lambdatui shutting down while an environment is being restored ends that environment at once.

The first restore copies the snapshot's /tmp before it copies the runtime (host/snapshot_restore.py); the shutdown's
SIGKILL for a runtime that does not exist yet must reach it once it does. Lost, the copy ran on, and the shutdown
waited for the restore's own limit (10 s) to end it. The snapshot's /tmp here holds a few thousand files, so that
the copy lasts long enough for the shutdown to begin while it runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import trio
import trio.testing

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model.fleet import FleetOptions
from lambdatui.processes.snapshot_template import FORK_TIMEOUT_S
from lambdatui.runner import open_environment

from e2e_support import write_file

HANDLER = '''import os
import tempfile

for n in range(3000):  # made during Init: in the snapshot's /tmp, which the first restore copies
    with open(os.path.join(tempfile.gettempdir(), "f%04d" % n), "w") as out:
        out.write("x")


def handler(event, context):
    return "ran"
'''


@pytest.mark.trio
async def test_a_shutdown_during_a_restore_ends_the_environment_being_restored_at_once(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    restoring = trio.Event()
    answers: list[f.InvocationResult] = []

    def note(number: int, fact: object) -> None:
        if number == 2 and isinstance(fact, f.PhaseStarted) and fact.phase == "init":
            restoring.set()

    config = resolve_function(str(code_dir / "handler.py"))
    with trio.fail_after(60):
        async with open_environment(config, numbered_listeners=[note], fleet=FleetOptions(snapstart=True)) as running:

            async def invoke() -> None:
                result, _ = await running.fleet.invoke(json.dumps({}).encode())
                answers.append(result)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(invoke)
                await restoring.wait()
                began = time.monotonic()
                with trio.fail_after(FORK_TIMEOUT_S / 2):  # the restore's own limit, 10 s, must not be what ends it
                    await running.fleet.shutdown()
            shut_down_in = time.monotonic() - began
    assert shut_down_in < FORK_TIMEOUT_S / 2
    assert [(a.function_error, a.error_type) for a in answers] == [(True, "Sandbox.Failure")], answers


SLOW_INIT = '''import time

time.sleep(1.0)  # Init: the snapshot is still being made when the shutdown comes


def handler(event, context):
    return "ran"
'''


@pytest.mark.trio
async def test_an_invoke_waiting_for_the_snapshot_when_lambdatui_shuts_down_is_told_it_shut_down(code_dir: Path) -> None:
    # Not 409 "the snapshot could not be made, or is gone": it went with the shutdown.
    write_file(code_dir / "handler.py", SLOW_INIT)
    answers: list[f.InvocationResult] = []
    config = resolve_function(str(code_dir / "handler.py"))
    with trio.fail_after(60):
        async with open_environment(config, fleet=FleetOptions(snapstart=True)) as running:

            async def invoke() -> None:
                result, _ = await running.fleet.invoke(b"{}")
                answers.append(result)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(invoke)
                await trio.testing.wait_all_tasks_blocked()  # the invoke waits for the snapshot
                await running.fleet.shutdown()
    assert [(a.function_error, a.error_type, a.api_status) for a in answers] == [(True, "Sandbox.Failure", 0)], answers
