"""The server's accepting side (`http11_accept.Acceptor`): the task that accepts a connection serves it, another
accepts meanwhile; `stop` closes the listener and leaves the connections it took; the machine running short of
descriptors is waited out, as trio.serve_listeners waited it out."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest
import trio
import trio.testing

from lambdatui.api.http11_accept import Acceptor
from lambdatui.api.http11_socket import PlainStream, listening_socket

BOUND_S = 5


def _listener() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return listening_socket(sock), sock.getsockname()[1]


async def _exchange(port: int, data: bytes) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(data)
        return await stream.receive_some(100)


@pytest.mark.trio
async def test_a_connection_being_served_does_not_stop_the_next_one_from_being_accepted_and_served() -> None:
    listener, port = _listener()
    first_in, release = trio.Event(), trio.Event()
    tasks: list[trio.lowlevel.Task] = []

    async def handler(stream: PlainStream) -> None:
        tasks.append(trio.lowlevel.current_task())
        data = await stream.receive_some(100)
        if data == b"first":
            first_in.set()
            await release.wait()
        await stream.send_all(b"answer to " + data)

    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            acceptor = Acceptor(listener, handler, nursery)
            nursery.start_soon(acceptor.run)
            answers: dict[str, bytes] = {}
            first_answered = trio.Event()

            async def first() -> None:
                answers["first"] = await _exchange(port, b"first")
                first_answered.set()

            nursery.start_soon(first)
            await first_in.wait()
            assert await _exchange(port, b"second") == b"answer to second"  # while the first one still waits
            release.set()
            await first_answered.wait()
            acceptor.stop()
    assert answers["first"] == b"answer to first"
    assert len(set(tasks)) == 2  # one task for each connection


@pytest.mark.trio
async def test_stop_closes_the_listener_and_the_connection_it_took_goes_on() -> None:
    listener, port = _listener()
    served, release = trio.Event(), trio.Event()

    async def handler(stream: PlainStream) -> None:
        served.set()
        await release.wait()
        await stream.send_all(b"still answered")

    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            acceptor = Acceptor(listener, handler, nursery)
            nursery.start_soon(acceptor.run)
            client = await trio.open_tcp_stream("127.0.0.1", port)
            await served.wait()
            acceptor.stop()
            await trio.testing.wait_all_tasks_blocked()  # the stopped acceptor closes the listener
            assert listener.fileno() == -1
            with pytest.raises(OSError):
                await trio.open_tcp_stream("127.0.0.1", port)
            release.set()
            assert await client.receive_some(100) == b"still answered"
            await client.aclose()


_SHORT_OF_DESCRIPTORS = textwrap.dedent('''
    import logging, os, resource, socket, sys
    import trio
    from lambdatui.api.http11_accept import Acceptor
    from lambdatui.api.http11_socket import listening_socket

    class FreeOne(logging.Handler):
        """At the first complaint, one descriptor comes free: the next try's accept succeeds."""
        def emit(self, record):
            sys.stderr.write(record.getMessage() + "\\n")
            if fillers:
                os.close(fillers.pop())

    fillers = []
    logging.getLogger("lambdatui.http").addHandler(FreeOne())

    async def main():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        listener = listening_socket(sock)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        while True:  # every descriptor taken
            try:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        print(sock.getsockname()[1], flush=True)
        done = trio.Event()

        async def handler(stream):
            await stream.send_all(b"served after the wait")
            done.set()

        async with trio.open_nursery() as nursery:
            acceptor = Acceptor(listener, handler, nursery)
            nursery.start_soon(acceptor.run)
            await done.wait()
            acceptor.stop()

    trio.run(main)
''')


def test_accept_short_of_descriptors_is_waited_out_and_the_connection_then_served() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SHORT_OF_DESCRIPTORS], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=BOUND_S) as client:
            answer = client.recv(100)
        _, err = proc.communicate(timeout=BOUND_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert answer == b"served after the wait"
    assert "accept returned EMFILE (Too many open files); retrying in 0.1 seconds" in err, err
    assert proc.returncode == 0, err


@pytest.mark.trio
async def test_every_connection_has_tcp_nodelay_one_that_waited_in_the_backlog_too() -> None:
    """Without TCP_NODELAY, Nagle's algorithm holds an answer while the peer delays its ACK: ~40 ms per exchange.
    Linux copies it from the listener onto a connection, but only as the connection is made: the early start's
    runtime connects before lambdatui is up (host/early_start.py), so its connection must get it of its own."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    early = socket.create_connection(("127.0.0.1", port))  # waits in the backlog while nothing serves yet
    seen: list[int] = []
    both = trio.Event()

    async def handler(stream: PlainStream) -> None:
        seen.append(stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        if len(seen) == 2:
            both.set()
        await both.wait()

    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            acceptor = Acceptor(listening_socket(sock), handler, nursery)
            nursery.start_soon(acceptor.run)
            late = await trio.open_tcp_stream("127.0.0.1", port)
            await both.wait()
            acceptor.stop()
            await late.aclose()
    early.close()
    assert seen == [1, 1]


class _Spawns(trio.abc.Instrument):
    def __init__(self) -> None:
        self.count = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.count += 1


@pytest.mark.trio
async def test_no_task_is_started_between_a_connections_accept_and_its_handler() -> None:
    """A runtime's first /next is on every cold start's path: the task that accepts it goes straight to reading it.
    Its successor, the next connection's acceptor, was started before the connection came (a task's start, and the
    scheduler pass it brings, are not on the first request's way)."""
    listener, port = _listener()
    spawns = _Spawns()
    seen: list[int] = []

    async def handler(stream: PlainStream) -> None:
        seen.append(spawns.count)
        await stream.send_all(b"served")

    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            acceptor = Acceptor(listener, handler, nursery)
            nursery.start_soon(acceptor.run)
            await trio.testing.wait_all_tasks_blocked()  # the acceptor waits on the listener, its successor its turn
            trio.lowlevel.add_instrument(spawns)
            try:
                # A plain socket's connect (trio's would start tasks of its own): on loopback the kernel completes it
                # from the listener's backlog, without the acceptor.
                with socket.create_connection(("127.0.0.1", port), timeout=BOUND_S) as client:
                    client.setblocking(False)
                    await trio.lowlevel.wait_readable(client)
                    assert client.recv(100) == b"served"
            finally:
                trio.lowlevel.remove_instrument(spawns)
            assert await _exchange(port, b"") == b"served"  # the successor took over: the next one is served too
            acceptor.stop()
    assert seen[0] == 0, "a task was started between the connection's accept and its handler"
