"""Probe (round 3): a function that makes a cgroup of its own inside its environment's cgroup.

lambdatui creates one cgroup per environment (processes/cgroup.py), writable by the user who runs lambdatui, so the
function (the same user) can write there too: it can make a child cgroup and move a process into it, as any
process may do with a cgroup it owns (cgroup v2's delegation). The child cgroup is still inside the environment's,
so containment must still hold: the environment's freeze stops what runs there, its end kills it, and a clean
exit leaves no `lambdatui-<pid>-*` folder (the brief's "no cgroup dir stays after a clean exit").

Real `lambdatui invoke` and `serve`, real cgroup v2 (skipped where there is none), real processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from probe_support import DAEMON_SOURCE, cgroup_folders, wait_paths_gone  # noqa: E402
from e2e_support import (ServeProcess, descendants, proc_cmdline, proc_stat, run_cli, wait_all_gone,  # noqa: E402
                         write_file)
from process_states import frozen  # noqa: E402
from lambdatui.processes.cgroup import FUNCTION_CGROUP  # noqa: E402

BOUND = 30.0

HANDLER = r'''
import json, os


def own_cgroup():
    """This process's cgroup v2 folder, as the sandbox sees the hierarchy."""
    mount = next(line.split()[1] for line in open("/proc/self/mounts") if line.split()[2] == "cgroup2")
    path = next(line.strip()[3:] for line in open("/proc/self/cgroup") if line.startswith("0::"))
    return mount + path


''' + DAEMON_SOURCE + r'''

def handler(event, context):
    own = own_cgroup()
    child = os.path.join(own, "mine")
    if event.get("child_cgroup"):
        os.makedirs(child, exist_ok=True)
    if event.get("daemons"):
        assert daemon(300)  # in the environment's own cgroup
        assert daemon(301, child)  # in the cgroup the function made
    return {"own": own, "child": os.path.isdir(child)}
'''


def host_cgroups(pid: int) -> list[Path]:
    found: set[Path] = set()
    for base in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
        if base.is_dir():
            found.update(p for p in base.glob(f"lambdatui-{pid}-*") if p.is_dir())
    return sorted(found)


def remove_cgroup_folders(folders: list[Path]) -> None:
    """What a failing test would leave: each folder's child cgroups, then the folder (once their processes are
    gone, which the caller waited for)."""
    for folder in folders:
        if not folder.exists():
            continue
        for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            sub.rmdir()
        folder.rmdir()


def frozen_within(pid: int, timeout: float) -> bool:
    """Whether the process is frozen within the bound (a signal's stop or the cgroup's freezer: both asynchronous)."""
    deadline = time.monotonic() + timeout
    while not frozen(pid):
        if time.monotonic() > deadline:
            return False
        os.sched_yield()
    return True


def needs_cgroup_v2(stderr: str) -> None:
    if "cgroup v2" not in stderr:
        pytest.skip("no cgroup v2 for lambdatui here")


def test_a_clean_invoke_leaves_no_cgroup_folder_even_when_the_function_made_a_child_cgroup(code_dir: Path) -> None:
    path = write_file(code_dir / "handler.py", HANDLER)
    plain = run_cli("invoke", str(path), "-e", "{}")
    assert plain.returncode == 0, plain.stderr
    needs_cgroup_v2(plain.stderr)
    made = run_cli("invoke", str(path), "-e", '{"child_cgroup": true}')
    assert made.returncode == 0, made.stderr
    body = json.loads(made.stdout)
    assert body["child"] is True
    own = Path(body["own"])
    assert own.name == FUNCTION_CGROUP, body  # the function's cgroup, inside its environment's
    name = own.parent.name
    assert re.fullmatch(r"lambdatui-\d+-[0-9a-f]+", name), body
    left = cgroup_folders(name)
    remove_cgroup_folders(left)  # leave the machine as it was
    assert left == [], f"the environment's cgroup outlived `lambdatui invoke`: {left}"


def _serve_with_daemons(code_dir: Path) -> tuple[ServeProcess, Path, list[int], list[int]]:
    """serve, after one invoke that left a daemon in the environment's cgroup (`sleep 300`) and one in the child
    cgroup the function made (`sleep 301`); the environment is idle (frozen) afterwards."""
    path = write_file(code_dir / "handler.py", HANDLER)
    server = ServeProcess(path, "--concurrency", "1").start()
    try:
        needs_cgroup_v2(server.output())
        response = httpx.post(server.invoke_url(), content=b'{"child_cgroup": true, "daemons": true}', timeout=BOUND)
        assert response.status_code == 200 and response.headers.get("x-amz-function-error") is None, response.text
        cgroups = host_cgroups(server.proc.pid)
        assert len(cgroups) == 1, cgroups
        (env_cgroup,) = cgroups
        direct = [int(p) for p in (env_cgroup / FUNCTION_CGROUP / "cgroup.procs").read_text().split()
                  if proc_cmdline(int(p)) == "sleep 300"]
        inner = [int(p) for p in (env_cgroup / FUNCTION_CGROUP / "mine" / "cgroup.procs").read_text().split()
                 if proc_cmdline(int(p)) == "sleep 301"]
        assert len(direct) == 1 and len(inner) == 1, (direct, inner)
        return server, env_cgroup, direct, inner
    except BaseException:
        server.close()
        raise


def _end(server: ServeProcess, env_cgroup: Path, pids: list[int]) -> tuple[dict[int, str], list[Path]]:
    """SIGTERM serve (a clean exit); what is left of the processes and of the cgroup folder, removed afterwards."""
    watched = {**descendants(server.proc.pid), **{pid: proc_stat(pid)[2] for pid in pids if proc_stat(pid)}}
    try:
        server.signal(signal.SIGTERM)
        code = server.wait(BOUND)
        server.close()
        gone = wait_all_gone(watched, 15)
        left = wait_paths_gone([env_cgroup], 5)
    finally:
        server.close()
        remove_cgroup_folders([env_cgroup])  # leave the machine as it was
    assert code == 0, server.output()[-3000:]
    return gone, left


def test_a_daemon_in_a_child_cgroup_is_frozen_with_its_environment(code_dir: Path) -> None:
    server, env_cgroup, direct, inner = _serve_with_daemons(code_dir)
    try:
        # The environment is frozen between invokes: its stray in its own cgroup is stopped...
        assert frozen_within(direct[0], 5)
        # ...and so must the one in the child cgroup, which is as much inside the environment.
        assert frozen_within(inner[0], 2), "a daemon in a child cgroup keeps running while frozen"
    finally:
        _end(server, env_cgroup, direct + inner)


def test_a_daemon_in_a_child_cgroup_ends_with_serve_and_no_cgroup_folder_is_left(code_dir: Path) -> None:
    server, env_cgroup, direct, inner = _serve_with_daemons(code_dir)
    gone, left = _end(server, env_cgroup, direct + inner)
    assert gone == {}, gone
    assert left == [], f"serve's environment cgroup outlived its clean exit: {left}"
