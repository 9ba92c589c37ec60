"""Remove a directory tree that user code wrote, however deep, strange or hostile it is.

`shutil.rmtree` recurses once per level (Python <= 3.12), so a function that nests ~1,000 directories in
its /tmp made it raise RecursionError, which `ignore_errors` does not catch: lambdatui crashed at exit and
then at every later start, on the half-deleted folder. This walk is iterative and keeps one directory
open at a time, however deep the tree: it goes down by `openat(name, O_NOFOLLOW)` and back up by `..`,
checking on the way up that `..` is the very directory it came from (device and inode), so a directory
moved while we work can never lead the removal out of the tree. It never follows a symbolic link (a
link is removed, not its target) and never enters another file system (a bind mount of `/` inside the
tree is left alone, and reported). Directories without write or search permission are made accessible
first. What cannot be removed (an immutable file, a mount point) is skipped, the rest is removed, and
the first failure is raised at the end.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Optional, Union

from .readonly_root import read_mount_points

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OWNER_RWX = stat.S_IRWXU


class TreeRemovalError(OSError):
    """Some of the tree stayed behind; the message says what and why, in one line."""


@dataclass
class _Level:
    """One directory on the walk's way down: its identity (`dev`, `ino`), checked when `..` leads back up to it,
    and the subdirectories still to empty."""

    name: str  # the directory's name in its parent
    dev: int
    ino: int
    pending: list[str] = field(default_factory=list)  # subdirectories still to empty and remove


@dataclass
class _Failures:
    """What could not be removed: the first failure to report, how many in all, and the mounts left alone."""

    first: Optional[str] = None
    count: int = 0
    mounts: set[tuple[int, int]] = field(default_factory=set)  # never entered, never removed

    def add(self, path: str, exc: BaseException) -> None:
        self.count += 1
        if self.first is None:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.first = f"{path}: {reason}"

    def raise_if_any(self, root: str) -> None:
        if self.first is not None:
            more = f" (and {self.count - 1} more)" if self.count > 1 else ""
            raise TreeRemovalError(f"could not remove all of {root}: {self.first}{more}")


def _mount_roots_under(path: str) -> set[tuple[int, int]]:
    """(device, inode) of every mount point below `path`: a bind mount keeps its device, so st_dev alone misses it."""
    prefix = os.path.realpath(path).rstrip("/") + "/"
    found: set[tuple[int, int]] = set()
    try:
        points = read_mount_points()
    except OSError:
        return found
    for point in (mount.path for mount in points):
        if point.startswith(prefix):
            try:
                info = os.lstat(point)
            except OSError:
                continue
            found.add((info.st_dev, info.st_ino))
    return found


def remove_tree(path: Union[str, os.PathLike[str]]) -> None:
    """Remove `path` and everything under it; a missing path is already removed.

    `path` itself may be a file or a link (removed as such). Raises TreeRemovalError after removing
    everything it could, when something stayed behind.
    """
    text = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(text)
    failures = _Failures(mounts=_mount_roots_under(text))
    try:
        parent_fd = os.open(parent or "/", _DIR_FLAGS & ~os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError as exc:
        failures.add(parent, exc)
        failures.raise_if_any(text)
        return
    try:
        try:
            info = os.lstat(name, dir_fd=parent_fd)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            _empty(parent_fd, name, text, failures)
            _remove_entry(parent_fd, name, text, failures, directory=True)
        else:
            _remove_entry(parent_fd, name, text, failures, directory=False)
    except OSError as exc:
        failures.add(text, exc)
    finally:
        os.close(parent_fd)
    failures.raise_if_any(text)


def _remove_entry(dir_fd: int, name: str, shown: str, failures: _Failures, *, directory: bool) -> None:
    try:
        if directory:
            os.rmdir(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError as exc:
        failures.add(shown, exc)


def _open_dir(dir_fd: int, name: str) -> int:
    """Open a subdirectory without following a link; one we may not read or search is made so first."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        _make_accessible(dir_fd, name)
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_IMODE(mode) & _OWNER_RWX != _OWNER_RWX:
            os.fchmod(fd, stat.S_IMODE(mode) | _OWNER_RWX)  # to unlink its entries, whatever the user set
    except OSError:
        pass  # not ours to change (another owner, an immutable directory): its removal will say why
    return fd


def _make_accessible(dir_fd: int, name: str) -> None:
    """chmod u+rwx a directory we cannot open, through an O_PATH handle: never through a link put in its place."""
    handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        mode = os.fstat(handle).st_mode
        if stat.S_ISDIR(mode):
            os.chmod(f"/proc/self/fd/{handle}", stat.S_IMODE(mode) | _OWNER_RWX)
    finally:
        os.close(handle)


def _sweep(fd: int, shown: str, dev: int, failures: _Failures) -> list[str]:
    """Unlink every entry but subdirectories; returns the subdirectories of this file system."""
    subdirs: list[str] = []
    with os.scandir(fd) as entries:
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if not is_dir:
                _remove_entry(fd, entry.name, f"{shown}/{entry.name}", failures, directory=False)
                continue
            try:
                info = os.lstat(entry.name, dir_fd=fd)
            except FileNotFoundError:
                continue
            except OSError as exc:
                failures.add(f"{shown}/{entry.name}", exc)
                continue
            if info.st_dev != dev or (info.st_dev, info.st_ino) in failures.mounts:
                # A mount point: what lies under it is not this tree's to remove.
                failures.add(f"{shown}/{entry.name}", OSError("another file system is mounted there"))
                continue
            subdirs.append(entry.name)
    subdirs.reverse()  # popped from the end: removed in the order listed
    return subdirs


def _empty(parent_fd: int, name: str, shown_root: str, failures: _Failures) -> None:
    """Remove everything inside the directory `name` of `parent_fd`, one level open at a time."""
    try:
        fd = _open_dir(parent_fd, name)
    except OSError as exc:
        failures.add(shown_root, exc)
        return
    try:
        info = os.fstat(fd)
        stack = [_Level(name, info.st_dev, info.st_ino)]
        shown = [shown_root]
        stack[0].pending = _sweep(fd, shown_root, info.st_dev, failures)
        while True:
            level = stack[-1]
            if level.pending:
                child = level.pending.pop()
                child_shown = f"{shown[-1]}/{child}"
                try:
                    child_fd = _open_dir(fd, child)
                except FileNotFoundError:
                    continue
                except OSError as exc:  # replaced by a link or a file since the sweep, or unreadable
                    failures.add(child_shown, exc)
                    continue
                child_info = os.fstat(child_fd)
                if child_info.st_dev != level.dev or (child_info.st_dev, child_info.st_ino) in failures.mounts:
                    os.close(child_fd)
                    failures.add(child_shown, OSError("another file system is mounted there"))
                    continue
                os.close(fd)
                fd = child_fd
                stack.append(_Level(child, child_info.st_dev, child_info.st_ino))
                shown.append(child_shown)
                try:
                    stack[-1].pending = _sweep(fd, child_shown, child_info.st_dev, failures)
                except OSError as exc:
                    failures.add(child_shown, exc)
                continue
            if len(stack) == 1:
                return
            # This level is empty (or holds what could not be removed): go up and remove it.
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
            up_info = os.fstat(up)
            parent = stack[-2]
            if (up_info.st_dev, up_info.st_ino) != (parent.dev, parent.ino):
                os.close(up)
                raise TreeRemovalError(f"{shown[-1]} was moved out of the tree while it was being removed")
            os.close(fd)
            fd = up
            stack.pop()
            _remove_entry(fd, level.name, shown.pop(), failures, directory=True)
    finally:
        os.close(fd)


def remove_tree_reporting(path: Union[str, os.PathLike[str]]) -> Optional[str]:
    """`remove_tree`, answering None when all went, else the one line that says what stayed and why."""
    try:
        remove_tree(path)
    except TreeRemovalError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it must not stop lambdatui; it is said instead
        return f"could not remove {os.fspath(path)}: {exc}"
    return None
