"""lambdatui run by an ordinary user: the sandbox uses an unprivileged user namespace, and its PID namespace must
still contain the function (pid 1 of its own, its own /proc, a setsid daemon ending with the environment).

The suite runs as root; this runs the real CLI as `nobody` (setpriv), with an interpreter and a checkout that user
can read, and is skipped where there are none.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from e2e_support import REPO, write_file

NOBODY = 65534
SITE = next((p for p in sys.path if p.endswith("site-packages") and Path(p, "trio").is_dir()), None)
DAEMON = "987.654"  # the setsid daemon's sleep: a number no other process on the machine sleeps

HANDLER = f'''import os, subprocess


def handler(event, context):
    subprocess.Popen(["sleep", "{DAEMON}"], start_new_session=True)  # a daemon that leaves its process group
    return {{"pid": os.getpid(), "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
             "uid": os.getuid()}}
'''


def as_nobody(*argv: str, state: Optional[Path] = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {"HOME": "/nonexistent", "PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{SITE}"}
    if state is not None:
        env["XDG_STATE_HOME"] = str(state)
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "env", "-i",
                           *(f"{k}={v}" for k, v in env.items()), *argv],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def interpreter_for_nobody() -> Optional[str]:
    """An interpreter of this minor version that `nobody` can run, with this checkout and its packages importable."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None or SITE is None:
        return None
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (os.path.realpath(sys.executable), f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if os.path.exists(candidate) and as_nobody(candidate, "-c", "import lambdatui.cli, trio").returncode == 0:
            return candidate
    return None


def daemons() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", DAEMON.encode()]:
                    found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.fixture
def cleanup() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack


def reachable_by_others(folder: Path) -> bool:
    """Whether a user who is neither owner nor in the group may go through `folder` and every folder above it."""
    return all(os.stat(part).st_mode & stat.S_IXOTH for part in (folder, *folder.parents))


def function_for_nobody(code_dir: Path, cleanup: contextlib.ExitStack, source: str) -> tuple[str, Path, Path]:
    """(an interpreter nobody can run, the function's handler.py, a state folder), all nobody's; else the test skips."""
    python = interpreter_for_nobody()
    if python is None:
        pytest.skip("needs root, setpriv, and an interpreter and checkout that nobody can read")
    if not reachable_by_others(code_dir.parent):
        # A checkout under /tmp puts test code in the user's cache, which nobody else may enter.
        code_dir = Path(tempfile.mkdtemp(prefix="lambdatui-test-nobody-", dir="/var/tmp"))
        cleanup.callback(shutil.rmtree, code_dir, ignore_errors=True)
        if not reachable_by_others(code_dir.parent):
            pytest.skip(f"nobody may reach {code_dir.parent}, where the test code would go")
    function = write_file(code_dir / "fn" / "handler.py", source)
    state = code_dir / "state"
    state.mkdir()
    for path in (code_dir, function.parent, function, state):
        os.chown(path, NOBODY, NOBODY)
    return python, function, state


def test_an_ordinary_users_function_gets_its_own_pid_namespace_and_its_daemon_ends_with_it(
        code_dir: Path, cleanup: contextlib.ExitStack) -> None:
    python, function, state = function_for_nobody(code_dir, cleanup, HANDLER)
    try:
        done = as_nobody(python, "-m", "lambdatui", "invoke", str(function), "-e", "{}", state=state)
        deadline = time.monotonic() + 10
        while daemons() and time.monotonic() < deadline:  # the kernel ends the namespace's processes with its pid 1
            time.sleep(0.05)
        left = daemons()
    finally:
        for pid in daemons():  # a failure leaves nothing running either
            os.kill(pid, 9)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["uid"] == NOBODY
    assert answer["pid"] == 2 and answer["procs"][0] == 1, answer  # pid 1 is the namespace's, its /proc its own
    assert "Processes are contained by a PID namespace whose pid 1 takes every process inside with it" in done.stderr
    assert left == [], "the function's setsid daemon outlived lambdatui"


CRASHING_EVERY_OTHER = """import os


def handler(event, context):
    n = int(open("/tmp/n").read()) if os.path.exists("/tmp/n") else 0
    with open("/tmp/n", "w") as out:
        out.write(str(n + 1))
    if n % 2 == 0:
        os._exit(1)
    return {"pid": os.getpid(), "uid": os.getuid(), "n": n}
"""


def test_an_ordinary_users_resets_each_get_a_fresh_pid_namespace_and_leave_nothing(
        code_dir: Path, cleanup: contextlib.ExitStack) -> None:
    """Each reset's init is a fork of the environment's keeper, which stays in the user's own namespaces: the init
    makes its user namespace anew, the function is pid 2 of a fresh PID namespace each life, /tmp survives, and
    nothing is left when `invoke` ends."""
    python, function, state = function_for_nobody(code_dir, cleanup, CRASHING_EVERY_OTHER)
    done = as_nobody(python, "-m", "lambdatui", "invoke", str(function), "--repeat", "4", "-e", "{}", state=state)
    assert done.returncode == 1, done.stderr  # an invoke failed
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a.get("errorType") for a in answers] == ["Runtime.ExitError", None] * 2, answers
    assert [(a["pid"], a["uid"], a["n"]) for a in answers[1::2]] == [(2, NOBODY, 1), (2, NOBODY, 3)]
    assert done.stderr.count("INIT_START") == 3  # the first Init, then one for each reset that a later invoke needed
    assert "Processes are contained by a PID namespace whose pid 1 takes every process inside with it" in done.stderr
    assert still_running(nobodys_inits(), 10) == []  # the keeper and its inits end with lambdatui (parent-death)


def nobodys_inits() -> list[int]:
    """The sandbox inits (keepers, inits, pid 1s) that nobody runs."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if (os.stat(f"/proc/{entry}").st_uid == NOBODY
                        and b"sandbox_init.py" in Path(f"/proc/{entry}/cmdline").read_bytes()):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def still_running(pids: list[int], timeout: float) -> list[int]:
    """Those of `pids` that have not exited within `timeout`, waited on through their pidfds."""
    import select

    deadline = time.monotonic() + timeout
    left = []
    for pid in pids:
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
                left.append(pid)
        finally:
            os.close(pidfd)
    return left
