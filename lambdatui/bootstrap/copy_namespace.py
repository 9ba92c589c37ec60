"""A SnapStart copy's mount namespace: the new environment's, or one of its own with the new environment's /tmp.

Runs in the forked copy of the snapshot's runtime, in the user's interpreter: the standard library only (ctypes,
imported where it is needed), and never fatal: each step says "joined" or why not, and the host says so.
"""

from __future__ import annotations

import os
import re
import stat

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import List

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18


def join_mount_namespace(fd: int) -> str:
    """setns into the environment's mount namespace: "joined" or why not (never fatal: the host says so)."""
    try:
        import ctypes  # only here: no other path of the runtime needs it

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNS) != 0:
            return "setns: %s" % os.strerror(ctypes.get_errno())
    except Exception as exc:  # no ctypes, no setns in this libc
        return "setns: %s: %s" % (type(exc).__name__, exc)
    finally:
        os.close(fd)
    # The working directory still points into the old namespace's tree: take the same path in the new one.
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or "/"
    try:
        os.chdir(task_root)
    except OSError as exc:
        return "joined, but chdir %s: %s" % (task_root, exc.strerror or exc)
    return "joined"


def _mounts_in_tmp() -> List[str]:
    """The mount points directly in /tmp (each with what is mounted under it, MS_REC)."""
    found = []
    with open("/proc/self/mountinfo", "rb") as file:
        for line in file.read().decode("utf-8", "surrogateescape").splitlines():
            fields = line.split()
            if len(fields) > 4:
                path = re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), fields[4])
                if path.startswith("/tmp/") and "/" not in path[5:] and path not in found:
                    found.append(path)
    return found


def own_tmp(tmp: str) -> str:
    """A mount namespace of the copy's own, a copy of the template's, with `tmp` (the new environment's folder, as
    the host names it) on /tmp: "joined" or why not (never fatal: the host says so)."""
    try:
        import ctypes  # only here: no other path of the runtime needs it

        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
        uid, gid = os.geteuid(), os.getegid()
        # Without root, a user namespace of its own grants the right to mount (mapping the same ids: the copy
        # stays who it was); the template's own mounts stay underneath, locked, which is what we want.
        flags = CLONE_NEWNS | (0 if uid == 0 else CLONE_NEWUSER)
        if libc.unshare(flags) != 0:
            return "unshare: %s" % os.strerror(ctypes.get_errno())
        if uid != 0:
            for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                               ("gid_map", "%d %d 1" % (gid, gid))):
                with open("/proc/self/" + name, "w") as file:
                    file.write(text)
        if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            return "mount --make-rprivate /: %s" % os.strerror(ctypes.get_errno())
        # The host's folders the template's /tmp showed again (a virtualenv cloned under /tmp: sandbox.kept_folders)
        # stay in sight over the new /tmp, bound from handles taken before it covers them.
        kept = [(path, os.open(path, os.O_PATH | os.O_CLOEXEC)) for path in _mounts_in_tmp()]
        if libc.mount(os.fsencode(tmp), b"/tmp", None, MS_BIND | MS_REC, None) != 0:
            return "bind %s on /tmp: %s" % (tmp, os.strerror(ctypes.get_errno()))
        for path, fd in kept:
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    os.mkdir(path, 0o755)
                else:  # a file directly in /tmp: an empty one to sit on
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
            except FileExistsError:
                pass
            if libc.mount(b"/proc/self/fd/%d" % fd, os.fsencode(path), None, MS_BIND | MS_REC, None) != 0:
                return "keep %s on /tmp: %s" % (path, os.strerror(ctypes.get_errno()))
            os.close(fd)
    except Exception as exc:  # no ctypes, no unshare in this libc, /proc not writable
        return "own /tmp: %s: %s" % (type(exc).__name__, exc)
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or "/"
    try:
        os.chdir(task_root)  # the same path, in the namespace now in force
    except OSError:
        pass
    return "joined"
