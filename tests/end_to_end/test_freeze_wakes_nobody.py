"""The freeze between invokes and the thaw for the next wake nobody for nothing (issue 9's warm path).

Where the freeze is SIGSTOP/SIGCONT, the kernel tells a process's parent of its every stop and continue; the
environment's init, the runtime's parent, catches SIGCHLD to hear its children's exits and was woken twice an invoke
for nothing, on the CPU where the runtime resumes. Where the freeze is the cgroup's freezer, the init was inside and
frozen and thawed with the rest (twice an invoke, as its keeper and pid 1 were): the freezer now freezes the
function's cgroup only, inside the environment's, and lambdatui's processes are outside it (cgroup.py). (A SnapStart
copy's parent, the snapshot, is itself stopped while it waits: nothing to wake.)
"""

from __future__ import annotations

from pathlib import Path

from e2e_support import ServeProcess, descendants, proc_cmdline, proc_stat
from process_states import wait_frozen
from test_fleet_support import REPORT, invoke, wait_for_count

INVOKES = 15


def voluntary_switches(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("voluntary_ctxt_switches:"))


def frozen_invokes(served: ServeProcess, runtime: int, first_report: int) -> None:
    """INVOKES invokes, each once the runtime is frozen (its REPORT out and its process stopped): each thaws it."""
    for n in range(INVOKES):
        answer = invoke(served, {"tag": f"warm-{n}"})
        assert answer.status_code == 200, answer.text
        wait_for_count(served, REPORT, first_report + n + 1)
        wait_frozen(runtime)


def test_a_warm_invokes_freeze_and_thaw_do_not_wake_the_environments_init(code_dir: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text("import os\n\ndef handler(event, context):\n    return {'pid': os.getpid()}\n")
    with ServeProcess(handler, "--timeout", "60") as served:
        assert invoke(served, {}).status_code == 200
        wait_for_count(served, REPORT, 1)
        [runtime] = [pid for pid in descendants(served.proc.pid) if "lambdatui/bootstrap" in proc_cmdline(pid)]
        wait_frozen(runtime)
        stat = proc_stat(runtime)
        assert stat is not None
        init = stat[1]  # the runtime's parent, as the host sees it
        assert "sandbox_init" in proc_cmdline(init), proc_cmdline(init)
        before = voluntary_switches(init)
        frozen_invokes(served, runtime, 1)
        # Without SA_NOCLDSTOP, two an invoke more (30 here); with the init in the frozen cgroup (before the function's
        # cgroup of its own), two an invoke too; a few allowed for anything else.
        assert voluntary_switches(init) - before < 5

