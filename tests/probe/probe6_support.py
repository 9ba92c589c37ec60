"""Helpers for test_probe6_keeper.py: what an environment's keeper, its per-life inits, their pid 1s and the
function's processes look like from the host, read from /proc and the cgroup folders only.

A keeper is `python -I -S ... sandbox_init.py FD LIMIT PROCS HOSTPID` started by the host; each life's init is a fork of
it (same argv, its parent the keeper); the init's pid 1 (the "anchor") is a fork of the init (same argv, pid 1 in
its namespace's NSpid). The function's processes are found by a marker variable the test passes with `--env`
(the environment hands it to the runtime, and every process the runtime forks inherits it), wherever they are
reparented. Nothing here waits: the tests wait on exits (pidfds, e2e_support.wait_all_gone).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from e2e_support import ServeProcess, proc_cmdline, proc_stat  # noqa: E402

from probe_support import cgroups_of  # noqa: E402

from lambdatui.processes.cgroup import FUNCTION_CGROUP


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def live_stat(pid: int) -> Optional[tuple[str, int, int]]:
    """(state, ppid, starttime), None once gone or a zombie."""
    stat = proc_stat(pid)
    return stat if stat is not None and stat[0] not in "ZXx" else None


def ns_pids(pid: int) -> tuple[int, ...]:
    """The pid in each PID namespace, outermost first (NSpid); () once gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("NSpid:"):
                    return tuple(int(x) for x in line.split()[1:])
    except OSError:
        pass
    return ()


def pid_ns(pid: int) -> Optional[int]:
    """The inode of the PID namespace `pid` lives in (what the function's os.stat('/proc/self/ns/pid') says)."""
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def is_sandbox_init_of(pid: int, host: int) -> bool:
    words = proc_cmdline(pid).split()
    return any(w.endswith("sandbox_init.py") for w in words) and bool(words) and words[-1] == str(host)


def family(host: int) -> dict[int, tuple[int, int]]:
    """Every live keeper, init and pid 1 of host `host`'s (by argv), wherever reparented: {pid: (ppid, start)}."""
    found = {}
    for pid in all_pids():
        if is_sandbox_init_of(pid, host):
            stat = live_stat(pid)
            if stat is not None:
                found[pid] = (stat[1], stat[2])
    return found


def marked(mark: str) -> dict[int, int]:
    """Every live process whose environment carries PROBE6_MARK=`mark` (the function's runtime and whatever it
    forked, daemons included): {pid: start}."""
    needle = f"PROBE6_MARK={mark}".encode()
    found = {}
    for pid in all_pids():
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = fh.read()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            stat = live_stat(pid)
            if stat is not None:
                found[pid] = stat[2]
    return found


def sleepers(seconds: int) -> dict[int, int]:
    """The live `sleep SECONDS` processes (the probes' daemons, each test with its own number): {pid: start}."""
    found = {}
    for pid in all_pids():
        if proc_cmdline(pid) == f"sleep {seconds}":
            stat = live_stat(pid)
            if stat is not None:
                found[pid] = stat[2]
    return found


def children(pid: int) -> list[int]:
    """Live children of `pid` (its only thread's /proc children list, then each checked)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            pids = [int(x) for x in fh.read().split()]
    except OSError:
        return []
    return [p for p in pids if (s := live_stat(p)) is not None and s[1] == pid]


@dataclass(frozen=True)
class Life:
    """One environment's keeper and its current life: each as (pid, starttime)."""

    keeper: tuple[int, int]
    init: tuple[int, int]
    anchor: tuple[int, int]
    participants: tuple[tuple[int, int], ...]

    @property
    def pids(self) -> set[int]:
        return {self.keeper[0], self.init[0], self.anchor[0], *(p for p, _ in self.participants)}

    @property
    def runtime(self) -> tuple[int, int]:
        assert len(self.participants) == 1, self.participants
        return self.participants[0]

    @property
    def namespace(self) -> Optional[int]:
        return pid_ns(self.anchor[0])

    def processes(self) -> dict[int, int]:
        """Its init, pid 1 and participants (not the keeper), as {pid: start}."""
        return dict([self.init, self.anchor, *self.participants])


def keepers(host: int) -> dict[int, int]:
    """The host's keepers (its own children running sandbox_init.py, in its PID namespace), {pid: start}. The host
    adopts an ended life's pid 1 where its init died first (it is their subreaper), for as long as it takes to reap
    it: that one lives in the life's own namespace."""
    found = {}
    host_ns = pid_ns(host)
    for pid in children(host):
        if is_sandbox_init_of(pid, host) and pid_ns(pid) == host_ns:
            stat = live_stat(pid)
            if stat is not None:
                found[pid] = stat[2]
    return found


def lives(host: int) -> dict[int, list[Life]]:
    """For each keeper of `host`, its live inits as Lives (pid 1 found among the init's children by NSpid)."""
    out: dict[int, list[Life]] = {}
    for keeper, kstart in keepers(host).items():
        out[keeper] = []
        for init in children(keeper):
            istat = live_stat(init)
            if istat is None:
                continue
            anchors, participants = [], []
            for child in children(init):
                cstat = live_stat(child)
                if cstat is None:
                    continue
                if is_sandbox_init_of(child, host) and ns_pids(child)[-1:] == (1,):
                    anchors.append((child, cstat[2]))
                else:
                    participants.append((child, cstat[2]))
            assert len(anchors) <= 1, anchors
            if anchors:
                out[keeper].append(Life((keeper, kstart), (init, istat[2]), anchors[0], tuple(participants)))
    return out


def cgroup_members(host: int) -> dict[Path, set[int]]:
    """Each `lambdatui-<host>-*` cgroup folder (v2, and v1 memory ones) and the pids in it now, those of the cgroups
    inside it included (the function's, in a v2 one)."""
    members = {}
    for folder in cgroups_of(host):
        try:
            inside = [folder, *(path for path in folder.rglob("*") if path.is_dir())]
            members[folder] = {int(p) for cgroup in inside for p in (cgroup / "cgroup.procs").read_text().split()}
        except OSError:
            continue  # removed meanwhile
    return members


def function_cgroup_members(host: int) -> dict[Path, set[int]]:
    """Each v2 `lambdatui-<host>-*` cgroup folder and the pids in its function cgroup (cgroup.FUNCTION_CGROUP)."""
    members = {}
    for folder in cgroups_of(host):
        try:
            if v2_folder(folder):
                members[folder] = {int(p) for p in (folder / FUNCTION_CGROUP / "cgroup.procs").read_text().split()}
        except OSError:
            continue  # removed meanwhile
    return members


def v2_folder(folder: Path) -> bool:
    return (folder / "cgroup.controllers").exists()


_REPORT = r"REPORT RequestId: {rid}\t.*Max Memory Used: (\d+) MB"


def max_memory_used(server: ServeProcess, rid: str) -> int:
    """The REPORT line's Max Memory Used for request `rid` (waited for: REPORT may follow the answer)."""
    return int(server.wait_for_line(_REPORT.format(rid=re.escape(rid))).group(1))


def report_duration(server: ServeProcess, rid: str) -> float:
    line = server.wait_for_line(rf"REPORT RequestId: {re.escape(rid)}\t.*?Duration: ([\d.]+) ms")
    return float(line.group(1))


class KeeperSampler:
    """Samples, on a thread, the keepers a host process has (by argv, with its pid as their parent) while it runs:
    how many distinct ones (pid, starttime) it had, and the most at once. An observation, not a synchronisation."""

    def __init__(self, host: int) -> None:
        self.host = host
        self.seen: set[tuple[int, int]] = set()
        self.most_at_once = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        host_ns = pid_ns(self.host)
        while not self._stop.is_set():
            # (an ended life's pid 1, adopted by the host while it is reaped, lives in its own namespace)
            now = {(pid, start) for pid, (ppid, start) in family(self.host).items()
                   if ppid == self.host and pid_ns(pid) == host_ns}
            self.seen |= now
            self.most_at_once = max(self.most_at_once, len(now))
            self.samples += 1
            if live_stat(self.host) is None:
                return
            self._stop.wait(0.005)

    def __enter__(self) -> "KeeperSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
