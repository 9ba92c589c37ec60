"""Request heads in, response heads out (`http11_head`), the sandbox route table, and malformed requests on the
wire: each a 400-class answer with Lambda's JSON error shape, then the connection closes."""

from __future__ import annotations

import json

import pytest
import trio

from http11_support import Client, Routes, serving
from lambdatui.api.http11_head import MAX_HEAD_BYTES, BadRequest, find_head_end, parse_head, render_head
from lambdatui.api.rendering import Answer
from lambdatui.api.sandbox_routes import router


def test_a_runtime_request_head() -> None:
    head = parse_head(b"POST /2018-06-01/runtime/invocation/a%20b/response?x=1 HTTP/1.1\r\nHost: h\r\n"
                      b"Content-Length: 12\r\nContent-Type:  text/plain \r\nX-Twice: one\r\nX-Twice: two")
    assert (head.method, head.path, head.length, head.keep_alive, head.expects_continue) == (
        "POST", "/2018-06-01/runtime/invocation/a b/response", 12, True, False)
    assert head.headers["content-type"] == "text/plain"
    assert head.headers["x-twice"] == "one"  # the first, as quart's request.headers.get gave


@pytest.mark.parametrize(("target", "path", "origin"), [
    ("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next", "/2018-06-01/runtime/invocation/next",
     "/2018-06-01/runtime/invocation/next"),
    ("HTTPS://h:1/a%20b?x=1", "/a b", "/a%20b?x=1"),
    ("http://h?x=1", "/", "/?x=1"),
    ("http://h", "/", "/"),
])
def test_an_absolute_form_target_is_served_as_its_origin_form(target: str, path: str, origin: str) -> None:
    """RFC 9112 §3.2.2: a server must accept a target in absolute form (as Lambda's Go server routes it: by its
    path); the query stays the target's."""
    head = parse_head(f"GET {target} HTTP/1.1\r\nHost: h".encode())
    assert (head.path, head.target) == (path, origin)


def test_bare_line_feeds_and_http_1_0() -> None:
    head = parse_head(b"GET /next HTTP/1.0\nUser-Agent: x")
    assert (head.path, head.length, head.keep_alive) == ("/next", 0, False)


def test_chunked_wins_over_content_length_and_connection_tokens_join() -> None:
    head = parse_head(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: Chunked\r\n"
                      b"Connection: keep-alive\r\nConnection: close")
    assert head.length is None and not head.keep_alive


def test_the_end_of_a_head_is_found_across_reads() -> None:
    buffer = bytearray(b"GET / HTTP/1.1\r\nHost: h\r\n\r")
    assert find_head_end(buffer, 0) is None
    buffer += b"\nbody"
    assert find_head_end(buffer, len(buffer) - 8) == (23, 27)


@pytest.mark.parametrize(("block", "status", "error_type"), [
    (b"GET /next", 400, "InvalidRequestFormat"),
    (b"GET  /next HTTP/1.1\r\nHost: h", 400, "InvalidRequestFormat"),
    (b"GET /n\x80xt HTTP/1.1\r\nHost: h", 400, "InvalidRequestFormat"),
    (b"GET /next HTTP/1.1\r\nHost : h", 400, "InvalidRequestFormat"),
    (b"GET /next HTTP/1.1\r\nHost: h\r\n folded", 400, "InvalidRequestFormat"),
    (b"GET /next HTTP/1.1\r\nHost: h\r\nNo-Colon", 400, "InvalidRequestFormat"),
    (b"GET /next HTTP/1.1\r\nHost: h\x00", 400, "InvalidRequestFormat"),
    (b"GET /next HTTP/1.1\r\nHost: h\rX: y", 400, "InvalidRequestFormat"),
    (b"GET /next HTTP/1.1", 400, "InvalidRequestFormat"),
    (b"GET /next HTTP/1.1\r\nHost: a\r\nHost: b", 400, "InvalidRequestFormat"),
    (b"POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2", 400, "InvalidRequestFormat"),
    (b"POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: -1", 400, "InvalidRequestFormat"),
    (b"POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: \xb2", 400, "InvalidRequestFormat"),
    (b"POST /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked", 501, "NotImplemented"),
    (b"GET /next HTTP/2.0\r\nHost: h", 505, "HTTPVersionNotSupported"),
])
def test_malformed_heads_are_refused(block: bytes, status: int, error_type: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_head(block)
    answer = refused.value.answer()
    assert (answer.status, json.loads(answer.body)["errorType"]) == (status, error_type)


def test_equal_content_lengths_are_one() -> None:
    assert parse_head(b"POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2").length == 2


def test_a_response_head() -> None:
    head = render_head(202, [("Content-Type", "application/json")], 15, "Mon, 30 Nov 2026 16:05:51 GMT", True)
    assert head == (b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"
                    b"Date: Mon, 30 Nov 2026 16:05:51 GMT\r\nConnection: close\r\n\r\n")


async def _answer(path: str) -> Answer:
    return Answer(200, (), path.encode())


def test_the_route_table_resolves_fixed_and_templated_paths_404_and_405() -> None:
    fixed = ("GET", "/2018-06-01/runtime/invocation/next")
    resolve = router([
        (*fixed, "next"),  # type: ignore[list-item]
        ("POST", "/2018-06-01/runtime/invocation/<request_id>/response", "response"),  # type: ignore[list-item]
    ])
    assert resolve(*fixed) == ("next", ())
    assert resolve("POST", "/2018-06-01/runtime/invocation/abc/response") == ("response", ("abc",))
    assert resolve("POST", "/2018-06-01/runtime/invocation/next/response") == ("response", ("next",))
    not_found, not_allowed = resolve("GET", "/2018-06-01/runtime/invocation/a/b/response"), resolve("POST", fixed[1])
    assert not_found[0] is not not_allowed[0]
    # An empty id is an id, as RAPID's router takes it: its check refuses it (400 InvalidRequestID), not a 404.
    assert resolve("POST", "/2018-06-01/runtime/invocation//response") == ("response", ("",))
    assert resolve("GET", "/2018-06-01/runtime/invocation/abc/response")[0] is not_allowed[0]


@pytest.mark.trio
@pytest.mark.parametrize(("raw", "status"), [
    (b"NOT HTTP AT ALL\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET /echo HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n", 400),
    (b"POST /plain HTTP/1.1\r\nHost: h\r\nContent-Length: nope\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1\r\nHost: h\r\nX: " + b"x" * MAX_HEAD_BYTES + b"\r\n\r\n", 431),
    (b"GET /echo HTTP/1.1\r\nHost: h\r\nX: " + b"x" * MAX_HEAD_BYTES, 431),  # no end in sight
], ids=["garbage", "no-host", "space-in-name", "bad-length", "head-too-large", "endless-head"])
async def test_malformed_requests_on_the_wire_get_json_and_a_close(raw: bytes, status: int) -> None:
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        await client.send(raw)
        answer_status, headers, body = await client.answer()
        assert answer_status == status and headers["connection"] == "close"
        assert set(json.loads(body)) == {"errorMessage", "errorType"}
        with trio.fail_after(5):
            assert await client.closed_by_server()
        assert routes.seen == []


@pytest.mark.trio
@pytest.mark.parametrize(("method", "path", "status", "error_type"), [
    ("GET", "/nowhere", 404, "NotFound"),
    ("GET", "/echo/a%2Fb", 404, "NotFound"),  # decoded before routing, as hypercorn did: two segments
    ("DELETE", "/echo", 405, "MethodNotAllowed"),
])
async def test_unknown_paths_and_methods_answer_json_and_keep_the_connection(
        method: str, path: str, status: int, error_type: str) -> None:
    async with serving(Routes()) as address:
        client = await Client.connect(address)
        await client.send(f"{method} {path} HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        answer_status, headers, body = await client.answer()
        assert (answer_status, json.loads(body)["errorType"]) == (status, error_type)
        assert headers["content-type"] == "application/json" and "connection" not in headers
        await client.send(b"GET /echo HTTP/1.1\r\nHost: h\r\n\r\n")
        assert (await client.answer())[0] == 200


def test_a_header_value_no_encoding_takes_still_renders() -> None:
    """A function named after a folder whose name is not UTF-8 (its bytes kept as surrogates) goes out as those
    bytes; a lone surrogate that stands for no byte as U+FFFD: the head is written either way."""
    arn = "arn:aws:lambda:us-east-1:012345678912:function:caf\udce9"
    head = render_head(200, [("Lambda-Runtime-Invoked-Function-Arn", arn), ("X-Odd", "a\ud800b")], 0, "d", False)
    assert b"function:caf\xe9\r\n" in head
    assert "X-Odd: a\ufffdb\r\n".encode() in head
