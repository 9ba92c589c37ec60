"""Linux primitives the process layer needs and the standard library lacks.

Functions called between fork and exec (in a preexec function) run in a copy of
a possibly multi-threaded process: looking a symbol up there can deadlock on a
loader lock another thread held at fork time. So every ctypes function pointer
is resolved here, once, at import time in the parent; the child only calls them.
"""

from __future__ import annotations

import array
import ctypes
import errno
import fcntl
import math
import os
import select
import socket
import termios
from collections.abc import Callable
from dataclasses import dataclass

# A socket with this option on stamps what it receives with the kernel's receive time (SCM_TIMESTAMPNS), and so do
# the connections a listener accepts. Linux's number: the socket module does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)

CLONE_NEWNS = 0x0002_0000
CLONE_NEWUSER = 0x1000_0000
CLONE_NEWPID = 0x2000_0000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
PR_SET_PDEATHSIG = 1

# Process states (/proc/<pid>/stat, field 3) meaning "stopped by a signal" or
# "stopped under a tracer"; both are what SIGSTOP looks like from outside.
STOPPED_STATES = frozenset("Tt")
# A zombie or a dead task is no longer running anything, whatever its pid says.
GONE_STATES = frozenset("ZXx")


@dataclass(frozen=True)
class Libc:
    """The libc functions the child calls between fork and exec, resolved once in the parent."""

    prctl: Callable[..., int]
    unshare: Callable[[int], int]
    mount: Callable[[bytes | None, bytes, bytes | None, int, None], int]
    syscall: Callable[..., int] | None  # for what the C library refuses (child_signals.py)


def _load_libc() -> Libc | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl, unshare, mount = libc.prctl, libc.unshare, libc.mount
        syscall = getattr(libc, "syscall", None)
    except (OSError, AttributeError):
        return None  # not Linux/glibc-like: no parent-death signal, no namespaces
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    unshare.argtypes = [ctypes.c_int]
    unshare.restype = ctypes.c_int
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    mount.restype = ctypes.c_int
    return Libc(prctl=prctl, unshare=unshare, mount=mount, syscall=syscall)


LIBC: Libc | None = _load_libc()


def check_call(result: int, what: str) -> None:
    """Turn a libc -1/errno result into an OSError whose text names the step."""
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def get_errno() -> int:
    """The errno a ctypes call left (ctypes' own copy: a call's failure, not whatever Python did since)."""
    return ctypes.get_errno()


def describe_error(exc: BaseException) -> str:
    """One line for a failure in a child's setup (OSError's str() adds "[Errno N]")."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if exc.filename is None else f"{exc.strerror}: {exc.filename}"
    return str(exc) or type(exc).__name__


def open_pidfd(pid: int) -> int | None:
    """A pidfd for a child, or None where the kernel (< 5.3) or platform lacks them."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return pidfd_open(pid)
    except OSError:
        return None


_PR_SET_CHILD_SUBREAPER = 36
# Set by lambdatui's entry point: the process is lambdatui's own, not one that imports it (a test runner's, which
# would be left the orphans of every lambdatui it starts, and never reap them).
ADOPTS_ORPHANS = False
_subreaper = False


def become_child_subreaper() -> None:
    """This process adopts the orphans among its descendants, in place of the machine's pid 1: an environment's
    init that dies before its children (its keeper lost) leaves them, and its namespace's pid 1, to the host, which
    reaps them at once (pid_namespace.SandboxInit), where a container's pid 1 may reap late or never. Only with a
    keeper, so with a PID namespace: its lives' other processes are inside it, reaped by its pid 1, and the host
    adopts nothing it does not know. Once a run."""
    global _subreaper
    if ADOPTS_ORPHANS and not _subreaper and LIBC is not None:
        _subreaper = LIBC.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def reap_if_adopted(pidfd: int) -> None:
    """Reap the process behind `pidfd` if it is this process's child by now (adopted) and has ended."""
    try:
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
    except (OSError, AttributeError):  # ChildProcessError: not ours (its own parent reaps it), or reaped already
        pass


def pidfd_exited(pidfd: int) -> bool:
    """True once the process behind the pidfd has ended (a zombie, or reaped): its pid may be anyone's by then, but
    the pidfd still names the process it was opened for."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def has_exited(pid: int) -> bool:
    """True once the child is a zombie, without reaping it (keeps its pid and group reserved)."""
    try:
        result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return result is not None


def proc_state(pid: int) -> str | None:
    """The one-letter scheduler state of a process, or None if it no longer exists."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: the state
    # is the first field after the *last* closing parenthesis.
    rest = stat.rpartition(b")")[2].split()
    return rest[0].decode("ascii", "replace") if rest else None


def reap_adopted_group(pgid: int) -> bool:
    """Reap this process's ended children in process group `pgid`, its leader aside: an ended keeper's (init_keeper.py)
    inits and their pid 1s, which die a moment after it (their parent-death signal, or the cgroup's kill at once) and
    are this process's to reap as the child subreaper. Whether any of them still runs. /proc's stat files say who is
    whose."""
    running = False
    me = os.getpid()
    for pid in _own_children():
        if pid == pgid:
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue  # ended meanwhile, or not ours to read
        if len(fields) < 3 or int(fields[1]) != me or int(fields[2]) != pgid:
            continue
        if fields[0] != b"Z":
            running = True
            continue
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    return running


def _own_children() -> list[int]:
    """This process's children, as its threads' `children` lists name them (an orphan adopted by a child subreaper
    becomes one of its threads' child): a few reads where every process's stat file was read before, each host's end
    read hundreds on a busy machine. Every process's pid where the kernel keeps no such list (CONFIG_PROC_CHILDREN),
    for the caller to tell apart by its stat file."""
    found: list[int] = []
    try:
        threads = os.listdir("/proc/self/task")
        for thread in threads:
            try:
                with open(f"/proc/self/task/{thread}/children", "rb") as f:
                    found.extend(int(pid) for pid in f.read().split())
            except FileNotFoundError:
                if not os.path.exists(f"/proc/self/task/{thread}"):
                    continue  # the thread ended meanwhile
                raise
    except FileNotFoundError:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return found


class KernelFile:
    """A file the kernel writes anew for each read from its start (procfs, cgroupfs), read again and again: opened
    once, then each read is one pread. These reads run after every warm invoke: open and close were two thirds of
    their system calls. Not open(): no fstat, no ioctl, no decoding."""

    __slots__ = ("path", "_fd", "_closed")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._closed = False

    def open(self) -> int:
        """Its descriptor, opened now if it is not yet (reads open it when needed); raises OSError."""
        fd = self._fd
        if fd is None:
            if self._closed:  # for good: a reader after its owner's end must not open it again, and keep it open
                raise OSError(errno.EBADF, f"{self.path}: closed")
            fd = self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        return fd

    def read(self, size: int) -> bytes:
        """Up to `size` bytes from the start; raises OSError (the file or its process gone, or closed here)."""
        fd = self._fd
        return os.pread(fd if fd is not None else self.open(), size, 0)

    def read_whole(self, chunk: int) -> bytes:
        """All of it, `chunk` bytes a read (a short read is the end: the kernel fills the buffer it is given)."""
        data = self.read(chunk)
        while data and len(data) % chunk == 0:
            more = os.pread(self._fd, chunk, len(data))  # type: ignore[arg-type]
            if not more:
                break
            data += more
        return data

    def close(self) -> None:
        fd, self._fd, self._closed = self._fd, None, True
        if fd is not None:
            os.close(fd)


def proc_peak_rss_mb(status: KernelFile) -> int | None:
    """VmHWM (peak resident set size) in MiB rounded up, from a process's /proc/PID/status; None when unavailable."""
    # Read once and search the bytes: it runs after every invoke, and line-by-line parsing costs 3x more.
    try:
        data = status.read(4096)
        start = data.find(b"VmHWM:")
        if start < 0:
            return None  # zombies and kernel threads have no memory map
        kib = int(data[start + 6:data.index(b"kB", start)])
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(kib / 1024)) if kib else 0


def pipe_bytes_available(fd: int) -> int:
    """How many bytes a pipe holds right now (FIONREAD)."""
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf, True)
    except OSError:
        return 0
    return buf[0]
