"""One cgroup per environment, so that nothing a function starts can leave it (issue 8).

A process group is not a container: a daemon that double-forks and calls `setsid` leaves its group, and so
outlives resets, shutdown and even the host's death, and keeps running while the environment is "frozen".
In Lambda nothing outlives the sandbox. A cgroup cannot be left by a process of its own accord: every child
joins its environment's cgroup before it execs, and all its descendants are born inside.

Cgroup v2 (`cgroup.procs`, `cgroup.kill`) where it is mounted and writable, else v1's freezer hierarchy
(writable as root on many hosts, these included). Elsewhere there is none, and process groups remain the only
fence (the supervisor's `containment()` line says which, once, at start-up).

The same cgroup carries the memory limit where v2's memory controller can be had; else, with v1, a second
cgroup in the `memory` hierarchy that every child joins too (memory_limit.py).

With v2, the function's processes (runtime, extensions, whatever they start) live in a cgroup of their own inside
the environment's, `function`, which is what the freezer freezes; lambdatui's own processes there (the sandbox init's
keeper, each life's init and pid 1) stay in the environment's, outside it. A freeze stopped them too, and every thaw
then woke three processes that had nothing to do: ~0.05 ms of a warm invoke's 0.9 on a 2-core VM. The limit, the
kill and the removal are the environment's, and take both.
"""

from __future__ import annotations

import os
import re
import select
import signal
import time
from pathlib import Path
from typing import Callable, Optional

from .cgroup_files import children, has_children, remove_cgroup, stale_cgroups, write_control
from .linux import KernelFile
from .memory_limit import CgroupMemory

CGROUP_ROOT = Path("/sys/fs/cgroup")
_KILL_ROUNDS_S = 2.0
_EVENTS_REREAD_S = 0.001
_READ_SIZE = 64 * 1024
_DESCENDANTS = re.compile(rb"^nr_descendants (\d+)$", re.MULTILINE)
FUNCTION_CGROUP = "function"  # inside the environment's (v2): the function's processes, which the freezer freezes


class EnvironmentCgroup:
    def __init__(self, path: Path, version: int, function: Optional[Path] = None) -> None:
        """`function`: the cgroup inside it the function's processes join (v2), where one was made."""
        self.path = path
        self.version = version
        self.function = function
        self.procs_file = str((function or path) / "cgroup.procs")  # where the function's processes go
        self.own_procs_file = str(path / "cgroup.procs")  # lambdatui's, outside the freeze
        self._procs = KernelFile(self.own_procs_file)  # the function cgroup (and any it made) are its children
        # Whether there are cgroups inside this one (the function's, any the function made), asked at every freeze
        # by signal (no freezer: no function cgroup either): v2 counts them in cgroup.stat, one read of a file kept
        # open (~2 us), where a stat() of the folder costs ~9 us there.
        self._stat = KernelFile(str(path / "cgroup.stat")) if version == 2 else None
        self.memory: Optional[CgroupMemory] = None
        """The memory limit, where the kernel can enforce it: on this cgroup (v2), or on a v1 memory cgroup."""
        self._freezer: Optional[int] = None  # cgroup.freeze, opened at the first freeze (v2 only)
        self.frozen = False  # by `set_frozen`
        self.v2_id: Optional[int] = None
        """The id the kernel gives a v2 cgroup (its folder's inode), which sock_diag tells of a socket made inside:
        the function's cgroup's, where the runtime and extensions make theirs."""
        if version == 2:
            try:
                self.v2_id = os.stat(function or path).st_ino
            except OSError:
                pass  # not made yet (create makes it first), or gone

    @property
    def procs_files(self) -> tuple[str, ...]:
        """Every cgroup a function's process joins before it execs: this one (its function cgroup, where it has one),
        and a v1 memory cgroup of its own if any."""
        return self._with_memory(self.procs_file)

    def _with_memory(self, procs_file: str) -> tuple[str, ...]:
        if self.memory is not None and self.memory.own:
            return (procs_file, self.memory.procs_file)
        return (procs_file,)

    def join(self, pid: int) -> None:
        """Move a process of lambdatui's (the sandbox init's keeper, as it boots) into this cgroup, outside the function
        cgroup, and into the memory cgroup; raises OSError."""
        _write_pid(self._with_memory(self.own_procs_file), str(pid).encode())

    @classmethod
    def create(cls, memory_mb: Optional[int] = None,
               announce: Callable[[str], None] = lambda path: None) -> Optional["EnvironmentCgroup"]:
        """A new, empty cgroup for one environment, or None where none can be made; with `memory_mb`, the
        memory limit on it where the kernel can enforce one (`memory` stays None where not). `announce` hears
        each cgroup's path before it is made (the watchdog's: the host killed just after, it is removed all
        the same; one never made is nothing to remove)."""
        name = f"lambdatui-{os.getpid()}-{os.urandom(3).hex()}"
        for base, version in _candidates():
            for stale in stale_cgroups(base):
                EnvironmentCgroup(stale, version).remove()
            path = base / name
            announce(str(path))
            try:
                path.mkdir()
            except OSError:
                continue
            # Only where the freezer is: elsewhere the freeze is by signal, and a cgroup inside would serve nothing.
            function = path / FUNCTION_CGROUP if version == 2 and (path / "cgroup.freeze").exists() else None
            if function is not None:
                try:
                    function.mkdir()
                except OSError:
                    function = None  # everything in the environment's cgroup, frozen together
            cgroup = cls(path, version, function)
            if memory_mb is not None:
                cgroup.memory = (CgroupMemory.in_v2(path, memory_mb) if version == 2 else None) \
                    or CgroupMemory.in_v1(name, memory_mb, announce)
            return cgroup
        return None

    def has_freezer(self) -> bool:
        """Whether `set_frozen` can freeze it (v2, on a kernel with the freezer: 5.2 and later)."""
        return self.version == 2 and os.path.exists(self._frozen_path / "cgroup.freeze")

    @property
    def function_procs(self) -> Optional[str]:
        """The function cgroup's cgroup.procs, which each participant joins before it execs; None without one."""
        return str(self.function / "cgroup.procs") if self.function is not None else None

    @property
    def _frozen_path(self) -> Path:
        return self.function or self.path

    def check_joined(self, pid: int) -> None:
        """A participant the sandbox init started: where it could not join the function's cgroup (a kernel that
        judges the move by the mover's credentials, in a user namespace), it is in the environment's, and the whole
        environment is frozen from now on, as before the function had a cgroup of its own: nothing of it may run on."""
        if self.function is None:
            return
        try:
            segment = b"/" + FUNCTION_CGROUP.encode()
            with open(f"/proc/{pid}/cgroup", "rb") as fh:  # in it, or in a cgroup it made inside it already
                inside = any(line.startswith(b"0::") and (line.rstrip().endswith(segment) or segment + b"/" in line)
                             for line in fh)
        except OSError:
            return  # gone already: nothing of it to freeze
        if not inside:
            if self._freezer is not None:
                os.close(self._freezer)  # the function cgroup's; thawed (a spawn thaws first)
                self._freezer = None
            self.function = None
            try:
                self.v2_id = os.stat(self.path).st_ino  # where its sockets are made now
            except OSError:
                pass

    def set_frozen(self, frozen: bool) -> bool:
        """Freeze (or thaw) the function's processes through cgroup v2's freezer, as Lambda freezes an idle environment:
        no process inside is signalled, so none can tell (a SIGSTOP sends its parent SIGCHLD, a SIGCONT resumes a child
        the function stopped itself). False where it cannot (v1, a kernel before 5.2): the caller signals instead."""
        if self.version != 2:
            return False
        if self._freezer is None:
            try:
                self._freezer = os.open(self._frozen_path / "cgroup.freeze", os.O_WRONLY | os.O_CLOEXEC)
            except OSError:
                return False
        try:
            os.write(self._freezer, b"1" if frozen else b"0")  # ~9 us to freeze, ~4 us to thaw
        except OSError:
            return False
        self.frozen = frozen
        return True

    def describe(self) -> str:
        kind = "cgroup v2" if self.version == 2 else "cgroup v1 (freezer)"
        return f"a {kind} at {self.path}"

    def pids(self) -> list[int]:
        """Every process inside, those of cgroups a function made inside this one included."""
        pids = _read_pids(self._procs)
        if self._has_children():
            for child in children(self.path):
                nested = KernelFile(str(child / "cgroup.procs"))
                pids += _read_pids(nested)
                nested.close()
        return pids

    def _has_children(self) -> bool:
        if self._stat is not None:
            try:
                counts = self._stat.read(4096)
            except OSError:
                pass  # gone meanwhile, or an older kernel's: asked as v1 asks it
            else:
                found = _DESCENDANTS.search(counts)
                if found is not None:
                    return found.group(1) != b"0"
        return has_children(self.path)

    def signal_strays(self, groups: set[int], sig: int, spare: frozenset[int] = frozenset()) -> int:
        """Signal every process inside that is in none of `groups` (the participants' process groups), but `spare`;
        how many were signalled.

        It runs at every freeze: a group's leader (most of what is inside) is known without asking."""
        signalled = 0
        for pid in self.pids():
            if pid in groups or pid in spare:
                continue
            try:
                if os.getpgid(pid) not in groups:
                    os.kill(pid, sig)
                    signalled += 1
            except OSError:
                pass  # gone meanwhile
        return signalled

    def kill_all(self, spare: frozenset[int] = frozenset()) -> None:
        """SIGKILL everything inside but `spare` (the keeper of the sandbox init, between two lives), until nothing
        else is left (bounded: a process stuck in the kernel may take a while)."""
        if not spare and self.version == 2 and write_control(self.path / "cgroup.kill", "1"):
            self._wait_empty()
            return
        deadline = time.monotonic() + _KILL_ROUNDS_S
        while (pids := [pid for pid in self.pids() if pid not in spare]) and time.monotonic() < deadline:
            for pid in pids:  # a process forking meanwhile has its child born inside: the next round gets it
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.005)  # the kernel reaps asynchronously; the loop's bound is the deadline above

    def remove(self) -> None:
        self.kill_all()  # a frozen process dies of SIGKILL all the same
        if self._freezer is not None:
            os.close(self._freezer)
            self._freezer = None
        self._procs.close()
        if self._stat is not None:
            self._stat.close()
        if self.memory is not None:
            self.memory.remove()  # its files closed before the cgroup goes (a v1 one of its own goes too)
        try:
            remove_cgroup(self.path)
        except OSError:
            pass  # still draining: the watchdog's last sweep, or the next start, finds an empty one

    def _wait_empty(self) -> None:
        """Until the last process inside has exited (bounded). The kernel says so in cgroup.events, and wakes a
        poll() for POLLPRI on its changes, at most one every 10 ms (cgroup_file_notify): one change just before
        (the freezer's `frozen`, a process joining) delays the wake-up of the one we wait for that long, though the
        file says so at once. So the wait reads the file again every millisecond too: a sleep in 5 ms steps cost the
        exit of `invoke` ~5 ms, a POLLPRI alone ~10 ms after a freeze."""
        deadline = time.monotonic() + _KILL_ROUNDS_S
        try:  # every cgroup v2 has it (cgroup.kill, which came later, has just been written)
            fd = os.open(self.path / "cgroup.events", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return  # the cgroup was removed meanwhile: nothing is left in it
        try:
            watch = select.poll()
            watch.register(fd, select.POLLPRI)
            while b"populated 1" in os.pread(fd, 4096, 0) and (left := deadline - time.monotonic()) > 0:
                watch.poll(min(left, _EVENTS_REREAD_S) * 1000)
        except OSError:
            pass  # the cgroup was removed meanwhile (ENODEV): nothing is left in it
        finally:
            os.close(fd)


def _read_pids(procs: KernelFile) -> list[int]:
    # Kept open and read with os-level calls: it runs at every freeze of the environment (once a warm invoke),
    # where a text file's open, fstat, ioctl, lseek, decoding and close cost more than the read.
    try:
        return [int(pid) for pid in procs.read_whole(_READ_SIZE).split()]
    except (OSError, ValueError):
        return []


def join_cgroup_in_child(procs_files: tuple[str, ...]) -> None:
    """In the child, before exec: move this process into the environment's cgroups. Only os-level calls."""
    _write_pid(procs_files, str(os.getpid()).encode())


def _write_pid(procs_files: tuple[str, ...], pid: bytes) -> None:
    for procs_file in procs_files:
        fd = os.open(procs_file, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)


def _candidates() -> list[tuple[Path, int]]:
    found: list[tuple[Path, int]] = []
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        found.append((CGROUP_ROOT / _own_v2_path(), 2))
    unified = CGROUP_ROOT / "unified"
    if (unified / "cgroup.controllers").exists():
        found.append((unified / _own_v2_path(), 2))
    if (CGROUP_ROOT / "freezer" / "cgroup.procs").exists():
        found.append((CGROUP_ROOT / "freezer", 1))
    return found


def _own_v2_path() -> str:
    """Where this process sits in the v2 hierarchy: a new cgroup goes beside it, where we may write."""
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                if line.startswith("0::"):
                    return line[3:].strip().lstrip("/")
    except OSError:
        pass
    return ""
