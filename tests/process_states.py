"""A process's state as a test sees it: stopped or frozen (lambdatui freezes an idle environment by the cgroup v2's
freezer where it has one, else by SIGSTOP), for tests of every folder."""

from __future__ import annotations

import time
from typing import Optional


def _state(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2:].split()[0]  # the command name may hold spaces and parentheses


_FREEZERS: list[bool] = []


def cgroup_freezer() -> bool:
    """Whether lambdatui's environments get a cgroup v2 whose freezer it can use (the freeze Lambda makes, which no
    process inside can tell); elsewhere it freezes by SIGSTOP and SIGCONT."""
    if not _FREEZERS:
        from lambdatui.processes.cgroup import EnvironmentCgroup

        made = EnvironmentCgroup.create()
        _FREEZERS.append(made is not None and made.set_frozen(True))
        if made is not None:
            made.remove()
    return _FREEZERS[0]


def frozen(pid: int) -> bool:
    """Whether the process is frozen: stopped (state T, where lambdatui freezes by SIGSTOP), or inside a cgroup v2 whose
    freezer holds everything in it (lambdatui's environments where it has one: the process sleeps, state S)."""
    state = _state(pid)
    if state is None:
        return False
    if state in ("T", "t"):
        return True
    try:
        with open(f"/proc/{pid}/cgroup") as fh:
            path = next((line[3:].strip() for line in fh if line.startswith("0::")), None)
    except OSError:
        return False
    if not path:
        return False
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            with open(f"{root}{path}/cgroup.events") as fh:
                return "frozen 1" in fh.read()
        except OSError:
            continue
    return False


def wait_frozen(pid: int, bound: float = 5.0) -> None:
    """Until the process is frozen (asynchronously, by a signal or the freezer: /proc and the cgroup tell)."""
    deadline = time.monotonic() + bound
    while not frozen(pid):
        assert time.monotonic() < deadline, f"pid {pid} not frozen within {bound} s: state {_state(pid)}"
        time.sleep(0.005)
