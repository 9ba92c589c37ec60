"""The host's own children as its threads' `children` lists name them (processes/linux.py `_own_children`): what the
reaping of an ended keeper's processes reads, where it read every process's stat file before."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from lambdatui.processes.linux import _own_children, reap_adopted_group

SLEEPER = [sys.executable, "-c", "import sys; sys.stdin.read()"]


def test_children_forked_by_any_thread_are_named_and_no_one_else() -> None:
    mine = [subprocess.Popen(SLEEPER, stdin=subprocess.PIPE)]
    other_thread: list[subprocess.Popen[bytes]] = []
    forker = threading.Thread(target=lambda: other_thread.append(subprocess.Popen(SLEEPER, stdin=subprocess.PIPE)))
    forker.start()
    forker.join()
    # The thread that forked it has ended: its child is another thread's now, as an adopted orphan is.
    try:
        children = _own_children()
        assert {p.pid for p in (*mine, *other_thread)} <= set(children)
        assert os.getpid() not in children and os.getppid() not in children and 1 not in children
    finally:
        for proc in (*mine, *other_thread):
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=10)


def test_an_ended_child_in_the_group_is_reaped_and_a_running_one_reported() -> None:
    leader = subprocess.Popen(SLEEPER, stdin=subprocess.PIPE, process_group=0)
    member = subprocess.Popen(SLEEPER, stdin=subprocess.PIPE, process_group=leader.pid)
    try:
        assert reap_adopted_group(leader.pid) is True  # the member runs
        member.stdin.close()  # type: ignore[union-attr]
        os.waitid(os.P_PID, member.pid, os.WEXITED | os.WNOWAIT)  # ended, not yet reaped: a zombie
        assert reap_adopted_group(leader.pid) is False
        assert member.pid not in _own_children()  # reaped by it
    finally:
        leader.stdin.close()  # type: ignore[union-attr]
        leader.wait(timeout=10)
        if member.returncode is None:
            try:
                member.wait(timeout=10)
            except ChildProcessError:
                pass
