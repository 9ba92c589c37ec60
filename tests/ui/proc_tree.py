"""What /proc says about the processes a test started: enough to check that quitting leaves none behind."""

from __future__ import annotations

import os
import time

POLL_S = 0.05


def _stat_fields(pid: int) -> list[str]:
    """Fields after the command name (which may itself hold spaces and parentheses)."""
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def descendants(pid: int) -> set[int]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                tree.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def runs_lambdatui(pid: int) -> bool:
    """Whether `pid` is the `lambdatui` command itself (its console script, or `-m lambdatui`): not one of the
    processes it starts, whose command lines name files in the lambdatui package too (sandbox_init.py, bootstrap)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    head = argv[:3]
    return any(arg == b"lambdatui" or arg.endswith(b"/bin/lambdatui") for arg in head) or b"-m" in head[1:2] and (
        head[2:3] == [b"lambdatui"])


def lambdatui_under(pid: int) -> int:
    """The `lambdatui` command that `pid` is, or that `pid` (a shell) started: found by what it runs and whose child
    it is, never by the order of pids (they wrap: a keeper's pid can come before lambdatui's)."""
    if runs_lambdatui(pid):
        return pid
    children = sorted(child for child in descendants(pid) if _parent(child) == pid and runs_lambdatui(child))
    if len(children) != 1:
        raise AssertionError(f"{len(children)} lambdatui processes under pid {pid}: "
                             + "; ".join(f"{c} {command_line(c)}" for c in children))
    return children[0]


def _parent(pid: int) -> int:
    try:
        return int(_stat_fields(pid)[1])
    except (OSError, IndexError, ValueError):
        return -1


def alive(pid: int) -> bool:
    """Running or stopped; a zombie (exited, not yet reaped) counts as gone."""
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def wait_all_gone(pids: set[int], timeout: float) -> list[str]:
    """The processes of `pids` still alive after `timeout` seconds (described), or [].

    Polling /proc is the event here: there is no notification for the death of a process that is not our child.
    """
    deadline = time.monotonic() + timeout
    while (left := sorted(p for p in pids if alive(p))) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return [f"{pid} {command_line(pid)}" for pid in left]
