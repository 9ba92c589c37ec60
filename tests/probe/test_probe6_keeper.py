"""Probe (round 6): the environment's KEEPER (sandbox_init.py's main, init_keeper.InitKeeper) and the per-life
INIT it forks for each life (pid_namespace.SandboxInit), with pid 1 of each life's PID namespace forked by that init.

What is probed, against real `lambdatui serve` / `lambdatui invoke` subprocesses, real HTTP on loopback and real
processes (nothing mocked), seen from the host through /proc and the environment's cgroup folders:

- many resets in a row (crashes, timeouts, OOM kills): one keeper for the environment's whole life (same pid and
  start time), one live init at a time, every old init, pid 1 and runtime gone once the next life answers, the
  function in a fresh namespace (pid 2) each time, and the cgroups holding only the keeper and the current life;
  no memory charge of an old life left in REPORT's Max Memory Used;
- a setsid double-forked daemon of a crashing invoke dies with its namespace, the keeper stays;
- a keeper lost (SIGKILLed by hand while idle, or killed by the function itself through its cgroup's cgroup.kill):
  its life ends, and the next invoke gets a new keeper in the same cgroup; SIGKILLed just after it forked a reset's
  init (strace holding that init before its getppid()): the init must end with it (it did not before the keeper's
  pid was taken before the fork: the child's getppid() read 1, and the check after the parent-death signal passed);
- `serve` SIGKILLed / SIGTERMed / SIGINTed as the keeper forks a reset's init: nothing of it is left anywhere;
- a fleet (--concurrency 3) where each environment crashes: one keeper each, in a cgroup each, no cross-talk;
- `invoke --repeat 6` crashing every other invoke: outputs and exit code as documented, one keeper, nothing left.

The function's processes are found by a marker variable (`--env PROBE6_MARK=...`), the keepers, inits and pid 1s
by their argv (it ends with the host's pid), wherever they are reparented. Every wait is bounded and on the event
it means (an answer, a line, a process's exit through a pidfd, a folder's removal).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_support import (REPO, ServeProcess, is_alive, lambdatui_argv, proc_stat, wait_all_gone,  # noqa: E402
                         write_file)

from probe6_support import (KeeperSampler, Life, cgroup_members, children, family,  # noqa: E402
                            function_cgroup_members, keepers, lives, marked, max_memory_used, ns_pids, pid_ns,
                            report_duration, sleepers, v2_folder)
from probe_support import (DAEMON_SOURCE, cgroups_of, concurrent_invokes, remove_stale_runs,  # noqa: E402
                           wait_paths_gone)

BOUND = 60.0
GONE_WITHIN = 15.0


@pytest.fixture(autouse=True)
def _no_stale_run_folders():
    yield
    remove_stale_runs()


HANDLER = r'''
import json, os, tempfile, time

TOKEN = os.urandom(8).hex()  # one per runtime process
''' + DAEMON_SOURCE + r'''

def own_cgroup():
    mount = next(line.split()[1] for line in open("/proc/self/mounts") if line.split()[2] == "cgroup2")
    path = next(line.strip()[3:] for line in open("/proc/self/cgroup") if line.startswith("0::"))
    return mount + path


def handler(event, context):
    mode = event.get("mode")
    if event.get("daemon"):
        daemon(event["daemon"])
    if mode == "alternate":  # crashes every other invoke of the environment, counted on its /tmp (kept by resets)
        path = os.path.join(tempfile.gettempdir(), "alternate")
        with open(path, "a") as fh:
            fh.write("x")
        mode = "crash" if os.path.getsize(path) % 2 == 1 else None
    if mode == "crash":
        time.sleep(event.get("linger", 0))
        os._exit(7)
    if mode == "sleep":
        time.sleep(event.get("seconds", 1))
    if mode == "oom":
        hog = b"\1" * (300 << 20)  # written, so charged: well over --memory 128
        return {"survived": len(hog)}
    if mode == "kill-cgroup":  # the function ends its own cgroup (the function's: its keeper is outside it)
        with open(os.path.join(own_cgroup(), "cgroup.kill"), "w") as fh:
            fh.write("1")
        time.sleep(30)
    return {"pid": os.getpid(), "ns": os.stat("/proc/self/ns/pid").st_ino, "token": TOKEN,
            "rid": context.aws_request_id}
'''


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def all_children(pid: int) -> list[tuple[int, str]]:
    """Every child of `pid`, zombies included, with its state: a keeper must reap each init it forked."""
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        pids = [int(x) for x in fh.read().split()]
    return [(p, stat[0]) for p in pids if (stat := proc_stat(p)) is not None]


def new_mark() -> str:
    return os.urandom(6).hex()


def daemon_seconds() -> int:
    """A `sleep N` no other test (nor a parallel session) uses: the daemon is found by that argv."""
    return random.randint(100_000, 999_999)


def serve(code_dir: Path, mark: str, *options: str) -> ServeProcess:
    path = write_file(code_dir / "handler.py", HANDLER)
    return ServeProcess(path, "--env", f"PROBE6_MARK={mark}", *options)


def post(client: httpx.Client, server: ServeProcess, event: dict) -> tuple[httpx.Response, dict]:
    response = client.post(server.invoke_url(), content=json.dumps(event), timeout=BOUND)
    assert response.status_code == 200, response.text
    return response, response.json()


@dataclass
class FirstLife:
    """A `serve` of the probe's function whose first invoke answered: its host pid, that invoke's answer, its one
    life (checked by `the_life`) and its cgroup folders."""

    server: ServeProcess
    client: httpx.Client
    mark: str
    host: int
    body: dict
    life: Life
    cgroups: list[Path]


@contextlib.contextmanager
def first_life(code_dir: Path) -> Iterator[FirstLife]:
    mark = new_mark()
    with serve(code_dir, mark, "--concurrency", "1") as server, httpx.Client() as client:
        host = server.proc.pid
        response, body = post(client, server, {})
        assert_ok(response, body)
        yield FirstLife(server, client, mark, host, body, the_life(host, None, body), cgroups_of(host))


def assert_error(response: httpx.Response, body: dict, error_type: str) -> None:
    assert response.headers.get("x-amz-function-error") == "Unhandled", body
    assert body.get("errorType") == error_type, body


def assert_ok(response: httpx.Response, body: dict) -> None:
    assert response.headers.get("x-amz-function-error") is None, body
    assert body["rid"] == response.headers["x-amzn-requestid"], body
    assert body["pid"] == 2, body  # the first process forked into a fresh namespace after its pid 1


def the_life(host: int, keeper: tuple[int, int] | None, body: dict) -> Life:
    """The host's only keeper and its only life, checked against what the function said (`body`): its runtime is
    pid 2 in the namespace whose pid 1 is the life's anchor; the cgroups hold that life and the keeper, nothing
    else. Read right after an answer: an old life's processes must be gone by then (the spawn waited for them)."""
    found = lives(host)
    # A parent's /proc children list can miss a child while that parent forks or reaps another (proc(5): the list is
    # reliable only while the children are stopped): a life not seen there is looked for again, within a bound.
    # Two lives are never waited away.
    deadline = time.monotonic() + GONE_WITHIN
    while not any(found.values()) and time.monotonic() < deadline:
        time.sleep(0.01)
        found = lives(host)
    assert len(found) == 1, (found, family(host))
    (keeper_pid, its_lives), = found.items()
    assert len(its_lives) == 1, (its_lives, family(host))  # one live init at a time
    life = its_lives[0]
    if keeper is not None:
        assert life.keeper == keeper, (life.keeper, keeper)  # the same keeper, not a new one with the same pid
    runtime = life.runtime[0]
    assert ns_pids(life.anchor[0])[-1] == 1 and len(ns_pids(life.anchor[0])) == 2, ns_pids(life.anchor[0])
    assert ns_pids(runtime)[-1] == 2, ns_pids(runtime)
    assert pid_ns(runtime) == life.namespace == body["ns"], (pid_ns(runtime), life.namespace, body)
    assert pid_ns(life.init[0]) == pid_ns(life.keeper[0]) == pid_ns(host)  # both stay in the host's namespace
    assert_cgroups_hold(host, [life])
    return life


def assert_cgroups_hold(host: int, current: list[Life]) -> None:
    """Each of the host's cgroup folders (the v2 one and the v1 memory one, per environment) holds exactly one
    environment's keeper and current life, and each environment is in its own folders."""
    members = cgroup_members(host)
    if not members:
        return  # no cgroup here: the namespace alone fences
    by_kind: dict[bool, list[set[int]]] = {True: [], False: []}
    for folder, pids in members.items():
        by_kind[v2_folder(folder)].append(pids)
    for kind, sets in by_kind.items():
        if not sets:
            continue
        expected = sorted((sorted(life.pids) for life in current))
        assert sorted(sorted(s) for s in sets) == expected, (kind, members, current)
    # In a v2 one, the function's processes are in its function cgroup (the freezer's), lambdatui's outside it.
    inside = set().union(*function_cgroup_members(host).values())
    if inside:
        for life in current:
            assert {pid for pid, _ in life.participants} <= inside, (inside, life)
            assert not {life.keeper[0], life.init[0], life.anchor[0]} & inside, (inside, life)


def concurrent(server: ServeProcess, events: list[dict]) -> list[tuple[httpx.Response, dict]]:
    return [(response, response.json()) for response in concurrent_invokes(server, events, BOUND)]


def nothing_left(host: int, mark: str, seconds: int | None, watched: dict[int, int], cgroups: list[Path]) -> None:
    """After the host ended: every process watched, every keeper/init/pid 1 of its (argv), every process of the
    function's (marker) and its daemons (`sleep SECONDS`) gone, wherever reparented; its cgroup folders gone."""
    watched = {**watched, **{p: s for p, (_, s) in family(host).items()}, **marked(mark),
               **(sleepers(seconds) if seconds else {})}
    left = wait_all_gone(watched, GONE_WITHIN)
    assert left == {}, left
    assert family(host) == {} and marked(mark) == {}, (family(host), marked(mark))
    if seconds:
        assert sleepers(seconds) == {}
    assert wait_paths_gone(cgroups, GONE_WITHIN) == []
    assert cgroups_of(host) == []


def stop_serve(server: ServeProcess, mark: str, cgroups: list[Path]) -> None:
    host = server.proc.pid
    watched = {**{p: s for p, (_, s) in family(host).items()}, **marked(mark)}
    server.signal(signal.SIGTERM)
    assert server.wait(BOUND) == 0, server.output()[-3000:]
    nothing_left(host, mark, None, watched, cgroups)


# --------------------------------------------------------------------------- 1. crashes in a row


def test_thirty_two_crashes_keep_one_keeper_one_life_at_a_time_and_only_it_in_the_cgroup(code_dir: Path) -> None:
    with first_life(code_dir) as first:
        server, client, mark, host, body, life, cgroups = (first.server, first.client, first.mark, first.host,
                                                            first.body, first.life, first.cgroups)
        keeper = life.keeper
        tokens = {body["token"]}
        old: dict[int, int] = {}
        resets = 0
        keeper_fds = fd_count(keeper[0])
        host_fds: list[int] = []
        for n in range(32):
            before = life
            crashes = 2 if n % 4 == 3 else 1  # now and then a crash on a fresh life, before any answer of it
            for _ in range(crashes):
                response, failed = post(client, server, {"mode": "crash"})
                assert_error(response, failed, "Runtime.ExitError")
                resets += 1
                assert keepers(host) == {keeper[0]: keeper[1]}  # the keeper outlives each reset
            response, body = post(client, server, {"n": n})
            assert_ok(response, body)
            assert body["token"] not in tokens  # a fresh runtime
            tokens.add(body["token"])
            life = the_life(host, keeper, body)
            assert life.init != before.init and life.anchor != before.anchor
            old.update(before.processes())
            # Every earlier life's init, pid 1 and runtime ended before this life's runtime was started.
            still = {pid: start for pid, start in old.items() if is_alive(pid, start)}
            assert still == {}, still
            assert fd_count(keeper[0]) == keeper_fds  # each life's channels are the init's, not kept by the keeper
            host_fds.append(fd_count(host))
        assert resets == 40
        assert max(host_fds) - min(host_fds) <= 3, host_fds  # no descriptor of a life kept by the host
        kids = all_children(keeper[0])
        assert [pid for pid, _ in kids] == [life.init[0]] and kids[0][1] not in "ZX", kids  # 40 inits reaped
        assert set(cgroups_of(host)) == set(cgroups)  # the environment's folders, all along
        stop_serve(server, mark, cgroups)


# --------------------------------------------------------------------------- 2. timeouts and OOM kills


def test_timeouts_and_oom_kills_reset_under_the_same_keeper_and_leave_no_memory_charge(code_dir: Path) -> None:
    mark = new_mark()
    with serve(code_dir, mark, "--concurrency", "1", "--timeout", "1", "--memory", "128") as server, \
            httpx.Client() as client:
        host = server.proc.pid
        response, body = post(client, server, {})
        assert_ok(response, body)
        keeper = the_life(host, None, body).keeper
        used_first = max_memory_used(server, body["rid"])  # the first life's first invoke
        response, failed = post(client, server, {"mode": "crash"})  # a plain reset, to compare like with like
        assert_error(response, failed, "Runtime.ExitError")
        response, body = post(client, server, {})
        assert_ok(response, body)
        used_after_crash = max_memory_used(server, body["rid"])
        the_life(host, keeper, body)
        after: list[tuple[str, int]] = []
        for kind in ("timeout", "oom", "oom", "timeout", "oom"):
            before = the_life(host, keeper, body)
            started = time.monotonic()
            if kind == "timeout":
                response, failed = post(client, server, {"mode": "sleep", "seconds": 5})
                assert time.monotonic() - started < 4, "the timeout did not end the invoke"
                assert_error(response, failed, "Sandbox.Timedout")
            else:
                response, failed = post(client, server, {"mode": "oom"})
                assert_error(response, failed, "Runtime.OutOfMemory")  # the runtime was the OOM killer's victim
                assert max_memory_used(server, response.headers["x-amzn-requestid"]) == 128
            assert keepers(host) == {keeper[0]: keeper[1]}  # neither the timeout's kill nor the OOM killer took it
            response, body = post(client, server, {})
            assert_ok(response, body)
            life = the_life(host, keeper, body)
            assert life.init != before.init
            still = {p: s for p, s in before.processes().items() if is_alive(p, s)}
            assert still == {}, still  # the old life (its runtime still sleeping, for a timeout) ended first
            after.append((kind, max_memory_used(server, body["rid"])))
        # An old life's charge (a 128 MB runtime, a sleeping one) counted in the next life's peak would show here; a
        # fresh runtime's own peak varies by a megabyte or so from life to life.
        assert all(used <= max(used_first, used_after_crash) + 2 for _, used in after), (used_first, used_after_crash,
                                                                                         after)
        stop_serve(server, mark, cgroups_of(host))


# --------------------------------------------------------------------------- 3. a crashing invoke's daemon


def test_a_setsid_daemon_of_a_crashing_invoke_dies_with_its_namespace_and_the_keeper_stays(code_dir: Path) -> None:
    mark = new_mark()
    first, second = daemon_seconds(), daemon_seconds()
    with serve(code_dir, mark, "--concurrency", "1") as server, httpx.Client() as client:
        host = server.proc.pid
        response, body = post(client, server, {"daemon": first})
        assert_ok(response, body)
        daemons = sleepers(first)
        assert len(daemons) == 1, daemons
        (daemon_pid, _), = daemons.items()
        life = the_life_with_daemon(host, body)
        keeper = life.keeper
        assert pid_ns(daemon_pid) == life.namespace  # left its group and session, not its namespace
        assert daemon_pid not in set(children(life.init[0])) and daemon_pid not in {p for p, _ in life.participants}
        members = cgroup_members(host)
        assert all(daemon_pid in pids for pids in members.values()), members
        # The crashing invoke forks its own daemon, then lingers so that the test sees it alive, then dies.
        answer: list[object] = []

        def crash() -> None:
            with httpx.Client() as other:
                answer.append(post(other, server, {"daemon": second, "mode": "crash", "linger": 1.0}))

        caller = threading.Thread(target=crash, daemon=True)
        caller.start()
        deadline = time.monotonic() + BOUND
        while not (seen := sleepers(second)) and caller.is_alive() and time.monotonic() < deadline:
            pass  # a scan of /proc for the daemon's exec: the event itself
        assert len(seen) == 1, "the crashing invoke's daemon never appeared"
        caller.join(BOUND)
        assert answer, "no answer to the crash"
        assert_error(*answer[0], "Runtime.ExitError")  # type: ignore[misc]
        # No further invoke: the reset alone ends the old namespace, and both daemons with it (the first one
        # frozen between invokes, or not: it dies all the same).
        left = wait_all_gone({**daemons, **seen, **life.processes()}, GONE_WITHIN)
        assert left == {}, left
        assert keepers(host) == {keeper[0]: keeper[1]}
        response, body = post(client, server, {})
        assert_ok(response, body)
        the_life(host, keeper, body)
        assert sleepers(first) == {} and sleepers(second) == {}
        stop_serve(server, mark, cgroups_of(host))


# --------------------------------------------------------------------------- 4. a keeper lost


@pytest.mark.parametrize("how", ["sigkill-while-idle", "sigkill-while-idle-invoke-at-once", "function-cgroup-kill"])
def test_a_lost_keeper_takes_its_life_along_and_the_next_invoke_gets_a_new_one(code_dir: Path, how: str) -> None:
    """The keeper SIGKILLed by hand (found by argv) while the environment is idle, with the next invoke sent once
    lambdatui has noticed, or at once: its init, pid 1 and runtime end with it. An invoke sent at once may race the
    kill (the old runtime answers it, or dies holding it: Runtime.ExitError, signal: killed); then one succeeds, in a
    new life of a new keeper, in the environment's same cgroup folders, which hold nothing of the old keeper's (what
    each invoke said is printed). Or the function kills its own cgroup (cgroup.kill): that is the function's cgroup,
    inside the environment's, so the runtime ends and the keeper, outside it, stays for the next life."""
    with first_life(code_dir) as first:
        server, client, mark, host, body, life, cgroups = (first.server, first.client, first.mark, first.host,
                                                            first.body, first.life, first.cgroups)
        keeper, token = life.keeper, body["token"]
        keeper_lost = how.startswith("sigkill")
        doomed = {**({keeper[0]: keeper[1]} if keeper_lost else {}), **life.processes()}
        if how.startswith("sigkill-while-idle"):
            os.kill(keeper[0], signal.SIGKILL)
            if how == "sigkill-while-idle":
                # The runtime dies with its namespace, and lambdatui says so (as Lambda logs an idle crash).
                server.wait_for_line(r"Runtime exited with error: signal: killed while the environment was idle")
                assert wait_all_gone(doomed, GONE_WITHIN) == {}
        else:
            if not any(v2_folder(folder) for folder in cgroups):
                pytest.skip("no cgroup v2 here for the function to kill")
            response, failed = post(client, server, {"mode": "kill-cgroup"})
            assert_error(response, failed, "Runtime.ExitError")  # it killed itself, SIGKILL, with the rest
        said = []
        for _ in range(10):  # the old runtime may answer a few more before the kill reaches it (under load)
            started = time.monotonic()
            response, body = post(client, server, {"after": how})
            took = time.monotonic() - started
            if response.headers.get("x-amz-function-error"):
                # Only where the invoke raced the kill: the old runtime got it, and died holding it.
                assert how == "sigkill-while-idle-invoke-at-once", body
                assert_error(response, body, "Runtime.ExitError")
                assert "signal: killed" in body["errorMessage"], body
                said.append(f"{body['errorType']} (...{body['errorMessage'][-25:]}) in {took * 1000:.0f} ms")
            elif body["token"] == token:
                assert how == "sigkill-while-idle-invoke-at-once", body  # the old runtime, not yet killed
                said.append(f"answered by the old runtime in {took * 1000:.0f} ms")
            else:
                break
        assert sum("Error" in line for line in said) <= 1, said
        said.append(f"no error in {took * 1000:.0f} ms")
        assert_ok(response, body)  # the lost keeper is replaced at this life
        duration = report_duration(server, body["rid"])
        assert wait_all_gone(doomed, GONE_WITHIN) == {}
        life = the_life(host, None, body)
        assert (life.keeper != keeper) == keeper_lost and body["token"] != token
        assert set(cgroups_of(host)) == set(cgroups)  # the same environment, its same cgroup folders
        print(f"\n{how}: next invokes: {'; then '.join(said)} (REPORT Duration {duration} ms)")
        # and the new keeper does the resets from now on
        response, failed = post(client, server, {"mode": "crash"})
        assert_error(response, failed, "Runtime.ExitError")
        response, body = post(client, server, {})
        assert_ok(response, body)
        the_life(host, life.keeper, body)
        stop_serve(server, mark, cgroups)


def test_an_init_forked_just_before_its_keeper_is_killed_ends_with_it(code_dir: Path) -> None:
    """The keeper SIGKILLed right after a crash, as it forks the next life's init. Without help the init's first
    steps after the fork take microseconds and the kill lands there a few times in a hundred under load; strace
    holds the init's getppid() for a second (delay_enter) so that the kill lands there every time: the init must
    then end (its parent-death check), and the next invoke run under a NEW keeper."""
    tracer_path = shutil.which("strace")
    if tracer_path is None:
        pytest.skip("no strace here to hold the init between its fork and its getppid()")
    with first_life(code_dir) as first:
        server, client, mark, host, body, life, cgroups = (first.server, first.client, first.mark, first.host,
                                                            first.body, first.life, first.cgroups)
        keeper = life.keeper
        tracer = subprocess.Popen([tracer_path, "-f", "-qq", "-o", "/dev/null", "-p", str(keeper[0]), "-e",
                                   "trace=getppid", "-e", "inject=getppid:delay_enter=1s"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + BOUND
            while tracer_of(keeper[0]) != tracer.pid and tracer.poll() is None and time.monotonic() < deadline:
                pass  # the keeper's /proc status, read until strace is attached
            if tracer_of(keeper[0]) != tracer.pid:
                pytest.skip(f"strace could not attach: {tracer.communicate(timeout=BOUND)[1]!r}")
            response, failed = post(client, server, {"mode": "crash"})
            assert_error(response, failed, "Runtime.ExitError")
            deadline = time.monotonic() + BOUND
            while not (forked := set(children(keeper[0])) - {life.init[0]}) and time.monotonic() < deadline:
                pass  # the keeper's children, read until its fork of the next life's init
            assert forked, "the keeper forked no init for the next life"
            os.kill(keeper[0], signal.SIGKILL)
            doomed = {keeper[0]: keeper[1], **life.processes(),
                      **{pid: start for pid in forked if (start := start_of(pid)) is not None}}
            # The init goes on once strace lets its getppid() through (1 s): by then its keeper is gone.
            deadline = time.monotonic() + BOUND
            while any(tracer_of(pid) == tracer.pid for pid in doomed) and time.monotonic() < deadline:
                if all(start_of(pid) is None for pid in forked):
                    break  # it ended: nothing left to hold
                if any(ns_pids(pid) and len(ns_pids(pid)) == 2 for pid in all_children_pids(forked)):
                    break  # it went on past its checks: it forked its pid 1
        finally:
            tracer.terminate()  # detaches from whatever it still traces
            tracer.communicate(timeout=BOUND)
        left = wait_all_gone(doomed, 5)  # a parent-death signal or the init's own check: milliseconds
        assert left == {}, {pid: (stat_of(pid), ns_pids(pid)) for pid in left}
        response, body = post(client, server, {})
        assert_ok(response, body)
        assert the_life(host, None, body).keeper != keeper
        stop_serve(server, mark, cgroups)


def tracer_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("TracerPid:"))
    except (OSError, StopIteration):
        return None


def start_of(pid: int) -> int | None:
    stat = proc_stat(pid)
    return stat[2] if stat is not None and stat[0] not in "ZXx" else None


def stat_of(pid: int) -> str:
    stat = proc_stat(pid)
    return f"state {stat[0]}, ppid {stat[1]}" if stat else "gone"


def all_children_pids(pids: set[int]) -> list[int]:
    return [child for pid in pids for child in children(pid)]


def host_zombies(host: int) -> list[int]:
    """The host's children that ended and are not reaped, whichever of its threads adopted them."""
    found = []
    for task in os.listdir(f"/proc/{host}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{host}/task/{task}/children") as fh:
            found += [int(p) for p in fh.read().split() if (stat := proc_stat(int(p))) is not None and stat[0] == "Z"]
    return found


@pytest.mark.parametrize("how", ["sigkill-noticed-invoke-at-once", "function-cgroup-kill"])
def test_a_lost_keeper_costs_the_next_invoke_none_of_lambdatuis_clean_up(code_dir: Path, how: str) -> None:
    """A lost keeper's init dies before its children: the host adopts them (a child subreaper) and reaps them at
    once. Before, the machine's pid 1 did, ~2 s later here (never, in a container whose pid 1 does not reap), while
    the next invoke's spawn waited for the old namespace to end, and that wait counted against the invoke: with
    --timeout 1 it ended Sandbox.Timedout. Now it is answered, and the host is left no zombie."""
    mark = new_mark()
    with serve(code_dir, mark, "--concurrency", "1", "--timeout", "1") as server, httpx.Client() as client:
        host = server.proc.pid
        response, body = post(client, server, {})
        assert_ok(response, body)
        cgroups = cgroups_of(host)
        if how == "function-cgroup-kill":
            if not any(v2_folder(folder) for folder in cgroups):
                pytest.skip("no cgroup v2 here for the function to kill")
            response, failed = post(client, server, {"mode": "kill-cgroup"})
            assert_error(response, failed, "Runtime.ExitError")
        else:
            # Idle first (REPORT told): the runtime's /next, sent with its response, is handled a moment after the
            # caller has its answer. A kill in that moment, on a loaded machine, once landed before the host handled
            # it, and a /next whose sender is gone is not heard: the invoke "failed after" its response.
            server.wait_for_line(r"\[platform\]\s+REPORT RequestId")
            os.kill(the_life(host, None, body).keeper[0], signal.SIGKILL)
            server.wait_for_line(r"Runtime exited with error: signal: killed while the environment was idle")
        response, body = post(client, server, {})
        assert_ok(response, body)
        assert host_zombies(host) == []
        stop_serve(server, mark, cgroups)


# --------------------------------------------------------------------------- 5. serve signalled at a reset


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_serve_signalled_as_its_keeper_forks_a_reset_s_init_leaves_nothing(code_dir: Path, sig: int) -> None:
    mark = new_mark()
    seconds = daemon_seconds()
    with serve(code_dir, mark, "--concurrency", "1") as server, httpx.Client() as client:
        host = server.proc.pid
        response, body = post(client, server, {"daemon": seconds})
        assert_ok(response, body)
        life = the_life_with_daemon(host, body)
        cgroups = cgroups_of(host)
        watched = {**{p: s for p, (_, s) in family(host).items()}, **marked(mark)}
        answer: list[object] = []

        def crash() -> None:
            try:
                answer.append(httpx.post(server.invoke_url(), content=json.dumps(
                    {"mode": "crash", "daemon": seconds}), timeout=BOUND))
            except httpx.HTTPError as exc:
                answer.append(exc)  # the connection ends with serve

        caller = threading.Thread(target=crash, daemon=True)
        caller.start()
        # The reset asks the keeper for the next life's init at once: signal serve the moment it is forked.
        deadline = time.monotonic() + BOUND
        while (forked := set(children(life.keeper[0])) - {life.init[0]}) == set() and time.monotonic() < deadline:
            pass  # the keeper's children list, read until the event: its fork of the next init
        assert forked, "the keeper forked no init for the next life"
        server.signal(sig)
        code = server.wait(BOUND)
        caller.join(BOUND)
        if sig != signal.SIGKILL:
            assert code == 0, server.output()[-3000:]
        nothing_left(host, mark, seconds, watched, cgroups)


def the_life_with_daemon(host: int, body: dict) -> Life:
    found = lives(host)
    assert len(found) == 1, found
    life = next(iter(found.values()))[0]
    assert pid_ns(life.participants[0][0]) == body["ns"]
    return life


# --------------------------------------------------------------------------- 6. a fleet


def test_a_fleet_whose_environments_each_crash_keeps_one_keeper_each_and_no_cross_talk(code_dir: Path) -> None:
    mark = new_mark()
    with serve(code_dir, mark, "--concurrency", "3", "--timeout", "30") as server:
        host = server.proc.pid

        def fleet(answers: list[tuple[httpx.Response, dict]]) -> dict[int, Life]:
            """Every environment's keeper and life, each matched to the answer it gave (by its namespace)."""
            found = lives(host)
            assert len(found) == 3, found
            assert all(len(ls) == 1 for ls in found.values()), found
            by_ns = {ls[0].namespace: ls[0] for ls in found.values()}
            assert len(by_ns) == 3
            for response, body in answers:
                assert_ok(response, body)
                assert body["ns"] in by_ns, (body, by_ns)
            assert_cgroups_hold(host, list(by_ns.values()))
            return {ls[0].keeper[0]: ls[0] for ls in found.values()}

        sleep = {"mode": "sleep", "seconds": 1.5}
        first = concurrent(server, [sleep] * 3)
        envs = fleet(first)
        tokens = {body["token"] for _, body in first}
        assert len(tokens) == 3
        cgroups = cgroups_of(host)
        keeper_ids = {life.keeper for life in envs.values()}
        # Each environment crashes once (the three overlap, so each is in a different environment).
        for response, body in concurrent(server, [{"mode": "crash", "linger": 1.0}] * 3):
            assert_error(response, body, "Runtime.ExitError")
        second = concurrent(server, [sleep] * 3)
        after = fleet(second)
        assert {life.keeper for life in after.values()} == keeper_ids  # the same three keepers
        assert all(after[k].init != envs[k].init for k in envs)  # each a new life
        second_tokens = {body["token"] for _, body in second}
        assert len(second_tokens) == 3 and not second_tokens & tokens
        assert set(cgroups_of(host)) == set(cgroups)
        # One crashes while the other two are mid-invoke: theirs go on, in the same runtimes, same lives.
        mixed = concurrent(server, [{"mode": "crash", "linger": 0.3}, sleep, sleep])
        assert_error(*mixed[0], "Runtime.ExitError")
        survivors = [body for _, body in mixed[1:]]
        for response, body in mixed[1:]:
            assert_ok(response, body)
        assert {b["token"] for b in survivors} < second_tokens, (survivors, second_tokens)
        third = concurrent(server, [sleep] * 3)
        final = fleet(third)
        assert {life.keeper for life in final.values()} == keeper_ids
        untouched = {b["ns"] for b in survivors}
        for keeper_pid, life in final.items():
            if life.namespace in untouched:
                assert life.init == after[keeper_pid].init  # the crash next door reset nothing here
            else:
                assert life.init != after[keeper_pid].init
        assert len({b["token"] for _, b in third} - second_tokens) == 1
        stop_serve(server, mark, cgroups)


# --------------------------------------------------------------------------- 7. invoke --repeat


def test_invoke_repeat_six_crashing_every_other_one_answers_as_documented_and_leaves_nothing(code_dir: Path) -> None:
    mark = new_mark()
    seconds = daemon_seconds()
    path = write_file(code_dir / "handler.py", HANDLER)
    event = json.dumps({"mode": "alternate", "daemon": seconds})
    proc = subprocess.Popen([*lambdatui_argv(), "invoke", str(path), "--repeat", "6", "-e", event,
                             "--env", f"PROBE6_MARK={mark}"], cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with KeeperSampler(proc.pid) as sampler:
        try:
            out, err = proc.communicate(timeout=BOUND * 2)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise
    assert proc.returncode == 1, err[-3000:]  # some invoke returned a function error
    outputs = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [o.get("errorType") for o in outputs] == ["Runtime.ExitError", None] * 3, outputs
    oks = outputs[1::2]
    assert all(o["pid"] == 2 for o in oks), oks  # each in a fresh namespace
    assert len({o["token"] for o in oks}) == 3
    assert err.count("INIT_START") == 4, err[-3000:]  # the first Init and one after each crash
    assert sampler.samples > 0 and len(sampler.seen) == 1, sampler.seen  # one keeper all along
    assert sampler.most_at_once == 1
    nothing_left(proc.pid, mark, seconds, {}, [])
