"""The environment's PID namespace: what a function starts cannot leave it, even without a cgroup (issue 8).

Each test runs a Supervisor with no cgroup, so the PID namespace is the only fence besides process groups.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest
import trio
from proc_helpers import is_live, namespaced_sandbox, python, running, running_in_cgroup, sh, spec, wait_gone

from lambdatui.processes import LaunchError, Sandbox
from lambdatui.processes.linux import STOPPED_STATES, proc_state

# A daemon as the textbook makes one: a double fork and setsid leave the runtime's process group and tree.
DAEMON = "setsid sh -c 'sleep 300 & echo $! > /tmp/daemon' </dev/null >/dev/null 2>&1 &"


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return namespaced_sandbox(tmp_path)


async def until_stopped(pid: int, stopped: bool) -> None:
    """Until process `pid` is stopped (SIGSTOP), or running again; five seconds at the most."""
    with trio.fail_after(5):
        while (proc_state(pid) in STOPPED_STATES) is not stopped:
            await trio.sleep(0.005)


async def the_daemon(sandbox: Sandbox) -> int:
    """The daemon's host pid once it runs `sleep`: its pid is written as soon as it is forked, maybe before."""
    await wait_file(sandbox.tmp_dir / "daemon")
    with trio.fail_after(5):
        while not (found := host_pids_of(sandbox.tmp_dir / "daemon")):
            await trio.sleep(0.005)
    [daemon] = found
    return daemon


def host_pids_of(inner_pid_file: Path) -> list[int]:
    """The daemon's pid as the host sees it: the pid it wrote is the namespace's number, so look by command, and
    by the file itself as the process sees it at /tmp (another test's namespace may number a daemon the same)."""
    inner = int(inner_pid_file.read_text())
    inode = inner_pid_file.stat().st_ino
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ns_pids = [line for line in (entry / "status").read_text().splitlines() if line.startswith("NSpid:")]
            if ns_pids and ns_pids[0].split()[-1] == str(inner) and len(ns_pids[0].split()) > 2:
                if (entry / "cmdline").read_bytes().startswith(b"sleep\x00300") and \
                        (entry / "root" / "tmp" / inner_pid_file.name).stat().st_ino == inode:
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


async def wait_file(path: Path) -> None:
    with trio.fail_after(5):
        while not (path.exists() and path.read_text().strip()):
            await trio.sleep(0.005)


@pytest.mark.trio
async def test_a_setsid_daemon_ends_with_the_environment_without_a_cgroup(sandbox: Sandbox, tmp_path: Path) -> None:
    async with running(sandbox) as (supervisor, recorder):
        assert supervisor.cgroup is None
        assert "PID namespace whose pid 1" in supervisor.containment()
        handle = supervisor.spawn(sh(DAEMON + " echo started; exec sleep 300"))
        await recorder.wait_lines(1, "runtime")
        daemons = [await the_daemon(sandbox)]
        assert len(host_pids_of(sandbox.tmp_dir / "daemon")) == 1 and is_live(daemons[0])
        supervisor.end_everything_inside()
        await wait_gone(daemons)
        assert (await recorder.wait_exit(handle)).signal == signal.SIGKILL


@pytest.mark.trio
async def test_the_environment_freeze_stops_a_daemon_without_a_cgroup(sandbox: Sandbox, tmp_path: Path) -> None:
    async with running(sandbox) as (supervisor, recorder):
        supervisor.spawn(sh(DAEMON + " echo started; exec sleep 300"))
        await recorder.wait_lines(1, "runtime")
        daemon = await the_daemon(sandbox)
        supervisor.freeze_strays()
        await until_stopped(daemon, True)
        supervisor.thaw_strays()
        await until_stopped(daemon, False)


@pytest.mark.trio
async def test_a_thaw_looks_for_strays_only_when_the_freeze_stopped_some(sandbox: Sandbox) -> None:
    # A thaw is on every warm invoke's way to the runtime: after a freeze that stopped no stray, nothing inside
    # was stopped but the participants (their groups are thawed on their own), so the environment is not scanned.
    async with running(sandbox) as (supervisor, recorder):
        supervisor.spawn(sh("echo started; exec sleep 300"))
        await recorder.wait_lines(1, "runtime")
        init = supervisor._init
        assert init is not None
        scans: list[str] = []
        scan = init.pids

        def counted() -> list[int]:
            scans.append("scan")
            return scan()

        init.pids = counted  # type: ignore[method-assign]
        supervisor.freeze_strays()
        assert scans == ["scan"]
        supervisor.thaw_strays()
        assert scans == ["scan"], "a thaw after a freeze that stopped nothing scanned the environment"


@pytest.mark.trio
async def test_inside_a_process_sees_itself_in_proc_and_is_not_pid_1(sandbox: Sandbox) -> None:
    # Its own /proc: a function reading /proc/<os.getpid()> reads itself, not a host process with that number.
    code = ("import os; me = os.getpid(); "
            "print(me, open(f'/proc/{me}/cmdline', 'rb').read().split(b'\\0')[-2].decode(), "
            "sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[0], flush=True); "
            "import time; time.sleep(300)  # marker")
    async with running(sandbox) as (supervisor, recorder):
        handle = supervisor.spawn(python(code))
        [line] = await recorder.wait_lines(1, "runtime")
        inner, rest = line.split(" ", 1)
        last_arg, lowest = rest.rsplit(" ", 1)
        assert int(inner) != handle.pid and int(inner) > 1  # numbered by the namespace, and pid 1 is the init's
        assert last_arg.endswith("# marker")
        assert lowest == "1"
        # Not pid 1, so a signal with its default action works as on Lambda (pid 1 would ignore SIGTERM).
        supervisor.send_signal(handle, signal.SIGTERM)
        assert (await recorder.wait_exit(handle)).signal == signal.SIGTERM


@pytest.mark.trio
async def test_exit_statuses_and_start_failures_come_through_the_init(sandbox: Sandbox, tmp_path: Path) -> None:
    async with running(sandbox) as (supervisor, recorder):
        handle = supervisor.spawn(sh("echo out; echo err >&2; exit 3"))
        assert (await recorder.wait_exit(handle)).code == 3
        assert recorder.lines("runtime", "stdout") == ["out"] and recorder.lines("runtime", "stderr") == ["err"]
        with pytest.raises(LaunchError, match="no such file: /no/such/program"):
            supervisor.spawn(spec(["/no/such/program"]))
        with pytest.raises(LaunchError, match="cannot use working directory /no/such/dir"):
            supervisor.spawn(spec(["/bin/true"], cwd="/no/such/dir"))
        with pytest.raises(LaunchError, match="command not found: no-such-command"):
            supervisor.spawn(spec(["no-such-command"]))
        handle = supervisor.spawn(sh("exit 0"))  # the init goes on serving after a failure
        assert (await recorder.wait_exit(handle)).code == 0


@pytest.mark.trio
async def test_a_participant_starts_with_what_the_init_sets_up_before_its_exec(sandbox: Sandbox) -> None:
    """What the init sets up between its fork and the exec: a group of its own, the default handlers of the signals
    the init ignores (none ignored at all, as under Lambda's init), /dev/null for input, no descriptor but its
    streams, Lambda's file limit, and a bare name found on the function's PATH, as execvpe looks."""
    tools = sandbox.tmp_dir / "tools"  # the environment's /tmp is its own: /tmp/tools inside
    tools.mkdir()
    (tools / "probe").write_text("#!/bin/sh\n"
                                 "echo group $(cut -d' ' -f5 /proc/self/stat) self $(cut -d' ' -f4 /proc/self/stat)\n"
                                 "grep SigIgn /proc/self/status\n"
                                 "echo input $(readlink /proc/self/fd/0) descriptors $(ls /proc/self/fd | wc -l) "
                                 "limit $(ulimit -n)\n")
    (tools / "probe").chmod(0o755)
    async with running(sandbox) as (supervisor, recorder):
        handle = supervisor.spawn(spec(["probe"], cwd="/tmp", env={"PATH": "/tmp/tools:/usr/bin:/bin"}))
        assert (await recorder.wait_exit(handle)).code == 0
        group, ignored, streams = recorder.lines("runtime", "stdout")
        assert group.split()[1] == group.split()[3]  # `cut`'s group is its shell's parent's: the script's own
        assert ignored.split() == ["SigIgn:", "0000000000000000"]
        # 0-2, and the folder `ls` reads: nothing of the init's or the host's came along.
        assert streams.split() == ["input", "/dev/null", "descriptors", "4", "limit", "1024"]
        # Not executable, ahead of one that is: passed over, as execvpe (and a shell) does; alone, it is the error.
        (tools / "blocked").write_text("#!/bin/sh\necho skipped\n")
        (sandbox.tmp_dir / "later").mkdir()
        (sandbox.tmp_dir / "later" / "blocked").write_text("#!/bin/sh\necho later\n")
        (sandbox.tmp_dir / "later" / "blocked").chmod(0o755)
        handle = supervisor.spawn(spec(["blocked"], env={"PATH": "/tmp/tools:/tmp/nowhere:/tmp/later"}))
        assert (await recorder.wait_exit(handle)).code == 0
        assert recorder.lines("runtime", "stdout")[-1] == "later"
        with pytest.raises(LaunchError, match="permission denied: blocked"):
            supervisor.spawn(spec(["blocked"], env={"PATH": "/tmp/nowhere:/tmp/tools"}))


@pytest.mark.trio
async def test_a_childs_peak_memory_comes_with_its_exit(sandbox: Sandbox) -> None:
    # Read by the init when it reaps it (wait4): /proc no longer knows a process that has ended. The init is small,
    # so what the child held before its exec (a copy of the init) does not hide what it used after.
    async with running(sandbox) as (supervisor, recorder):
        handle = supervisor.spawn(python("b = bytearray(30 * 1024 * 1024)"))
        status = await recorder.wait_exit(handle)
    assert status.code == 0
    assert status.peak_rss_kb is not None and 30 * 1024 < status.peak_rss_kb < 60 * 1024, status


@pytest.mark.trio
async def test_an_init_that_died_is_replaced_at_the_next_start(sandbox: Sandbox) -> None:
    # With it, its namespace died, and everything inside: the environment's next start (a reset's Init) must not
    # be handed to it ("the sandbox init is gone", then every later start of the environment failed too).
    async with running(sandbox) as (supervisor, recorder):
        first = supervisor.spawn(sh("exec sleep 300"))
        init = supervisor._init
        assert init is not None
        os.kill(init.pid, signal.SIGKILL)
        with trio.fail_after(5):
            await init.closed.wait()
            assert (await recorder.wait_exit(first)).signal == signal.SIGKILL
        second = supervisor.spawn(sh("exit 7"))
        with trio.fail_after(5):
            assert (await recorder.wait_exit(second)).code == 7
        assert supervisor._init is not init


@pytest.mark.trio
async def test_a_new_sandbox_gets_a_new_namespace(sandbox: Sandbox, tmp_path: Path) -> None:
    async with running(sandbox) as (supervisor, recorder):
        first = supervisor.spawn(sh("echo $$; exec sleep 300"))
        await recorder.wait_lines(1, "runtime")
        supervisor.kill(first)
        await recorder.wait_exit(first)
        supervisor.end_everything_inside()
        second_tmp = tmp_path / "second"
        second_tmp.mkdir()
        supervisor.sandbox = Sandbox.create(second_tmp, [sys.executable, "/bin/sh"])
        second = supervisor.spawn(sh("echo $$ > /tmp/pid; cat /tmp/pid"))
        assert (await recorder.wait_exit(second)).code == 0
        # Numbered afresh (the first in a new namespace after its init), and the new /tmp is the one it sees.
        assert recorder.lines("runtime", "stdout") == ["2", "2"]
        assert (second_tmp / "pid").read_text().strip() == "2"


@pytest.mark.trio
async def test_sandbox_localdomain_resolves_to_loopback_inside(sandbox: Sandbox) -> None:
    # Telemetry listeners bind it and AWS's sample extensions resolve it (lambda-spec §3.2): to the sandbox's own
    # address on loopback, which another environment's names do not share; the host's /etc/hosts is untouched.
    # `localhost` is that address too, and only it (a function calls its extension there), IPv4 alone.
    code = ("import socket; print(*(sorted({ai[4][0] for ai in socket.getaddrinfo(name, 80)}) for name in "
            "('sandbox.localdomain', 'sandbox', 'localhost', 'localhost.localdomain')))")
    async with running(sandbox) as (supervisor, recorder):
        handle = supervisor.spawn(python(code))
        assert (await recorder.wait_exit(handle)).code == 0, recorder.events
        assert recorder.lines("runtime", "stdout") == [" ".join([repr([sandbox.loopback])] * 4)]
    assert sandbox.loopback.startswith("127.") and not sandbox.loopback.startswith("127.0.")
    with open("/etc/hosts") as fh:
        assert "sandbox.localdomain" not in fh.read()


@asynccontextmanager
async def runtime_and_daemon_in_a_cgroup(sandbox: Sandbox) -> AsyncIterator[tuple]:
    """A supervisor with a cgroup, running a runtime that started a setsid daemon: (supervisor, cgroup, recorder,
    the runtime's handle, the daemon's host pid, the init); everything is ended after the test."""
    async with running_in_cgroup(sandbox) as (supervisor, cgroup, recorder):
        handle = supervisor.spawn(sh(DAEMON + " echo started; exec sleep 300"))
        await recorder.wait_lines(1, "runtime")
        daemon = await the_daemon(sandbox)
        init = supervisor._init
        assert init is not None and len(init.own_pids()) == 3  # the keeper, the init, pid 1
        yield supervisor, cgroup, recorder, handle, daemon, init


@pytest.mark.trio
async def test_the_environment_freeze_never_stops_the_keeper_the_init_or_its_pid_1(sandbox: Sandbox) -> None:
    # Stopped, the init could not report an exit or start a process until the thaw: it is lambdatui's, not the
    # function's, even though it lives in the environment's cgroup.
    async with runtime_and_daemon_in_a_cgroup(sandbox) as (supervisor, _, recorder, _, daemon, init):
        supervisor.signal_strays(signal.SIGSTOP)
        await until_stopped(daemon, True)
        assert all(proc_state(pid) not in STOPPED_STATES for pid in init.own_pids())
        handle = supervisor.spawn(sh("exit 4"))  # the init still serves while the environment is frozen
        assert (await recorder.wait_exit(handle)).code == 4


def voluntary_switches(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("voluntary_ctxt_switches:"))


@pytest.mark.trio
async def test_a_freeze_and_a_thaw_wake_neither_the_init_nor_its_pid_1(sandbox: Sandbox) -> None:
    """The host freezes and thaws the runtime around every warm invoke: the runtime's parent (the init) and the pid 1
    that adopted a daemon hear its exit, not each stop and continue (each woke them, on the CPU where the function
    resumes). Their exits are still heard."""
    async with running(sandbox) as (supervisor, recorder):
        handle = supervisor.spawn(sh(DAEMON + " echo started; exec sleep 300"))
        await recorder.wait_lines(1, "runtime")
        daemon = await the_daemon(sandbox)
        init = supervisor._init
        assert init is not None and init.pid is not None and init._anchor is not None
        before = voluntary_switches(init.pid), voluntary_switches(init._anchor)
        for _ in range(20):
            supervisor.freeze(handle)
            os.kill(daemon, signal.SIGSTOP)
            await until_stopped(handle.pid, True)
            await until_stopped(daemon, True)
            supervisor.thaw(handle)
            os.kill(daemon, signal.SIGCONT)
            await until_stopped(handle.pid, False)
            await until_stopped(daemon, False)
        after = voluntary_switches(init.pid), voluntary_switches(init._anchor)
        # 40 stops and continues each: a wake-up apiece without SA_NOCLDSTOP; a few allowed for anything else.
        assert after[0] - before[0] < 5 and after[1] - before[1] < 5, (before, after)
        supervisor.kill(handle)
        with trio.fail_after(5):
            assert (await recorder.wait_exit(handle)).signal == signal.SIGKILL


@pytest.mark.trio
async def test_with_a_cgroup_a_thaw_continues_what_the_freeze_stopped_and_scans_only_then(sandbox: Sandbox) -> None:
    from lambdatui.processes import Supervisor
    from lambdatui.processes.cgroup import EnvironmentCgroup
    from proc_helpers import Recorder

    cgroup = EnvironmentCgroup.create()
    if cgroup is None:
        pytest.skip("no writable cgroup here")
    scans: list[str] = []
    scan = cgroup.pids

    def counted() -> list[int]:
        scans.append("scan")
        return scan()

    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        supervisor = Supervisor(nursery, sandbox, recorder.on_lines, recorder.on_exit, cgroup=cgroup)
        try:
            supervisor.spawn(sh("echo started; exec sleep 300"))
            await recorder.wait_lines(1, "runtime")
            cgroup.pids = counted  # type: ignore[method-assign]
            supervisor.freeze_strays()
            supervisor.thaw_strays()
            assert scans == ["scan"], "a thaw after a freeze that stopped nothing scanned the cgroup"
            supervisor.spawn(sh(DAEMON + " echo started; exec sleep 300"))
            await recorder.wait_lines(2, "runtime")
            daemon = await the_daemon(sandbox)
            supervisor.freeze_strays()
            await until_stopped(daemon, True)
            supervisor.thaw_strays()
            assert scans == ["scan"] * 3
            await until_stopped(daemon, False)
        finally:
            await supervisor.aclose()


@pytest.mark.trio
async def test_after_a_reset_the_next_init_runs_in_a_new_namespace_with_the_same_tmp(sandbox: Sandbox) -> None:
    # A reset ends everything inside (EndSandbox) but keeps /tmp: the next Init's processes are born in a
    # namespace again, never forked by the host itself.
    async with running(sandbox) as (supervisor, recorder):
        first = supervisor.spawn(sh("echo $$ > /tmp/first; exec sleep 300"))
        await wait_file(sandbox.tmp_dir / "first")
        supervisor.end_everything_inside()
        await recorder.wait_exit(first)
        second = supervisor.spawn(sh("echo $$; cat /tmp/first"))
        assert (await recorder.wait_exit(second)).code == 0
        assert recorder.lines("runtime", "stdout") == ["2", "2"]
        assert "PID namespace whose pid 1" in supervisor.containment()


@pytest.mark.trio
async def test_with_a_cgroup_the_init_its_pid_1_and_all_they_start_are_inside(sandbox: Sandbox) -> None:
    # The host moves the init into the cgroup while it boots (issue 9: the move waits for an RCU grace period);
    # the init forks nothing before, so its pid 1, the runtime and a daemon are all born inside.
    async with runtime_and_daemon_in_a_cgroup(sandbox) as (_, cgroup, _, handle, daemon, init):
        inside = set(cgroup.pids())
        assert init.own_pids() | {handle.pid, daemon} <= inside, inside


@pytest.mark.parametrize("move_in_now", [True, False])
def test_an_init_that_cannot_join_the_cgroup_is_ended_and_says_why(sandbox: Sandbox, move_in_now: bool) -> None:
    import os

    from lambdatui.processes.cgroup import EnvironmentCgroup
    from lambdatui.processes.pid_namespace import InitKeeper, InitUnavailable, SandboxInit

    cgroup = EnvironmentCgroup.create()
    if cgroup is None:
        pytest.skip("no writable cgroup here")
    cgroup.remove()  # gone: moving a process into it fails as a cgroup the host may not write would
    plan = sandbox.init_plan()
    assert plan is not None
    started: list[int] = []

    def join(pid: int) -> None:
        started.append(pid)
        cgroup.join(pid)

    descriptors = set(os.listdir("/proc/self/fd"))
    if move_in_now:
        with pytest.raises(InitUnavailable, match="cannot move the sandbox init into the environment's cgroup"):
            InitKeeper(join=join)
    else:  # the early start's: moved in by its first wait, on a thread of its own
        init = SandboxInit(plan, InitKeeper(join=join, move_in_now=False))
        with pytest.raises(InitUnavailable, match="cannot move the sandbox init into the environment's cgroup"):
            init.wait_ready()
        with pytest.raises(InitUnavailable, match="cannot move the sandbox init into the environment's cgroup"):
            init.wait_ready()  # and says so again, without waiting for a word that will not come
        assert init.keeper.gone
    [pid] = started
    assert not is_live(pid)  # killed and reaped: nothing left behind
    assert set(os.listdir("/proc/self/fd")) <= descriptors  # nor a descriptor of its channels


def test_the_init_enters_its_namespaces_after_its_exec_and_a_refused_step_is_its_first_reply(sandbox: Sandbox) -> None:
    """The host starts the init at once (a vfork: nothing runs between its fork and exec); the init takes the plan's
    steps itself, and a step the kernel refuses is said in the step's words by its first reply."""
    from lambdatui.processes import linux
    from lambdatui.processes.namespace_steps import mount
    from lambdatui.processes.pid_namespace import InitKeeper, InitUnavailable, SandboxInit

    plan = sandbox.init_plan()
    assert plan is not None
    refused = [*plan, mount(None, b"/lambdatui-no-such-folder", linux.MS_BIND | linux.MS_REMOUNT,
                            "remount a folder that is not there")]
    descriptors = set(os.listdir("/proc/self/fd"))
    keeper = InitKeeper()
    init = SandboxInit(refused, keeper)  # a refusal between fork and exec would have been raised here
    with pytest.raises(InitUnavailable, match="^remount a folder that is not there: No such file or directory$"):
        init.wait_ready()
    assert init.pid is None  # it never said it was up
    init.abandon()
    # The refused init ended by itself (its parent-death signal was never armed): the keeper has no child left.
    deadline = time.monotonic() + 5
    while keeper_children(keeper.pid) and time.monotonic() < deadline:
        pass  # the keeper reaps it on its SIGCHLD
    assert keeper_children(keeper.pid) == []
    keeper.abandon()
    assert not is_live(keeper.pid)  # killed and reaped: nothing left behind
    assert set(os.listdir("/proc/self/fd")) <= descriptors  # nor a descriptor of its channels


def keeper_children(pid: int) -> list[str]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return fh.read().split()
