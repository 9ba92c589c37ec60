"""SandboxAccess: a connection is let in when the environment's own processes (those lambdatui started for it)
or their descendants hold its client end: the runtime of a cold start without a walk through every process on
the machine, the function's own child after one walk from the environment's processes; anyone else (another
environment's processes included) is refused."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

from lambdatui.host.sandbox_access import SHOWN_REFUSALS, SandboxAccess
from lambdatui.processes import peers
from lambdatui.processes.socket_holders import SocketHolders

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


def test_refusals_past_the_first_few_are_counted_not_said(connected_grandchild: Connected) -> None:
    # A process that opens a thousand connections must not fill the log with a thousand lines.
    _, _, client, server = connected_grandchild
    refused: list[str] = []
    access = SandboxAccess(refused.append, own=lambda: [])
    assert not any(access(client, server) for _ in range(SHOWN_REFUSALS + 3))
    assert access.refused == SHOWN_REFUSALS + 3 and len(refused) == SHOWN_REFUSALS
    assert "Further refusals are counted, not shown" in refused[-1]
    assert not any("Further" in line for line in refused[:-1])


def test_a_connection_its_holder_has_closed_is_refused_without_blaming_anyone() -> None:
    # A process of the environment's own that gave up (or exited) before the host accepted: no process holds the
    # client end any more, so nobody is let in and nobody is named an outsider.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client_socket = socket.create_connection(listener.getsockname())
        client = client_socket.getsockname()
        client_socket.close()
        conn, _ = listener.accept()
        with conn:
            refused: list[str] = []
            access = SandboxAccess(refused.append, own=lambda: [])
            assert not access(client, listener.getsockname())
    assert refused == [] and access.refused == 0


def test_the_environments_cgroup_lets_in_a_process_that_left_the_tree(connected_grandchild: Connected) -> None:
    _, holder, client, server = connected_grandchild
    refused: list[str] = []
    assert SandboxAccess(refused.append, contained=lambda: [holder], own=lambda: [])(client, server)
    assert refused == []


# A client that holds `sys.argv[2]` more descriptors and, one line of stdin at a time, connects ("connect") or closes
# its last connection ("close"); it says "ok" when done.
HOLDER = """import os, socket, sys
extra = [os.open(os.devnull, os.O_RDONLY) for _ in range(int(sys.argv[2]))]
conns = []
for line in sys.stdin:
    if line.startswith("connect"):
        conns.append(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
    elif line.startswith("close"):
        conns.pop().close()
    print("ok", flush=True)
"""
HELD = 600  # descriptors the holder keeps open besides its connections
Addresses = tuple[tuple[str, int], tuple[str, int]]
Command = Callable[[str], Optional[Addresses]]


class LinkReads:
    """Counts the /proc/PID/fd links read, by process (os.readlink is still the real one)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.by_pid: dict[int, int] = {}
        real = os.readlink

        def counted(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            parts = os.fspath(path).split("/")
            if len(parts) == 5 and parts[1] == "proc" and parts[3] == "fd" and parts[2].isdigit():
                self.by_pid[int(parts[2])] = self.by_pid.get(int(parts[2]), 0) + 1
            return real(path, *args, **kwargs)

        monkeypatch.setattr(os, "readlink", counted)


@pytest.fixture
def holder() -> Iterator[tuple[subprocess.Popen[str], Command]]:
    """The HOLDER process, and a function that sends it a command: for "connect", the new connection's (client,
    server) addresses, once this end has accepted it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(10)
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(listener.getsockname()[1]), str(HELD)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        accepted: list[socket.socket] = []

        def command(line: str) -> Optional[Addresses]:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            assert proc.stdout.readline() == "ok\n"
            if line != "connect":
                return None
            conn, client = listener.accept()
            accepted.append(conn)
            return client, listener.getsockname()

        try:
            yield proc, command
        finally:
            for conn in accepted:
                conn.close()
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(10)
            proc.stdout.close()  # type: ignore[union-attr]


def test_a_connection_costs_a_few_link_reads_however_many_descriptors_its_process_holds(
        holder: tuple[subprocess.Popen[str], Command], monkeypatch: pytest.MonkeyPatch) -> None:
    # Each new connection read every link of its holder's table: n connections from one process cost n².
    proc, command = holder
    refused: list[str] = []
    access = SandboxAccess(refused.append, own=lambda: [proc.pid])
    assert access(*command("connect"))  # the first look at a process reads its table whole
    reads = LinkReads(monkeypatch)
    costs = []
    for step in ("connect", "connect", "close", "connect", "connect"):  # the close frees a number, reused next
        addresses = command(step)
        if addresses is not None:
            before = reads.by_pid.get(proc.pid, 0)
            assert access(*addresses)
            costs.append(reads.by_pid.get(proc.pid, 0) - before)
    assert refused == []
    assert max(costs) < HELD // 10, costs


def test_lambdatuis_own_descriptors_are_not_read_for_an_environments_connection(
        connected_grandchild: Connected, monkeypatch: pytest.MonkeyPatch) -> None:
    # lambdatui holds a descriptor for each client of its Invoke API: thousands, read for each connection before.
    shell, _, client, server = connected_grandchild
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * HELD + 200:
        pytest.skip(f"RLIMIT_NOFILE is {soft}: this process cannot hold {2 * HELD} more descriptors")
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(2 * HELD)]
    try:
        reads = LinkReads(monkeypatch)
        refused: list[str] = []
        assert SandboxAccess(refused.append, own=lambda: [shell])(client, server)  # a descendant of the shell
        assert reads.by_pid.get(os.getpid(), 0) == 0, reads.by_pid
    finally:
        for fd in held:
            os.close(fd)


CONNECT_WHEN_TOLD = ("import socket, sys; sys.stdin.readline(); "
                     "s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); print(flush=True); sys.stdin.read()")


@pytest.fixture
def cgroup_v2():  # type: ignore[no-untyped-def]
    from lambdatui.processes.cgroup import EnvironmentCgroup

    cgroup = EnvironmentCgroup.create()
    if cgroup is None or cgroup.version != 2:
        if cgroup is not None:
            cgroup.remove()
        pytest.skip("no writable cgroup v2 here")
    try:
        yield cgroup
    finally:
        cgroup.remove()


def connected_from(join: Callable[[int], None]) -> Iterator[tuple[int, tuple[str, int], tuple[str, int]]]:
    """A process that makes its connection once `join` has been applied to it: (its pid, client, server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        proc = subprocess.Popen([sys.executable, "-c", CONNECT_WHEN_TOLD, str(listener.getsockname()[1])],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            join(proc.pid)
            proc.stdin.write(b"connect\n")
            proc.stdin.flush()
            listener.settimeout(10)
            conn, client = listener.accept()
            with conn:
                proc.stdout.readline()  # connected: the socket is its own now
                yield proc.pid, client, listener.getsockname()
        finally:
            proc.stdin.close()
            proc.wait(10)
            proc.stdout.close()


def test_a_socket_made_inside_the_environments_cgroup_is_let_in_without_a_look_at_its_holders(
        cgroup_v2, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    looked: list[int] = []
    real_find = SocketHolders.find
    monkeypatch.setattr(SocketHolders, "find", lambda self, inode, groups: looked.append(inode) or real_find(
        self, inode, groups))
    refused: list[str] = []
    # Into the function's cgroup (its runtime's and extensions', inside the environment's), where the id is from.
    for _, client, server in connected_from(lambda pid: Path(cgroup_v2.procs_file).write_text(str(pid))):
        assert peers.client_socket(client, server).cgroup == cgroup_v2.v2_id  # type: ignore[union-attr]
        # Nobody is listed as the environment's: the cgroup alone lets it in.
        assert SandboxAccess(refused.append, own=lambda: [], cgroup=lambda: cgroup_v2.v2_id)(client, server)
    assert looked == [] and refused == []


def test_a_socket_made_outside_the_environments_cgroup_is_traced_to_its_holder(cgroup_v2) -> None:  # type: ignore[no-untyped-def]
    refused: list[str] = []
    for pid, client, server in connected_from(lambda pid: None):
        assert peers.client_socket(client, server).cgroup != cgroup_v2.v2_id  # type: ignore[union-attr]
        assert not SandboxAccess(refused.append, own=lambda: [], cgroup=lambda: cgroup_v2.v2_id)(client, server)
        assert SandboxAccess(refused.append, own=lambda: [pid], cgroup=lambda: cgroup_v2.v2_id)(client, server)
    assert len(refused) == 1
