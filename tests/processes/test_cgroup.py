"""Environment cgroups: a stale one left by a run that is gone is removed by the next start."""

from __future__ import annotations

import pytest

from lambdatui.processes.cgroup import EnvironmentCgroup


def test_a_stale_cgroup_of_a_gone_run_is_removed_at_the_next_start() -> None:
    first = EnvironmentCgroup.create()
    if first is None:
        pytest.skip("no writable cgroup on this host")
    stale = first.path.with_name("lambdatui-999999999-aaaaaa")  # no such process: its run is gone
    first.remove()
    stale.mkdir()
    try:
        second = EnvironmentCgroup.create()
        assert second is not None
        assert not stale.exists()
        second.remove()
        assert not second.path.exists()
    finally:
        if stale.exists():
            stale.rmdir()


def test_kill_all_returns_once_everything_inside_has_exited() -> None:
    # It waits on cgroup.events (the kernel wakes a poll for POLLPRI when "populated" changes), not in sleeps.
    import subprocess

    cgroup = EnvironmentCgroup.create()
    if cgroup is None:
        pytest.skip("no writable cgroup on this host")
    procs_files = cgroup.procs_files
    from lambdatui.processes.cgroup import join_cgroup_in_child

    children = [subprocess.Popen(["sleep", "300"], preexec_fn=lambda: join_cgroup_in_child(procs_files))
                for _ in range(3)]
    try:
        assert sorted(cgroup.pids()) == sorted(child.pid for child in children)
        cgroup.kill_all()
        assert cgroup.pids() == []
        assert all(child.wait(timeout=5) == -9 for child in children)
    finally:
        for child in children:
            child.kill()
            child.wait()
        cgroup.remove()


def test_a_process_in_a_cgroup_the_function_made_inside_is_one_of_the_environments(monkeypatch) -> None:
    # What a freeze stops: the function runs as the same user, and may make cgroups of its own inside (v2 counts
    # them in cgroup.stat, v1 in the folder's links).
    import subprocess

    from lambdatui.processes import cgroup as cgroup_module
    from lambdatui.processes.cgroup import join_cgroup_in_child

    cgroup = EnvironmentCgroup.create()
    if cgroup is None:
        pytest.skip("no writable cgroup on this host")
    if cgroup.version == 2:  # the answer must come from cgroup.stat, not from the folder's links v1 asks
        def no_stat(path: object) -> bool:
            raise AssertionError("cgroup.stat went unread")

        monkeypatch.setattr(cgroup_module, "has_children", no_stat)
    inner = cgroup.path / "made-by-the-function"
    child = None
    try:
        assert cgroup.pids() == []
        inner.mkdir()
        procs_file = str(inner / "cgroup.procs")
        child = subprocess.Popen(["sleep", "300"], preexec_fn=lambda: join_cgroup_in_child((procs_file,)))
        assert cgroup.pids() == [child.pid]
    finally:
        if child is not None:
            child.kill()
            child.wait()
        cgroup.remove()
    assert not cgroup.path.exists()


def _nest(top, depth: int) -> None:
    """`depth` folders, each inside the last, made by descriptor (as a function makes them in its own cgroup)."""
    import os

    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("a", dir_fd=fd)
        inner = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)


def test_cgroups_nested_deeper_than_the_recursion_limit_are_removed(tmp_path) -> None:
    """A function (root in its sandbox) may nest cgroups in its own: os.walk recursed per level, and 1,500 levels
    raised RecursionError at the freeze, at the host's exit and then at every later start (the stale one stayed).
    Plain folders here: the walk and the rmdir order are the same, and no real cgroup is left to other runs."""
    from lambdatui.processes.cgroup_files import children, remove_cgroup

    top = tmp_path / "lambdatui-999999999-bbbbbb"
    top.mkdir()
    _nest(top, 1_500)
    found = children(top)
    assert len(found) == 1_500 and found[0] == top.joinpath(*["a"] * 1_500) and found[-1] == top / "a"
    remove_cgroup(top)
    assert not top.exists()


def test_the_watchdog_removes_cgroups_nested_deeper_than_the_recursion_limit(tmp_path) -> None:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "watchdog_program", Path(__file__).resolve().parents[2] / "lambdatui" / "processes" / "watchdog.py")
    watchdog = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(watchdog)
    top = tmp_path / "lambdatui-999999999-cccccc"
    top.mkdir()
    _nest(top, 1_500)
    watchdog.kill_cgroup(str(top))
    assert not top.exists()


def _sleeper_in(procs_files: tuple[str, ...]):  # type: ignore[no-untyped-def]
    import subprocess

    from lambdatui.processes.cgroup import join_cgroup_in_child

    return subprocess.Popen(["sleep", "300"], preexec_fn=lambda: join_cgroup_in_child(procs_files))


def _v2_with_function_cgroup() -> EnvironmentCgroup:
    cgroup = EnvironmentCgroup.create()
    if cgroup is None:
        pytest.skip("no writable cgroup on this host")
    if cgroup.function is None or not cgroup.has_freezer():
        cgroup.remove()
        pytest.skip("no cgroup v2 freezer here: no function cgroup")
    return cgroup


def test_the_freezer_freezes_the_function_and_not_lambdatuis_own_processes() -> None:
    """The function's processes in the function cgroup stop; a process of lambdatui's, joined to the environment's
    cgroup (the keeper), runs on: nothing of its wakes at each thaw (2 wake-ups an invoke each, before)."""
    from process_states import frozen, wait_frozen

    cgroup = _v2_with_function_cgroup()
    function, own = _sleeper_in(cgroup.procs_files), _sleeper_in((cgroup.own_procs_file,))
    try:
        assert sorted(cgroup.pids()) == sorted([function.pid, own.pid])  # both the environment's
        cgroup.check_joined(function.pid)
        assert cgroup.function is not None
        assert cgroup.set_frozen(True)
        wait_frozen(function.pid)
        assert not frozen(own.pid)
        assert cgroup.set_frozen(False)
    finally:
        for child in (function, own):
            child.kill()
            child.wait()
        cgroup.remove()
    assert not cgroup.path.exists()


def test_a_participant_that_could_not_join_the_function_cgroup_has_the_whole_environment_frozen() -> None:
    """The sandbox init's participant writes "0" to the function cgroup's cgroup.procs; where a kernel refuses it,
    it stays in the environment's cgroup, and the host freezes that one whole (as before the function had its own)."""
    import os

    from process_states import wait_frozen

    cgroup = _v2_with_function_cgroup()
    stayed = _sleeper_in((cgroup.own_procs_file,))  # as a participant whose move was refused
    try:
        cgroup.check_joined(stayed.pid)
        assert cgroup.function is None and cgroup.v2_id == os.stat(cgroup.path).st_ino
        assert cgroup.set_frozen(True)
        wait_frozen(stayed.pid)
        assert cgroup.set_frozen(False)
    finally:
        stayed.kill()
        stayed.wait()
        cgroup.remove()
    assert not cgroup.path.exists()
