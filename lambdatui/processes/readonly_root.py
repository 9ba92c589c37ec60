"""The root file system read-only in an environment's mount namespace: only /tmp is writable, as in Lambda.

Lambda refuses a write anywhere but /tmp with EROFS (lambda-spec §10.1). A function that writes ./cache.json,
~/.something or /etc/... would otherwise work here and fail there. So, last in the namespace's set-up (after the
layout, /etc/hosts and /tmp), every mount point is remounted read-only (MS_REMOUNT | MS_BIND | MS_RDONLY: the
mount's own flag, the file system itself is untouched, so the host keeps writing it), except:

- /tmp and what lies under it: the environment's own (or, where no private /tmp can be bound, the host's, which
  the note about /tmp already calls shared);
- /proc and /sys with what lies under them: the kernel's interfaces, not storage (lambda-spec §10.1 speaks of
  the file system a function stores files in). What is written there is a setting, of the process itself
  (/proc/self/comm, /proc/self/oom_score_adj) or of the kernel, not a file left behind, and the kernel's own
  permission checks guard it; a read-only mount would refuse a process even its own settings, with an EROFS
  Lambda is not known to give. The processes the sandbox init starts see the PID namespace's own /proc anyway,
  mounted over the host's after this step, which a remount here would not reach;
- the folders lambdatui's own processes write (`writable`): the run's state folder, where the runtime writes its
  stack dumps and a SnapStart copy finds its /tmp. Each is bound on itself first, so that it is a mount of its
  own, which the remounts leave writable.

/dev and every mount under it (/dev/pts, /dev/shm, /dev/mqueue...) are made read-only too: /dev is the HOST's
devtmpfs, where a function running as root (lambdatui runs as whoever starts it, often root in a container) could
otherwise unlink /dev/null or create nodes for every process on the host. The devices stay usable: the kernel's
EROFS check on open(2) and on a write applies to regular files, folders and symbolic links, not to device nodes,
so /dev/null, /dev/zero, /dev/urandom and a terminal are read and written as before (as in Lambda); unlinking,
creating or renaming anything there fails with EROFS. /dev/shm so has nothing to create either: Lambda has none,
so shm_open and sem_open (what multiprocessing's Queue, Lock and Pool need) fail there, and here (EROFS here,
ENOSYS there) rather than work only locally.

The list is read from /proc/self/mountinfo by the host, which gives the steps to the process entering the
namespace (namespace_steps.py); that process remounts each path, skipping one that vanished meanwhile or that its
path lookup refuses (the function, with the same uid and no more capabilities, is refused it too), and fails on anything else.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from typing import NamedTuple, Optional

from . import linux
from . import namespace_steps as steps

# The first words of the step's error: the probe tells a refused remount from a namespace it cannot make at all.
STEP = "make the root file system read-only"
TMP = "/tmp"
# The kernel's interfaces (see the module's docstring); /dev is not among them: the host's device nodes.
_LEFT_WRITABLE = ("/proc", "/sys")
# Per-mount options a remount must repeat: clearing one that a user namespace locked is refused (EPERM), and
# clearing one that is not locked would loosen the host's choice. Atime flags are left out: a remount that names
# none keeps the mount's own (the kernel's rule for MS_REMOUNT). filesystem._KEPT_FLAGS is the same rule read
# from statvfs, for the /etc/hosts bind (it names the atime flags: either way the mount keeps them).
_OPTION_FLAGS = {"nosuid": linux.MS_NOSUID, "nodev": linux.MS_NODEV, "noexec": linux.MS_NOEXEC,
                 "nosymfollow": linux.MS_NOSYMFOLLOW}
# A mount point gone since the list was read (ENOENT, ENOTDIR), no longer a mount's root (EINVAL), or one whose
# path we may not look up (EACCES: another user's FUSE mount refuses even root).
_SKIPPED = (errno.ENOENT, errno.ENOTDIR, errno.EINVAL, errno.EACCES)  # a tuple: the sandbox init gets it marshalled


class MountPoint(NamedTuple):
    path: str
    flags: int
    """The MS_* flags its remount repeats (see _OPTION_FLAGS)."""
    readonly: bool


def unescape_mountinfo(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in a path as octal escapes (\\040...)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def mount_points(mountinfo: str) -> list[MountPoint]:
    """Each path a mount sits on, with the options of the one on top there (what a path reaches), in order.

    Mounts stacked on one path (a second /dev/shm on the first) are told apart by their parent: the one on top
    is mounted on the one below, so it is the one no other mount at that path has for parent."""
    at: dict[str, list[tuple[str, str, str]]] = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        at.setdefault(unescape_mountinfo(fields[4]), []).append((fields[0], fields[1], fields[5]))
    points = []
    for path, entries in at.items():
        below = {parent for _, parent, _ in entries}
        top = [options for ident, _, options in entries if ident not in below] or [entries[-1][2]]
        options = top[-1].split(",")
        flags = 0
        for name, flag in _OPTION_FLAGS.items():
            if name in options:
                flags |= flag
        points.append(MountPoint(path, flags, "ro" in options))
    return points


def read_mount_points() -> list[MountPoint]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        return mount_points(fh.read())


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def to_remount(points: Sequence[MountPoint], writable: Sequence[str], replaced: Sequence[str] = (),
               hidden: Sequence[str] = (), own: Sequence[MountPoint] = ()) -> list[MountPoint]:
    """The mount points the step makes read-only: `points` less those left writable (see the module's docstring),
    less those already read-only, less the paths where the namespace put mounts of its own: `replaced` (that path
    only: /etc/hosts, /var under the layout) and `hidden` (with what lies under it: /var/task, /opt), read-only
    already or listed in `own` with their own flags. The host's mounts under /var are bound again at the same
    paths with the same flags, so they stay in the list."""
    kept = [TMP, *_LEFT_WRITABLE, *writable]
    chosen = []
    for point in points:
        if point.readonly or _under(point.path, kept) or point.path in replaced or _under(point.path, hidden):
            continue
        chosen.append(point)
    return chosen + list(own)


def readonly_plan(writable: Sequence[str], replaced: Sequence[str] = (), hidden: Sequence[str] = (),
                  own: Sequence[MountPoint] = (), points: Optional[Sequence[MountPoint]] = None) -> list[tuple]:
    """The steps (namespace_steps.py) last in a new mount namespace: `writable` folders bound on themselves, then
    every other mount point remounted read-only. Computed here, in the host (`points`: its own, read now)."""
    folders = [os.path.realpath(folder) for folder in writable]
    plan = [steps.mount(os.fsencode(folder), os.fsencode(folder), linux.MS_BIND | linux.MS_REC,
                        f"{STEP}: keep {folder} writable") for folder in folders]
    readonly = linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY
    chosen = to_remount(read_mount_points() if points is None else points, folders, replaced, hidden, own)
    return plan + [steps.mount(None, os.fsencode(point.path), readonly | point.flags, f"{STEP}: remount {point.path}",
                               skipped=_SKIPPED) for point in chosen]
