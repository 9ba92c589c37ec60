"""Our runtime waits on /next in poll() on the socket and on the signal wakeup fd (bootstrap/signal_wait.py).

Real environments, real runtime processes: what a function's own signal machinery (asyncio, trio, a wakeup fd of
its own) sees across warm invokes, Lambda's SIGTERM at shutdown, lambdatui's own SIGUSR2, and the descriptors a
program the function starts inherits.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.core.effects import RUNTIME
from lambdatui.model import faults as flt
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.fleet import FleetOptions
from lambdatui.core import inputs as ins
from lambdatui.runner import open_environment

from e2e_support import (GRACEFUL, LogCollector, environment_with_log, invoke_json, with_audit_extension,
                         write_file)
from process_states import frozen

BOUND = 30

# Every invoke: which wakeup fd the handler finds (the bootstrap's must never be left installed), asyncio.run and
# trio.run with warnings recorded (trio warns when it finds a wakeup fd set), and the runtime's descriptors.
LOOPS = r'''import asyncio, os, signal, subprocess, sys, warnings

def wakeup_fd_now():
    fd = signal.set_wakeup_fd(-1)
    if fd != -1:
        signal.set_wakeup_fd(fd)
    return fd

CHILD = """
import os
held = []
for n in sorted(os.listdir("/proc/self/fd"), key=int):
    try:
        held.append((int(n), os.readlink("/proc/self/fd/" + n)))
    except OSError:
        pass  # the listing's own descriptor, closed by now
print([h for h in held if h[0] > 2])
"""

async def a_main():
    await asyncio.sleep(0)
    return "asyncio"

def handler(event, context):
    found = wakeup_fd_now()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = asyncio.run(a_main())
        t = None
        try:
            import trio
        except ImportError:
            pass
        else:
            async def t_main():
                await trio.sleep(0)
                return "trio"
            t = trio.run(t_main)
    child = None
    if event.get("child"):
        done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True)
        child = done.stdout.strip() or done.stderr
    return {"found": found, "ran": [a, t], "warnings": [str(w.message) for w in caught],
            "fds": len(os.listdir("/proc/self/fd")), "after": wakeup_fd_now(), "child": child}
'''

# A loop kept across invokes with a signal handler of asyncio's: between invokes its wakeup fd is the function's.
KEPT_LOOP = r'''import asyncio, signal

loop = asyncio.new_event_loop()
got = []
loop.add_signal_handler(signal.SIGWINCH, lambda: got.append("winch"))

def handler(event, context):
    async def wait_for_it():
        for _ in range(500 if event.get("wait") else 0):
            if got:
                return
            await asyncio.sleep(0.01)
    loop.run_until_complete(wait_for_it())
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd)
    return {"got": list(got), "loop_fd_kept": fd == loop._csock.fileno()}
'''

# GRACEFUL, with a wakeup fd of the function's own left installed between invokes (a kept asyncio loop's).
GRACEFUL_WITH_OWN_FD = GRACEFUL + '''
import asyncio

loop = asyncio.new_event_loop()
loop.add_signal_handler(signal.SIGWINCH, lambda: None)
'''

# A function (a library) that set a wakeup fd of its own and closed it without unsetting it.
STALE_WAKEUP_FD = r'''import os, signal

def handler(event, context):
    if event.get("leave_stale"):
        r, w = os.pipe()
        os.set_blocking(w, False)
        signal.set_wakeup_fd(w)
        os.close(w)
        os.close(r)
    return {"pid": os.getpid()}
'''


def runtime_pid(host) -> int:
    generation, handle = host._processes[RUNTIME]
    assert generation == host.env.generation and handle.exited is None
    return handle.pid


async def wait_frozen(pid: int, bound: float = 5.0) -> None:
    with trio.fail_after(bound):
        while not frozen(pid):
            await trio.sleep(0.005)  # /proc and the cgroup are the only places a freeze shows


@pytest.mark.trio
async def test_asyncio_and_trio_in_the_handler_over_many_warm_invokes(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", LOOPS)
    async with open_environment(resolve_function(str(code_dir / "handler.py"))) as running:
        host = running.host
        bodies = [await invoke_json(host, {"child": n == 0}) for n in range(40)]
        runtime_pid(host)  # alive,
        assert host.env.generation == 1  # and the only one: no reset, one runtime served all 40
    for body in bodies:
        assert body["found"] == -1 and body["after"] == -1, body  # no wakeup fd of the bootstrap's left set
        assert body["ran"] == ["asyncio", "trio"], body
        assert body["warnings"] == [], body  # trio's "might have collided with another library" included
    # The same warm process throughout, and no descriptor more at the 40th invoke than at the 2nd.
    assert len({b["fds"] for b in bodies[1:]}) == 1, [b["fds"] for b in bodies]
    # A program the function starts inherits none of the runtime's descriptors (the wait's pipe included).
    assert bodies[0]["child"] == "[]", bodies[0]["child"]


@pytest.mark.trio
async def test_a_signal_sent_while_frozen_reaches_a_kept_asyncio_loop(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", KEPT_LOOP)
    async with open_environment(resolve_function(str(code_dir / "handler.py"))) as running:
        host = running.host
        first = await invoke_json(host, {})
        assert first["got"] == [] or first["got"] == ["winch"]
        with trio.fail_after(BOUND):
            await host.wait_for_state(EnvState.FROZEN)
        pid = runtime_pid(host)
        await wait_frozen(pid)
        os.kill(pid, signal.SIGWINCH)  # delivered at the thaw, while the runtime waits on /next
        second = await invoke_json(host, {"wait": True})
        assert second["got"] == ["winch"], second
        assert second["loop_fd_kept"], second


@pytest.mark.trio
@pytest.mark.parametrize("source", [GRACEFUL, GRACEFUL_WITH_OWN_FD], ids=["plain", "own-wakeup-fd"])
@pytest.mark.parametrize("snapstart", [False, True], ids=["on-demand", "snapstart"])
async def test_sigterm_at_shutdown_runs_the_functions_handler(code_dir: Path, source: str, snapstart: bool) -> None:
    handler = with_audit_extension(code_dir, source)
    log = LogCollector()
    exits: list[tuple[int, str]] = []

    def note(number: int, fact: object) -> None:
        log(fact)
        if isinstance(fact, f.ProcessExitedFact) and fact.participant == RUNTIME:
            exits.append((number, fact.description))

    fleet = FleetOptions(snapstart=True) if snapstart else None
    with trio.fail_after(60):
        async with open_environment(resolve_function(str(handler)), numbered_listeners=[note],
                                    fleet=fleet) as running:
            for _ in range(3):
                result, _ = await running.fleet.invoke(b"{}")
                assert not result.function_error, result.payload
            await running.fleet.shutdown()
    graceful = [t for t in log.texts(f.FUNCTION) if t == "[runtime] SIGTERM received, cleaning up"]
    assert graceful, log.dump()
    # Every runtime that served ended by its own handler (status 0), none SIGKILLed 300 ms after SIGTERM. (With
    # SnapStart, env #1 is the snapshot: its held template is killed, it never served.)
    served = [d for n, d in exits if not (snapstart and n == 1)]
    assert served and all(d == "exit status 0" for d in served), (exits, log.dump())


@pytest.mark.trio
async def test_an_exit_code_injected_into_an_idle_runtime(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", GRACEFUL)
    async with environment_with_log(code_dir / "handler.py") as (host, log):
        await invoke_json(host, {})
        with trio.fail_after(BOUND):
            await host.wait_for_state(EnvState.FROZEN)
        host.feed(ins.FaultRequested(flt.Crash(exit_code=7)))
        with trio.fail_after(BOUND):
            await log.wait_for(lambda: any(isinstance(x, f.ProcessExitedFact) and x.participant == RUNTIME
                                           for x in log.facts))
        (exited,) = [x for x in log.facts if isinstance(x, f.ProcessExitedFact) and x.participant == RUNTIME]
        assert exited.description == "exit status 7", log.dump()
        again = await invoke_json(host, {})
        assert again == {"ok": True}


@pytest.mark.trio
async def test_a_wakeup_fd_the_function_closed_does_not_break_the_next_invoke(code_dir: Path) -> None:
    """A wakeup fd the function closed and left set: the wait cannot put it back (Python refuses a closed fd), and
    the warm runtime goes on with none, as it would have gone on with a dead one."""
    write_file(code_dir / "handler.py", STALE_WAKEUP_FD)
    async with environment_with_log(code_dir / "handler.py") as (host, log):
        first = await invoke_json(host, {"leave_stale": True})
        with trio.fail_after(BOUND):
            await host.wait_for_state(EnvState.FROZEN)
        await wait_frozen(runtime_pid(host))  # parked: the next event is answered to a waiting runtime
        with trio.fail_after(BOUND):
            second, _ = await host.invoke(b"{}")
        assert not second.function_error, (second.payload, log.dump())
        assert json.loads(second.payload)["pid"] == first["pid"], "the warm runtime was replaced"
