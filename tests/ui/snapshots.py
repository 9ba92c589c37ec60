"""Real `DebuggerSnapshot`s for the widget tests: sample functions run through the real controller.

Each scenario opens an environment with the debugger's views on (`inspect=True`), drives it with
controller commands, waits until it settles and takes the snapshot. Nothing is faked, so a change in
what the host reports shows up here first. Each runs under its own `trio.run` (the widget tests are
asyncio, and a finished trio run leaves nothing behind); the fixtures in conftest cache them.
"""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path
from typing import Awaitable, Callable, Optional

import trio

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.host.debug_session import DebugSession
from lambdatui.model.boundaries import Boundary
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.runner import open_environment

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_functions"
# Generated code must not live under /tmp (the sandbox mounts over it); see tests/conftest.py.
GENERATED_ROOT = REPO / "tests" / "end_to_end" / "_generated"
SETTLE_S = 30

Script = Callable[[DebugSession], Awaitable[None]]

# Request ids shaped like Lambda's (UUIDs), with first eight characters the tests can look for.
WARM_IDS = ("a1000000-0000-4000-8000-000000000001", "a2000000-0000-4000-8000-000000000002",
            "a3000000-0000-4000-8000-000000000003")
CRASH_ID = "c4a5e000-0000-4000-8000-000000000004"
HELD_ID = "4e1d0000-0000-4000-8000-000000000005"
STEP_1 = "5e1e0001-0000-4000-8000-000000000006"
STEP_2 = "5e1e0002-0000-4000-8000-000000000007"


async def _settle(session: DebugSession) -> None:
    with trio.fail_after(SETTLE_S):
        await session.settled()


async def _invoke(session: DebugSession, event: bytes = b"{}", request_id: Optional[str] = None) -> None:
    session.submit(c.Invoke(event, request_id))
    await _settle(session)


def run_scenario(handler: Path, script: Script, *, timeout_s: int = 3) -> DebuggerSnapshot:
    """Open an environment for `handler`, run `script` on its controller, return the final snapshot."""

    async def main() -> DebuggerSnapshot:
        config = resolve_function(str(handler), timeout_s=timeout_s)
        async with open_environment(config, inspect=True) as running:
            await _settle(running.session)
            await script(running.session)
            return running.session.snapshot()

    return trio.run(main)


def cold() -> DebuggerSnapshot:
    """counter before any invoke: no processes, no globals, an empty /tmp listing."""

    async def nothing(session: DebugSession) -> None:
        return None

    return run_scenario(SAMPLES / "counter" / "handler.py", nothing)


def warm_counter() -> DebuggerSnapshot:
    """counter after three invokes: frozen, `invocations` replaced, /tmp/counter.txt changed by the third."""

    async def three(session: DebugSession) -> None:
        for number in range(1, 4):
            await _invoke(session, b'{"n": %d}' % number, WARM_IDS[number - 1])

    return run_scenario(SAMPLES / "counter" / "handler.py", three)


def slow_timeout() -> DebuggerSnapshot:
    """slow with a 1 s timeout: Sandbox.Timedout, stacks captured, the environment reset."""
    return run_scenario(SAMPLES / "slow" / "handler.py", lambda s: _invoke(s, b'{"seconds": 10}'), timeout_s=1)


def crash_reset() -> DebuggerSnapshot:
    """crash: one good invoke, then the runtime exits (Runtime.ExitError) and the environment resets."""

    async def ok_then_exit(session: DebugSession) -> None:
        await _invoke(session, b'{"mode": "ok"}')
        await _invoke(session, b'{"mode": "exit"}', CRASH_ID)

    return run_scenario(SAMPLES / "crash" / "handler.py", ok_then_exit)


def shut_down() -> DebuggerSnapshot:
    """counter after one invoke, then shut down (`s`): no process left, and none will come back to it."""

    async def invoke_then_shut_down(session: DebugSession) -> None:
        await _invoke(session, b'{"n": 1}', WARM_IDS[0])
        session.submit(c.Shutdown())
        await _settle(session)

    return run_scenario(SAMPLES / "counter" / "handler.py", invoke_then_shut_down)


def renewed() -> DebuggerSnapshot:
    """counter after one invoke, then replaced (`N`): env #2, new and cold, with an empty /tmp."""

    async def invoke_then_renew(session: DebugSession) -> None:
        await _invoke(session, b'{"n": 1}', WARM_IDS[0])
        session.submit(c.NewEnvironment())
        await _settle(session)

    return run_scenario(SAMPLES / "counter" / "handler.py", invoke_then_renew)


def held_at(boundary: Boundary, sample: str = "extension") -> DebuggerSnapshot:
    """A breakpoint at `boundary`, one invoke, settled: the lifecycle waits there for the user."""

    async def hold(session: DebugSession) -> None:
        session.submit(c.SetBreakpoints(frozenset({boundary})))
        await _invoke(session, b'{"hello": "world"}', HELD_ID)

    return run_scenario(SAMPLES / sample / "handler.py", hold)


MUTATIONS = textwrap.dedent('''
    """Changes of every kind, for the globals and /tmp views."""
    import os
    import tempfile
    import threading
    import time

    TMP = tempfile.gettempdir()
    cache = []
    counter = 0
    with open(os.path.join(TMP, "from_init.txt"), "w") as f:
        f.write("written at import")


    def _poll():
        while True:
            time.sleep(0.05)


    threading.Thread(target=_poll, name="poller", daemon=True).start()


    def _write(name, data):
        path = os.path.join(TMP, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(data)


    def handler(event, context):
        global counter
        counter += 1
        cache.append(counter)
        if event.get("step") == 1:
            globals()["temporary"] = "short-lived"
            _write("a.txt", "x" * 10)
            _write("sub/b.bin", "0" * 3000)
            _write("doomed.txt", "bye")
        else:
            globals().pop("temporary", None)
            globals()["fresh"] = {"made": "in step 2"}
            _write("a.txt", "y" * 20)
            _write("c.txt", "new in step 2")
            os.remove(os.path.join(TMP, "doomed.txt"))
        return {"counter": counter, "cache": cache}
''')


def mutations() -> DebuggerSnapshot:
    """Two invokes of a generated function: every globals change label and /tmp new/changed/removed."""
    GENERATED_ROOT.mkdir(parents=True, exist_ok=True)
    ignore = GENERATED_ROOT / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# generated by tests: test code, removed after each test\n*\n")
    code_dir = Path(tempfile.mkdtemp(prefix="ui-mutations-", dir=GENERATED_ROOT))
    try:
        (code_dir / "handler.py").write_text(MUTATIONS)

        async def two_steps(session: DebugSession) -> None:
            await _invoke(session, b'{"step": 1}', STEP_1)
            await _invoke(session, b'{"step": 2}', STEP_2)

        return run_scenario(code_dir / "handler.py", two_steps)
    finally:
        shutil.rmtree(code_dir, ignore_errors=True)
