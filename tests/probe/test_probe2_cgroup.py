"""Probe: the sandbox init joins the environment's cgroup while it boots (pid_namespace.SandboxInit(join=...),
sandbox_init.py's "joined"), and an environment's end waits on cgroup.events (EnvironmentCgroup._wait_empty).

Real cgroups (v2 `cgroup.kill`/`cgroup.events`), real processes and real lambdatui environments; skipped where
no writable cgroup exists. Every wait has a bound; every cgroup or process a test makes is removed by it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from probe_support import DAEMON_SOURCE, cgroups_of  # noqa: E402
from e2e_support import ServeProcess, descendants, run_cli, wait_all_gone, writable_cgroups, write_file  # noqa: E402

from lambdatui.config import resolve_function  # noqa: E402
from lambdatui.model.boundaries import EnvState  # noqa: E402
from lambdatui.processes.cgroup import FUNCTION_CGROUP, EnvironmentCgroup, join_cgroup_in_child  # noqa: E402
from lambdatui.runner import open_environment  # noqa: E402

BOUND = 60


@pytest.fixture
def cgroup():
    made = EnvironmentCgroup.create()
    if made is None or made.version != 2:
        pytest.skip("no writable cgroup v2 here")
    yield made
    made.remove()


def populated(group: EnvironmentCgroup) -> bool:
    return b"populated 1" in (group.path / "cgroup.events").read_bytes()


def start_inside(group: EnvironmentCgroup, code: str, extra_procs: tuple[str, ...] = ()) -> subprocess.Popen:
    """A Python child born inside the cgroup; it prints one line when it is set up."""
    files = group.procs_files + extra_procs
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             preexec_fn=lambda: join_cgroup_in_child(files))
    assert child.stdout is not None
    ready = child.stdout.readline()
    assert ready, "the child died before it was ready"
    return child


def ns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/pid").st_ino


def in_namespace(inode: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if ns_inode(int(entry)) == inode:
                    found.add(int(entry))
            except OSError:
                pass
    return found


def ns_pid_of(pid: int) -> int:
    """The process's pid in its own (innermost) PID namespace: 1 for the namespace's init."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    raise AssertionError(f"no NSpid for {pid}")


def cgroup_lines(pid: int) -> dict[str, str]:
    """/proc/<pid>/cgroup as {controllers: path} ("" for the v2 hierarchy)."""
    lines = {}
    with open(f"/proc/{pid}/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            lines[controllers] = path
    return lines


# --------------------------------------------------------------------------- kill_all on hard cases


def test_kill_all_ends_stopped_processes_at_once(cgroup: EnvironmentCgroup) -> None:
    children = [start_inside(cgroup, "print('ready', flush=True)\nimport time\ntime.sleep(300)") for _ in range(3)]
    try:
        for child in children:
            os.kill(child.pid, signal.SIGSTOP)
        started = time.monotonic()
        cgroup.kill_all()
        assert time.monotonic() - started < 1.5
        assert cgroup.pids() == [] and not populated(cgroup)
    finally:
        for child in children:
            child.kill()
            child.wait(BOUND)


def test_kill_all_ends_a_process_that_keeps_forking(cgroup: EnvironmentCgroup) -> None:
    """A chain that forks and exits (its pid hops) and a tree that forks as fast as it can, bounded: cgroup.kill
    takes what is born meanwhile; kill_all returns only once the cgroup is empty."""
    hopper = start_inside(cgroup, (
        "import os\nprint('ready', flush=True)\n"
        "while True:\n"
        "    if os.fork():\n"
        "        os._exit(0)\n"))
    forker = start_inside(cgroup, (
        "import os\nprint('ready', flush=True)\n"
        "kids = []\n"
        "while True:\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        while True: pass\n"
        "    kids.append(pid)\n"
        "    if len(kids) > 4:\n"
        "        os.kill(kids.pop(0), 9); os.waitpid(-1, 0)\n"))
    try:
        started = time.monotonic()
        cgroup.kill_all()
        assert time.monotonic() - started < 1.9  # well within the bound: not a timeout
        assert cgroup.pids() == [] and not populated(cgroup)
    finally:
        for child in (hopper, forker):
            child.kill()
            child.wait(BOUND)


def test_kill_all_does_not_wait_for_a_zombie_nobody_reaps(cgroup: EnvironmentCgroup) -> None:
    """Our own child inside, killed and left unreaped (a zombie), plus one inside that keeps an unreaped zombie
    child of its own: neither populates the cgroup, kill_all returns at once."""
    ours = start_inside(cgroup, "print('ready', flush=True)\nimport time\ntime.sleep(300)")
    parent = start_inside(cgroup, ("import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\n"
                                   "print('ready', flush=True)\ntime.sleep(300)"))
    try:
        started = time.monotonic()
        cgroup.kill_all()
        assert time.monotonic() - started < 1.0
        assert cgroup.pids() == [] and not populated(cgroup)
    finally:
        for child in (ours, parent):
            child.kill()
            child.wait(BOUND)


def test_kill_all_returns_only_once_a_slow_dying_process_is_gone(cgroup: EnvironmentCgroup) -> None:
    """800 MB of touched memory takes a while to unmap on exit: kill_all must not return before."""
    big = start_inside(cgroup, "b = bytearray(800 * 1024 * 1024)\nprint('ready', flush=True)\nimport time\n"
                               "time.sleep(300)")
    try:
        cgroup.kill_all()
        assert cgroup.pids() == []
        assert not populated(cgroup)
    finally:
        big.kill()
        big.wait(BOUND)


def test_kill_all_gives_up_at_its_bound_on_a_process_that_cannot_die(cgroup: EnvironmentCgroup) -> None:
    """A process frozen by the v1 freezer does not act on SIGKILL until thawed: kill_all must return at its 2 s
    bound, not hang, and the cgroup can be removed once it is thawed."""
    freezer_root = Path("/sys/fs/cgroup/freezer")
    if not (freezer_root / "cgroup.procs").exists():
        pytest.skip("no cgroup v1 freezer here")
    frozen = freezer_root / f"p2probe-{os.getpid()}"
    frozen.mkdir()
    child = None
    try:
        child = start_inside(cgroup, "print('ready', flush=True)\nimport time\ntime.sleep(300)",
                             (str(frozen / "cgroup.procs"),))
        (frozen / "freezer.state").write_text("FROZEN")
        deadline = time.monotonic() + 10
        while (frozen / "freezer.state").read_text().strip() != "FROZEN":
            assert time.monotonic() < deadline, "the freezer never froze"
        started = time.monotonic()
        cgroup.kill_all()
        took = time.monotonic() - started
        assert 1.5 < took < 4.0, took
        (frozen / "freezer.state").write_text("THAWED")
        assert child.wait(BOUND) == -signal.SIGKILL
        cgroup.kill_all()
        assert cgroup.pids() == [] and not populated(cgroup)
    finally:
        if child is not None:
            (frozen / "freezer.state").write_text("THAWED")
            child.kill()
            child.wait(BOUND)
        frozen.rmdir()


_RMDIR_SPINNER = """
import os, sys
sys.stdout.write("spinning\\n"); sys.stdout.flush()
while True:
    try:
        for inside in sys.argv[2:]:  # the function's cgroup first, as a sweep removes the deepest first
            if os.path.isdir(inside):
                os.rmdir(inside)
        os.rmdir(sys.argv[1])
        break
    except OSError:
        pass
"""


def test_kill_all_survives_the_cgroup_being_removed_as_it_empties(cgroup: EnvironmentCgroup) -> None:
    """Another party (a second lambdatui's sweep of what it takes for a stale cgroup, an admin, a watchdog)
    removes the cgroup the moment it is empty. The old 5 ms loop read cgroup.procs, whose failure meant "empty";
    the wait on cgroup.events must not turn that into an exception (ENODEV from the pread of a removed file).
    A race, so ten rounds: the remover usually wins it (the kernel tells pollers through a work queue)."""
    groups = [cgroup] + [EnvironmentCgroup.create() for _ in range(9)]
    try:
        for group in groups:
            assert group is not None
            child = start_inside(group, "print('ready', flush=True)\nimport time\ntime.sleep(300)")
            inside = [str(group.function)] if group.function is not None else []
            spinner = subprocess.Popen([sys.executable, "-c", _RMDIR_SPINNER, str(group.path), *inside],
                                       stdout=subprocess.PIPE)
            try:
                assert spinner.stdout is not None and spinner.stdout.readline() == b"spinning\n"
                group.kill_all()  # must not raise
                assert spinner.wait(BOUND) == 0
                assert not group.path.exists()
                group.remove()  # and removing what is gone is no error either
            finally:
                spinner.kill()
                spinner.wait(BOUND)
                spinner.stdout.close()
                child.kill()
                child.wait(BOUND)
    finally:
        for group in groups[1:]:
            if group is not None:
                group.remove()


# --------------------------------------------------------------------------- environments: all inside

CONTAINED_HANDLER = r'''
import json, os, subprocess, sys, time

kept = []


''' + DAEMON_SOURCE + r'''

def handler(event, context):
    if event.get("crash"):
        os._exit(1)
    child = subprocess.Popen(["sleep", "300"])
    kept.append(child)
    info = {"runtime": os.getpid(), "child": child.pid, "daemon": daemon()}
    if event.get("port"):
        import socket
        with socket.create_connection(("127.0.0.1", event["port"]), timeout=30) as s:
            ino = os.stat("/proc/self/ns/pid").st_ino
            cg = {name: open("/proc/%d/cgroup" % pid).read() for name, pid in info.items()}
            s.sendall(json.dumps({"ns": ino, "cgroups": cg}).encode() + b"\n")
            s.settimeout(30)
            s.recv(16)  # held until the test has seen every environment
    return info
'''


def held_reports(gate: socket.socket, held: list[socket.socket], count: int) -> list[dict]:
    """What `count` handlers reported to the gate, one JSON line each; their connections are kept (in `held`),
    so that each stays busy until the test closes them."""
    reports = []
    for _ in range(count):
        connection, _ = gate.accept()
        held.append(connection)
        connection.settimeout(BOUND)
        data = b""
        while not data.endswith(b"\n"):
            more = connection.recv(65536)
            assert more
            data += more
        reports.append(json.loads(data))
    return reports


def environment_processes(own: list[int]) -> tuple[int, set[int], set[int]]:
    """(namespace inode, processes in the namespace, the sandbox init's keeper and the init it forked for this life)
    from lambdatui's own pids."""
    host_ns = ns_inode(os.getpid())
    inodes = {pid: ns_inode(pid) for pid in own}
    inside = {ino for ino in inodes.values() if ino != host_ns}
    assert len(inside) == 1, inodes
    (inode,) = inside
    init = {pid for pid, ino in inodes.items() if ino == host_ns}
    assert len(init) == 2, inodes
    return inode, in_namespace(inode), init


def assert_all_inside(contained: list[int], namespace: set[int], init: set[int]) -> None:
    """In the environment's cgroup: lambdatui's processes (the keeper, the init, pid 1) in it, the function's in the
    function cgroup inside it (the freezer's), in a v2 one."""
    assert set(contained) == namespace | init, (sorted(contained), sorted(namespace), init)
    lines = {pid: cgroup_lines(pid) for pid in contained}
    unified = {line[""] for line in lines.values()}
    assert len(unified) == 2, lines
    environment = min(unified, key=len)
    assert max(unified, key=len) == f"{environment}/{FUNCTION_CGROUP}", unified
    own = {pid for pid, line in lines.items() if line[""] == environment}
    assert own == init | {min(namespace, key=ns_pid_of)}, (own, init, lines)  # and pid 1
    memory = {line.get("memory") for line in lines.values()}
    assert len(memory) == 1, lines  # the v1 memory cgroup too, where it is one: the init joined both


@pytest.mark.trio
async def test_every_process_of_an_environment_is_in_its_cgroup_and_namespace_across_a_crash(
        code_dir: Path) -> None:
    """The runtime, its child, a setsid daemon, pid 1, and an external extension (the sample's audit): all in the
    environment's cgroup (v2 and the v1 memory one) and PID namespace; the sandbox init and its keeper in the cgroup
    only. The
    same after a crash's reset, with a new namespace, and nothing of the first left."""
    import shutil

    write_file(code_dir / "handler.py", CONTAINED_HANDLER)
    (code_dir / "extensions").mkdir()
    shutil.copy2(Path(__file__).resolve().parents[2] / "sample_functions" / "extension" / "extensions" / "audit",
                 code_dir / "extensions" / "audit")
    config = resolve_function(str(code_dir / "handler.py"))
    with trio.fail_after(BOUND):
        async with open_environment(config) as running:
            host = running.host
            host.start_environment()
            result, _ = await host.invoke(b"{}")
            assert not result.function_error, result.payload
            await host.wait_for_state(EnvState.FROZEN)
            if not host.contained_pids():
                pytest.skip("no cgroup here")
            _, namespace, init = environment_processes(host.own_pids())
            assert len(namespace) == 5, namespace  # pid 1, the runtime, its child, the setsid daemon, the extension
            assert_all_inside(host.contained_pids(), namespace, init)
            first = {pid: open(f"/proc/{pid}/stat").read().split()[21] for pid in namespace}

            crashed, _ = await host.invoke(b'{"crash": true}')
            assert crashed.function_error
            result, _ = await host.invoke(b"{}")
            assert not result.function_error, result.payload
            await host.wait_for_state(EnvState.FROZEN)
            keeper_and_init = init
            _, namespace, init = environment_processes(host.own_pids())
            # A new namespace: none of its processes is one of the first's. Its inode number may be the first's again:
            # the kernel reuses a freed namespace's number, and the keeper reaps the first's pid 1 (freeing it) at once.
            second = {pid: open(f"/proc/{pid}/stat").read().split()[21] for pid in namespace}
            assert not set(second.items()) & set(first.items()), (first, second)
            assert len(keeper_and_init & init) == 1  # the keeper stays; the reset's init is a new one
            assert len(namespace) == 5, namespace
            assert_all_inside(host.contained_pids(), namespace, init)
            for pid, start in first.items():  # the crashed environment's processes are all gone
                try:
                    stat = open(f"/proc/{pid}/stat").read()
                    alive = stat.split()[21] == start and stat.rsplit(")", 1)[1].split()[0] not in "ZX"
                except OSError:
                    alive = False
                assert not alive, (pid, stat, open(f"/proc/{pid}/cmdline").read(), cgroup_lines(pid))


def test_a_fleet_of_three_keeps_each_environment_in_its_own_cgroup_and_namespace(code_dir: Path) -> None:
    if not writable_cgroups():
        pytest.skip("no writable cgroup here")
    write_file(code_dir / "handler.py", CONTAINED_HANDLER)
    with socket.create_server(("127.0.0.1", 0)) as gate:
        gate.settimeout(BOUND)
        port = gate.getsockname()[1]
        with ServeProcess(code_dir / "handler.py", "--concurrency", "3", "--timeout", "60") as server:
            import httpx

            results: list[object] = []

            def invoke() -> None:
                try:
                    response = httpx.post(server.invoke_url(), content=json.dumps({"port": port}), timeout=BOUND)
                    results.append(response.json())
                except BaseException as exc:
                    results.append(exc)

            threads = [threading.Thread(target=invoke) for _ in range(3)]
            for thread in threads:
                thread.start()
            held: list[socket.socket] = []
            try:
                reports = held_reports(gate, held, 3)
                # All three environments are busy now: look at them from the host's side.
                cgroups = set()
                for report in reports:
                    paths = {name: [l for l in text.splitlines() if l.startswith("0::")][0][3:]
                             for name, text in report["cgroups"].items()}
                    assert len(set(paths.values())) == 1, report  # runtime, child and daemon: one cgroup
                    (path,) = set(paths.values())
                    assert f"/lambdatui-{server.proc.pid}-" in path, path
                    cgroups.add(path)
                    assert path.endswith(f"/{FUNCTION_CGROUP}"), path  # the function's, inside the environment's
                    folder = Path("/sys/fs/cgroup/unified" + path)
                    if not folder.exists():
                        folder = Path("/sys/fs/cgroup" + path)
                    inside = {int(p) for p in (folder / "cgroup.procs").read_text().split()}
                    members = inside | {int(p) for p in (folder.parent / "cgroup.procs").read_text().split()}
                    namespace = in_namespace(report["ns"])
                    extra = members - namespace
                    assert len(extra) == 2, (members, namespace)  # the init's keeper and the init, in the host's
                    assert namespace <= members
                    assert len(namespace - inside) == 1, (inside, namespace)  # pid 1, outside the freezer's
                    for init in extra:
                        assert os.readlink(f"/proc/{init}/exe") and ns_inode(init) != report["ns"]
                assert len(cgroups) == 3
                assert len({r["ns"] for r in reports}) == 3
            finally:
                for connection in held:
                    connection.sendall(b"go")
                    connection.close()
                for thread in threads:
                    thread.join(BOUND)
            assert all(isinstance(r, dict) and "daemon" in r for r in results), results


# --------------------------------------------------------------------------- memory still enforced

MEMORY_HANDLER = r'''
import subprocess, sys


def handler(event, context):
    if event.get("child"):
        hog = subprocess.run([sys.executable, "-c", "b = bytearray(300 * 1024 * 1024); print('survived')"],
                             capture_output=True, text=True)
        return {"code": hog.returncode, "out": hog.stdout}
    held = bytearray(300 * 1024 * 1024)
    return {"held": len(held)}
'''


def test_a_300_mb_handler_runs_out_of_memory_at_128_and_so_does_its_child(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", MEMORY_HANDLER)
    child = run_cli("invoke", str(code_dir / "handler.py"), "--memory", "128", "-e", '{"child": true}')
    assert "Memory: 128 MB for the runtime and extensions together" in child.stderr, child.stderr
    if "enforced by the kernel" not in child.stderr:
        pytest.skip("the limit is watched here, not enforced by a cgroup")
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == {"code": -9, "out": ""}  # the child was born inside the memory cgroup
    own = run_cli("invoke", str(code_dir / "handler.py"), "--memory", "128", "-e", "{}")
    assert own.returncode == 1, own.stderr
    body = json.loads(own.stdout)
    assert body["errorType"] == "Runtime.OutOfMemory", body


# --------------------------------------------------------------------------- no orphans, no cgroups left

DAEMON_HANDLER = CONTAINED_HANDLER


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_serve_killed_with_a_busy_fleet_leaves_no_process_and_no_cgroup(code_dir: Path, sig: int) -> None:
    write_file(code_dir / "handler.py", DAEMON_HANDLER)
    with socket.create_server(("127.0.0.1", 0)) as gate:
        gate.settimeout(BOUND)
        port = gate.getsockname()[1]
        server = ServeProcess(code_dir / "handler.py", "--concurrency", "3", "--timeout", "60").start()
        held = []
        threads = []
        try:
            import httpx

            def invoke() -> None:
                try:
                    httpx.post(server.invoke_url(), content=json.dumps({"port": port}), timeout=BOUND)
                except httpx.HTTPError:
                    pass  # serve dies under it

            threads = [threading.Thread(target=invoke) for _ in range(3)]
            for thread in threads:
                thread.start()
            held_reports(gate, held, 3)
            serve_pid = server.proc.pid
            everything = descendants(serve_pid)
            assert len(everything) >= 3 * 5  # per environment: init, pid 1, runtime, child, daemon
            cgroups = cgroups_of(serve_pid)
            assert cgroups or not writable_cgroups()
            server.signal(sig)
            server.wait(BOUND)
            left = wait_all_gone(everything, 15)
            assert left == {}, left
            deadline = time.monotonic() + 15
            while (remaining := [p for p in cgroups if p.exists()]) and time.monotonic() < deadline:
                for path in remaining:  # wait on the folders' removal by the watchdog's sweep (bounded)
                    os.stat(path.parent)
            assert remaining == [], remaining
        finally:
            for connection in held:
                try:
                    connection.sendall(b"go")
                except OSError:
                    pass
                connection.close()
            for thread in threads:
                thread.join(BOUND)
            server.close()
