"""The telemetry delivery's HTTP and TCP clients against real listening sockets (issue 10, lambda-spec §3.2).

A listener is the user's code: whatever it answers (any framing, an error status, garbage, a hang-up) is a
delivered batch or a failed attempt, never an exception that reaches the host.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Awaitable, Callable

import pytest
import trio
from free_ports import free_port

from lambdatui.host.telemetry_buffer import Batch
from lambdatui.host.telemetry_links import DeliveryFailed, HttpLink, TcpLink

BATCH = Batch((b'{"type":"function","record":"a"}', b'{"type":"function","record":"b"}'), ("function", "function"), 64)

Answer = Callable[[trio.SocketStream, bytes], Awaitable[bool]]  # (stream, request) -> keep the connection open


class Listener:
    """A loopback HTTP listener whose answers the test scripts; it records every request and connection."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0

    async def serve(self, nursery: trio.Nursery) -> None:
        listeners = await nursery.start(trio.serve_tcp, self._connection, 0)
        self.port = listeners[0].socket.getsockname()[1]

    async def _connection(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        buf = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = await stream.receive_some()
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(buf) < length:
                    buf += await stream.receive_some()
                body, buf = buf[:length], buf[length:]
                self.requests.append(head + b"\r\n\r\n" + body)
                if not await self.answer(stream, head):
                    return


def answering(raw: bytes, keep: bool = True) -> Answer:
    async def answer(stream: trio.SocketStream, head: bytes) -> bool:
        await stream.send_all(raw)
        return keep

    return answer


async def attempts(answer: Answer, count: int = 2, method: str = "POST") -> tuple[list[object], Listener]:
    """`count` deliveries of BATCH to a listener answering with `answer`: each one's outcome (None or the error)."""
    listener = Listener(answer)
    outcomes: list[object] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await listener.serve(nursery)
            link = HttpLink(listener.port, "/telemetry", method)
            for _ in range(count):
                try:
                    await link.send(BATCH)
                    outcomes.append(None)
                except DeliveryFailed as exc:
                    outcomes.append(exc)
            link.close()
            nursery.cancel_scope.cancel()
    return outcomes, listener


@pytest.mark.trio
async def test_a_batch_is_a_json_array_posted_on_a_kept_alive_connection() -> None:
    outcomes, listener = await attempts(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"), count=3)
    assert outcomes == [None, None, None]
    assert listener.connections == 1
    head, _, body = listener.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /telemetry HTTP/1.1\r\n")
    assert b"Content-Type: application/json" in head
    assert json.loads(body) == [{"type": "function", "record": "a"}, {"type": "function", "record": "b"}]


@pytest.mark.trio
async def test_a_logs_api_subscription_may_ask_for_put() -> None:
    _, listener = await attempts(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), count=1, method="PUT")
    assert listener.requests[0].startswith(b"PUT /telemetry HTTP/1.1\r\n")


@pytest.mark.trio
@pytest.mark.parametrize("raw,keep", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n", True),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", True),
    (b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
    (b"HTTP/1.0 200 OK\r\n\r\nbody until the close", False),  # http.server's default: no length, then close
])
async def test_every_framing_of_an_answer_is_read_whole(raw: bytes, keep: bool) -> None:
    outcomes, listener = await attempts(answering(raw, keep), count=2)
    assert outcomes == [None, None]
    assert listener.connections == (1 if keep else 2)


def endless(head: bytes) -> Answer:
    """Answers with `head`, then sends zeros for as long as anyone reads them."""
    async def answer(stream: trio.SocketStream, _: bytes) -> bool:
        await stream.send_all(head)
        zeros = bytes(65536)
        try:
            while True:
                await stream.send_all(zeros)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False

    return answer


@pytest.mark.trio
@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",  # no framing: until the connection closes, which it never does
], ids=["content-length", "chunk-size", "until-close"])
async def test_an_endless_answer_is_not_read_to_its_end(head: bytes) -> None:
    # The listener is user code: the host reads a bounded part of an answer and closes the connection, so neither
    # its memory nor the delivery's time is the listener's to take (once: 2 GB held until serve stopped).
    outcomes, listener = await attempts(endless(head), count=2)
    assert outcomes == [None, None]  # its status said the batch was taken
    assert listener.connections == 2  # each connection given up after its answer


@pytest.mark.trio
async def test_a_status_of_400_or_more_is_a_refusal_and_the_connection_stays() -> None:
    outcomes, listener = await attempts(answering(b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"))
    assert [str(o) for o in outcomes] == ["the listener answered HTTP 503"] * 2
    assert all(isinstance(o, DeliveryFailed) and o.refused for o in outcomes)
    assert listener.connections == 1


@pytest.mark.trio
@pytest.mark.parametrize("raw", [
    b"",  # hangs up without a word
    b"SMTP ready\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
async def test_a_broken_answer_is_a_failed_attempt_and_the_next_one_connects_afresh(raw: bytes) -> None:
    outcomes, listener = await attempts(answering(raw, keep=False))
    assert all(isinstance(o, DeliveryFailed) and not o.refused for o in outcomes), outcomes
    assert listener.connections == 2


@pytest.mark.trio
async def test_no_listener_is_connection_refused() -> None:
    with trio.socket.socket() as placeholder:  # a port nobody listens on
        await placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        for link in (HttpLink(port, "/", "POST"), TcpLink(port)):
            with pytest.raises(DeliveryFailed, match="connection refused"):
                await link.send(BATCH)


@pytest.mark.trio
async def test_a_connection_the_listener_closed_while_idle_is_replaced_before_the_next_batch() -> None:
    async def once_then_hang_up(stream: trio.SocketStream, head: bytes) -> bool:
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        return False  # keep-alive promised, then closed while idle

    outcomes, listener = await attempts(once_then_hang_up, count=3)
    assert outcomes == [None, None, None] and listener.connections == 3


@pytest.mark.trio
async def test_tcp_delivery_writes_one_event_a_line_on_one_connection() -> None:
    received = bytearray()
    connections = 0
    four_lines = trio.Event()

    async def reader(stream: trio.SocketStream) -> None:
        nonlocal connections
        connections += 1
        async for data in stream:
            received.extend(data)
            if received.count(b"\n") >= 4:
                four_lines.set()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, reader, 0)
            link = TcpLink(listeners[0].socket.getsockname()[1])
            await link.send(BATCH)
            await link.send(BATCH)
            await four_lines.wait()
            link.close()
            nursery.cancel_scope.cancel()
    assert [json.loads(line)["record"] for line in received.splitlines()] == ["a", "b", "a", "b"]
    assert connections == 1


@pytest.mark.trio
async def test_a_listener_found_on_the_sandbox_address_is_never_looked_for_on_the_hosts_loopback() -> None:
    """Its extension killed (a shutdown), the sandbox's address refuses; a host process on 127.0.0.1 at the same
    port gets nothing (it did: the leak the end-to-end test_sandbox_loopback caught once in a while)."""
    sandbox = "127.83.41.7"
    requests: dict[str, int] = {sandbox: 0, "127.0.0.1": 0}

    def counting(address: str) -> Callable[[trio.SocketStream], Awaitable[None]]:
        async def connection(stream: trio.SocketStream) -> None:
            async with stream:
                async for data in stream:
                    if b"\r\n\r\n" in data:
                        requests[address] += 1
                        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        return connection

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            # Free on 127.0.0.1 too (free_ports.py): port 0 on the sandbox's address gave one that a listener of
            # another test held on the host's loopback (six workers: "Address already in use").
            port = free_port()
            await nursery.start(partial(trio.serve_tcp, counting(sandbox), port, host=sandbox))
            await nursery.start(partial(trio.serve_tcp, counting("127.0.0.1"), port, host="127.0.0.1"))
            link = HttpLink(port, "/", "POST", (sandbox, "127.0.0.1"))
            await link.send(BATCH)
            assert requests == {sandbox: 1, "127.0.0.1": 0}
            nursery.cancel_scope.cancel()  # both listeners end; the host's alone comes back
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(trio.serve_tcp, counting("127.0.0.1"), port, host="127.0.0.1"))
            link.close()
            with pytest.raises(DeliveryFailed, match="connection refused"):
                await link.send(BATCH)
            nursery.cancel_scope.cancel()
    assert requests == {sandbox: 1, "127.0.0.1": 0}
