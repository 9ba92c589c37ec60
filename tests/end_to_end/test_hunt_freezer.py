"""From a bug hunt: the environment's freeze by the cgroup v2's freezer, and Ctrl-Z (SIGTSTP) of a headless run (README:
Freeze; lambda-spec §4: an idle environment is frozen, nothing in it runs until the next invoke).

Real `lambdatui serve` processes, real HTTP; processes killed from outside with `kill -9` while the environment is
frozen, or while lambdatui itself is stopped. Every test checks that nothing is left behind: no process, no cgroup
folder of the run's pid.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from process_states import cgroup_freezer, frozen, wait_frozen

from e2e_support import ServeProcess, descendants, proc_cmdline, proc_stat, wait_all_gone, write_file

BOUND_S = 20.0

pytestmark = pytest.mark.skipif(not cgroup_freezer(), reason="no cgroup v2 freezer here: lambdatui freezes by SIGSTOP")

TICKING = """\
import os, threading, time

TICKS = 0

def tick():
    global TICKS
    while True:
        TICKS += 1
        time.sleep(0.01)

threading.Thread(target=tick, daemon=True).start()

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"ticks": TICKS}
"""

# An external extension whose own background thread prints a line every 50 ms (a metrics flusher, say).
TICKER_EXTENSION = """\
#!/usr/bin/env python3
import http.client, json, os, sys, threading, time

def tick():
    n = 0
    while True:
        n += 1
        print(f"tick {n}", flush=True)
        time.sleep(0.05)

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)

def call(method, path, headers, body=None):
    api.request(method, "/2020-01-01/extension" + path, body=body, headers=headers)
    response = api.getresponse()
    return response, response.read()

response, _ = call("POST", "/register", {"Lambda-Extension-Name": "ticker"}, json.dumps({"events": ["INVOKE", "SHUTDOWN"]}))
ident = response.getheader("Lambda-Extension-Identifier")
threading.Thread(target=tick, daemon=True).start()
while True:
    _, body = call("GET", "/event/next", {"Lambda-Extension-Identifier": ident})
    if json.loads(body)["eventType"] == "SHUTDOWN":
        sys.exit(0)
"""


def _invoke(served: ServeProcess, event: dict, timeout: float = BOUND_S) -> httpx.Response:
    return httpx.post(served.invoke_url(), json=event, timeout=timeout)


def _cgroups_of(pid: int) -> list[str]:
    root = Path("/sys/fs/cgroup/unified")
    if not (root / "cgroup.controllers").exists():
        root = Path("/sys/fs/cgroup")
    return [entry.name for entry in root.iterdir() if entry.name.startswith(f"lambdatui-{pid}-")]


def _until(predicate, what: str, bound: float = BOUND_S) -> None:
    deadline = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def _stopped(pid: int) -> bool:
    return (proc_stat(pid) or ("?",))[0] == "T"


def _the(served: ServeProcess, marker: str) -> int:
    [pid] = [pid for pid in descendants(served.proc.pid) if marker in proc_cmdline(pid)]
    return pid


def _nothing_left(served: ServeProcess, pids: dict[int, int]) -> None:
    assert wait_all_gone(pids, 10) == {}
    _until(lambda: not _cgroups_of(served.proc.pid), f"cgroup folders left: {_cgroups_of(served.proc.pid)}", 10)


# ---------------------------------------------------------------------- checked and right


def test_a_runtime_killed_while_frozen_is_reported_at_once_and_the_next_invoke_reinitialises(code_dir: Path) -> None:
    """kill -9 of the runtime while the environment is frozen: the exit is said at once (the cgroup is thawed so that
    lambdatui's init can report it), the next invoke re-initialises, and the new life is frozen again."""
    handler = write_file(code_dir / "handler.py", TICKING)
    with ServeProcess(handler) as served:
        assert _invoke(served, {}).status_code == 200
        runtime = _the(served, "lambdatui/bootstrap")
        wait_frozen(runtime)
        mark = len(served.lines)
        os.kill(runtime, signal.SIGKILL)
        served.wait_for_line(r"Runtime exited with error: signal: killed while the environment was idle", 5, mark)
        again = _invoke(served, {})
        assert again.status_code == 200 and "x-amz-function-error" not in again.headers, again.text
        served.wait_for_line(r"INIT_START", 5, mark)
        new_runtime = _the(served, "lambdatui/bootstrap")
        assert new_runtime != runtime
        wait_frozen(new_runtime)
        pids = descendants(served.proc.pid)
    _nothing_left(served, pids)


def test_an_extension_killed_while_serve_is_stopped_mid_invoke_fails_that_invoke_and_the_next_recovers(
        code_dir: Path) -> None:
    """Ctrl-Z of `serve` mid-invoke, the extension killed meanwhile, then `fg`: the invoke fails with Extension.Crash,
    the environment resets, the next invoke succeeds; no background thread ran while lambdatui was stopped."""
    handler = write_file(code_dir / "handler.py", TICKING)
    write_file(code_dir / "extensions" / "ticker", TICKER_EXTENSION, executable=True)
    answer: dict[str, httpx.Response] = {}
    with ServeProcess(handler, "--timeout", "3") as served:
        assert _invoke(served, {}).status_code == 200
        caller = threading.Thread(target=lambda: answer.update(response=_invoke(served, {"sleep": 1.0})))
        caller.start()
        served.wait_for_lines(r"\[platform\]\s+START RequestId", 2)
        extension = _the(served, "extensions/ticker")
        served.signal(signal.SIGTSTP)
        _until(lambda: _stopped(served.proc.pid), "serve never stopped on SIGTSTP")
        wait_frozen(_the(served, "lambdatui/bootstrap"))
        assert frozen(extension)
        os.kill(extension, signal.SIGKILL)
        served.signal(signal.SIGCONT)
        caller.join(BOUND_S)
        failed = answer["response"]
        assert failed.headers.get("x-amz-function-error") == "Unhandled", failed.text
        assert failed.json()["errorType"] == "Extension.Crash", failed.text
        recovered = _invoke(served, {})
        assert recovered.status_code == 200 and "x-amz-function-error" not in recovered.headers, recovered.text
        pids = descendants(served.proc.pid)
    _nothing_left(served, pids)


def test_kill_of_a_stopped_serve_as_a_shell_does_it_shuts_down_cleanly(code_dir: Path) -> None:
    """`kill %1` of a stopped job (SIGTERM, then SIGCONT) mid-invoke: the invoke is answered, the extension gets its
    SHUTDOWN, serve exits 0, and nothing of it is left."""
    handler = write_file(code_dir / "handler.py", TICKING)
    write_file(code_dir / "extensions" / "ticker", TICKER_EXTENSION, executable=True)
    answer: dict[str, httpx.Response] = {}
    with ServeProcess(handler, "--timeout", "3") as served:
        assert _invoke(served, {}).status_code == 200
        caller = threading.Thread(target=lambda: answer.update(response=_invoke(served, {"sleep": 0.3})))
        caller.start()
        served.wait_for_lines(r"\[platform\]\s+START RequestId", 2)
        served.signal(signal.SIGTSTP)
        _until(lambda: _stopped(served.proc.pid), "serve never stopped on SIGTSTP")
        pids = descendants(served.proc.pid)
        served.signal(signal.SIGTERM)
        served.signal(signal.SIGCONT)
        assert served.wait(BOUND_S) == 0, served.output()
        caller.join(BOUND_S)
    assert answer["response"].status_code == 200, answer["response"].text
    _nothing_left(served, pids)


# ---------------------------------------------------------------------- bugs


def test_the_snapstart_snapshot_environment_runs_nothing(code_dir: Path) -> None:
    """Lambda's snapshot is a memory image: nothing of it runs once it is taken. lambdatui held env #1 as the snapshot
    with its runtime SIGSTOPped (so that it can fork the copies), but its cgroup was not frozen, so an extension's
    background thread in env #1 went on ticking while every restored environment was idle. The core now freezes the
    snapshot environment, and the host thaws it only for the moment of a restore or of a copy's reaping."""
    handler = write_file(code_dir / "handler.py", TICKING)
    write_file(code_dir / "extensions" / "ticker", TICKER_EXTENSION, executable=True)
    with ServeProcess(handler, "--snapstart") as served:
        served.wait_for_line(r"#1 \[platform\]\s+INIT_REPORT", BOUND_S)
        assert _invoke(served, {}).status_code == 200  # env #2, restored
        runtimes = [pid for pid in descendants(served.proc.pid) if "lambdatui/bootstrap" in proc_cmdline(pid)]
        assert len(runtimes) == 2, runtimes  # the snapshot's and env #2's
        for runtime in runtimes:
            wait_frozen(runtime)  # env #2 frozen, the snapshot's stopped: everything is idle now

        def snapshot_ticks() -> int:
            return sum(1 for line in served.lines if line.startswith("#1 [ticker]"))

        before = snapshot_ticks()
        time.sleep(1.0)  # the measured quantity: a second of idleness (a running ticker prints ~20 lines in it)
        after = snapshot_ticks()
        snapshot_extension = [pid for pid in descendants(served.proc.pid)
                              if "extensions/ticker" in proc_cmdline(pid) and not frozen(pid)]
    assert after - before <= 1, f"env #1's extension printed {after - before} lines in 1 s of idleness"
    assert snapshot_extension == [], "an extension of the snapshot environment is neither frozen nor stopped"


DAEMON_HANDLER = """\
import os, sys

def handler(event, context):
    if event.get("daemon"):  # double fork and setsid: it outlives its parent, and the namespace's pid 1 adopts it
        done, execed = os.pipe()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time\\nwhile True: time.sleep(1)",
                                          "lambdatui-freezer-daemon"])
            os._exit(0)
        os.close(execed)
        os.wait()
        os.read(done, 1)  # end of file: the daemon has exec'd
        os.close(done)
    if event.get("exit"):
        os._exit(event["exit"])
    return {}
"""


def test_a_daemon_that_ends_with_its_restored_environment_is_reaped_while_the_snapshot_is_frozen(
        code_dir: Path) -> None:
    """A restored environment's processes live in the snapshot's PID namespace (a fork cannot leave it), so a daemon
    that outlives its parent is the snapshot's pid 1's to reap. Frozen with the snapshot, that pid 1 would leave the
    daemon its environment's reset killed a zombie until the next restore: the snapshot runs until it is reaped, and
    is frozen again."""
    handler = write_file(code_dir / "handler.py", DAEMON_HANDLER)
    with ServeProcess(handler, "--snapstart") as served:
        served.wait_for_line(r"#1 \[platform\]\s+INIT_REPORT", BOUND_S)
        snapshot = _the(served, "lambdatui/bootstrap")
        assert _invoke(served, {"daemon": True}).status_code == 200  # env #2, restored
        daemon = _the(served, "lambdatui-freezer-daemon")
        started = (proc_stat(daemon) or ("?", 0, 0))[2]
        failed = _invoke(served, {"exit": 3})  # its runtime exits: env #2 resets, and the daemon is killed with it
        assert failed.headers.get("x-amz-function-error") == "Unhandled", failed.text
        _until(lambda: (proc_stat(daemon) or ("", 0, -1))[2] != started,
               f"the daemon is not reaped: state {(proc_stat(daemon) or ('gone',))[0]}", 5)
        wait_frozen(snapshot)
        pids = descendants(served.proc.pid)
    _nothing_left(served, pids)


def test_a_sigcont_right_after_a_sigtstp_leaves_serve_running(code_dir: Path) -> None:
    """With SIGTSTP's default action, `kill -TSTP; kill -CONT` leaves a process running, however close the two come.
    lambdatui catches SIGTSTP, holds its environments, then SIGSTOPs itself from its event loop: a SIGCONT that
    arrived in between was read before that stop, which nothing then ended (one try in six at gaps of 20 us to 1 ms).
    A SIGCONT read with the SIGTSTP, or after it, now skips the stop."""
    handler = write_file(code_dir / "handler.py", TICKING)
    stuck_at = None
    with ServeProcess(handler) as served:
        assert _invoke(served, {}).status_code == 200
        pid = served.proc.pid
        gaps = (20e-6, 50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 1e-3)
        for attempt in range(28):  # four of each gap: each stopped for good one try in six before the fix
            gap = gaps[attempt % len(gaps)]
            os.kill(pid, signal.SIGTSTP)
            spin_until = time.perf_counter() + gap
            while time.perf_counter() < spin_until:
                pass
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.15)  # lambdatui's own stop, if it comes, comes within a few ms of the SIGTSTP
            if _stopped(pid):
                stuck_at = gap
                os.kill(pid, signal.SIGCONT)  # let it go on, so that it shuts down
                break
        assert _invoke(served, {}).status_code == 200
    assert stuck_at is None, f"serve stayed stopped after SIGTSTP, then SIGCONT {stuck_at * 1e6:.0f} us later"
