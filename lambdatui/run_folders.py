"""The run's own folder (environments' /tmp, layers, stacks), under the user's state folder; and the
folders of runs that died without removing theirs. Without trio: the early start (host/early_start.py) makes it."""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Callable

from lambdatui.config_error import ConfigError
from lambdatui.processes.tree_removal import remove_tree_reporting


def shared_folders() -> tuple[str, ...]:
    """Where a user without a writable home keeps its runs, in this order. Asked only then: the temporary folder's
    lookup writes a file there and removes it (tempfile tries it), which a start need not do."""
    return ("/var/tmp", tempfile.gettempdir())


def state_root() -> Path:
    """Where runs keep their folders (environments' /tmp, stack dumps, exit codes): the user's state folder.

    A user without a writable home (a service account) gets a folder of its own in a shared temporary folder:
    /var/tmp first, since the sandbox mounts each environment's own /tmp over /tmp, where the runtime would then
    not find its stack and exit files (the sandbox says so, and does not isolate /tmp, when the folder is there).
    """
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    root = Path(base) / "lambdatui"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK | os.X_OK):
            return root
        # Another user's, as `sudo -E lambdatui` leaves it (HOME kept): passed over as an unwritable home is.
        problems = [f"{root}: not writable by this user"]
    except OSError as exc:
        problems = [f"{root}: {exc.strerror or exc}"]
    for shared in shared_folders():
        root = Path(shared) / f"lambdatui-{os.getuid()}"
        try:
            return _own_private_folder(root)
        except OSError as exc:
            problems.append(f"{root}: {exc.strerror or exc}")
    raise ConfigError(f"no folder for lambdatui's runs ({'; '.join(problems)}): set XDG_STATE_HOME to a folder "
                      "you can write to")


def _own_private_folder(path: Path) -> Path:
    """`path`, made if missing, once it is a folder of this user's that nobody else may enter: in a shared folder
    anyone could have made it first, and whoever owns it could replace what the runs keep there (an environment's
    /etc/hosts and /tmp among them)."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(errno.EPERM, f"not a private folder of this user's (owner uid {info.st_uid}, mode "
                                   f"{stat.S_IMODE(info.st_mode):o}): remove it")
    return path


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
    path = root / f"run-{os.getpid()}-{os.urandom(4).hex()}"
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
