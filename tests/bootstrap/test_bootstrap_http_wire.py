"""HTTP/1.1 framing of the bootstrap's raw-socket client (http_wire.py), against real loopback sockets.

Each server is a thread that accepts one connection per script, in order, and runs the
script on it; the test ends by joining it, which re-raises a failure on the server side.
"""

from __future__ import annotations

import re
import socket
import threading
import urllib.parse
from typing import Callable, Dict, List, Optional, Tuple

import pytest

from lambdatui.bootstrap import http_wire
from lambdatui.bootstrap.client import RuntimeApiError, RuntimeClient, quote
from lambdatui.bootstrap.http_wire import ProtocolError, RemoteDisconnected, split_address

WAIT_S = 10.0
NEXT_PATH = "/2018-06-01/runtime/invocation/next"
NEXT_HEAD = b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\n"
ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}"

Script = Callable[[socket.socket, "Request"], None]


class Request(object):
    """The server side of one connection: reads requests off it and records them in `log`."""

    def __init__(self, conn: socket.socket, index: int, log: List[Tuple[int, str, Dict[str, str], bytes]]) -> None:
        self.file = conn.makefile("rb")
        self.index, self.log = index, log

    def read(self) -> Tuple[str, Dict[str, str], bytes]:
        """Request line, fields (lower-cased names) and body; ('', {}, b'') when the client closed."""
        line = self.file.readline().decode("latin-1").rstrip("\r\n")
        headers: Dict[str, str] = {}
        while True:
            field = self.file.readline().decode("latin-1").rstrip("\r\n")
            if not field:
                break
            name, _, value = field.partition(":")
            headers[name.lower()] = value.strip()
        body = self.file.read(int(headers.get("content-length", "0")))
        self.log.append((self.index, line, headers, body))
        return line, headers, body


class ScriptedServer(object):
    def __init__(self, *scripts: Script) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(len(scripts))
        self.listener.settimeout(WAIT_S)  # a client that never connects must not hang the thread
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.requests: List[Tuple[int, str, Dict[str, str], bytes]] = []  # (connection index, ...)
        self.errors: List[BaseException] = []
        self.thread = threading.Thread(target=self._serve, args=(scripts,), daemon=True)
        self.thread.start()

    def _serve(self, scripts: Tuple[Script, ...]) -> None:
        try:
            for index, script in enumerate(scripts):
                conn, _ = self.listener.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.settimeout(WAIT_S)  # if the client misframes, fail (and close) rather than deadlock
                request = Request(conn, index, self.requests)
                try:
                    script(conn, request)
                finally:
                    request.file.close()
                    conn.close()
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self.listener.close()  # a further connection would be refused

    def join(self) -> None:
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive(), "server script did not finish"
        if self.errors:
            raise self.errors[0]


def serve(*scripts: Script) -> Tuple[ScriptedServer, RuntimeClient]:
    server = ScriptedServer(*scripts)
    return server, RuntimeClient(server.address)


def answer(*responses: bytes) -> Script:
    """A script that answers each request it reads with the next of `responses`."""

    def script(conn: socket.socket, request: Request) -> None:
        for response in responses:
            request.read()
            conn.sendall(response)

    return script


def test_content_length_body_and_case_insensitive_repeated_fields():
    response = (
        b"HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: r1\r\nLAMBDA-RUNTIME-DEADLINE-MS: 1234\r\n"
        b"X-Repeated: a\r\nx-repeated: b\r\nLambda-Runtime-Trace-Id: Root=1;\r\n Sampled=1\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    )
    server, client = serve(answer(response, response))
    inv = client.next_invocation()
    assert (inv.request_id, inv.deadline_ms, inv.content_type, inv.body) == ("r1", 1234, "text/plain", b"hello")
    assert inv.trace_id == "Root=1; Sampled=1"  # obs-fold joined with a space
    resp = client._round_trip("GET", NEXT_PATH)
    assert resp.headers["x-repeated"] == "a, b"
    client.close()
    server.join()
    assert {index for index, *_ in server.requests} == {0}, "one kept-alive connection"


def test_of_two_differing_content_length_fields_the_last_one_frames_the_body():
    """AWS's Go Runtime API proxy sample answers with the upstream's stale `content-length` and Go's own, true,
    `Content-Length` after it; awslambdaric's libcurl (7.83.1) reads the last one, and so does this client: the
    event is read whole and the next answer on the connection is framed right."""
    event = b'{"n": 1, "proxied": true}'
    stale_then_true = NEXT_HEAD + b"content-length: 7\r\nContent-Length: %d\r\n\r\n" % len(event) + event
    server, client = serve(answer(stale_then_true, ACCEPTED))
    assert client.next_invocation().body == event
    client.post_response("r1", b"{}", "application/json")  # its 202 read from where the event ended
    client.close()
    server.join()
    assert [index for index, *_ in server.requests] == [0, 0]


def test_chunked_body_with_extensions_and_trailers_keeps_the_connection():
    chunked = NEXT_HEAD + (
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"4;name=value\r\n{\"a\"\r\n"
        b"9\r\n: [1, 2]}\r\n"
        b"0\r\nX-Trailer: ignored\r\n\r\n"
    )
    server, client = serve(answer(chunked, ACCEPTED))
    inv = client.next_invocation()
    assert inv.body == b'{"a": [1, 2]}'
    client.post_response("r1", b"{}", "application/json")
    client.close()
    server.join()
    assert [index for index, *_ in server.requests] == [0, 0]


def test_connection_close_and_http_1_0_bodies_are_read_to_eof_then_a_new_connection_is_used():
    close_no_length = NEXT_HEAD + b"Connection: close\r\n\r\n{\"n\": 1}"
    http_1_0 = b"HTTP/1.0 200 OK\r\nLambda-Runtime-Aws-Request-Id: r2\r\n\r\n{\"n\": 2}"
    server, client = serve(answer(close_no_length), answer(http_1_0), answer(ACCEPTED))
    assert client.next_invocation().body == b'{"n": 1}'
    assert client._conn.sock is None, "closed after a Connection: close answer"
    inv = client.next_invocation()
    assert (inv.request_id, inv.body) == ("r2", b'{"n": 2}')
    client.post_response("r2", b"{}", "application/json")
    client.close()
    server.join()
    assert [index for index, *_ in server.requests] == [0, 1, 2]


@pytest.mark.parametrize(
    "response, kept",
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\n", False),
        (b"HTTP/1.0 200 OK\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n", True),
        (b"HTTP/1.1 200 OK\r\n", True),
    ],
)
def test_connection_close_is_honoured_even_with_a_content_length(response, kept):
    server, client = serve(answer(response + b"Lambda-Runtime-Aws-Request-Id: r1\r\nContent-Length: 2\r\n\r\n{}"))
    assert client.next_invocation().body == b"{}"
    assert (client._conn.sock is not None) == kept
    client.close()
    server.join()


def test_responses_without_a_body_and_interim_1xx_answers():
    no_content = b"HTTP/1.1 204 No Content\r\n\r\n"
    interim_then_next = b"HTTP/1.1 100 Continue\r\n\r\n" + NEXT_HEAD + b"Content-Length: 2\r\n\r\n{}"
    server, client = serve(answer(no_content, interim_then_next))
    client.start_inspection()  # 204 without Content-Length: nothing to read, the connection stays
    assert client.next_invocation().body == b"{}"
    client.close()
    server.join()
    assert [index for index, *_ in server.requests] == [0, 0]


@pytest.mark.parametrize("framing", ["content-length", "chunked", "close"])
def test_a_response_split_byte_by_byte(monkeypatch, framing):
    """Every boundary (status line, fields, CRLFs, chunk sizes, body) may fall between two reads."""
    monkeypatch.setattr(http_wire, "_RECV_SIZE", 1)  # and the client takes at most one byte a read
    body = b'{"key": "value"}'
    if framing == "content-length":
        response = NEXT_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body
    elif framing == "chunked":
        response = NEXT_HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\n" + body[:3] + b"\r\nd\r\n" + body[3:] + b"\r\n0\r\n\r\n"
    else:
        response = NEXT_HEAD + b"Connection: close\r\n\r\n" + body

    def script(conn: socket.socket, request: Request) -> None:
        request.read()
        for i in range(len(response)):
            conn.sendall(response[i : i + 1])

    server, client = serve(script)
    inv = client.next_invocation()
    assert (inv.request_id, inv.body) == ("r1", body)
    client.close()
    server.join()


def test_a_kept_alive_connection_closed_by_the_server_is_retried_once_on_a_new_one():
    def answer_then_close(conn: socket.socket, request: Request) -> None:
        request.read()
        conn.sendall(NEXT_HEAD + b"Content-Length: 2\r\n\r\n{}")
        # returning closes the connection, with no "Connection: close": the stale case

    server, client = serve(answer_then_close, answer(ACCEPTED))
    client.next_invocation()
    assert _wait_until_peer_closed(client._conn.sock)
    client.post_response("r1", b"x" * 100_000, "application/json")
    client.close()
    server.join()
    assert [(index, line.split()[0]) for index, line, *_ in server.requests] == [(0, "GET"), (1, "POST")]
    assert server.requests[1][3] == b"x" * 100_000


def _wait_until_peer_closed(sock: Optional[socket.socket]) -> bool:
    """True once the peer's FIN arrived (a zero-byte peek), without consuming anything."""
    assert sock is not None
    sock.settimeout(WAIT_S)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    finally:
        sock.settimeout(None)


def test_a_stale_connection_is_retried_only_once():
    def answer_then_close(conn: socket.socket, request: Request) -> None:
        request.read()
        conn.sendall(NEXT_HEAD + b"Content-Length: 2\r\n\r\n{}")

    def read_then_close(conn: socket.socket, request: Request) -> None:
        request.read()

    server, client = serve(answer_then_close, read_then_close)
    client.next_invocation()
    assert _wait_until_peer_closed(client._conn.sock)
    with pytest.raises(ConnectionError) as caught:
        client.post_response("r1", b"{}", "application/json")
    assert isinstance(caught.value, RemoteDisconnected)  # not a refused third connection
    assert client._conn.sock is None
    client.close()
    server.join()


@pytest.mark.parametrize(
    "response, message",
    [
        (b"HTPT/1.1 200 OK\r\n\r\n", "malformed status line: 'HTPT/1.1 200 OK'"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line: 'no colon here'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", "connection closed after 5 of 10 body bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size: b'zz'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "chunk data longer"),
        (b"HTTP/1.1 200 OK\r\nContent-Len", "connection closed in the middle of the response head"),
    ],
    ids=["status", "status-code", "field", "content-length", "short-body", "chunk-size", "chunk-data", "short-head"],
)
def test_a_malformed_response_raises_a_clear_error_and_drops_the_connection(response, message):
    server, client = serve(answer(response))
    with pytest.raises(ProtocolError, match=re.escape(message)):
        client.next_invocation()
    assert client._conn.sock is None, "the next call starts on a new connection"
    server.join()


def test_requests_carry_host_and_content_length_and_large_bodies_arrive_whole():
    big = bytes(range(256)) * 24_000  # 6 MB, sent with sendmsg (head and body without a copy)
    server, client = serve(answer(NEXT_HEAD + b"Content-Length: 2\r\n\r\n{}", ACCEPTED, ACCEPTED))
    client.next_invocation()
    client.post_response("r/1 é", big, "application/octet-stream")
    client.start_inspection()
    client.close()
    server.join()
    (_, get, get_headers, _), (_, post, post_headers, post_body), (_, _, inspect_headers, _) = server.requests
    assert get == "GET %s HTTP/1.1" % NEXT_PATH
    assert get_headers == {"host": server.address, "accept-encoding": "identity"}
    assert post == "POST /2018-06-01/runtime/invocation/r%2F1%20%C3%A9/response HTTP/1.1"
    assert post_headers["content-length"] == str(len(big)) and post_headers["content-type"] == "application/octet-stream"
    assert post_body == big
    assert inspect_headers["content-length"] == "0"


def test_a_large_response_body_is_read_whole():
    big = b"[" + b"1," * 3_000_000 + b"1]"
    server, client = serve(answer(NEXT_HEAD + b"Content-Length: %d\r\n\r\n" % len(big) + big))
    assert client.next_invocation().body == big
    client.close()
    server.join()


def test_an_error_status_is_still_framed_correctly():
    server, client = serve(answer(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nboom\r\n0\r\n\r\n"))
    with pytest.raises(RuntimeApiError) as caught:
        client.next_invocation()
    assert (caught.value.status, caught.value.body) == (500, b"boom")
    client.close()
    server.join()


def test_header_injection_is_refused():
    conn = http_wire.Connection("127.0.0.1:1", 1.0)
    conn.sock = socket.socket()  # never used: the check comes before sending
    try:
        with pytest.raises(ValueError, match="Invalid header value"):
            conn.send_request("POST", "/x", b"", {"X-Bad": "a\r\nInjected: yes"})
    finally:
        conn.close()


@pytest.mark.parametrize("text", ["8e1c2a4e-4b1a-4d5b-9a3c-1f2e3d4c5b6a", "a/b c?d#e%f", "é✓", "~._-", ""])
def test_quote_matches_urllib(text):
    assert quote(text) == urllib.parse.quote(text, safe="")


@pytest.mark.parametrize(
    "address, expected",
    [
        ("127.0.0.1:9001", ("127.0.0.1", 9001)),
        ("localhost", ("localhost", 80)),
        ("[::1]:9001", ("::1", 9001)),
        ("[::1]", ("::1", 80)),
        ("host:", ("host", 80)),
    ],
)
def test_split_address(address, expected):
    assert split_address(address) == expected


def test_split_address_refuses_a_nonnumeric_port():
    with pytest.raises(ValueError, match="nonnumeric port"):
        split_address("host:http")


class _PartialSocket(object):
    """Records what is sent; its sendmsg accepts only `accept` bytes, as after a signal or a full buffer."""

    def __init__(self, accept: int) -> None:
        self.accept, self.sent = accept, b""

    def sendmsg(self, buffers: List[bytes]) -> int:
        self.sent += b"".join(buffers)[: self.accept]
        return self.accept

    def sendall(self, data: bytes) -> None:
        self.sent += bytes(data)


@pytest.mark.parametrize("accept", [0, 3, 20, 70_000])
def test_a_partial_sendmsg_is_completed(accept):
    head, body = b"POST / HTTP/1.1\r\n\r\n", bytes(range(256)) * 400
    sock = _PartialSocket(accept)
    http_wire._send_all(sock, head, body)  # type: ignore[arg-type]
    assert sock.sent == head + body
