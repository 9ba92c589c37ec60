"""SandboxAccess asks the processes lambdatui started for the environment first: a runtime's connection (every
cold start) is let in without walking every process on the machine; anyone else is still traced as before."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from lambdatui.host.sandbox_access import SandboxAccess
from lambdatui.processes import peers

CLIENT = "import socket, sys; s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); sys.stdin.read()"


@pytest.fixture
def connected_child():
    """A real child process holding the client end of a loopback connection: (pid, client, server address)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        child = subprocess.Popen([sys.executable, "-c", CLIENT, str(listener.getsockname()[1])],
                                 stdin=subprocess.PIPE)
        try:
            listener.settimeout(10)
            conn, client = listener.accept()
            with conn:
                yield child.pid, client, listener.getsockname()
        finally:
            child.stdin.close()  # type: ignore[union-attr]
            child.wait(10)


def test_a_process_lambdatui_started_is_let_in_without_a_walk(connected_child, monkeypatch) -> None:
    pid, client, server = connected_child
    walks: list[int] = []
    real_walk = peers.descendants
    monkeypatch.setattr(peers, "descendants", lambda root: walks.append(root) or real_walk(root))
    refused: list[str] = []
    assert SandboxAccess(refused.append, spawned=lambda: [pid])(client, server)
    assert walks == [] and refused == []
    # Not named as started for the environment: the walk through lambdatui's descendants finds it, as before.
    assert SandboxAccess(refused.append, spawned=lambda: [])(client, server)
    assert len(walks) == 1 and refused == []


def test_a_connection_that_cannot_be_traced_is_refused(connected_child) -> None:
    _, client, server = connected_child
    refused: list[str] = []
    # The real child is lambdatui's (this test's) descendant: claim another server port so no socket matches.
    assert not SandboxAccess(refused.append, spawned=lambda: [1])(client, (server[0], server[1] ^ 1))
    assert len(refused) == 1 and "only this environment's own processes" in refused[0]
