"""The memory limit: `--memory MB` on the environment's processes together, as Lambda enforces it (issue 11).

In Lambda the function's memory size bounds the whole sandbox (runtime and extensions alike), and a process
that goes over is SIGKILLed by the kernel's OOM killer without warning. Here, in order of preference:

- the environment's cgroup v2 with `memory.max` (and `memory.swap.max` = 0), the memory controller enabled in
  its parent's `cgroup.subtree_control` if it is not yet and we may;
- a second cgroup, in cgroup v1's `memory` hierarchy, that every child joins beside the first
  (`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes` where swap is accounted, `memory.swappiness` 0);
- else `RssWatcher`: lambdatui samples the resident memory of the environment's processes (the sum of their
  RSS) and SIGKILLs the runtime at the limit. It cannot stop an allocation, only notice it afterwards.

Either way the host learns, at a SIGKILLed process's exit, whether that kill was for memory (`claim_oom`): the
cgroup's OOM-kill counter (`memory.events` in v2, `memory.oom_control` in v1) or the watcher's own decision.

The sandbox init and its pid 1 (pid_namespace.py) live in the cgroup too, so that the participants are born
inside it. They are lambdatui's, not the function's: their own charge, measured once they are up, is added to
the limit (`allow_baseline`), and the watcher leaves them out of its sum.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol

from .cgroup_files import read_control, remove_cgroup, stale_cgroups, write_control
from .linux import KernelFile
from .proc_readings import charged_bytes, is_running

MIB = 1024 * 1024
V1_MEMORY_ROOT = Path("/sys/fs/cgroup/memory")
# How often the watcher samples. A process can allocate far more than the limit between two samples; the
# interval only bounds how long it keeps it. Reading a few /proc files costs ~20 µs a process.
WATCH_INTERVAL_S = 0.02


@dataclass(frozen=True)
class MemoryUsage:
    """The environment's processes together, now: what the limit is compared with."""

    bytes: Optional[int]  # the cgroup's charge, or the sum of the processes' RSS; None when unreadable
    limit_mb: int

    @property
    def mb(self) -> Optional[int]:
        return None if self.bytes is None else -(-self.bytes // MIB)


class MemoryLimit(Protocol):
    limit_mb: int
    kind: str  # "cgroup v2", "cgroup v1", "watch": for the figures the debugger shows

    def describe(self) -> str: ...
    def usage(self) -> MemoryUsage: ...
    def peak_bytes(self) -> Optional[int]: ...
    def reset_peak(self) -> None: ...
    def claim_oom(self, pid: int) -> bool: ...
    def settle_ooms(self, runtime_pid: int) -> None: ...
    def inherit(self, charged_elsewhere: int) -> None: ...


# ---------------------------------------------------------------------- the kernel enforces it


class CgroupMemory:
    """`memory.max` (v2) or `memory.limit_in_bytes` (v1) on a cgroup every process of the environment is in."""

    def __init__(self, path: Path, version: int, limit_mb: int, *, own: bool) -> None:
        self.path = path
        self.version = version
        self.limit_mb = limit_mb
        self.kind = f"cgroup v{version}"
        self.own = own  # a v1 memory cgroup of its own, beside the environment's cgroup: ours to remove
        self.procs_file = str(path / "cgroup.procs")
        self.swap_note = ""
        self._baseline = 0  # the sandbox init's own charge, allowed on top of the limit
        # What the processes hold that is charged to another cgroup (a SnapStart copy's pages shared with the
        # snapshot): theirs all the same, as in Lambda, where the restored microVM holds what Init made.
        self._inherited = 0
        self._peak_file = str(path / ("memory.peak" if version == 2 else "memory.max_usage_in_bytes"))
        self._peak = KernelFile(self._peak_file)
        self._peak_seen: Optional[int] = None  # the peak's file, as last read (the sandbox init's charge included)
        # Read after every invoke (settle_ooms) too: kept open, as the peak's file is.
        self._oom_counter = KernelFile(str(path / ("memory.events" if version == 2 else "memory.oom_control")))
        self._ooms_seen = self._oom_kills()

    @classmethod
    def in_v2(cls, path: Path, limit_mb: int) -> Optional["CgroupMemory"]:
        """The limit on the environment's own v2 cgroup, or None where its memory controller cannot be had."""
        if not (path / "memory.max").exists():
            parent = path.parent
            if "memory" not in read_control(parent / "cgroup.controllers").split():
                return None  # not ours to have (bound to v1, or not delegated)
            if not write_control(parent / "cgroup.subtree_control", "+memory"):
                return None  # e.g. the parent holds processes itself (cgroup v2's "no internal processes")
            if not (path / "memory.max").exists():
                return None
        memory = cls(path, 2, limit_mb, own=False)
        if not memory._set_limit():
            return None
        return memory

    @classmethod
    def in_v1(cls, name: str, limit_mb: int,
              announce: Callable[[str], None] = lambda path: None) -> Optional["CgroupMemory"]:
        """A new cgroup `name` in v1's memory hierarchy, beside where this process sits, with the limit
        (`announce`: as EnvironmentCgroup.create's)."""
        base = V1_MEMORY_ROOT / _own_v1_path("memory")
        if not (V1_MEMORY_ROOT / "cgroup.procs").exists():
            return None
        for stale in stale_cgroups(base):
            CgroupMemory(stale, 1, 0, own=True).remove()
        path = base / name
        announce(str(path))
        try:
            path.mkdir()
        except OSError:
            return None
        memory = cls(path, 1, limit_mb, own=True)
        if not memory._set_limit():
            memory.remove()
            return None
        return memory

    def describe(self) -> str:
        where = "memory.max on that cgroup v2" if self.version == 2 else \
            f"memory.limit_in_bytes on a cgroup v1 at {self.path}"
        extra = [self.swap_note]
        if self._baseline:
            extra.append(f"plus {self._baseline / MIB:.1f} MB for lambdatui's sandbox init")
        return f"the kernel's OOM killer ({where}; {'; '.join(extra)})"

    def allow_baseline(self) -> None:
        """Once the sandbox init is up: its own charge goes on top of the limit (it is lambdatui's, not the
        function's). Only the first time: a later init replaces one that is gone."""
        if self._baseline:
            return
        usage = max(0, (self.usage().bytes or 0) - self._inherited)  # the cgroup's own charge
        if usage and usage < self.limit_mb * MIB // 4:
            self._baseline = usage
            self._set_limit()

    def inherit(self, charged_elsewhere: int) -> None:
        """The processes hold `charged_elsewhere` bytes besides their own charge (a SnapStart copy: the snapshot's
        Init): it counts against the limit, and in their usage and peak. A page the copy writes is then its own and
        counts twice, the snapshot's original being kept for the next copy: near the limit a copy may run out a
        little before Lambda's would."""
        self._inherited = max(0, charged_elsewhere)
        self._set_limit()

    def usage(self) -> MemoryUsage:
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        try:
            used: Optional[int] = max(0, int(read_control(self.path / name)) - self._offset())
        except ValueError:
            used = None
        return MemoryUsage(used, self.limit_mb)

    def peak_bytes(self) -> Optional[int]:
        """The most the environment's processes held together (their children too) since the last reset: what
        Lambda's REPORT calls Max Memory Used. None where the kernel keeps no peak (cgroup v2 before Linux 5.19).
        Read after every invoke: one pread of a file kept open, where open, read and close took three calls."""
        try:
            self._peak_seen = int(self._peak.read(64))
        except (OSError, ValueError):
            self._peak_seen = None
            return None
        return max(0, self._peak_seen - self._offset())

    def reset_peak(self) -> None:
        """A new runtime: the peak starts again from what is held now (kernels that cannot reset it keep counting)."""
        write_control(Path(self._peak_file), "0" if self.version == 1 else "reset")

    def claim_oom(self, pid: int) -> bool:
        """Whether a process of ours that died of SIGKILL was killed by the OOM killer: the counter moved since
        the last claim. Each OOM kill is claimed once."""
        count = self._oom_kills()
        if count > self._ooms_seen:
            self._ooms_seen += 1
            return True
        return False

    def settle_ooms(self, runtime_pid: int) -> None:
        """The runtime is seen alive after its Init or an invoke: the OOM kills counted so far that no claim took
        were of processes we do not follow (a child the function started, which the OOM killer may choose as the
        largest), not of the runtime. Forgotten, so that a later SIGKILL of the runtime by something else (its own
        os.kill, a user's kill -9) is not taken for the OOM killer's, which Lambda would call Runtime.ExitError.
        Asked after every invoke, with the peak just read: a peak well under the limit says no OOM kill happened
        since the peak was reset, without reading the counter."""
        if self._peak_seen is not None and self._peak_seen < self._limit_bytes() * 0.9:
            return
        count = self._oom_kills()
        if count > self._ooms_seen and is_running(runtime_pid):
            self._ooms_seen = count

    def remove(self) -> None:
        """Our v1 memory cgroup, once its processes are gone (the environment's cgroup kills them)."""
        self._peak.close()
        self._oom_counter.close()
        if not self.own:
            return
        deadline = time.monotonic() + 2.0
        while True:
            try:
                remove_cgroup(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return  # the watchdog's sweep, or the next start, gets it
                _kill_listed(self.procs_file)
                time.sleep(0.005)

    def _offset(self) -> int:
        """What the cgroup's charge holds beyond the processes' memory (the sandbox init's), less what they hold
        charged elsewhere."""
        return self._baseline - self._inherited

    def _limit_bytes(self) -> int:
        # At least a page: a snapshot as large as the limit leaves its copy none to allocate (0 would be refused).
        return max(self.limit_mb * MIB - self._inherited, 4096) + self._baseline

    def _set_limit(self) -> bool:
        """Write the limit; `swap_note` says how swap is kept from hiding memory beyond it."""
        limit = str(self._limit_bytes())
        if self.version == 2:
            if not write_control(self.path / "memory.max", limit):
                return False
            swap = self.path / "memory.swap.max"
            self.swap_note = ("no swap" if write_control(swap, "0") else
                              "swap not limited: memory.swap.max not writable" if swap.exists() else
                              "swap not limited: no memory.swap.max here")
            return True
        # memsw (memory + swap) must stay >= the memory limit: raise it before the limit, lower it after.
        memsw = self.path / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            write_control(memsw, limit)
        if not write_control(self.path / "memory.limit_in_bytes", limit):
            return False
        if memsw.exists():
            self.swap_note = ("swap counted in it" if write_control(memsw, limit) else
                              "swap not limited: memory.memsw.limit_in_bytes not writable")
        else:
            self.swap_note = ("no swap: swappiness 0" if write_control(self.path / "memory.swappiness", "0") else
                              "swap not limited: no swap accounting here")
        return True

    def _oom_kills(self) -> int:
        try:
            text = self._oom_counter.read(4096).decode("ascii", "replace")
        except OSError:
            text = ""
        if self.version == 2:
            return _counter(text, "oom_kill")
        if "oom_kill " in text:
            return _counter(text, "oom_kill")
        try:  # kernels before 4.13: how often the limit was hit, which a SIGKILL then says was fatal
            return int(read_control(self.path / "memory.failcnt"))
        except ValueError:
            return 0




# ---------------------------------------------------------------------- lambdatui watches it


class RssWatcher:
    """Where no memory cgroup can be had: the sum of what a cgroup would charge the environment's processes for
    (proc_readings.charged_bytes), sampled every `interval` seconds, and the runtime SIGKILLed once it reaches the
    limit. Run `run()` as a task."""

    kind = "watch"

    def __init__(self, limit_mb: int, pids: Callable[[], Iterable[int]], victim: Callable[[], Optional[int]],
                 *, interval: float = WATCH_INTERVAL_S,
                 exclude: Callable[[list[int]], Iterable[int]] = lambda pids: ()) -> None:
        """`pids`: the environment's processes now; `victim`: the pid to kill at the limit (the runtime), or
        None while there is none; `exclude`: lambdatui's own processes among those (the sandbox init)."""
        self.limit_mb = limit_mb
        self.interval = interval
        self._pids = pids
        self._victim = victim
        self._exclude = exclude
        self._killed: set[int] = set()
        self._peak = 0

    def describe(self) -> str:
        return (f"lambdatui, which sums the private memory of the environment's processes every "
                f"{self.interval * 1000:.0f} ms and SIGKILLs the runtime at the limit (no memory cgroup here: "
                f"an allocation between two samples is seen only after it happened)")

    def usage(self) -> MemoryUsage:
        pids = list(self._pids())
        skip = set(self._exclude(pids))
        used = sum(charged_bytes(pid) or 0 for pid in pids if pid not in skip)
        self._peak = max(self._peak, used)
        return MemoryUsage(used, self.limit_mb)

    def peak_bytes(self) -> Optional[int]:
        """The most its samples saw together (a spike between two samples is missed, as the limit misses it)."""
        return self._peak

    def inherit(self, charged_elsewhere: int) -> None:
        """Nothing to do: the processes' resident memory counts the pages they share with a snapshot already."""

    def reset_peak(self) -> None:
        self._peak = 0

    def check(self) -> bool:
        """One sample; kills the runtime if the environment is at the limit. Whether it did."""
        used = self.usage().bytes or 0
        if used < self.limit_mb * MIB:
            return False
        victim = self._victim()
        if victim is None:
            return False
        try:
            os.kill(victim, signal.SIGKILL)
        except OSError:
            return False
        self._killed.add(victim)
        return True

    async def run(self) -> None:
        import trio  # imported where used: the early start (host/early_start.py) runs before trio is imported

        while True:
            await trio.sleep(self.interval)
            self.check()

    def settle_ooms(self, runtime_pid: int) -> None:
        pass  # its claims name the pid it killed: nothing to forget

    def claim_oom(self, pid: int) -> bool:
        if pid in self._killed:
            self._killed.discard(pid)
            return True
        return False


# ---------------------------------------------------------------------- files


def _own_v1_path(controller: str) -> str:
    """Where this process sits in a v1 hierarchy: a new cgroup goes beside it (inside any limit we are under)."""
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controller in controllers.split(","):
                    return path.lstrip("/")
    except (OSError, ValueError):
        pass
    return ""


def _kill_listed(procs_file: str) -> None:
    try:
        with open(procs_file) as fh:
            pids = [int(line) for line in fh if line.strip()]
    except (OSError, ValueError):
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _counter(text: str, name: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
