"""No sandbox init's move into its environment's cgroup (an RCU grace period, ~15 ms where it was measured; issue 9)
holds the host: a crash's reset and the Init after it move nothing (the reset's init is a fork of the environment's
keeper, inside already), and a fleet's next environment moves its keeper while the host's event loop goes on.

The cgroup's `join` is held at a gate, a grace period that does not end until the test says. Before the keeper, the
crash's next invoke waited for a new init's move; before that, the reset, the spawn and a new environment's set-up
waited for the move inline, and the whole host with it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import threading
from pathlib import Path

import pytest
import trio
import trio.testing
from e2e_support import LogCollector, environment_with_log, write_file

from lambdatui.config import resolve_function
from lambdatui.processes.cgroup import EnvironmentCgroup
from lambdatui.runner import open_environment
from sandbox_support import GatedJoin

CRASHING = '''import os
import time


def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
'''


@pytest.mark.trio
async def test_a_crash_s_reset_and_the_next_init_move_nothing_into_the_cgroup(tmp_path: Path) -> None:
    handler = write_file(tmp_path / "fn" / "handler.py", CRASHING)
    async with environment_with_log(handler) as (host, log):
        first, _ = await host.invoke(b"{}")
        assert not first.function_error, first.payload
        supervisor = host._supervisor
        if supervisor is None or supervisor.cgroup is None or not supervisor.forks_in_namespace:
            pytest.skip("no cgroup or PID namespace here: no sandbox init moves into a cgroup")
        gated = supervisor.cgroup.join = GatedJoin(supervisor.cgroup.join)  # type: ignore[method-assign]

        with trio.fail_after(5):  # the gate holds for 10 s: a reset or an Init that waited for a move would fail
            crashed, _ = await host.invoke(json.dumps({"crash": True}).encode())
            assert crashed.function_error and "Runtime.ExitError" in crashed.payload.decode()
            result, _ = await host.invoke(b"{}")
        assert not result.function_error, result.payload
        assert not gated.entered.is_set()  # the reset's init is a fork of the keeper, born inside
        generation, runtime = host._processes["runtime"]
        assert generation == host.env.generation and runtime.pid in supervisor.cgroup.pids()  # born inside


@pytest.mark.trio
async def test_a_fleets_next_environment_is_made_while_the_loop_goes_on(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    handler = write_file(tmp_path / "fn" / "handler.py", CRASHING)
    async with open_environment(resolve_function(str(handler))) as running:
        fleet = running.fleet
        first, _ = await fleet.invoke(b"{}")
        assert not first.function_error, first.payload
        supervisor = fleet.first._supervisor if fleet.first is not None else None
        if supervisor is None or supervisor.cgroup is None or not supervisor.forks_in_namespace:
            pytest.skip("no cgroup or PID namespace here: no sandbox init moves into a cgroup")
        gated = GatedJoin(EnvironmentCgroup.join)
        monkeypatch.setattr(EnvironmentCgroup, "join", lambda cgroup, pid: gated(cgroup, pid))
        answers: list = []

        async def invoke(event: bytes) -> None:
            answers.append(await fleet.invoke(event))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(invoke, b'{"sleep": 2}')  # env #1 busy: the next invoke needs env #2
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(invoke, b"{}")
            assert await trio.to_thread.run_sync(gated.entered.wait, 5)  # env #2's init is at the gate
            await trio.testing.wait_all_tasks_blocked()
            assert answers == []  # env #2 is made on a worker thread: this task runs meanwhile
            gated.gate.set()
        assert all(not result.function_error for result, _ in answers), answers


@pytest.mark.trio
async def test_a_crash_s_error_reaches_its_caller_before_the_old_life_is_ended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In Lambda a crash's error comes at once. The reset's end of the old life (its kill, the wait for its namespace,
    the next init asked for) comes after the answer is written: a real HTTP caller has the error while the host's
    thread is held at that end."""
    from lambdatui.processes.supervisor import Supervisor

    handler = write_file(tmp_path / "fn" / "handler.py", CRASHING)
    received = threading.Event()
    held: list[bool] = []
    end = Supervisor.end_everything_inside

    def end_held(self: Supervisor, prepare_next: bool = True) -> None:
        if prepare_next:  # a reset's, not the final one's: held until the caller has its answer (at most 5 s)
            held.append(received.wait(5))
        end(self, prepare_next)

    monkeypatch.setattr(Supervisor, "end_everything_inside", end_held)

    def crash(address: str) -> tuple[int, dict[str, str], bytes]:
        host, port = address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("POST", "/2015-03-31/functions/function/invocations", body=b'{"crash": true}')
            response = conn.getresponse()
            answer = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            received.set()
            return answer
        finally:
            conn.close()

    with trio.fail_after(30):
        async with open_environment(resolve_function(str(handler)), invoke_port=0) as running:
            assert running.invoke_api is not None
            status, headers, body = await trio.to_thread.run_sync(crash, running.invoke_api)
            assert status == 200 and headers["x-amz-function-error"] == "Unhandled", body
            assert json.loads(body)["errorType"] == "Runtime.ExitError"
            assert held == [True]  # the caller had it while the host's thread waited at the end of the old life
            result, _ = await running.fleet.invoke(b"{}")
            assert not result.function_error, result.payload


@pytest.mark.trio
async def test_the_sandbox_settling_before_a_spawn_is_not_the_functions_time(tmp_path: Path) -> None:
    """A lost keeper: the next invoke's spawn waits for a new keeper's move into the cgroup, held at the gate here past
    the function's 1 s timeout. That wait is lambdatui's (Lambda starts Init's clock with the runtime's process): the
    invoke is answered, and its Duration (the Init's included) leaves the wait out. Before, it was Sandbox.Timedout."""
    handler = write_file(tmp_path / "fn" / "handler.py", CRASHING)
    async with open_environment(resolve_function(str(handler), timeout_s=1)) as running:
        host, log = running.host, LogCollector()
        host.subscribe(log)
        first, _ = await host.invoke(b"{}")
        assert not first.function_error, first.payload
        supervisor = host._supervisor
        keeper = supervisor._keeper if supervisor is not None else None
        if supervisor is None or supervisor.cgroup is None or keeper is None:
            pytest.skip("no cgroup or PID namespace here: no keeper to lose")
        gated = supervisor.cgroup.join = GatedJoin(supervisor.cgroup.join)  # type: ignore[method-assign]
        os.kill(keeper.pid, signal.SIGKILL)  # its life goes with it; the next one needs a new keeper, moved in
        with trio.fail_after(10):
            await log.wait_for_text(r"Runtime exited with error: signal: killed while the environment was idle")
            async with trio.open_nursery() as nursery:
                answers: list = []

                async def invoke() -> None:
                    answers.append(await host.invoke(b"{}"))

                nursery.start_soon(invoke)
                await trio.to_thread.run_sync(gated.entered.wait, 5)
                await trio.sleep(1.5)  # the wait under test: lambdatui's, past the function's 1 s timeout
                gated.gate.set()
        (result, _), = answers
        assert not result.function_error, result.payload
        # The Init of a reset runs inside the invoke: its REPORT's Duration holds both, and not the wait.
        report = next(text for text in reversed(log.texts()) if text.startswith("REPORT "))
        duration_ms = float(re.search(r"\tDuration: ([\d.]+) ms", report).group(1))  # type: ignore[union-attr]
        assert duration_ms < 1000, report
