"""The run's own folder (environments' /tmp, layers, stacks), under the user's state folder, never under /tmp; and the
folders of runs that died without removing theirs. Without trio: the early start (host/early_start.py) makes it."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Callable

from lambdatui.processes.tree_removal import remove_tree_reporting


def state_root() -> Path:
    """Where environments keep their /tmp: never under /tmp itself, which the sandbox mounts over."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    root = Path(base) / "lambdatui"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except OSError:
        return Path(tempfile.gettempdir()) / f"lambdatui-{os.getuid()}"


def remove_stale_runs(root: Path, report: Callable[[str], None]) -> None:
    """Runs whose lambdatui was SIGKILLed leave their folder behind; their pid tells whether they are gone.

    Never fails a start: a run that cannot be removed (an immutable file, a mount inside, a folder moved
    while we worked) is reported in one line and skipped, and the next start tries again.
    """
    try:
        entries = sorted(root.glob("run-*"))
    except OSError as exc:
        report(f"could not look for stale runs in {root}: {exc}")
        return
    for entry in entries:
        match = re.match(r"run-(\d+)-", entry.name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            problem = remove_tree_reporting(entry)
            if problem is not None:
                report(f"skipped a stale run folder: {problem}")


def new_state_dir(report: Callable[[str], None]) -> Path:
    root = state_root()
    remove_stale_runs(root, report)
    path = root / f"run-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir(parents=True)
    return path


# Inside the run's folder, named here once: the host makes them, and the early start makes env #1's ahead of it.
def member_folder(state_dir: Path, number: int) -> Path:
    """The fleet's `number`-th environment's folder (its layers, stacks and exit files, and its sandboxes')."""
    return state_dir / f"member-{number}"


def sandbox_tmp(member_dir: Path, number: int) -> Path:
    """The /tmp of that environment's sandbox number `number` (env #N: a reset's new one has the next)."""
    return member_dir / f"environment-{number}" / "tmp"


def stack_file(member_dir: Path, generation: int) -> Path:
    """Where the runtime of Init `generation` dumps its threads' stacks when told (a timeout)."""
    return member_dir / f"stacks-{generation}.txt"


def exit_file(member_dir: Path, generation: int) -> Path:
    """Where the host writes the exit code it asks the runtime of Init `generation` to exit with."""
    return member_dir / f"exit-{generation}"
