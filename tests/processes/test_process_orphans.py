"""No orphans, even when the host itself is SIGKILLed."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from proc_helpers import REPO_ROOT, is_live, wait_gone_sync

HOST_SCRIPT = Path(__file__).with_name("orphan_host.py")
WATCHDOG = REPO_ROOT / "lambdatui" / "processes" / "watchdog.py"


def _read_line(stream: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no complete line within {timeout} s (got {data!r})"
        ready, _, _ = select.select([stream], [], [], remaining)
        if ready:
            chunk = os.read(stream, 4096)
            assert chunk, f"stream closed early (got {data!r})"
            data += chunk
    return data


def test_sigkilled_host_leaves_no_orphans(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    host = subprocess.Popen(
        [sys.executable, str(HOST_SCRIPT), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    pids: list[int] = []
    try:
        assert host.stdout is not None
        report = json.loads(_read_line(host.stdout.fileno(), timeout=20))
        pids = report["pids"] + [report["watchdog"]]
        if "PID namespace whose pid 1" in report["pid_namespace"]:
            pids += report["daemons"]  # elsewhere only a cgroup could end it, and this host has none
        # Two leaders, two background sleeps, and the foreground sleeps unless
        # the shell exec'd them.
        assert len(report["pids"]) >= 4
        assert all(is_live(pid) for pid in pids)
    finally:
        host.kill()  # SIGKILL: no cleanup code of the host runs
        _, stderr = host.communicate(timeout=10)
    assert host.returncode == -signal.SIGKILL, stderr.decode()
    assert wait_gone_sync(pids, timeout=5) == []


def _ignores(pid: int, sig: int) -> bool:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    return False


def test_watchdog_kills_listed_groups_at_eof(tmp_path: Path) -> None:
    kept = subprocess.Popen(["sleep", "100"], start_new_session=True)
    released = subprocess.Popen(["sleep", "100"], start_new_session=True)
    watchdog = subprocess.Popen([sys.executable, "-I", "-S", str(WATCHDOG)], stdin=subprocess.PIPE)
    try:
        assert watchdog.stdin is not None
        watchdog.stdin.write(b"+%d\n+%d\n-%d\n" % (kept.pid, released.pid, released.pid))
        watchdog.stdin.write(b"garbage\n+1\n+0\n-\n")  # ignored, and never pgid 0/1
        watchdog.stdin.flush()
        deadline = time.monotonic() + 10
        while not _ignores(watchdog.pid, signal.SIGINT):  # its interpreter is still starting
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(watchdog.pid, signal.SIGINT)  # a terminal's Ctrl-C must not stop it
        os.kill(kept.pid, signal.SIGSTOP)  # SIGKILL must work on a frozen group
        watchdog.stdin.close()
        assert watchdog.wait(timeout=10) == 0
        assert kept.wait(timeout=5) == -signal.SIGKILL
        assert released.poll() is None
    finally:
        for proc in (kept, released, watchdog):
            proc.kill()
            proc.wait()
