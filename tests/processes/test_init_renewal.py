"""A reset's next sandbox init: forked by the environment's keeper, which is in the cgroup already (issue 9).

A process's first move into a cgroup waits for an RCU grace period (~16 ms on the machine this was measured on).
Each reset's init used to be a new process, booted and then moved in: after a crash, the next invoke's runtime
waited ~20 ms for it before it could even be spawned. Now the environment's keeper, moved in once, forks each
life's init: born inside, at no cost. Here the cgroup's `join` is held at a gate, as a grace period that does not
end: a reset that still moved anything would wait at it.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
import trio
import trio.testing
from proc_helpers import namespaced_sandbox, running_in_cgroup, sh
from sandbox_support import GatedJoin

from lambdatui.processes import LaunchError, Sandbox
from lambdatui.processes.linux import open_pidfd
from lambdatui.processes.proc_readings import parent_pid


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return namespaced_sandbox(tmp_path)


@pytest.mark.trio
async def test_a_reset_s_init_is_forked_inside_by_the_keeper_without_a_move(sandbox: Sandbox) -> None:
    async with running_in_cgroup(sandbox) as (supervisor, cgroup, recorder):
        first = supervisor.spawn(sh("exec sleep 300"))
        keeper = supervisor._keeper
        assert keeper is not None
        old_life = set(cgroup.pids()) - {keeper.pid}  # the runtime, the init, its pid 1
        assert len(old_life) == 3 and first.pid in old_life
        gated = cgroup.join = GatedJoin(cgroup.join)  # type: ignore[method-assign,assignment]
        supervisor.end_everything_inside()
        asked = supervisor._init  # the next life's init is asked for at once: a word to the keeper, which forks it
        assert asked is not None and asked.keeper is keeper
        assert (await recorder.wait_exit(first)).signal is not None
        await trio.testing.wait_all_tasks_blocked()
        second = supervisor.spawn(sh("echo $$; exec sleep 300"))
        # The old life was gone from the cgroup before the spawn; the keeper stays, and forked the next life's init.
        left = set(cgroup.pids())
        assert keeper.pid in left and not left & old_life
        assert await recorder.wait_lines(1, "runtime") == ["2"]  # a new namespace: its first after its pid 1
        assert second.pid in cgroup.pids()  # born inside
        assert supervisor._keeper is keeper and not keeper.gone and supervisor._init is asked
        assert asked.pid is not None and parent_pid(asked.pid) == keeper.pid
        assert gated.threads == [] and not gated.entered.is_set()  # nothing was moved into the cgroup


@pytest.mark.trio
async def test_a_lost_keeper_is_replaced_and_a_failed_move_is_the_next_start_s_reason(sandbox: Sandbox) -> None:
    async with running_in_cgroup(sandbox) as (supervisor, cgroup, recorder):
        first = supervisor.spawn(sh("exec sleep 300"))
        lost = supervisor._keeper
        assert lost is not None
        pidfd = open_pidfd(lost.pid)
        assert pidfd is not None
        os.kill(lost.pid, signal.SIGKILL)  # as the OOM killer might choose it: it is in the environment's cgroup
        with trio.fail_after(5):
            await trio.lowlevel.wait_readable(pidfd)
        trio.lowlevel.notify_closing(pidfd)
        os.close(pidfd)
        assert (await recorder.wait_exit(first)).signal == signal.SIGKILL  # its init, and the namespace, with it
        gated = cgroup.join = GatedJoin(cgroup.join)  # type: ignore[method-assign,assignment]
        gated.failure = PermissionError(13, "Permission denied")
        gated.gate.set()
        supervisor.end_everything_inside()
        await trio.testing.wait_all_tasks_blocked()
        failed = supervisor._init
        assert failed is not None and failed.keeper is not lost
        with pytest.raises(LaunchError, match="cannot move the sandbox init into the environment's cgroup: .*denied"):
            supervisor.spawn(sh("exit 0"))
        assert failed.gone and gated.threads[0] != threading.current_thread().name  # moved on a thread, and ended
        gated.failure = None
        later = supervisor.spawn(sh("exit 3"))  # the next start gets a keeper of its own
        with trio.fail_after(5):
            assert (await recorder.wait_exit(later)).code == 3
        assert supervisor._init is not failed and supervisor._keeper is not failed.keeper


@pytest.mark.trio
async def test_an_init_asked_for_before_the_final_end_is_never_booted(sandbox: Sandbox) -> None:
    async with running_in_cgroup(sandbox) as (supervisor, cgroup, _):
        gated = cgroup.join = GatedJoin(cgroup.join)  # type: ignore[method-assign,assignment]
        supervisor.end_everything_inside()  # a reset: the next init is asked for...
        supervisor.end_everything_inside(prepare_next=False)  # ...and the environment ends for good first
        await trio.testing.wait_all_tasks_blocked()
        assert supervisor._init is None and gated.threads == []
