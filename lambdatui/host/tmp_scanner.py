"""List an environment's /tmp from the host side, without ever leaving it.

The directory is written by user code, so the walk trusts nothing in it: every entry is looked at
with lstat semantics and a symbolic link is listed, never followed (a link to `/` must not turn
the listing into a scan of the host). Files come and go while the function runs, so an entry that
vanishes mid-walk is skipped and a directory that cannot be read is listed without its content.
The walk is breadth-first, so when it stops at `limit` the top of the tree is what is listed: a
deep cache directory cannot hide the file the handler wrote next to it.

Synchronous on purpose: it runs between phases, while the processes are frozen or parked; the host
may move it to a worker thread, and nothing here needs an event loop.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections import deque
from pathlib import Path

from lambdatui.model.tmp_tree import TmpScanEntry

FUNCTION_TMP = "/tmp"  # where the function sees the directory
DEFAULT_LIMIT = 2000


def scan_tmp(root: Path, limit: int = DEFAULT_LIMIT) -> tuple[list[TmpScanEntry], bool]:
    """Every path under `root` as "/tmp/<relative>", and whether the listing stopped at `limit`.

    `truncated` is True only when more entries existed than were listed. A missing or
    unreadable `root` lists as empty: there is nothing the function could have left there either.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    found: list[TmpScanEntry] = []
    unread = False  # some directory had more entries than could still fit
    pending: deque[tuple[str, str]] = deque([(os.fspath(root), FUNCTION_TMP)])  # (host path, function path)
    while pending:
        host_dir, shown_dir = pending.popleft()
        entries, more = _entries(host_dir, limit - len(found) + 1)
        unread = unread or more
        for entry in entries:
            info = _lstat(entry)
            if info is None:
                continue  # removed between readdir and lstat
            if len(found) >= limit:
                return found, True
            shown = f"{shown_dir}/{entry.name}"
            found.append(TmpScanEntry(shown, _kind(info.st_mode), info.st_size, info.st_mtime_ns))
            if stat.S_ISDIR(info.st_mode):  # lstat said directory: never a link to one
                pending.append((entry.path, shown))
    return found, unread


def _entries(host_dir: str, cap: int) -> tuple[list[os.DirEntry[str]], bool]:
    """Up to `cap` of the directory's entries, by name, and whether it held more.

    Reading stops at `cap` so that a directory of a million files costs no more memory than the
    listing can show; a directory that cannot be read (any more) has no entries.
    """
    try:
        with os.scandir(host_dir) as it:
            taken = list(itertools.islice(it, cap))
            more = next(it, None) is not None
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return [], False  # vanished, replaced by a file, or unreadable: the directory itself is already listed
    except OSError:
        return [], False  # anything stranger (EIO, ENAMETOOLONG...) must not stop the listing of the rest
    return sorted(taken, key=lambda e: e.name), more


def _lstat(entry: os.DirEntry[str]) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False)
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
