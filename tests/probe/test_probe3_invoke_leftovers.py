"""Probe (round 3): `lambdatui invoke` (which ends through os._exit in cli._exit_now) leaves nothing behind: not its
sandbox inits, not their pid 1s, not the watchdog, not a function's setsid daemon, not a cgroup folder; whether it
ends by itself (SnapStart, resets), by SIGINT or by SIGKILL mid-invoke.

`invoke` is gone by the time the test looks, so its processes cannot be found as its descendants: each run gets a
marker in its environment (inherited by lambdatui's own processes: the watchdog, the inits and their pid 1s) and the
function's daemon a unique command line; /proc is searched for both, and each found is waited on (pidfd) with a bound.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from e2e_support import lambdatui_argv, proc_cmdline, proc_stat, wait_all_gone, write_file  # noqa: E402
from probe_support import DAEMON_SOURCE, cgroups_of, remove_stale_runs  # noqa: E402


@pytest.fixture(autouse=True)
def _no_stale_run_folders():
    yield
    remove_stale_runs()


BOUND = 60.0

HANDLER = r'''
import os, sys, tempfile, time

daemons = []


''' + DAEMON_SOURCE + r'''

def handler(event, context):
    if not daemons:
        daemon(event["daemon"])
        daemons.append(1)
    if event.get("announce"):
        print("handler running", flush=True)
    if event.get("crash_every_other"):
        path = os.path.join(tempfile.gettempdir(), "alternate")
        with open(path, "a") as fh:
            fh.write("x")
        if os.path.getsize(path) % 2 == 1:
            os._exit(3)
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
'''


def marked(marker: str, daemon_seconds: int) -> dict[int, int]:
    """Processes carrying `marker` in their environment, or running the daemon's unique command line."""
    found = {}
    needle = f"LAMBDATUI_PROBE3={marker}".encode()
    daemon = f"sleep\0{daemon_seconds}\0".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = fh.read()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except OSError:
            continue
        if needle in environ or cmdline == daemon:
            stat = proc_stat(pid)
            if stat is not None and stat[0] not in "ZXx":
                found[pid] = stat[2]
    return found


def start(marker: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LAMBDATUI_PROBE3": marker}
    return subprocess.Popen([*lambdatui_argv(), *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def assert_nothing_left(marker: str, daemon_seconds: int, pid: int) -> None:
    left = wait_all_gone(marked(marker, daemon_seconds), 15)
    assert left == {}, left
    assert cgroups_of(pid) == []


@pytest.mark.parametrize("case", ["snapstart", "resets"])
def test_invoke_ending_by_itself_leaves_nothing(code_dir: Path, case: str) -> None:
    path = write_file(code_dir / "handler.py", HANDLER)
    marker, seconds = uuid.uuid4().hex, 400 + (os.getpid() % 500)
    if case == "snapstart":
        args = ["--snapstart", "--repeat", "3", "-e", json.dumps({"daemon": seconds})]
    else:
        args = ["--repeat", "6", "-e", json.dumps({"daemon": seconds, "crash_every_other": True})]
    proc = start(marker, "invoke", str(path), *args)
    out, err = proc.communicate(timeout=BOUND)
    results = [json.loads(line) for line in out.splitlines() if line.strip()]
    if case == "snapstart":
        assert proc.returncode == 0, err[-3000:]
        assert results == [{"ok": True}] * 3
    else:
        assert proc.returncode == 1, err[-3000:]
        assert [r.get("errorType") for r in results] == ["Runtime.ExitError", None] * 3
    assert_nothing_left(marker, seconds, proc.pid)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_invoke_stopped_mid_invoke_leaves_nothing(code_dir: Path, sig: int) -> None:
    path = write_file(code_dir / "handler.py", HANDLER)
    marker, seconds = uuid.uuid4().hex, 1000 + (os.getpid() % 500) + sig
    proc = start(marker, "invoke", str(path), "--timeout", "60",
                 "-e", json.dumps({"daemon": seconds, "announce": True, "sleep": 50}))
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "handler running" in line:
                break
        else:
            raise AssertionError(f"the handler never ran (exit {proc.wait(BOUND)})")
        running = {pid: proc_cmdline(pid) for pid in marked(marker, seconds)}
        # The search sees what it must: the daemon, the watchdog, the sandbox init's keeper, the init and its pid 1
        # (and lambdatui).
        assert f"sleep {seconds}" in running.values(), running
        assert any("watchdog.py" in c for c in running.values()), running
        assert sum("sandbox_init.py" in c for c in running.values()) == 3, running
        proc.send_signal(sig)
        proc.communicate(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(BOUND)
    assert_nothing_left(marker, seconds, proc.pid)
