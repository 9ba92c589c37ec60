"""A crash's reset and the Init after it never hold the host's event loop while the next sandbox init moves into the
environment's cgroup (an RCU grace period, ~15 ms where it was measured; issue 9).

The cgroup's `join` is held at a gate, a grace period that does not end until the test says: meanwhile the crash's
error is answered, the next invoke waits for its runtime in a task, and the host's other tasks run. Before the
change, the reset (then the spawn) waited for the move inline, and the whole host with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
import trio.testing
from e2e_support import environment_with_log, write_file
from sandbox_support import GatedJoin

CRASHING = '''import os


def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    return {"ok": True}
'''


@pytest.mark.trio
async def test_the_loop_goes_on_while_the_next_init_moves_into_the_cgroup(tmp_path: Path) -> None:
    handler = write_file(tmp_path / "fn" / "handler.py", CRASHING)
    async with environment_with_log(handler) as (host, log):
        first, _ = await host.invoke(b"{}")
        assert not first.function_error, first.payload
        supervisor = host._supervisor
        if supervisor is None or supervisor.cgroup is None or not supervisor.forks_in_namespace:
            pytest.skip("no cgroup or PID namespace here: no sandbox init moves into a cgroup")
        gated = supervisor.cgroup.join = GatedJoin(supervisor.cgroup.join)  # type: ignore[method-assign]

        with trio.fail_after(5):  # the gate holds for 10 s: an answer that waited for the move would be too late
            crashed, _ = await host.invoke(json.dumps({"crash": True}).encode())
        assert crashed.function_error and "Runtime.ExitError" in crashed.payload.decode()
        assert await trio.to_thread.run_sync(gated.entered.wait, 5)  # the next init's move is at the gate

        answers: list = []

        async def next_invoke() -> None:
            answers.append(await host.invoke(b"{}"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(next_invoke)
            await trio.testing.wait_all_tasks_blocked()
            # Its Init is asked for, its runtime is being started: the spawn waits in a task, not on the loop.
            assert answers == [] and host._landing.get("runtime", (None,))[0] == host.env.generation
            gated.gate.set()
        result, _ = answers[0]
        assert not result.function_error, result.payload
        generation, runtime = host._processes["runtime"]
        assert generation == host.env.generation and runtime.pid in supervisor.cgroup.pids()  # born inside
