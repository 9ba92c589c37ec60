"""The Runtime API transport against raw sockets, for behaviour a polite server never shows."""

from __future__ import annotations

import socket
import threading
from typing import Callable, List

import pytest

from lambdatui.bootstrap.client import RuntimeApiError, RuntimeClient

NEXT_OK = b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\nContent-Length: 2\r\n\r\n{}"


def _read_head(f) -> List[bytes]:
    lines = []
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            return lines
        lines.append(line)


def _one_connection_server(script: Callable[[socket.socket, object], None]) -> str:
    """Accept exactly one connection, run `script` on it, then stop listening."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    address = "127.0.0.1:%d" % listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        listener.close()  # a retry on a new connection would be refused
        f = conn.makefile("rb")
        try:
            script(conn, f)
        finally:
            f.close()
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return address


def test_early_413_on_a_large_body_is_read_not_retried(capsys):
    """A host may answer 413 from the headers and close without reading the body."""

    def script(conn, f):
        _read_head(f)
        conn.sendall(NEXT_OK)
        _read_head(f)  # the POST's headers; its 7 MB body is never read
        conn.sendall(b"HTTP/1.1 413 Too Large\r\nContent-Length: 5\r\nConnection: close\r\n\r\nlarge")

    client = RuntimeClient(_one_connection_server(script))
    assert client.next_invocation().request_id == "r1"
    client.post_response("r1", b"x" * 7_000_000, "application/json")  # must not raise
    assert "answered 413: large" in capsys.readouterr().err
    client.close()


def test_next_with_an_error_status_raises():
    def script(conn, f):
        _read_head(f)
        conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")

    client = RuntimeClient(_one_connection_server(script))
    with pytest.raises(RuntimeApiError) as caught:
        client.next_invocation()
    assert caught.value.status == 500
    client.close()


def test_next_without_a_request_id_raises():
    def script(conn, f):
        _read_head(f)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    client = RuntimeClient(_one_connection_server(script))
    with pytest.raises(RuntimeApiError):
        client.next_invocation()
    client.close()


def test_a_fresh_connection_that_is_dropped_is_not_retried():
    def script(conn, f):
        _read_head(f)  # then close without answering

    client = RuntimeClient(_one_connection_server(script))
    with pytest.raises(ConnectionError):
        client.next_invocation()
    client.close()


def test_no_server_raises():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    address = "127.0.0.1:%d" % listener.getsockname()[1]
    listener.close()
    with pytest.raises(ConnectionRefusedError):
        RuntimeClient(address).next_invocation()


def test_connection_has_nagle_off_and_no_read_timeout():
    """Latency: Nagle + delayed ACK would add ~40 ms; /next may block for hours."""

    def script(conn, f):
        _read_head(f)
        conn.sendall(NEXT_OK)

    client = RuntimeClient(_one_connection_server(script))
    client.next_invocation()
    sock = client._conn.sock
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert sock.gettimeout() is None
    client.close()
