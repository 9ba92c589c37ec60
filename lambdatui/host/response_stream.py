"""A streamed response on its way from the runtime to the invoke's caller (lambda-spec §1.8, §12).

The sandbox server writes what the runtime sends into a `ResponseStream` as it arrives; the front end (a
streaming invoke, a function URL) reads it and passes each piece on at once: time to first byte is the point.
Bytes are data, not lifecycle: the core only hears that a stream began and how it ended (core/stream_rules.py).

A caller that reads slowly slows the runtime down (the channel holds a few pieces), as a TCP connection would; a
caller that goes away makes every later write a no-op, and the runtime's stream still completes, as Lambda's does.
"""

from __future__ import annotations

from typing import Callable, Optional

import trio

from lambdatui.model import facts as f

_PIECES_HELD = 16  # pieces between the runtime and a slow caller before the runtime waits


class ResponseStream:
    """One invoke's streamed response. The runtime's side: `begin`, `write`, `end`; the caller's: `wait_started`
    (or the invoke's completion, whichever comes first), then `pieces()`."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[bytes](_PIECES_HELD)
        self.started = trio.Event()
        self.content_type: str = ""
        self.size = 0
        self.chunks = 0
        self.caller_gone = False
        self.taken = 0  # bytes the caller has taken so far
        self.left_after: Optional[int] = None
        """The caller hung up while the runtime still streamed, having taken this many bytes."""
        self.stalled_after: Optional[int] = None
        """The invoke ended while the caller held the runtime back, having taken this many bytes."""
        self.done = trio.Event()  # ended, or abandoned by its caller
        self._ended = False

    # ------------------------------------------------------------------ the runtime's side (the sandbox server)

    def begin(self, content_type: str) -> None:
        self.content_type = content_type
        self.started.set()

    async def write(self, piece: bytes) -> None:
        if not piece:
            return
        self.size += len(piece)
        self.chunks += 1
        if self.caller_gone:
            return
        try:
            self._send.send_nowait(piece)
            return
        except trio.WouldBlock:
            pass  # the caller has not taken the pieces held for it: the runtime waits for it, as on a TCP connection
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.caller_gone = True
            return
        try:
            await self._send.send(piece)
        except trio.ClosedResourceError:
            self.caller_gone = True
            if self.left_after is None:
                self.stalled_after = self.taken  # the invoke ended (`end`) while it waited for the caller
        except trio.BrokenResourceError:
            self.caller_gone = True

    def end(self) -> None:
        """No more bytes (the whole body, or what arrived before the runtime or the limit cut it)."""
        self._ended = True
        self._send.close()
        self.done.set()

    # ------------------------------------------------------------------ the caller's side (the front end)

    async def wait_begun(self, invoke_done: trio.Event) -> bool:
        """Until the stream begins or the invoke ends without one (`invoke_done`); True, for `until_hangup`."""
        if not (self.started.is_set() or invoke_done.is_set()):
            async with trio.open_nursery() as nursery:
                for event in (self.started, invoke_done):
                    nursery.start_soon(_cancel_when_set, event, nursery.cancel_scope)
        return True

    async def next_piece(self) -> bytes:
        """The next piece as the runtime sent it; b"" at the end of the stream (a piece is never empty)."""
        try:
            piece = await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return b""
        self.taken += len(piece)
        return piece

    def abandon(self) -> None:
        """The caller went away: the runtime's writes go nowhere from now on."""
        if not self._ended and not self.caller_gone:
            self.left_after = self.taken
        self.caller_gone = True
        self.done.set()
        self._receive.close()


class StreamRegistry:
    """Which invokes have a caller waiting for a stream, by request id (one environment's)."""

    def __init__(self) -> None:
        self._streams: dict[str, ResponseStream] = {}

    def add(self, request_id: str, stream: ResponseStream) -> None:
        self._streams[request_id] = stream

    def get(self, request_id: str) -> Optional[ResponseStream]:
        return self._streams.get(request_id)

    def remove(self, request_id: str) -> None:
        """The invoke is over here: its stream ends."""
        stream = self._streams.pop(request_id, None)
        if stream is not None:
            stream.end()

    def discard(self, request_id: str) -> None:
        """The invoke goes elsewhere (handed back): its stream goes on, with it."""
        self._streams.pop(request_id, None)


class StreamProgress:
    """Tells the debugger how far one streamed response has come: at most every `every` seconds, and at its end."""

    def __init__(self, publish: Callable[[f.Fact], None], request_id: str, every: float) -> None:
        self._publish, self._request_id, self._every = publish, request_id, every
        self._started = trio.current_time()
        self._said = -every

    def advanced(self, size: int, chunks: int) -> None:
        now = trio.current_time()
        if now - self._said >= self._every:
            self._said = now
            self._tell(size, chunks, now)

    def ended(self, size: int, chunks: int) -> None:
        self._tell(size, chunks, trio.current_time())

    def _tell(self, size: int, chunks: int, now: float) -> None:
        self._publish(f.ResponseStreamed(self._request_id, size, chunks, (now - self._started) * 1000, now))


async def _cancel_when_set(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()
