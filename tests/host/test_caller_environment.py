"""CallerEnvironments where no cgroup v2 tells whose a call is: the process that holds its socket, and where it
lives in the process tree. A SnapStart copy is a fork of the snapshot's runtime, so it and what it starts are below
the snapshot environment's processes as much as below their own environment's: they are the copy's environment's.

The tree is real (a "snapshot runtime" that forks a "copy" with a child of its own, and a child of its own besides),
each process holding a loopback connection to this test's listener; the environments are plain objects with the
pids lambdatui would have started for them."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Iterator, Optional

import pytest

from lambdatui.host.caller_environment import CallerEnvironments

BOUND_S = 10.0

# Each process connects only once its own forks are made (a socket made before a fork would be shared), says who it
# is, and waits for the end of stdin (every process shares the test's pipe); each reaps its children.
TREE = r'''
import os, socket, sys

def connect(role):
    held = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    held.sendall(("%s %d\n" % (role, os.getpid())).encode())
    sys.stdin.buffer.read()
    while True:
        try:
            os.wait()
        except ChildProcessError:
            os._exit(0)

if os.fork() == 0:
    connect("snapshot-child")
if os.fork() == 0:
    if os.fork() == 0:
        connect("copy-child")
    connect("copy")
connect("snapshot")
'''


@dataclass
class _Environment:
    started: list[int]
    restore_source: Optional["_Environment"] = None
    contained: list[int] = field(default_factory=list)

    def started_pids(self) -> list[int]:
        return self.started

    def contained_pids(self) -> list[int]:
        return self.contained

    def cgroup_v2_id(self) -> Optional[int]:
        return None  # no cgroup of its own: the holders tell


Tree = tuple[int, dict[str, tuple[int, tuple[str, int]]], tuple[str, int]]


@pytest.fixture
def tree() -> Iterator[Tree]:
    """(the snapshot runtime's pid, each role's pid and client address, the server's address)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(BOUND_S)
        snapshot = subprocess.Popen([sys.executable, "-c", TREE, str(listener.getsockname()[1])], stdin=subprocess.PIPE)
        accepted: list[socket.socket] = []
        try:
            roles = {}
            for _ in range(4):
                conn, client = listener.accept()
                accepted.append(conn)
                conn.settimeout(BOUND_S)
                role, pid = conn.makefile().readline().split()
                roles[role] = (int(pid), client)
            yield snapshot.pid, roles, listener.getsockname()
        finally:
            snapshot.stdin.close()  # type: ignore[union-attr]
            snapshot.wait(BOUND_S)
            for conn in accepted:
                conn.close()


def test_a_copy_and_its_child_belong_to_the_copys_environment_wherever_they_call(tree: Tree) -> None:
    snapshot_pid, roles, server = tree
    snapshot = _Environment([snapshot_pid])
    restored = _Environment([roles["copy"][0]], restore_source=snapshot)
    unrelated = _Environment([], restore_source=snapshot)  # another copy's environment, its runtime gone
    callers = CallerEnvironments(lambda: [snapshot, restored, unrelated])
    whose = {role: callers.environment_of(snapshot, client, server) for role, (_, client) in roles.items()}
    assert whose == {"snapshot": snapshot, "snapshot-child": snapshot, "copy": restored, "copy-child": restored}
    # At the copy's own server too, the copy's child is its own, not the snapshot's it also descends from.
    assert callers.environment_of(restored, roles["copy-child"][1], server) is restored
    assert callers.environment_of(restored, roles["snapshot-child"][1], server) is snapshot


def test_a_caller_found_nowhere_is_taken_as_the_servers(tree: Tree) -> None:
    _, roles, server = tree
    alone = _Environment([])
    assert CallerEnvironments(lambda: [alone]).environment_of(alone, roles["copy"][1], server) is alone
