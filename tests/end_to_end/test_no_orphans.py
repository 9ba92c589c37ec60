"""However lambdatui ends (SIGKILL, SIGTERM, a normal finish), nothing it started outlives it.

The process tree is read from /proc (by parent pid) while the environment is up: the runtime and the
`audit` extension must be in it, or the test would prove nothing (lambdatui's own helpers, such as
its watchdog, are in it too and must go as well). Each pid is remembered with its start time, so a
recycled pid is never mistaken for a survivor; zombies count as gone (they run nothing; reaping
them is their new parent's business).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from e2e_support import (
    SAMPLES, LambdatuiProcess, ServeProcess, descendants, is_alive, proc_cmdline, wait_all_gone, write_file,
)

EXTENSION = SAMPLES / "extension" / "handler.py"
GONE_WITHIN = 10.0  # seconds; the watchdog and the parent-death signal act within milliseconds

BLOCKING_HANDLER = '''import os


def handler(event, context):
    # Its start time identifies it from the host too (os.getpid() is its number in the environment's PID namespace).
    started = open("/proc/self/stat").read().rpartition(")")[2].split()[19]
    print(f"ready started={started}", flush=True)
    with open(os.environ["RELEASE_FIFO"]) as fifo:  # blocks until the test opens the other end
        fifo.read()
    return {"released": True}
'''


def tree_of(pid: int) -> dict[int, int]:
    tree = descendants(pid)
    commands = {p: proc_cmdline(p) for p in tree}
    joined = "\n".join(commands.values())
    assert re.search(r"lambdatui/bootstrap", joined), f"no runtime among the descendants:\n{joined}"
    assert re.search(r"extensions/audit", joined), f"no audit extension among the descendants:\n{joined}"
    return tree


def serve_until_warm() -> tuple[ServeProcess, dict[int, int]]:
    served = ServeProcess(EXTENSION)
    try:
        served.start()
        response = httpx.post(served.invoke_url(), content=b"{}", timeout=30)
        assert response.status_code == 200 and "requestId" in response.json(), response.text
        return served, tree_of(served.proc.pid)
    except BaseException:
        served.close()
        raise


def blocked_function(code_dir: Path) -> tuple[Path, Path]:
    """A handler that blocks on a FIFO until released, beside a copy of the audit extension."""
    handler = write_file(code_dir / "handler.py", BLOCKING_HANDLER)
    (code_dir / "extensions").mkdir()
    shutil.copy2(SAMPLES / "extension" / "extensions" / "audit", code_dir / "extensions" / "audit")
    fifo = code_dir / "release.fifo"  # outside /tmp, so the sandboxed function sees the same file
    os.mkfifo(fifo)
    return handler, fifo


def kill_survivors(tree: dict[int, int]) -> None:
    """Never leak a process from a failed assertion (each pid checked against its start time first)."""
    for pid, start in tree.items():
        if is_alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def serving_in_flight(code_dir: Path) -> Iterator[tuple[ServeProcess, dict[int, int], dict[str, object]]]:
    """serve with an invoke in flight: the runtime and the extension are running, not frozen."""
    handler, fifo = blocked_function(code_dir)
    served = ServeProcess(handler, "--timeout", "60", "--env", f"RELEASE_FIFO={fifo}")
    outcome: dict[str, object] = {}
    tree: dict[int, int] = {}

    def call() -> None:
        try:
            outcome["response"] = httpx.post(served.invoke_url(), content=b"{}", timeout=60)
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    caller = threading.Thread(target=call, daemon=True)
    try:
        served.start()
        caller.start()
        ready = served.wait_for_line(r"\[function\]\s+ready started=(\d+)", timeout=30)
        tree = tree_of(served.proc.pid)
        assert int(ready.group(1)) in tree.values()
        yield served, tree, outcome
    finally:
        served.close()
        caller.join(30)
        kill_survivors(tree)


def test_sigkill_of_serve_leaves_no_process_behind() -> None:
    served, tree = serve_until_warm()
    try:
        served.proc.kill()
        assert served.wait(timeout=10) == -signal.SIGKILL

        survivors = wait_all_gone(tree, GONE_WITHIN)
        assert survivors == {}, f"still running {GONE_WITHIN} s after lambdatui was SIGKILLed: {survivors}"
    finally:
        served.close()
        kill_survivors(tree)


def test_sigkill_of_serve_during_an_invoke_leaves_no_process_behind(serving_in_flight) -> None:
    # Frozen children would die anyway (the kernel hangs up a stopped, newly orphaned process group);
    # running ones only die because lambdatui arranged it.
    served, tree, _ = serving_in_flight
    served.proc.kill()
    assert served.wait(timeout=10) == -signal.SIGKILL

    survivors = wait_all_gone(tree, GONE_WITHIN)
    assert survivors == {}, f"still running {GONE_WITHIN} s after lambdatui was SIGKILLed mid-invoke: {survivors}"


def test_sigterm_of_serve_during_an_invoke_answers_and_leaves_no_process_behind(serving_in_flight) -> None:
    served, tree, outcome = serving_in_flight
    served.signal(signal.SIGTERM)
    assert served.wait(timeout=10) == 0, served.output()

    survivors = wait_all_gone(tree, GONE_WITHIN)
    assert survivors == {}, f"still running after a graceful exit mid-invoke: {survivors}"
    served.wait_for_line(r"\[audit\] SHUTDOWN reason=spindown", timeout=0)
    # The caller still got an answer before lambdatui went away.
    response = outcome.get("response")
    assert isinstance(response, httpx.Response), outcome
    assert response.status_code == 200 and response.headers.get("X-Amz-Function-Error") == "Unhandled"
    assert response.json()["errorType"] == "Sandbox.Failure"


def test_sigterm_of_serve_leaves_no_process_behind() -> None:
    served, tree = serve_until_warm()
    try:
        served.signal(signal.SIGTERM)
        assert served.wait(timeout=10) == 0, served.output()

        survivors = wait_all_gone(tree, GONE_WITHIN)
        assert survivors == {}, f"still running after a graceful exit: {survivors}"
    finally:
        served.close()
        kill_survivors(tree)


def test_invoke_that_finishes_leaves_no_process_behind(code_dir: Path) -> None:
    handler, fifo = blocked_function(code_dir)

    with LambdatuiProcess("invoke", str(handler), "--timeout", "60", "--env", f"RELEASE_FIFO={fifo}") as run:
        ready = run.wait_for_line(r"\[function\]\s+ready started=(\d+)", timeout=30)
        tree = tree_of(run.proc.pid)
        assert int(ready.group(1)) in tree.values()

        with open(fifo, "w") as release:
            release.write("go")

        assert run.wait(timeout=30) == 0, run.output()
        assert b'{"released": true}' in run.stdout
        survivors = wait_all_gone(tree, GONE_WITHIN)
        assert survivors == {}, f"still running after 'lambdatui invoke' returned: {survivors}"
