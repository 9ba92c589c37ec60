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
