"""Nothing a function starts outlives its environment, nor runs while it is frozen (issue 8).

A daemon that double-forks and calls setsid leaves the process group lambdatui started, so killing groups
missed it: it survived lambdatui's exit, a SIGKILL of `serve`, and resets, and kept running while the
environment was frozen. Each environment's processes now live in a cgroup of their own, which a process cannot
leave. Without a writable cgroup (not root, no delegation) these tests skip: process groups are all there is.

The function and its daemon leave their marks in the environment's /tmp (the only place Lambda lets them write),
which the test reads in lambdatui's state folder (`state_home`); what the test needs after the run has ended, the
handler returns.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, run_cli, write_file
from process_states import frozen
from test_fleet_support import env_tmp_dirs, state_home
from lambdatui.processes.cgroup import EnvironmentCgroup

__all__ = ["state_home"]  # the fixture, used by name
WAIT_S = 10.0

DAEMONIC = """\
import os, sys, tempfile, time

TICKER = '''
import os, sys, time
marks = sys.argv[2]
ticks = 0
while True:
    ticks += 1
    with open(os.path.join(marks, "ticks.tmp"), "w") as fh:
        fh.write(str(ticks))
    os.replace(os.path.join(marks, "ticks.tmp"), os.path.join(marks, "ticks"))
    time.sleep(0.01)
'''

def handler(event, context):
    marks = tempfile.gettempdir()  # the environment's /tmp (or TMPDIR where it cannot have its own)
    if event.get("crash"):
        os._exit(1)
    if event.get("probe"):
        child = os.fork()
        if child == 0:
            os.setsid()
            if os.fork():
                os._exit(0)
            import http.client
            api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=5)
            api.request("GET", "/no-such-path")
            status = api.getresponse().status
            with open(os.path.join(marks, "probe.tmp"), "w") as fh:
                fh.write(str(status))
            os.replace(os.path.join(marks, "probe.tmp"), os.path.join(marks, "probe"))
            os._exit(0)
        os.waitpid(child, 0)
        for _ in range(500):  # the environment freezes once the handler returns, and the daemon with it
            if os.path.exists(os.path.join(marks, "probe")):
                with open(os.path.join(marks, "probe")) as fh:
                    return {"ok": True, "probe": fh.read()}
            time.sleep(0.01)
        return {"ok": False}
    if event.get("daemon"):
        child = os.fork()
        if child == 0:
            os.setsid()
            if os.fork():
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            # Its pid inside the environment's PID namespace means nothing to the test, which looks from the
            # host: it is found by this tag on its command line.
            os.execv(sys.executable, [sys.executable, "-c", TICKER, "lambdatui-test-daemon:" + os.environ["TAG"],
                                      marks])
        os.waitpid(child, 0)
        for _ in range(500):  # returns once the daemon runs, so that the test can see it end
            if os.path.exists(os.path.join(marks, "ticks")):
                break
            time.sleep(0.01)
        else:
            return {"ok": False}
    return {"ok": True}
"""


@pytest.fixture
def cgroups_available() -> None:
    probe = EnvironmentCgroup.create()
    if probe is None:
        pytest.skip("no writable cgroup on this host: process groups are the only fence")
    probe.remove()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:].split()[0] != b"Z"


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT_S} s for {what}"
        time.sleep(0.01)  # polling the kernel's view of another process: there is no event to wait on


def tagged(tag: bytes) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if tag in fh.read().split(b"\0"):
                    found.append(int(entry))
        except (OSError, ValueError):
            pass
    return found


def daemon_pid(tag: bytes, marks: Path) -> int:
    """The daemon's pid as the host sees it (inside, the environment's PID namespace numbers it differently)."""
    wait_until(lambda: bool(tagged(tag)) and (marks / "ticks").exists(), "the daemon")
    return tagged(tag)[0]


def ticks(marks: Path) -> int:
    return int((marks / "ticks").read_text())


def setup(code_dir: Path) -> bytes:
    """The function in code_dir; the tag its daemon carries on its command line (one per test: they run at once)."""
    write_file(code_dir / "handler.py", DAEMONIC)
    return code_dir.name.encode()


def tag_of(token: bytes) -> bytes:
    return b"lambdatui-test-daemon:" + token


def marks_of(state: Path) -> Path:
    """The environment's /tmp, where the function leaves its marks, as the host sees it."""
    wait_until(lambda: len(env_tmp_dirs(state)) == 1, "the environment's /tmp")
    return env_tmp_dirs(state)[0]


def test_a_setsid_daemon_ends_with_lambdatui_invoke(code_dir: Path, state_home: Path, cgroups_available: None) -> None:
    token = setup(code_dir)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"daemon": true}', "--env", f"TAG={token.decode()}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True}  # the daemon ran (it ticked)
    wait_until(lambda: not tagged(tag_of(token)), "the daemon to end with lambdatui")


def test_a_setsid_daemon_ends_when_serve_is_killed(code_dir: Path, state_home: Path, cgroups_available: None) -> None:
    token = setup(code_dir)
    with ServeProcess(code_dir / "handler.py", "--env", f"TAG={token.decode()}") as served:
        assert httpx.post(served.invoke_url(), content=b'{"daemon": true}', timeout=WAIT_S).json() == {"ok": True}
        pid = daemon_pid(tag_of(token), marks_of(state_home))
        served.signal(signal.SIGKILL)
        served.wait(WAIT_S)
    wait_until(lambda: not alive(pid), "the watchdog to end the daemon after SIGKILL of serve")


def test_a_setsid_daemon_ends_with_a_reset_and_stops_while_frozen(code_dir: Path, state_home: Path,
                                                                  cgroups_available: None) -> None:
    token = setup(code_dir)
    with ServeProcess(code_dir / "handler.py", "--env", f"TAG={token.decode()}") as served:
        with httpx.Client(timeout=WAIT_S) as client:
            assert client.post(served.invoke_url(), content=b'{"daemon": true}').json() == {"ok": True}
            marks = marks_of(state_home)
            pid = daemon_pid(tag_of(token), marks)
            wait_until(lambda: (marks / "ticks").exists(), "the daemon's first tick")
            # The invoke is over; the freeze that follows its answer reaches the daemon a moment later (a stray is
            # stopped after the runtime asks for its next event): from then on it must not tick.
            wait_until(lambda: frozen(pid), "the freeze to stop the daemon")
            before = ticks(marks)
            time.sleep(0.3)  # the measured quantity: time passing while frozen
            assert ticks(marks) == before, "the daemon ran while the environment was frozen"
            crashed = client.post(served.invoke_url(), content=b'{"crash": true}')
            assert crashed.headers["x-amz-function-error"] == "Unhandled"
            wait_until(lambda: not alive(pid), "the reset to end the daemon")
            assert client.post(served.invoke_url(), content=b"{}").json() == {"ok": True}


def test_a_daemon_that_left_the_process_tree_still_reaches_the_runtime_api(code_dir: Path, state_home: Path,
                                                                         cgroups_available: None) -> None:
    # In Lambda a daemon inside the sandbox may call the API; outside lambdatui's process tree, only its cgroup
    # says it belongs to the environment (a neighbour's process gets 403, tests/end_to_end/test_neighbour_access).
    token = setup(code_dir)
    with ServeProcess(code_dir / "handler.py", "--env", f"TAG={token.decode()}") as served:
        answer = httpx.post(served.invoke_url(), content=b'{"probe": true}', timeout=WAIT_S).json()
        assert answer == {"ok": True, "probe": "404"}  # served (no such path), not refused (403)

