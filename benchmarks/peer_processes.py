"""The benchmarks' peers as processes: each started in a session of its own, and stopped with whatever it left."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
STOP_GRACE_S = 15.0


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time in clock ticks) of `pid`, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def descendants(root: int) -> list[tuple[int, int]]:
    """Every process below `root` as (pid, start time), deepest last."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            children.setdefault(stat[1], []).append((int(entry), stat[2]))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def terminate(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, as a user stops a server; SIGKILL past `grace_s`; reaped either way."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Processes:
    """Starts the peers; stops each and whatever it left behind, and everything at exit."""

    def __init__(self, grace_s: float = STOP_GRACE_S) -> None:
        self.running: list[subprocess.Popen] = []
        self.grace_s = grace_s  # how long each may take to stop on SIGTERM
        try:  # orphans of the peers become our children, so nothing they leave escapes the sweep
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def start(self, argv: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(log, "ab") as out:
            # Its own session: the terminal's Ctrl-C reaches only us, and we stop it in order.
            proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=env)
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        terminate(proc, self.grace_s)
        if proc in self.running:
            self.running.remove(proc)
        self.sweep()

    def sweep(self, grace_s: float = 5.0) -> None:
        """Whatever a stopped peer left (a watchdog finishing its round): given `grace_s`, then SIGKILLed."""
        deadline = time.monotonic() + grace_s
        while left := self._strays():
            if time.monotonic() > deadline:
                for pid, start in left:
                    if (stat := _stat(pid)) is not None and stat[2] == start:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                deadline = time.monotonic() + grace_s
            time.sleep(0.05)

    def _strays(self) -> list[tuple[int, int]]:
        """Live processes below us that no running peer accounts for; the dead ones among them are reaped."""
        kept = {p.pid for p in self.running}
        for proc in self.running:
            kept.update(pid for pid, _ in descendants(proc.pid))
        left = []
        for pid, start in descendants(os.getpid()):
            if pid in kept:
                continue
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    continue  # an orphan handed to us that has just ended
            except ChildProcessError:
                pass  # not our child: its own parent is still there to reap it
            if (stat := _stat(pid)) is not None and stat[0] != "Z":
                left.append((pid, start))
        return left

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc)
        self.sweep()
