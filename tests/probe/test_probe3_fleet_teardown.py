"""Probe (round 3): every kind of environment ends whole, however lambdatui ends: the sandbox init that joins its
cgroup before forking pid 1 (sandbox_init.py, pid_namespace.SandboxInit(join=...)) and the watchdog that now ends
with `os._exit(main())` (processes/watchdog.py).

Real `lambdatui serve` (SnapStart, provisioned concurrency, Managed Instances, a scaled-out on-demand fleet with
idle shutdown) and the real debugger on a pseudo-terminal, with handlers that leave a double-forked `setsid` daemon
behind. After SIGINT, SIGTERM or SIGKILL of lambdatui, no process it started (sandbox inits, pid 1s, runtimes,
daemons, the watchdog) may be left, and no `lambdatui-<pid>-*` cgroup folder. Every wait is on the processes'
exits (pidfd) or the folders' removal, with a bound.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from e2e_support import ServeProcess, descendants, proc_cmdline, proc_stat, wait_all_gone, write_file  # noqa: E402
from free_ports import free_port  # noqa: E402

from probe_support import (DAEMON_SOURCE, DebuggerOnPty, cache_env, cgroups_of, concurrent_invokes,  # noqa: E402
                            remove_stale_runs, sandbox_inits, wait_paths_gone)


@pytest.fixture(autouse=True)
def _no_stale_run_folders():
    yield
    remove_stale_runs()


BOUND = 30.0
GONE_WITHIN = 15.0

HANDLER = r'''
import os, time

daemons = []  # per runtime process: its token (made on its first invoke: Init's would be the SnapStart
               # snapshot's, the same in every restored environment) and its daemon


''' + DAEMON_SOURCE + r'''

def handler(event, context):
    if not daemons:
        daemons.append((os.urandom(6).hex(), daemon()))
    time.sleep(event.get("sleep", 0))
    return {"token": daemons[0][0], "daemon": daemons[0][1], "rid": context.aws_request_id}
'''


def assert_everything_ends(server: ServeProcess, sig: int, *, min_inits: int) -> None:
    serve_pid = server.proc.pid
    inits = sandbox_inits(serve_pid)
    assert len(inits) >= min_inits, {p: proc_cmdline(p) for p in descendants(serve_pid)}
    everything = descendants(serve_pid)
    assert any("watchdog.py" in proc_cmdline(p) for p in everything), "no watchdog"
    cgroups = cgroups_of(serve_pid)
    server.signal(sig)
    code = server.wait(BOUND)
    if sig != signal.SIGKILL:
        assert code == 0, server.output()[-3000:]
    left = wait_all_gone(everything, GONE_WITHIN)
    assert left == {}, left
    assert wait_paths_gone(cgroups, GONE_WITHIN) == []
    assert cgroups_of(serve_pid) == []


def cgroup_daemons(cgroups: list[Path]) -> dict[int, int]:
    """The `sleep 300` daemons in these cgroups, {pid: starttime}: they left every process tree of lambdatui's."""
    members: set[int] = set()
    for group in cgroups:
        procs = group / "cgroup.procs"
        if procs.exists():
            members |= {int(p) for p in procs.read_text().split()}
    found = {}
    for pid in members:
        stat = proc_stat(pid)
        if stat is not None and proc_cmdline(pid) == "sleep 300":
            found[pid] = stat[2]
    return found


# --------------------------------------------------------------------------- each kind of fleet, each way out


@pytest.mark.parametrize(("kind", "options", "sig"), [
    ("snapstart", ["--snapstart"], signal.SIGINT),
    ("provisioned", ["--provisioned", "2"], signal.SIGTERM),
    ("managed", ["--max-concurrency", "2"], signal.SIGKILL),
    ("snapstart-killed", ["--snapstart"], signal.SIGKILL),
])
def test_a_fleet_of_each_kind_after_concurrent_invokes_leaves_no_process_and_no_cgroup(
        code_dir: Path, kind: str, options: list[str], sig: int) -> None:
    path = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(path, "--timeout", "30", *options) as server:
        responses = concurrent_invokes(server, [{"sleep": 0.5, "n": n} for n in range(3)])
        tokens = {r.json()["token"] for r in responses}
        if kind != "managed":
            assert len(tokens) == 3, tokens  # three runtimes: three environments (restored, provisioned+1, ...)
        assert_everything_ends(server, sig, min_inits=1 if kind == "managed" else 3)


def test_scaled_out_then_idle_each_environment_goes_with_its_init_and_cgroup(code_dir: Path) -> None:
    path = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(path, "--timeout", "30", "--idle-shutdown", "1") as server:
        serve_pid = server.proc.pid
        responses = concurrent_invokes(server, [{"sleep": 0.6, "n": n} for n in range(3)])
        assert len({r.json()["token"] for r in responses}) == 3
        inits = sandbox_inits(serve_pid)
        assert len(inits) >= 3, inits
        cgroups = cgroups_of(serve_pid)
        everything = descendants(serve_pid)
        keep = {pid: start for pid, start in everything.items() if "watchdog.py" in proc_cmdline(pid)}
        # Idle for 1 s, each is shut down (spindown): its init, pid 1, runtime and daemon end, its cgroup goes.
        left = wait_all_gone({p: s for p, s in everything.items() if p not in keep}, 1 + GONE_WITHIN)
        assert left == {}, left
        assert wait_paths_gone(cgroups, GONE_WITHIN) == []
        assert server.proc.poll() is None
        # and the fleet serves on: a new environment, cold
        again = httpx.post(server.invoke_url(), content=b"{}", timeout=BOUND)
        assert again.status_code == 200 and again.json()["token"] not in {r.json()["token"] for r in responses}
        assert_everything_ends(server, signal.SIGTERM, min_inits=1)


# --------------------------------------------------------------------------- SIGKILL while frozen, with a daemon


def test_serve_sigkilled_while_its_environment_is_frozen_with_a_setsid_daemon_leaves_nothing(code_dir: Path) -> None:
    path = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(path, "--concurrency", "1") as server:
        response = httpx.post(server.invoke_url(), content=b"{}", timeout=BOUND)
        assert response.status_code == 200
        serve_pid = server.proc.pid
        everything = descendants(serve_pid)
        cgroups = cgroups_of(serve_pid)
        if not cgroups:
            pytest.skip("no cgroup here to find the daemon by")
        daemons = cgroup_daemons(cgroups)
        assert len(daemons) == 1, cgroups  # the setsid daemon, alive (stopped: frozen) in the environment's cgroup
        watched = {**everything, **daemons}
        server.signal(signal.SIGKILL)
        server.wait(BOUND)
        left = wait_all_gone(watched, GONE_WITHIN)
        assert left == {}, left
        assert wait_paths_gone(cgroups, GONE_WITHIN) == []


def test_the_debugger_sigkilled_after_an_invoke_with_a_setsid_daemon_leaves_nothing(code_dir: Path,
                                                                                     tmp_path: Path) -> None:
    """The debugger's environment, invoked over its --port Invoke API, then the debugger SIGKILLed: the watchdog
    (EOF on its stdin) kills what is listed and the environment's cgroup; nothing may be left."""
    path = write_file(code_dir / "handler.py", HANDLER)
    port = free_port()
    with DebuggerOnPty(str(path), "--port", str(port), env=cache_env(None, write=False)) as tui:
        tui.ready()
        tui.wait_for(b"Invoke API on")  # the debugger's notice, once its Invoke API listens
        answers: list[httpx.Response] = []
        caller = threading.Thread(target=lambda: answers.append(httpx.post(
            f"http://127.0.0.1:{port}/2015-03-31/functions/f/invocations", content=b"{}", timeout=BOUND)),
            daemon=True)
        caller.start()
        # The debugger holds an invoke at its first boundary: 'c' (Go) until the caller has its answer.
        answered_by = time.monotonic() + BOUND
        while caller.is_alive() and time.monotonic() < answered_by:
            tui.type(b"c")
            caller.join(0.5)
        assert answers and answers[0].status_code == 200, bytes(tui.screen[-2000:])
        pid = tui.proc.pid
        everything = descendants(pid)
        cgroups = cgroups_of(pid)
        daemons = cgroup_daemons(cgroups)
        if cgroups:
            assert len(daemons) == 1, cgroups
        watched = {**everything, **daemons}
        tui.proc.send_signal(signal.SIGKILL)
        tui.wait(BOUND)
    left = wait_all_gone(watched, GONE_WITHIN)
    assert left == {}, left
    assert wait_paths_gone(cgroups, GONE_WITHIN) == []


CRASHING = r'''
import os


def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    return {"pid": os.getpid()}
'''


def inits_of(host: int) -> dict[int, int]:
    """Every process of a keeper of `host`'s (its argv ends with the host's pid, and the inits and pid 1s it forks
    share that argv), wherever it is reparented: {pid: starttime}."""
    found = {}
    for entry in os_listdir_proc():
        command = proc_cmdline(entry)
        if "sandbox_init.py" in command and command.split()[-1] == str(host):
            stat = proc_stat(entry)
            if stat is not None and stat[0] not in "ZXx":
                found[entry] = stat[2]
    return found


def os_listdir_proc() -> list[int]:
    import os

    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def test_serve_sigkilled_as_its_keeper_forks_a_reset_s_init_leaves_nothing(code_dir: Path) -> None:
    """The keeper forks the next life's init at the crash's reset, while the answer goes out: lambdatui SIGKILLed at
    once leaves neither that init, its pid 1, nor the keeper (parent-death signals, and the watchdog)."""
    path = write_file(code_dir / "handler.py", CRASHING)
    with ServeProcess(path, "--concurrency", "1") as server, httpx.Client(timeout=BOUND) as client:
        assert client.post(server.invoke_url(), content=b"{}").status_code == 200
        serve_pid = server.proc.pid
        cgroups = cgroups_of(serve_pid)
        seen = inits_of(serve_pid)
        assert len(seen) == 3, seen  # the keeper, the init, its pid 1
        crashed = client.post(server.invoke_url(), content=b'{"crash": true}')
        assert crashed.headers.get("x-amz-function-error") == "Unhandled", crashed.text
        server.signal(signal.SIGKILL)  # the next init is being forked, or just was
        server.wait(BOUND)
        watched = {**seen, **inits_of(serve_pid)}
        left = wait_all_gone(watched, GONE_WITHIN)
        assert left == {}, left
        assert inits_of(serve_pid) == {}
        assert wait_paths_gone(cgroups, GONE_WITHIN) == []
