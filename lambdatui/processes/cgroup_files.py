"""The cgroup file system's small helpers, shared by the environment's cgroup (cgroup.py) and its memory
limit (memory_limit.py): control files that may be absent or refused, and the folders of runs that are gone."""

from __future__ import annotations

import os
from pathlib import Path


def read_control(path: Path) -> str:
    """A control file's text; "" where it does not exist or cannot be read (kernels differ in what they offer)."""
    try:
        return path.read_text()
    except OSError:
        return ""


def write_control(path: Path, text: str) -> bool:
    """Write a control file; False where the kernel (or our rights) refuse it."""
    try:
        path.write_text(text)
        return True
    except OSError:
        return False


def has_children(path: Path) -> bool:
    """Whether a cgroup has cgroups inside it (a function may make them in its own: it runs as the same user).
    A directory's link count is 2 plus its subdirectories: one stat(), on every freeze, instead of a listing."""
    try:
        return os.stat(path).st_nlink > 2
    except OSError:
        return False


def children(path: Path) -> list[Path]:
    """Every cgroup inside `path`, deepest first (the order rmdir needs)."""
    # Iterative: the function may nest its own cgroups however deep, and os.walk recursed once per level (Python
    # 3.11): ~1,000 levels raised RecursionError at the next freeze, at the host's exit and at every later start.
    found: list[Path] = []
    pending = [path]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as entries:
                inside = [Path(entry.path) for entry in entries if entry.is_dir(follow_symlinks=False)]
        except OSError:
            continue  # gone meanwhile (or a path past PATH_MAX): skipped, not raised; its rmdir says EBUSY
        found.extend(inside)
        pending.extend(inside)
    found.reverse()  # each folder was found after its parent: reversed, every one comes before its parent
    return found


def remove_cgroup(path: Path) -> None:
    """rmdir a cgroup and the cgroups inside it, deepest first; raises OSError (e.g. EBUSY) as rmdir does."""
    for child in children(path):
        try:
            child.rmdir()
        except FileNotFoundError:
            pass
    path.rmdir()


def stale_cgroups(base: Path) -> list[Path]:
    """`lambdatui-<pid>-<suffix>` cgroups under `base` whose run is gone (a host killed before its watchdog's last
    sweep finished): to be removed at the next start."""
    try:
        entries = list(base.glob("lambdatui-*-*"))
    except OSError:
        return []
    stale = []
    for path in entries:
        try:
            owner = int(path.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if owner != os.getpid() and not os.path.exists(f"/proc/{owner}"):
            stale.append(path)
    return stale
