"""A client that half-closes its socket (sends its whole request, then shutdown(SHUT_WR), as HTTP/1.0-style
clients do) is answered by the streaming routes of `lambdatui serve` as by the buffered invoke: a half-close is not
a hang-up. Before, InvokeWithResponseStream and the function URL took the client's FIN for a hang-up, dropped the
stream and closed the connection without a byte.

Real HTTP on loopback to `lambdatui serve` and the streaming sample (a custom runtime). The client half-closes
right after its request: before the function can have streamed anything (that needs the runtime's /next and its
/response, across processes). Every read is bounded by the socket's timeout; nothing sleeps.
"""

from __future__ import annotations

import json
import socket

from botocore.eventstream import EventStreamBuffer

from e2e_support import SAMPLES, ServeProcess

STREAM = SAMPLES / "stream" / "bootstrap"
BOUND_S = 30.0  # a generous bound for what takes well under a second
EVENT = json.dumps({"chunks": 3, "pause_ms": 0}).encode()


def half_closed_request(address: str, request: bytes) -> bytes:
    """Send `request`, shut the sending side, read until the server closes: all it answered."""
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=BOUND_S) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while more := sock.recv(65536):
            received += more
    return received


def post(path: str, body: bytes) -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body)


def dechunked(body: bytes) -> bytes:
    """A chunked body's data, which must end with its last chunk (a body cut short fails here)."""
    data = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert body == b"\r\n", body
            return data
        data, body = data + body[:size], body[size + 2:]


def split_answer(answer: bytes) -> tuple[str, dict[str, str], bytes]:
    assert b"\r\n\r\n" in answer, f"no answer: {answer!r}"
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status, headers, body


def test_a_half_closed_caller_gets_the_stream_as_a_buffered_invoke_gets_its_answer() -> None:
    with ServeProcess(STREAM, "--timeout", "30") as served:
        buffered = split_answer(half_closed_request(served.address,
                                                    post("/2015-03-31/functions/stream/invocations", EVENT)))
        assert buffered[0] == "HTTP/1.1 200 OK" and buffered[2] == b"chunk 0\nchunk 1\nchunk 2\n"

        status, headers, body = split_answer(half_closed_request(
            served.address, post("/2021-11-15/functions/stream/response-streaming-invocations", EVENT)))
        assert status == "HTTP/1.1 200 OK", served.output()
        assert headers["content-type"] == "application/vnd.amazon.eventstream"
        assert headers["transfer-encoding"] == "chunked"
        events = EventStreamBuffer()
        events.add_data(dechunked(body))
        messages = [(message.headers[":event-type"], message.payload) for message in events]
        assert messages == [("PayloadChunk", b"chunk 0\n"), ("PayloadChunk", b"chunk 1\n"),
                            ("PayloadChunk", b"chunk 2\n"), ("InvokeComplete", b"{}")]


def test_a_half_closed_client_gets_the_function_urls_stream() -> None:
    with ServeProcess(STREAM, "--timeout", "30", "--url-port", "0") as served:
        url = served.function_url_address()
        for query in ("chunks=3&pause_ms=0", "html=1&chunks=2&pause_ms=0"):
            request = b"GET /page?%s HTTP/1.1\r\nHost: test\r\n\r\n" % query.encode()
            status, headers, body = split_answer(half_closed_request(url, request))
            assert status == "HTTP/1.1 200 OK", served.output()
            assert headers["transfer-encoding"] == "chunked"
            if "html" in query:  # the prelude's head, then the body after its 8 NUL bytes
                assert headers["content-type"] == "text/html; charset=utf-8"
                assert dechunked(body) == b"<!doctype html><ul>\n<li>chunk 0</li>\n<li>chunk 1</li>\n</ul>\n"
            else:
                assert headers["content-type"] == "text/plain"
                assert dechunked(body) == b"chunk 0\nchunk 1\nchunk 2\n"


def test_a_half_closed_caller_of_the_invoke_apis_app_routes_gets_its_answer() -> None:
    """An invoke with Lambda's options (here `X-Amz-Log-Type: Tail`) is answered by the Invoke API's app (quart,
    api/asgi_adapter.py), whose wait for a disconnect took the half-close for one and cancelled the invoke."""
    with ServeProcess(STREAM, "--timeout", "30") as served:
        request = post("/2015-03-31/functions/stream/invocations", EVENT).replace(
            b"Host: test\r\n", b"Host: test\r\nX-Amz-Log-Type: Tail\r\n")
        status, headers, body = split_answer(half_closed_request(served.address, request))
        assert status == "HTTP/1.1 200 OK", served.output()
        assert "x-amz-log-result" in headers, headers
        if headers.get("transfer-encoding") == "chunked":
            body = dechunked(body)
        assert body == b"chunk 0\nchunk 1\nchunk 2\n"
