"""List an environment's /tmp from the host side, without ever leaving it.

The directory is written by user code, so the walk trusts nothing in it, not even its path: it starts
from the directory handle opened when the environment was created (a function that renames its /tmp and
puts a link to `/` in its place is still listed from the directory it was given), and goes down by name,
one `openat(O_NOFOLLOW)` at a time, never by a path. Every entry is looked at with lstat semantics and a
symbolic link is listed, never followed (a link to `/` must not turn the listing into a scan of the host);
a directory swapped for a link, or for another directory, between the listing and the walk is not entered;
another file system mounted inside is listed, not entered. Files come and go while the function runs, so
an entry that vanishes mid-walk is skipped and a directory that cannot be read is listed without its
content. The walk is breadth-first, so when it stops at `limit` the top of the tree is what is listed: a
deep cache directory cannot hide the file the handler wrote next to it.

Synchronous on purpose: it runs between phases, while the processes are frozen or parked; the host
may move it to a worker thread, and nothing here needs an event loop.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections import OrderedDict, deque
from pathlib import Path
from typing import Optional, Union

from lambdatui.model.tmp_tree import TmpScanEntry

FUNCTION_TMP = "/tmp"  # where the function sees the directory
DEFAULT_LIMIT = 2000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_DIRS = 32  # directories kept open between visits: a breadth-first walk comes back to their children

_Identity = tuple[int, int]  # (st_dev, st_ino)


def scan_tmp(root: Union[Path, int], limit: int = DEFAULT_LIMIT,
             hidden: frozenset[str] = frozenset()) -> tuple[list[TmpScanEntry], bool]:
    """Every path under `root` as "/tmp/<relative>", and whether the listing stopped at `limit`; not the names
    `hidden` directly in it (where the host's own folders are seen in the environment: Sandbox.kept).

    `root` is a directory file descriptor (the sandbox's handle, left open) or a path, opened here without
    following a link. `truncated` is True only when more entries existed than were listed. A missing or
    unreadable `root` lists as empty: there is nothing the function could have left there either.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if isinstance(root, int):
        return _scan(root, limit, hidden)
    try:
        root_fd = os.open(root, _DIR_FLAGS)
    except OSError:
        return [], False
    try:
        return _scan(root_fd, limit, hidden)
    finally:
        os.close(root_fd)


def _scan(root_fd: int, limit: int, hidden: frozenset[str]) -> tuple[list[TmpScanEntry], bool]:
    found: list[TmpScanEntry] = []
    unread = False  # some directory had more entries than could still fit
    opener = _Opener(root_fd)
    # (names from the root, function path, identity seen by lstat); the root's identity is its handle's.
    pending: deque[tuple[tuple[str, ...], str, Optional[_Identity]]] = deque([((), FUNCTION_TMP, None)])
    try:
        while pending:
            names, shown_dir, identity = pending.popleft()
            dir_fd = opener.open(names, identity)
            if dir_fd is None:
                continue  # gone, unreadable, or no longer the directory that was listed
            dir_dev = os.fstat(dir_fd).st_dev
            entries, more = _entries(dir_fd, limit - len(found) + 1)
            unread = unread or more
            for name in entries:
                if not names and name in hidden:
                    continue
                info = _lstat(dir_fd, name)
                if info is None:
                    continue  # removed between readdir and lstat
                if len(found) >= limit:
                    return found, True
                shown = f"{shown_dir}/{name}"
                found.append(TmpScanEntry(shown, _kind(info.st_mode), info.st_size, info.st_mtime_ns))
                # lstat said directory: never a link to one; and of this file system, never a mount on it.
                if stat.S_ISDIR(info.st_mode) and info.st_dev == dir_dev:
                    pending.append(((*names, name), shown, (info.st_dev, info.st_ino)))
    finally:
        opener.close()
    return found, unread


class _Opener:
    """Opens a directory below the root by its names, one openat(O_NOFOLLOW) per name, reusing open parents."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self.cache: OrderedDict[tuple[str, ...], int] = OrderedDict()

    def open(self, names: tuple[str, ...], identity: Optional[_Identity]) -> Optional[int]:
        if not names:
            return self.root_fd
        fd = self.cache.get(names)
        if fd is None:
            depth = len(names) - 1
            while depth > 0 and names[:depth] not in self.cache:
                depth -= 1
            fd = self.cache[names[:depth]] if depth else self.root_fd
            for i in range(depth, len(names)):
                try:
                    fd = os.open(names[i], _DIR_FLAGS, dir_fd=fd)  # a link here is ELOOP/ENOTDIR: never followed
                except OSError:
                    return None
                self._keep(names[: i + 1], fd)
        info = os.fstat(fd)
        if identity is not None and (info.st_dev, info.st_ino) != identity:
            return None  # swapped since it was listed: what is there now was never seen by lstat
        return fd

    def _keep(self, names: tuple[str, ...], fd: int) -> None:
        self.cache[names] = fd
        self.cache.move_to_end(names)
        while len(self.cache) > _OPEN_DIRS:
            _, old = self.cache.popitem(last=False)
            os.close(old)

    def close(self) -> None:
        for fd in self.cache.values():
            os.close(fd)
        self.cache.clear()


def _entries(dir_fd: int, cap: int) -> tuple[list[str], bool]:
    """Up to `cap` of the directory's entry names, sorted, and whether it held more.

    Reading stops at `cap` so that a directory of a million files costs no more memory than the
    listing can show; a directory that cannot be read (any more) has no entries.
    """
    try:
        with os.scandir(dir_fd) as it:
            taken = [entry.name for entry in itertools.islice(it, cap)]
            more = next(it, None) is not None
    except OSError:  # vanished, unreadable, or stranger (EIO...): must not stop the listing of the rest
        return [], False
    return sorted(taken), more


def _lstat(dir_fd: int, name: str) -> Optional[os.stat_result]:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:  # FileNotFoundError above all: user code deleted it while we looked
        return None


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "other"  # FIFOs, sockets, device nodes: listed, never opened
