"""Kill lambdatui's process groups when lambdatui dies, however it dies.

Run as a separate program (`python -I -S watchdog.py`), standard library only,
Python 3.9+. The host writes "+<pgid>" when a group starts and "-<pgid>" when it
is gone into our stdin. Only the host holds the write end, so end of file means
the host is gone (exit, crash, SIGKILL): every group still listed is SIGKILLed.
The parent-death signal alone cannot do this: it reaches only the host's direct
children, never the grandchildren they started in the same group.
"""

# signal's C module: `signal` imports enum, half of this program's start on every lambdatui start.
import _signal
import os
import sys
import time


def main() -> int:
    # We live in our own session; still, a terminal's job-control signals must
    # never take the watchdog down before the host.
    for name in ("SIGINT", "SIGHUP", "SIGQUIT", "SIGTSTP", "SIGTTIN", "SIGTTOU"):
        _signal.signal(getattr(_signal, name), _signal.SIG_IGN)
    groups = set()
    cgroups = set()
    pending = b""
    while True:
        try:
            chunk = os.read(0, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.startswith(b"c"):
                path = line[1:].decode(errors="replace")
                if path.startswith("/sys/fs/cgroup/") and "/../" not in path:
                    cgroups.add(path)
                continue
            try:
                pgid = int(line[1:])
            except ValueError:
                continue
            if pgid <= 1:
                continue  # never signal "every process" or init, whatever arrives
            if line.startswith(b"+"):
                groups.add(pgid)
            elif line.startswith(b"-"):
                groups.discard(pgid)
    # SIGKILL needs no SIGCONT: it ends stopped (frozen) processes too.
    for pgid in groups:
        try:
            os.killpg(pgid, _signal.SIGKILL)
        except OSError:
            pass
    for path in cgroups:
        kill_cgroup(path)
    return 0


def kill_cgroup(path):
    """Everything in the environment's cgroup, daemons that left their group included, and in the cgroups a
    function made inside it; then those cgroups, deepest first, and the environment's."""
    if not os.path.isdir(path):
        return  # gone already
    # Walked without recursion, as a function may nest cgroups deeper than Python's recursion limit (os.walk
    # recursed once per level: the watchdog died there, before removing anything).
    folders = [path]
    index = 0
    while index < len(folders):
        try:
            with os.scandir(folders[index]) as entries:
                folders += [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
        except OSError:
            pass
        index += 1
    folders.reverse()  # deepest first, `path` last
    for _ in range(200):  # bounded: about 2 s
        pids = []
        for folder in folders:
            try:
                with open(os.path.join(folder, "cgroup.procs")) as fh:
                    pids += [int(line) for line in fh if line.strip()]
            except (OSError, ValueError):
                pass
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, _signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            pass


def program(argv: list) -> None:
    # Nothing is left to flush or finalise, and lambdatui's exit waits for ours: skip the interpreter's teardown.
    os._exit(main())


if __name__ == "__main__":
    program(sys.argv)
