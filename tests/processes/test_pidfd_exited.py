"""A pidfd keeps naming the process it was opened for: once that process has ended (a zombie, or reaped by someone
else, as the sandbox init reaps the runtime), `pidfd_exited` says so, though its pid may be another process's by
then. The sandbox's access check leans on it: a stranger that takes an ended runtime's pid before the host has heard
of the end is not the runtime (tests/probe/test_probe_sandbox_access.py)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from lambdatui.processes.linux import open_pidfd, pidfd_exited


def test_a_pidfd_says_when_its_process_has_ended_zombie_or_reaped() -> None:
    child = subprocess.Popen(["sleep", "30"])
    pidfd = open_pidfd(child.pid)
    if pidfd is None:
        child.kill()
        child.wait()
        pytest.skip("no pidfds on this kernel")
    try:
        assert not pidfd_exited(pidfd)
        os.kill(child.pid, signal.SIGKILL)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: a zombie
        assert pidfd_exited(pidfd)
        child.wait()  # reaped: the pid is free for anyone
        assert pidfd_exited(pidfd)
    finally:
        os.close(pidfd)
