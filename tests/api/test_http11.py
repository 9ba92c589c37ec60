"""The sandbox's HTTP/1.1 server (issue 9): framing, keep-alive, bodies, long polls, refusals, bugs.

Each test serves test routes (`http11_support`) on loopback in its own trio run and speaks raw HTTP/1.1 to them.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

import pytest
import trio
import trio.testing

from http11_support import LIMIT, Client, Routes, get, post, serving
from lambdatui.api import http11
from lambdatui.api.hangups import HangupMonitor
from lambdatui.api.rendering import Answer

BOUND_S = 5


@pytest.fixture(params=["epoll", "task"])
def watcher(request, monkeypatch) -> str:
    """Both ways a long poll watches its socket: the server's epoll monitor (Linux), a task per poll (elsewhere)."""
    if request.param == "epoll" and not HangupMonitor.available():
        pytest.skip("no epoll with EPOLLRDHUP here")
    if request.param == "task":
        monkeypatch.setattr(HangupMonitor, "available", staticmethod(lambda: False))
    return request.param


@asynccontextmanager
async def parked_on(request: bytes) -> AsyncIterator[tuple[Routes, Client]]:
    """A client whose request (a long poll: /poll or /early) is parked in its route; the whole test bounded."""
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        await client.send(request)
        with trio.fail_after(BOUND_S):
            await routes.poll.parked.wait()
            yield routes, client


@pytest.mark.trio
async def test_keep_alive_serves_many_requests_on_one_connection_and_never_closes_it(autojump_clock) -> None:
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        for n in range(1500):  # hypercorn closed a connection after 1,000 requests by default
            await client.send(get(f"/echo/{n}"))
            status, headers, body = await client.answer()
            assert status == 200 and json.loads(body)["params"] == [str(n)]
            assert "connection" not in headers
        await trio.sleep(24 * 3600)  # a day of (mock) idleness: no timer of ours closes a connection
        await client.send(get("/echo"))
        assert (await client.answer())[0] == 200


@pytest.mark.trio
async def test_pipelined_requests_are_answered_in_order() -> None:
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        await client.send(b"\r\n" + get("/echo/1") + post("/echo/2", b"two") + get("/echo/3"))
        answers = [json.loads((await client.answer())[2]) for _ in range(3)]
        assert [(a["method"], a["params"], a["body"]) for a in answers] == [
            ("GET", ["1"], ""), ("POST", ["2"], "two"), ("GET", ["3"], "")]


@pytest.mark.trio
async def test_requests_pipelined_and_answered_at_once_still_let_other_tasks_run() -> None:
    """A route answered without a checkpoint (EnvironmentHost.request, once the core answers at once) and requests
    already in the buffer pass no scheduler point: a caller pipelining hundreds must not hold the host's other tasks
    (a deadline, another connection, the debugger) until its last answer is written."""
    routes = Routes()
    seen_meanwhile: list[int] = []
    count = 3 * http11._YIELD_AT_MOST
    answers: list[list[str]] = []

    async def read_answers(client: Client) -> None:  # as they come: unread, they would fill the socket's buffers
        for _ in range(count):
            answers.append(json.loads((await client.answer())[2])["params"])

    async with serving(routes) as address:
        client = await Client.connect(address)
        await client.send(b"".join(get(f"/echo/{n}") for n in range(count)))  # ~30 KB: one read, all in the buffer
        with trio.fail_after(BOUND_S):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_answers, client)
                while len(routes.seen) < count:
                    seen_meanwhile.append(len(routes.seen))
                    await trio.sleep(0)
    assert answers == [[str(n)] for n in range(count)]  # all of them, in order
    # This task ran at least every other batch of 257 (trio runs a batch's tasks in random order); the server used to
    # handle all that one read held before anything else ran.
    steps = [after - before for before, after in zip(seen_meanwhile, seen_meanwhile[1:] + [count])]
    assert max(steps) <= 2 * (http11._YIELD_AT_MOST + 1), seen_meanwhile


@pytest.mark.trio
@pytest.mark.parametrize("request_bytes", [
    b"GET /echo HTTP/1.0\r\n\r\n",
    get("/echo", "Connection: close"),
    get("/echo", "Connection: keep-alive, Close"),
], ids=["http-1.0", "connection-close", "close-among-tokens"])
async def test_connection_close_and_http_1_0_close_after_the_answer(request_bytes: bytes) -> None:
    async with serving(Routes()) as address:
        client = await Client.connect(address)
        await client.send(request_bytes)
        status, headers, _ = await client.answer()
        assert status == 200 and headers["connection"] == "close"
        with trio.fail_after(BOUND_S):
            assert await client.closed_by_server()


@pytest.mark.trio
async def test_a_peer_that_hangs_up_between_requests_is_closed_at_once() -> None:
    async with serving(Routes()) as address:
        client = await Client.connect(address)
        await client.send(get("/echo"))
        await client.answer()
        await client.stream.send_eof()
        with trio.fail_after(BOUND_S):
            assert await client.closed_by_server()  # the server closed its socket too: no descriptor left behind


@pytest.mark.trio
async def test_an_https_client_is_answered_at_once_not_after_the_idle_limit() -> None:
    """A TLS ClientHello (curl https://... on the plain-HTTP port) has no line end: answered 400 and closed at once,
    which the client reports as a wrong protocol, where it waited for the 75 s idle limit."""
    async with serving(Routes()) as address:
        client = await Client.connect(address)
        await client.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)))
        with trio.fail_after(BOUND_S):
            status, headers, body = await client.answer()
            assert status == 400 and headers["connection"] == "close"
            assert "TLS handshake" in json.loads(body)["errorMessage"]
            assert await client.closed_by_server()


@pytest.mark.trio
async def test_bodies_up_to_the_limit_are_kept_and_larger_ones_dropped_and_flagged() -> None:
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        await client.send(post("/plain", b"x" * LIMIT) + post("/plain", b"y" * (LIMIT + 1)) + post("/plain", b"z"))
        kept, dropped, after = [json.loads((await client.answer())[2]) for _ in range(3)]
        assert (kept["body"], kept["too_large"]) == ("x" * LIMIT, False)
        assert (dropped["body"], dropped["too_large"]) == ("", True)
        assert (after["body"], after["too_large"]) == ("z", False)  # the connection is still in step


@pytest.mark.trio
async def test_chunked_bodies_are_decoded_with_extensions_and_trailers() -> None:
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        head = b"POST /echo/c HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
        await client.send(head + b"4;note=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n")
        assert json.loads((await client.answer())[2])["body"] == "Wikipedia"
        await client.send(head + b"a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n")
        assert json.loads((await client.answer())[2])["too_large"] is True


@pytest.mark.trio
@pytest.mark.parametrize("path", ["/echo/r", "/plain"])
async def test_a_hang_up_mid_body_reaches_only_routes_that_hear_truncation(path: str) -> None:
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        await client.send(f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n".encode() + b"partial")
        await client.stream.send_eof()
        with trio.fail_after(BOUND_S):
            assert await client.closed_by_server()  # and nothing written: the peer has gone
        if path == "/plain":
            assert routes.seen == []
        else:
            assert [(s["truncated"], s["body"]) for s in routes.seen] == [(True, "")]


@pytest.mark.trio
async def test_a_malformed_chunked_body_is_a_400_and_a_truncation_for_the_route() -> None:
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        await client.send(b"POST /echo/r HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        status, headers, body = await client.answer()
        assert status == 400 and headers["connection"] == "close"
        assert json.loads(body)["errorType"] == "InvalidRequestFormat"
        assert [s["truncated"] for s in routes.seen] == [True]
        with trio.fail_after(BOUND_S):
            assert await client.closed_by_server()


@pytest.mark.trio
async def test_a_route_that_reads_its_own_body_gets_it_as_it_arrives_and_what_it_leaves_is_dropped() -> None:
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await client.send(b"POST /own/read HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhello")
            await trio.testing.wait_all_tasks_blocked()
            await client.send(b"world")
            assert json.loads((await client.answer())[2]) == ["hello", "world"]
            chunked = (b"POST /own/read HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\n")
            await client.send(chunked + post("/own/skip", b"never read") + post("/plain", b"after"))
            assert json.loads((await client.answer())[2]) == ["ab", "c"]
            assert json.loads((await client.answer())[2]) == []
            assert json.loads((await client.answer())[2])["body"] == "after"  # in step: the unread body was dropped
        assert [(seen.get("pieces"), seen.get("done")) for seen in routes.seen[:3]] == [
            (["hello", "world"], True), (["ab", "c"], True), ([], False)]


@pytest.mark.trio
async def test_a_body_never_asked_for_with_100_continue_closes_the_connection_after_the_answer() -> None:
    async with serving(Routes()) as address:
        client = await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await client.send(b"POST /own/skip HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                              b"Expect: 100-continue\r\n\r\n")
            status, headers, _ = await client.answer()  # no 100 Continue: the client never sends its body
            assert (status, headers["connection"]) == (200, "close")
            assert await client.closed_by_server()


@pytest.mark.trio
@pytest.mark.parametrize("path", ["/own/read", "/own/skip"])
async def test_a_body_sent_with_its_100_continue_head_keeps_the_connection_and_the_next_request(path: str) -> None:
    # RFC 9110 §10.1.1: a client may send its body without waiting for 100 Continue (curl does after 1 s). That
    # body is there to be read: a route that reads it piece by piece (the Invoke API's app, a streamed /response),
    # or leaves it to be dropped, must not close the connection on the request pipelined after it, unanswered.
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await client.send(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                              b"Expect: 100-continue\r\n\r\nhello" + get("/echo/after"))
            status, headers, body = await client.answer()
            assert status == 200 and "connection" not in headers, headers
            assert json.loads(body) == (["hello"] if path == "/own/read" else [])
            status, _, body = await client.answer()
            assert status == 200 and json.loads(body)["params"] == ["after"]


@pytest.mark.trio
async def test_expect_100_continue_is_answered_before_the_body_is_read() -> None:
    async with serving(Routes()) as address:
        client = await Client.connect(address)
        await client.send(b"POST /plain HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        with trio.fail_after(BOUND_S):
            assert (await client.answer(head_only=True))[0] == 100
        await client.send(b"hello")
        assert json.loads((await client.answer())[2])["body"] == "hello"


@pytest.mark.trio
async def test_head_gets_no_body_and_the_connection_stays_in_step() -> None:
    async with serving(Routes()) as address:
        client = await Client.connect(address)
        await client.send(b"HEAD /echo HTTP/1.1\r\nHost: test\r\n\r\n" + get("/echo"))
        status, headers, _ = await client.answer(head_only=True)
        assert status == 405 and int(headers["content-length"]) > 0
        assert (await client.answer())[0] == 200


@pytest.mark.trio
async def test_a_bug_in_a_route_is_a_json_500_logged_and_the_connection_goes_on(caplog) -> None:
    async with serving(Routes()) as address:
        client = await Client.connect(address)
        with caplog.at_level(logging.ERROR, logger="lambdatui.http"):
            await client.send(get("/boom"))
            status, _, body = await client.answer()
        assert status == 500
        assert json.loads(body) == {"errorMessage": "Internal Server Error", "errorType": "InternalServerError"}
        assert any(r.exc_info and "a bug in a route" in str(r.exc_info[1]) for r in caplog.records)
        await client.send(get("/echo"))
        assert (await client.answer())[0] == 200


@pytest.mark.trio
async def test_header_values_cannot_break_the_framing() -> None:
    routes = Routes()
    routes.extra_headers = (("Lambda-Runtime-Client-Context", '{"a":\r\n1}'), ("X-Euro", "€"))
    async with serving(routes) as address:
        client = await Client.connect(address)
        await client.send(get("/echo") + get("/echo"))
        for _ in range(2):
            status, headers, _ = await client.answer()
            assert status == 200
            assert headers["lambda-runtime-client-context"] == '{"a":  1}'  # newlines are JSON whitespace
            assert headers["x-euro"].encode("latin-1").decode() == "€"  # beyond latin-1: UTF-8 on the wire


@pytest.mark.trio
async def test_connections_are_tcp_nodelay() -> None:
    async with serving(Routes()) as address:
        client = await Client.connect(address)
        await client.send(get("/nodelay"))
        assert json.loads((await client.answer())[2]) == {"nodelay": True}


@pytest.mark.trio
async def test_a_long_poll_is_abandoned_when_its_peer_hangs_up(watcher: str) -> None:
    async with parked_on(get("/poll")) as (routes, client):
        await client.stream.send_eof()  # a half-close is a hang-up too, as in hypercorn and Go's net/http
        await routes.poll.abandoned.wait()
        assert await client.closed_by_server()


@pytest.mark.trio
async def test_a_long_poll_whose_peer_resets_is_abandoned(watcher: str) -> None:
    async with parked_on(get("/poll")) as (routes, client):
        await client.close()
        await routes.poll.abandoned.wait()


@pytest.mark.trio
async def test_a_released_long_poll_answers_and_requests_pipelined_meanwhile_follow(watcher: str) -> None:
    async with parked_on(get("/poll")) as (routes, client):
        await client.send(get("/echo/after"))
        await trio.testing.wait_all_tasks_blocked()
        routes.poll.release.set()
        assert (await client.answer())[2] == b'{"released":true}'
        assert json.loads((await client.answer())[2])["params"] == ["after"]
        assert not routes.poll.abandoned.is_set()
        await client.send(get("/echo"))  # the watch is over: the connection serves on
        assert (await client.answer())[0] == 200


@pytest.mark.trio
async def test_an_answer_given_at_once_reaches_the_peer_while_its_route_still_waits() -> None:
    # How a runtime's /next is answered inside the Invoke API's request (issue 9): no pass through the scheduler.
    async with parked_on(get("/early")) as (routes, client):
        routes.parked[0].answer_now(Answer(200, (("Content-Type", "application/json"),), b'{"now":true}'))
        assert (await client.answer())[2] == b'{"now":true}'
        assert not routes.early_done.is_set()  # the route's own task has not run since
        routes.poll.release.set()
        await client.send(get("/echo/after"))
        status, _, body = await client.answer()  # the route's returned answer was not written again
        assert status == 200 and json.loads(body)["params"] == ["after"]


@pytest.mark.trio
async def test_an_http_1_0_request_is_answered_by_its_route_as_before() -> None:
    async with parked_on(b"GET /early HTTP/1.0\r\n\r\n") as (routes, client):
        routes.parked[0].answer_now(Answer(200, (), b"now"))  # declined: HTTP/1.0's answer the framing shapes
        routes.poll.release.set()
        assert (await client.answer())[2] == b"late"
        assert await client.stream.receive_some(100) == b""  # and closed after it, as HTTP/1.0 is


@pytest.mark.trio
async def test_a_refused_connection_gets_403_and_is_closed_unread() -> None:
    routes = Routes()
    calls = []

    def admit(client, server) -> bool:
        calls.append((client, server))
        return False

    async with serving(routes, admit=admit) as address:
        client = await Client.connect(address)
        await client.send(get("/echo"))
        status, headers, body = await client.answer()
        assert status == 403 and headers["connection"] == "close"
        assert json.loads(body)["errorType"] == "AccessDenied"
        with trio.fail_after(BOUND_S):
            assert await client.closed_by_server()
        local = client.stream.socket.getsockname()
        assert calls == [((local[0], local[1]), tuple(client.stream.socket.getpeername()[:2]))]
        assert routes.seen == []


@pytest.mark.trio
@pytest.mark.parametrize("route", ["bodiless", "bodiless-chunks"])
@pytest.mark.parametrize("status", [204, 304])
async def test_a_status_without_a_body_is_sent_without_one_and_the_connection_goes_on(route: str, status: int) -> None:
    routes = Routes()
    async with serving(routes) as address:
        client = await Client.connect(address)
        with trio.fail_after(BOUND_S):
            await client.send(get(f"/{route}/{status}") + get("/echo/next"))
            got, headers, body = await client.answer(head_only=True)
            assert got == status and "content-length" not in headers and "transfer-encoding" not in headers, headers
            assert headers["x-had"] in ("a body", "chunks")
            got, _, body = await client.answer()  # the next answer follows at once: nothing of the body was sent
            assert got == 200 and json.loads(body)["params"] == ["next"]
