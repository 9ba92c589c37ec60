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
