"""Probe (round 5) helpers: lambdatui (`python -m lambdatui`, this worktree) with the early start on ("early") or off
("late" = LAMBDATUI_EARLY_START=0, the reference), its stderr read line by line as it comes, held at its first
`import trio` where a test needs the window before the host is up (test_probe4_support.TrioHold), and what it may
have left behind (processes, cgroup folders, run folders under a state folder of the test's own).

No tests here: the other test_probe5_* modules import it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Optional, Sequence

PROBE = Path(__file__).resolve().parent
sys.path.insert(0, str(PROBE.parents[0] / "end_to_end"))
sys.path.insert(0, str(PROBE))

from test_probe4_support import BOUND, MODES, Lines, TrioHold, run_folders, start, write  # noqa: E402,F401
from e2e_support import descendants, wait_all_gone  # noqa: E402
from probe_support import cgroups_of, wait_paths_gone  # noqa: E402

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|unhandled error|TrioInternalError|Exception ignored")


class Live(Lines):
    """One lambdatui process, its stderr read line by line on a thread (stdout kept whole)."""

    def __init__(self, mode: str, *args: str, env: Optional[Mapping[str, str]] = None,
                 pythonpath: Sequence[str] = ()) -> None:
        super().__init__(start(mode, *args, env=env, pythonpath=pythonpath), mode)

    @property
    def stderr(self) -> str:
        return self.output()

    def url(self) -> str:
        address = self.wait_for(r"serving .* at http://([^/\s]+)/2015-03-31/").group(1)
        return f"http://{address}/2015-03-31/functions/function/invocations"

    def wait(self, timeout: float = BOUND) -> int:
        """Its exit status, once it ended by itself (no signal of the test's) and its pipes are read."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.mode}: lambdatui did not end within {timeout} s:\n{self.stderr[-4000:]}")
        self._err.join(10)
        self._out.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(BOUND)
        self._err.join(10)
        self._out.join(10)

    def close(self) -> None:
        self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> "Live":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Leftovers:
    """What lambdatui `pid` made (taken while it runs): its process tree, cgroup folders and run folders."""

    def __init__(self, pid: int, state_home: Optional[Path] = None) -> None:
        self.tree = descendants(pid)
        self.cgroups = cgroups_of(pid)
        self.folders = run_folders(pid, state_home)

    def left(self, timeout: float = 10.0, folders: bool = True) -> dict[str, object]:
        """What is still there after `timeout` (empty when nothing)."""
        found: dict[str, object] = {}
        if processes := wait_all_gone(self.tree, timeout):
            found["processes"] = processes
        if cgroups := wait_paths_gone(self.cgroups, timeout):
            found["cgroups"] = cgroups
        if folders and (runs := wait_paths_gone(self.folders, timeout)):
            found["run folders"] = runs
        return found


def init_reports(stderr: str) -> list[tuple[float, str, str]]:
    """(Init Duration ms, phase, status) of each INIT_REPORT line."""
    return [(float(m.group(1)), m.group(2), m.group(3)) for m in
            re.finditer(r"INIT_REPORT Init Duration: ([\d.]+) ms\tPhase: (\w+)\tStatus: (\w+)", stderr)]
