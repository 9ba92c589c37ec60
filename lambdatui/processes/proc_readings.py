"""A process's figures as /proc tells them now: its memory, whether it still runs, its parent.

Each read is one small file opened unbuffered (/proc/PID/status: ~6 µs here): the memory watcher samples every
process of an environment every 20 ms, and a process gone between two reads is an answer (None or False), not an
error.
"""

from __future__ import annotations

from typing import Optional


def charged_bytes(pid: int) -> Optional[int]:
    """What a memory cgroup would charge a process for, nearly: its anonymous and shared-memory pages (RssAnon +
    RssShmem, /proc/<pid>/status), not the file pages it maps. Those (the interpreter, libpython, the libraries) are
    shared by every process that runs them and were charged to whoever read them first: summed over an
    environment's processes, RSS counts them once for each (16 idle Python children came to ~8 MB each where the
    cgroup charged ~3). Pages a parent and its fork still share are counted in each. None once it is gone."""
    data = _status(pid)
    if data is None:
        return None
    anon, shmem = _status_kib(data, b"RssAnon:"), _status_kib(data, b"RssShmem:")
    return None if anon is None else (anon + (shmem or 0)) * 1024


def is_running(pid: int) -> bool:
    """Whether a process is there and not dying: a zombie (or one being reaped) may be the OOM killer's victim."""
    try:
        with open(f"/proc/{pid}/stat", "rb", buffering=0) as fh:
            data = fh.read(512)
        return data[data.rindex(b")") + 2:][:1] not in (b"Z", b"X", b"x")
    except (OSError, ValueError):
        return False


def parent_pid(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/stat", "rb", buffering=0) as fh:
            data = fh.read(512)
        return int(data[data.rindex(b")") + 2:].split()[1])  # the command name may hold spaces and parentheses
    except (OSError, ValueError, IndexError):
        return None


def rss_mb(pid: int) -> tuple[Optional[int], Optional[int]]:
    """(VmRSS, VmHWM) of a process in MiB, rounded up; (None, None) once it is gone."""
    data = _status(pid)
    if data is None:
        return None, None
    return _status_mb(data, b"VmRSS:"), _status_mb(data, b"VmHWM:")


def _status(pid: int) -> Optional[bytes]:
    try:
        with open(f"/proc/{pid}/status", "rb", buffering=0) as fh:
            return fh.read(4096)
    except OSError:
        return None


def _status_kib(data: bytes, key: bytes) -> Optional[int]:
    start = data.find(key)
    if start < 0:
        return None  # a zombie, or a kernel thread
    try:
        return int(data[start + len(key):data.index(b"kB", start)])
    except ValueError:
        return None


def _status_mb(data: bytes, key: bytes) -> Optional[int]:
    kib = _status_kib(data, key)
    return None if kib is None else -(-kib // 1024)
