"""A reset's next sandbox init: booted after the host's batch, moved into the cgroup on a thread of its own (issue 9).

A process's first move into a cgroup waits for an RCU grace period (~15 ms on the machine this was measured on).
Done inline, it stalled the host's event loop at every reset, and the answer to the invoke whose crash caused the
reset waited for it: 24 ms against the AWS emulator's 2.5 ms. Here the cgroup's `join` is held at a gate, as a grace
period that does not end, and everything the host must still do goes on meanwhile.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trio
import trio.testing
from proc_helpers import namespaced_sandbox, running_in_cgroup, sh
from sandbox_support import GatedJoin

from lambdatui.processes import LaunchError, Sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return namespaced_sandbox(tmp_path)


@pytest.mark.trio
async def test_a_reset_goes_on_while_the_next_init_moves_into_the_cgroup(sandbox: Sandbox) -> None:
    async with running_in_cgroup(sandbox) as (supervisor, cgroup, recorder):
        first = supervisor.spawn(sh("exec sleep 300"))
        gated = cgroup.join = GatedJoin(cgroup.join)  # type: ignore[method-assign,assignment]
        supervisor.end_everything_inside()
        # Returned with the move not begun: the init is booted once the batch that ended the environment is done.
        assert gated.threads == [] and supervisor._init is None
        assert (await recorder.wait_exit(first)).signal is not None
        await trio.testing.wait_all_tasks_blocked()
        # The move waits at the gate, on a thread that is not the event loop's, which runs on.
        assert supervisor._init is not None
        assert await trio.to_thread.run_sync(gated.entered.wait, 5)
        assert gated.threads[0] != threading.current_thread().name
        gated.gate.set()
        second = supervisor.spawn(sh("echo $$; exec sleep 300"))
        assert await recorder.wait_lines(1, "runtime") == ["2"]  # the new namespace's first after its pid 1
        assert second.pid in cgroup.pids()  # born inside: the init had moved before it forked


@pytest.mark.trio
async def test_a_move_that_failed_on_its_thread_fails_the_next_start_with_its_reason(sandbox: Sandbox) -> None:
    async with running_in_cgroup(sandbox) as (supervisor, cgroup, recorder):
        gated = cgroup.join = GatedJoin(cgroup.join)  # type: ignore[method-assign,assignment]
        gated.failure = PermissionError(13, "Permission denied")
        gated.gate.set()
        supervisor.end_everything_inside()
        await trio.testing.wait_all_tasks_blocked()
        failed = supervisor._init
        assert failed is not None
        with pytest.raises(LaunchError, match="cannot move the sandbox init into the environment's cgroup: .*denied"):
            supervisor.spawn(sh("exit 0"))
        assert failed.gone  # ended by the host's thread, not left waiting for a word
        gated.failure = None
        later = supervisor.spawn(sh("exit 3"))  # the next start gets an init of its own
        with trio.fail_after(5):
            assert (await recorder.wait_exit(later)).code == 3
        assert supervisor._init is not failed


@pytest.mark.trio
async def test_an_init_asked_for_before_the_final_end_is_never_booted(sandbox: Sandbox) -> None:
    async with running_in_cgroup(sandbox) as (supervisor, cgroup, _):
        gated = cgroup.join = GatedJoin(cgroup.join)  # type: ignore[method-assign,assignment]
        supervisor.end_everything_inside()  # a reset: the next init is asked for...
        supervisor.end_everything_inside(prepare_next=False)  # ...and the environment ends for good first
        await trio.testing.wait_all_tasks_blocked()
        assert supervisor._init is None and gated.threads == []
