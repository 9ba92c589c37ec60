"""peers.client_socket: the inode of a loopback connection's client end and the cgroup it was made in, from the
kernel's sock_diag, and the inode from /proc/net/tcp where that cannot be asked (real sockets, real /proc)."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from typing import Iterator

import pytest

from lambdatui.processes import peers

Connection = tuple[socket.socket, tuple[str, int], tuple[str, int]]


@contextmanager
def loopback_connection() -> Iterator[Connection]:
    """(the client's socket, its address, the server's address) of a live loopback connection."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            accepted, address = listener.accept()
            with accepted:
                yield client, address, listener.getsockname()


@pytest.fixture
def connection() -> Iterator[Connection]:
    with loopback_connection() as made:
        yield made


def test_the_kernel_names_the_client_ends_inode(connection: Connection) -> None:
    client, address, server = connection
    assert peers.client_socket(address, server).inode == os.fstat(client.fileno()).st_ino  # type: ignore[union-attr]
    assert peers._DIAG.look(address, server).inode == os.fstat(client.fileno()).st_ino  # type: ignore[union-attr]


def test_the_table_gives_the_same_answer(connection: Connection) -> None:
    client, address, server = connection
    assert peers._listed_inode(address, server) == os.fstat(client.fileno()).st_ino


def test_without_netlink_the_table_answers(connection: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    client, address, server = connection

    def no_netlink(*args: object) -> socket.socket:
        raise PermissionError("netlink refused")

    monkeypatch.setattr(peers.socket, "socket", no_netlink)
    monkeypatch.setattr(peers._DIAG, "sock", None)  # not the one an earlier look left open
    assert peers.client_socket(address, server) == (os.fstat(client.fileno()).st_ino, None)


def test_a_connection_that_does_not_exist_has_no_inode(connection: Connection) -> None:
    _, address, server = connection
    assert peers.client_socket(address, (server[0], server[1] ^ 1)) is None


def test_an_answer_left_unread_is_not_taken_for_the_next(connection: Connection) -> None:
    """The netlink socket stays open between looks: an answer a look left unread (cut short) is another
    connection's, and the next look tells it from its own."""
    client, address, server = connection
    with loopback_connection() as (other_client, other_address, other_server):
        assert peers._DIAG.look(other_address, other_server).inode == os.fstat(other_client.fileno()).st_ino  # type: ignore[union-attr]
        assert peers._DIAG.sock is not None  # kept open
        peers._DIAG.sock.send(peers._request(other_address, other_server, peers._DIAG.sequence))
        assert peers._DIAG.look(address, server).inode == os.fstat(client.fileno()).st_ino  # type: ignore[union-attr]
