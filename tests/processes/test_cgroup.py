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
