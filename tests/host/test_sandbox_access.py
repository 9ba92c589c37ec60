"""SandboxAccess: a connection is let in when the environment's own processes (those lambdatui started for it)
or their descendants hold its client end: the runtime of a cold start without a walk through every process on
the machine, the function's own child after one walk from the environment's processes; anyone else (another
environment's processes included) is refused."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Iterator

import pytest

from lambdatui.host.sandbox_access import SandboxAccess
from lambdatui.processes import peers

CLIENT = "import socket, sys; s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); sys.stdin.read()"

Connected = tuple[int, int, tuple[str, int], tuple[str, int]]


@pytest.fixture
def connected_grandchild() -> Iterator[Connected]:
    """A real process holding the client end of a loopback connection, started by a shell that waits for it:
    (the shell's pid, the client's pid, client address, server address)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        shell = subprocess.Popen(["/bin/sh", "-c", f'"{sys.executable}" -c "{CLIENT}" {listener.getsockname()[1]}; :'],
                                 stdin=subprocess.PIPE)
        try:
            listener.settimeout(10)
            conn, client = listener.accept()
            with conn:
                holder = next(iter(peers.descendants([shell.pid])))
                yield shell.pid, holder, client, listener.getsockname()
        finally:
            shell.stdin.close()  # type: ignore[union-attr]
            shell.wait(10)


def test_a_process_lambdatui_started_is_let_in_without_a_walk(connected_grandchild: Connected,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _, holder, client, server = connected_grandchild
    walks: list[list[int]] = []
    real_walk = peers.descendants
    monkeypatch.setattr(peers, "descendants", lambda roots: walks.append(list(roots)) or real_walk(roots))
    refused: list[str] = []
    assert SandboxAccess(refused.append, own=lambda: [holder])(client, server)
    assert walks == [] and refused == []


def test_a_descendant_of_the_environments_processes_is_let_in(connected_grandchild: Connected) -> None:
    shell, _, client, server = connected_grandchild
    refused: list[str] = []
    assert SandboxAccess(refused.append, own=lambda: [shell])(client, server)
    assert refused == []


def test_a_process_outside_the_environment_is_refused_even_a_child_of_lambdatui(
        connected_grandchild: Connected) -> None:
    # The client is this process's (lambdatui's, here) grandchild, as another environment's runtime is: not one
    # of this environment's own processes, nor below them.
    _, _, client, server = connected_grandchild
    refused: list[str] = []
    assert not SandboxAccess(refused.append, own=lambda: [])(client, server)
    assert len(refused) == 1 and "only this environment's own processes" in refused[0]


def test_the_environments_cgroup_lets_in_a_process_that_left_the_tree(connected_grandchild: Connected) -> None:
    _, holder, client, server = connected_grandchild
    refused: list[str] = []
    assert SandboxAccess(refused.append, contained=lambda: [holder], own=lambda: [])(client, server)
    assert refused == []
