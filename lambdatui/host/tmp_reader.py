"""Read a bounded part of one file in an environment's /tmp, from the host side, without ever leaving it.

The same distrust as `tmp_scanner`: the directory is the function's, so the path is walked from the directory
handle opened with the environment, one `openat(O_NOFOLLOW)` per name. A `..`, a symbolic link anywhere on the
way (the file itself included), or anything but a regular file is refused with a sentence, never followed: a
link to /etc/shadow in /tmp must not become a way to read the host. A FIFO is never opened (it would block).

Synchronous and blocking: the UI calls it from a worker thread, never on the host's event loop.
"""

from __future__ import annotations

import errno
import os
import stat

from lambdatui.model.tmp_file import PART_BYTES, TmpFileView

FUNCTION_TMP = "/tmp"
MAX_PART_BYTES = 4 * 1024 * 1024  # the most one call reads, whatever the caller asks for
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: should a FIFO be swapped in between the check and the open, the open does not hang.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)


def tmp_names(path: str) -> list[str]:
    """The names under /tmp that `path` ("/tmp/a/b.txt" or "a/b.txt") goes through; ValueError when it would
    leave /tmp ("..") or names nothing."""
    relative = path[len(FUNCTION_TMP) + 1:] if path.startswith(FUNCTION_TMP + "/") else path
    if relative.startswith("/"):
        raise ValueError(f"{path} is not under /tmp")
    names = [name for name in relative.split("/") if name not in ("", ".")]
    if ".." in names:
        raise ValueError(f"{path} leaves /tmp (..): refused")
    if not names or "\0" in relative:
        raise ValueError(f"{path!r} names no file under /tmp")
    return names


def read_tmp_part(root_fd: int, path: str, offset: int = 0, limit: int = PART_BYTES) -> TmpFileView:
    """Up to `limit` bytes of `path` from `offset`, read under the directory `root_fd` (left open)."""
    try:
        names = tmp_names(path)
    except ValueError as exc:
        return TmpFileView(path, problem=str(exc))
    offset, limit = max(0, offset), max(0, min(limit, MAX_PART_BYTES))
    opened: list[int] = []
    try:
        dir_fd = root_fd
        for name in names[:-1]:
            try:
                dir_fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                return TmpFileView(path, problem=_why(exc, f"/tmp/{'/'.join(names[:names.index(name) + 1])}"))
            opened.append(dir_fd)
        try:
            info = os.stat(names[-1], dir_fd=dir_fd, follow_symlinks=False)
        except OSError as exc:
            return TmpFileView(path, problem=_why(exc, path))
        if stat.S_ISLNK(info.st_mode):
            return TmpFileView(path, size=info.st_size, problem=f"{path} is a symbolic link: lambdatui does not "
                                                                 "follow links out of the environment's /tmp")
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, socket or device)"
            return TmpFileView(path, problem=f"{path} is {kind}: nothing to show")
        try:
            fd = os.open(names[-1], _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            return TmpFileView(path, size=info.st_size, problem=_why(exc, path))
        try:
            now = os.fstat(fd)
            if not stat.S_ISREG(now.st_mode):
                return TmpFileView(path, problem=f"{path} changed into something else while it was opened")
            try:
                data = os.pread(fd, limit, offset) if offset < now.st_size else b""
            except OSError as exc:
                return TmpFileView(path, size=now.st_size, problem=_why(exc, path))
        finally:
            os.close(fd)
        # A file still growing may hand over more than it measured: the size shown covers what was read.
        return TmpFileView(path, size=max(now.st_size, offset + len(data)), offset=offset, data=data)
    finally:
        for fd in opened:
            os.close(fd)


def _why(exc: OSError, path: str) -> str:
    if exc.errno == errno.ENOENT:
        return f"{path} is gone: the function removed it after the listing"
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return f"{path}: a symbolic link or a file stands where a directory was: lambdatui does not follow it"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{path} cannot be read: permission denied"
    return f"{path} cannot be read: {exc.strerror or exc}"
