"""The memory limit at the process layer (issue 11): the kernel's, through the environment's cgroup, and the
fallback watcher, each with real processes that allocate (bytearray: every page written, so resident)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
from proc_helpers import Recorder, python

from lambdatui.processes import Sandbox, Supervisor
from lambdatui.processes.cgroup import EnvironmentCgroup
from lambdatui.processes.memory_limit import MIB, RssWatcher
from lambdatui.processes.proc_readings import charged_bytes


def hog(mb: int, then: str = "time.sleep(30)") -> str:
    """Python that holds `mb` MB, says so, then does `then`."""
    return f"import time; b = bytearray({mb} * 1024 * 1024); print('holding', flush=True); {then}"


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    env_tmp = tmp_path / "env-tmp"
    env_tmp.mkdir()
    return Sandbox.create(env_tmp, [sys.executable])


async def supervised(nursery: trio.Nursery, sandbox: Sandbox, recorder: Recorder, memory_mb: int,
                     cgroup: EnvironmentCgroup | None = None) -> Supervisor:
    return Supervisor(nursery, sandbox, recorder.on_lines, recorder.on_exit, cgroup, memory_mb=memory_mb,
                      oom_victim="runtime")


# ---------------------------------------------------------------------- the watcher, on its own


def test_the_watcher_kills_its_victim_once_the_processes_together_reach_the_limit() -> None:
    big = subprocess.Popen([sys.executable, "-S", "-c", hog(40)], stdout=subprocess.PIPE)
    small = subprocess.Popen([sys.executable, "-S", "-c", hog(30)], stdout=subprocess.PIPE)
    try:
        for proc in (big, small):
            assert proc.stdout is not None and proc.stdout.readline() == b"holding\n"
        pids = [big.pid, small.pid]
        each = [charged_bytes(pid) or 0 for pid in pids]
        assert all(size > 30 * MIB for size in each)
        under = RssWatcher(sum(each) // MIB + 20, lambda: pids, lambda: big.pid)
        assert under.usage().bytes == pytest.approx(sum(each), rel=0.05)
        assert under.check() is False and big.poll() is None
        # Neither is over 60 MB alone; together they are.
        watcher = RssWatcher(60, lambda: pids, lambda: big.pid, exclude=lambda pids: [])
        assert watcher.check() is True
        assert big.wait(timeout=5) == -signal.SIGKILL
        assert small.poll() is None  # only the victim
        assert watcher.claim_oom(big.pid) is True
        assert watcher.claim_oom(big.pid) is False  # claimed once
        assert watcher.claim_oom(small.pid) is False
        # Excluded processes (lambdatui's own) do not count.
        assert RssWatcher(1, lambda: [small.pid], lambda: small.pid, exclude=lambda pids: [small.pid]).check() is False
    finally:
        for proc in (big, small):
            proc.kill()
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()


# ---------------------------------------------------------------------- the watcher, forced in a supervisor


@pytest.mark.trio
async def test_without_a_memory_cgroup_the_supervisor_watches_and_kills_the_runtime_for_memory(
        sandbox: Sandbox) -> None:
    recorder = Recorder()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            sup = await supervised(nursery, sandbox, recorder, memory_mb=70)  # no cgroup: the watcher
            try:
                assert isinstance(sup.memory, RssWatcher)
                assert "lambdatui, which sums the private memory" in sup.containment()
                extension = sup.spawn(python(hog(40), key="extension:ext"))
                await recorder.wait_lines(1, "extension:ext")
                # 40 MB alone is under the limit: nothing is killed.
                await trio.sleep(0.1)
                assert extension.exited is None
                runtime = sup.spawn(python(hog(40), key="runtime"))  # together over 70 MB
                status = await recorder.wait_exit(runtime)
                assert status.signal == signal.SIGKILL
                assert runtime.out_of_memory is True
                assert extension.exited is None  # the runtime is the one killed, as in Lambda
                usage = sup.memory_usage()
                assert usage is not None and usage.limit_mb == 70 and (usage.mb or 0) >= 40
                sup.kill(extension)
                await recorder.wait_exit(extension)
                assert extension.out_of_memory is False  # our own SIGKILL is not the limit's
            finally:
                await sup.aclose()


# ---------------------------------------------------------------------- the kernel, through the cgroup


@pytest.mark.trio
async def test_the_environment_cgroup_limits_memory_and_says_an_oom_kill_was_one(sandbox: Sandbox) -> None:
    cgroup = EnvironmentCgroup.create(memory_mb=64)
    if cgroup is None or cgroup.memory is None:
        if cgroup is not None:
            cgroup.remove()
        pytest.skip("no memory cgroup can be made here (the watcher test covers this host)")
    memory_path = cgroup.memory.path
    recorder = Recorder()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            sup = await supervised(nursery, sandbox, recorder, memory_mb=64, cgroup=cgroup)
            try:
                assert sup.memory is cgroup.memory
                assert "the kernel's OOM killer" in sup.containment()
                fits = sup.spawn(python(hog(20, then="print('done')"), key="runtime"))
                assert (await recorder.wait_exit(fits)).code == 0
                assert fits.out_of_memory is False
                over = sup.spawn(python(hog(100, then="print('survived')"), key="runtime"))
                status = await recorder.wait_exit(over)
                assert status.signal == signal.SIGKILL
                assert over.out_of_memory is True
                assert "survived" not in recorder.lines("runtime")
                # Together: an extension holding 15 MB leaves the runtime no room for 60 more, though 60 alone fits.
                # The OOM killer takes the largest process, which is the runtime by then.
                extension = sup.spawn(python(hog(15), key="extension:ext"))
                await recorder.wait_lines(1, "extension:ext")
                usage = sup.memory_usage()
                assert usage is not None and 15 <= (usage.mb or 0) < 64
                runtime = sup.spawn(python(hog(60, then="print('survived')"), key="runtime"))
                status = await recorder.wait_exit(runtime)
                assert status.signal == signal.SIGKILL and runtime.out_of_memory is True
                assert extension.exited is None
            finally:
                await sup.aclose()
    assert not cgroup.path.exists()
    assert not memory_path.exists()


def test_a_memory_cgroup_is_removed_with_its_environment_cgroup() -> None:
    cgroup = EnvironmentCgroup.create(memory_mb=128)
    if cgroup is None or cgroup.memory is None:
        if cgroup is not None:
            cgroup.remove()
        pytest.skip("no memory cgroup can be made here")
    memory = cgroup.memory
    proc = subprocess.Popen([sys.executable, "-S", "-c", "import time; time.sleep(30)"],
                            preexec_fn=lambda: _join(cgroup.procs_files))
    try:
        deadline = time.monotonic() + 5
        while proc.pid not in cgroup.pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert memory.usage().bytes is not None
    finally:
        cgroup.remove()
        proc.wait(timeout=5)
    assert not cgroup.path.exists() and not memory.path.exists()


def _join(procs_files: tuple[str, ...]) -> None:
    from lambdatui.processes.cgroup import join_cgroup_in_child
    join_cgroup_in_child(procs_files)
