"""The Runtime API transport against raw sockets, for behaviour a polite server never shows."""

from __future__ import annotations

import os
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


@pytest.mark.parametrize("then_next", [False, True])
def test_early_413_on_a_large_body_is_read_not_retried(capsys, then_next):
    """A host may answer 413 from the headers and close without reading the body (a large response never takes
    the next /next along: it would be lost with the connection)."""

    def script(conn, f):
        _read_head(f)
        conn.sendall(NEXT_OK)
        _read_head(f)  # the POST's headers; its 7 MB body is never read
        conn.sendall(b"HTTP/1.1 413 Too Large\r\nContent-Length: 5\r\nConnection: close\r\n\r\nlarge")

    client = RuntimeClient(_one_connection_server(script), one_of_workers=True)  # a worker carries on after a 413
    assert client.next_invocation().request_id == "r1"
    client.post_response("r1", b"x" * 7_000_000, "application/json", then_next)  # must not raise
    assert not client._next_sent
    assert "answered 413: large" in capsys.readouterr().err
    client.close()


def test_a_single_runtime_ends_on_a_refused_response_as_awslambdaric(capsys):
    def script(conn, f):
        _read_head(f)
        conn.sendall(NEXT_OK)
        _read_head(f)
        conn.sendall(b"HTTP/1.1 413 Too Large\r\nContent-Length: 5\r\nConnection: close\r\n\r\nlarge")

    client = RuntimeClient(_one_connection_server(script))
    assert client.next_invocation().request_id == "r1"
    with pytest.raises(RuntimeError, match="^Failed to post invocation response$"):
        client.post_response("r1", b"x" * 7_000_000, "application/json", True)
    assert "LAMBDA_RUNTIME Failed to post handler success response. Http response code: 413. large" in (
        capsys.readouterr().out)
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


def _next_ok(request_id: str) -> bytes:
    return NEXT_OK.replace(b"r1", request_id.encode())


def _read_request(f) -> List[bytes]:
    """A request's head, and its body read by its Content-Length."""
    head = _read_head(f)
    length = next((int(line.split(b":")[1]) for line in head if line.lower().startswith(b"content-length:")), 0)
    return head + [f.read(length)] if length else head


def test_a_small_response_takes_the_next_along_before_its_answer():
    """A server that answers the response only once it has read the /next too: the runtime must have sent both
    (a runtime waiting for the 202 first would wait for good; the server gives up after 10 s and closes)."""
    seen: List[bytes] = []

    def script(conn, f):
        conn.settimeout(10)
        _read_head(f)
        conn.sendall(NEXT_OK)
        seen.extend(_read_request(f))  # the POST, and its body
        seen.extend(_read_head(f))  # the GET, read before the POST is answered
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n" + _next_ok("r2"))

    client = RuntimeClient(_one_connection_server(script))
    assert client.next_invocation().request_id == "r1"
    client.post_response("r1", b'{"ok": 1}', "application/json", then_next=True)
    assert client.next_invocation().request_id == "r2"
    assert seen[0].startswith(b"POST /2018-06-01/runtime/invocation/r1/response ") and b'{"ok": 1}' in seen
    assert any(line.startswith(b"GET /2018-06-01/runtime/invocation/next ") for line in seen)
    client.close()


def test_a_response_answer_that_closes_the_connection_asks_for_next_again():
    """The /next that went along was never read by a server that closed after the response's answer: the runtime
    asks again on a new connection (and gets its event)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2)
    address = "127.0.0.1:%d" % listener.getsockname()[1]
    asked: List[bytes] = []

    def serve() -> None:
        for answer in (b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", None):
            conn, _ = listener.accept()
            conn.settimeout(10)
            f = conn.makefile("rb")
            try:
                asked.append(_read_head(f)[0])
                if answer is None:
                    conn.sendall(_next_ok("r2"))
                    continue
                conn.sendall(NEXT_OK)
                asked.append(_read_request(f)[0])
                conn.sendall(answer)
            finally:
                f.close()
                conn.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    client = RuntimeClient(address)
    assert client.next_invocation().request_id == "r1"
    client.post_response("r1", b"{}", "application/json", then_next=True)
    assert client.next_invocation().request_id == "r2"
    assert [line.split(b" ")[0] for line in asked] == [b"GET", b"POST", b"GET"]
    client.close()


def test_the_globals_report_goes_out_with_its_inspection_and_the_next_before_any_answer():
    """A server that answers nothing before it has read /inspection, the report and the /next behind them: the
    runtime must have sent all three (one waiting for an answer in between would wait for good; the server gives
    up after 10 s and closes)."""
    seen: List[bytes] = []

    def script(conn, f):
        conn.settimeout(10)
        seen.extend(_read_request(f))  # /inspection
        seen.extend(_read_request(f))  # /globals and its body
        seen.extend(_read_head(f))  # the GET
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n" * 2 + _next_ok("r2"))

    client = RuntimeClient(_one_connection_server(script))
    client.report_state(lambda: b'{"globals": {}}', then_next=True)
    assert client.next_invocation().request_id == "r2"
    assert seen[0].startswith(b"POST /lambdatui/v1/inspection ") and b'{"globals": {}}' in seen
    assert any(line.startswith(b"POST /lambdatui/v1/globals ") for line in seen)
    assert any(line.startswith(b"GET /2018-06-01/runtime/invocation/next ") for line in seen)
    client.close()


def test_a_large_globals_report_leaves_the_next_for_its_own_call():
    """A report past the pipelining limit goes out without the /next (a host refusing it early may stop reading);
    its answers are read, and /next is asked on its own afterwards."""
    seen: List[bytes] = []
    large = b'{"globals": "' + b"x" * (70 * 1024) + b'"}'

    def script(conn, f):
        conn.settimeout(10)
        seen.append(_read_request(f)[0])
        seen.append(_read_request(f)[0])
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n" * 2)
        seen.append(_read_head(f)[0])
        conn.sendall(_next_ok("r2"))

    client = RuntimeClient(_one_connection_server(script))
    client.report_state(lambda: large, then_next=True)
    assert client.next_invocation().request_id == "r2"
    assert [line.split(b" ")[1] for line in seen] == [b"/lambdatui/v1/inspection", b"/lambdatui/v1/globals",
                                                       b"/2018-06-01/runtime/invocation/next"]
    client.close()


def _open_descriptors() -> set:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_close_leaves_no_descriptor_of_the_clients_own():
    """A /next waits through the signal wakeup pipe (signal_wait.py), made at the first wait: close() closes it with
    the connection (in-process clients, as the tests make them, left two descriptors each)."""
    served = threading.Event()

    def script(conn, f):
        _read_head(f)
        conn.sendall(NEXT_OK)
        served.wait(10)

    before = _open_descriptors()
    client = RuntimeClient(_one_connection_server(script))
    assert client.next_invocation().request_id == "r1"
    assert len(_open_descriptors() - before) >= 3  # the connection and the pipe's two ends, at least
    client.close()
    served.set()
    left = _open_descriptors() - before
    for fd in list(left):  # the test server's thread may not have closed its own ends yet
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            left.discard(fd)
            continue
        if target.startswith("socket:"):
            left.discard(fd)  # the server's listener or connection, closed by its thread on its own time
    assert left == set(), left
