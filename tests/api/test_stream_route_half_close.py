"""A caller of InvokeWithResponseStream that half-closes (its whole request sent, then shutdown(SHUT_WR), as
HTTP/1.0-style clients do) still gets its stream, as a buffered invoke's caller gets its answer; a caller that
really goes (a reset, or a close that the stream's next bytes find out) is still a hang-up.

The host is test_stream_route's scripted stand-in; both ways a wait watches its socket (the server's epoll monitor,
a task per wait) are tried. Every wait is bounded (trio.fail_after) and on the event it means.
"""

from __future__ import annotations

import socket
import struct

import pytest
import trio
from botocore.eventstream import EventStreamBuffer

from lambdatui.model.facts import InvocationResult
from test_http11 import watcher  # noqa: F401 - a fixture: the epoll monitor, then a task per wait
from test_stream_route import BOUND_S, ScriptedHost, caller, front, next_event, run_out

pytestmark = pytest.mark.usefixtures("watcher")


@pytest.mark.trio
async def test_a_half_closed_caller_gets_the_whole_stream() -> None:
    host = ScriptedHost()
    async with front(host) as address:
        with trio.fail_after(BOUND_S):
            client = await caller(address, host, half_close=True)
            await host.send.send(("begin", "text/plain"))
            status, headers, _ = await client.answer(head_only=True)  # before: the server closed, nothing written
            assert status == 200 and headers["content-type"] == "application/vnd.amazon.eventstream"
            buffer = EventStreamBuffer()
            for piece in (b"one", b"two"):
                await host.send.send(("write", piece))
                assert await next_event(client, buffer) == ("PayloadChunk", piece)
            await host.send.send(("end", None))
            await host.send.send(("result", InvocationResult(host.calls[0]["request_id"], b"", streamed=6)))
            assert await next_event(client, buffer) == ("InvokeComplete", b"{}")
            assert await client.next_chunk() == b""  # the whole answer, its last chunk too
            assert await client.closed_by_server()  # then the connection ends: the caller will send nothing more
            await host.finished.wait()
        assert not host.abandoned.is_set()


@pytest.mark.trio
async def test_a_half_closed_caller_that_then_closes_is_found_gone_by_the_streams_next_bytes() -> None:
    host = ScriptedHost()
    async with front(host) as address:
        with trio.fail_after(BOUND_S):
            client = await caller(address, host, half_close=True)
            await host.send.send(("begin", "text/plain"))
            await host.send.send(("write", b"one"))
            assert (await client.answer(head_only=True))[0] == 200
            assert await next_event(client, EventStreamBuffer()) == ("PayloadChunk", b"one")
            await client.close()  # no new FIN: only the bytes sent to it now tell that it has gone
            await host.send.send(("write", b"two"))  # reset by its kernel
            await host.send.send(("write", b"three"))  # refused, where no epoll heard the reset
            await host.abandoned.wait()
            await run_out(host, *(b"%d" % n for n in range(40)))  # more than the stream holds


@pytest.mark.trio
async def test_a_reset_before_the_stream_began_abandons_it_at_once() -> None:
    host = ScriptedHost()
    async with front(host) as address:
        with trio.fail_after(BOUND_S):
            client = await caller(address, host)
            client.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await client.close()  # with a zero linger: a reset, not a FIN
            await host.abandoned.wait()  # before the stream began: nothing to write was needed to tell
            assert host.calls[0]["stream"].caller_gone
            await host.send.send(("begin", "text/plain"))
            await run_out(host, b"into the void")
