"""Reading requests off one connection of our HTTP/1.1 server (`http11`): heads, then bodies whole or in pieces.

A connection's bytes land in one buffer; a head is parsed from it (`http11_head`), a body taken from it by its
Content-Length or its chunks. Most routes get the body whole, read up to their limit (`Reader._read_body`); a
route that reads it itself (an ASGI app) takes it piece by piece as it arrives (`BodyPieces`).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Optional

import trio

from lambdatui.api.http11_head import MAX_HEAD_BYTES, BadRequest, Head, find_head_end, parse_head
from lambdatui.api.http11_socket import PlainStream
from lambdatui.processes.linux import SO_TIMESTAMPNS

RECEIVE_BYTES = 65536
_STAMP_SPACE = socket.CMSG_SPACE(16)  # one SO_TIMESTAMPNS: a struct timespec
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_BLANK = (b"\r", b"\n")
_TLS_HANDSHAKE = b"\x16\x03"  # a TLS record of type handshake, protocol 3.x: a ClientHello
_MAX_CHUNK_LINE = 4096  # a chunk's size line with its extensions


class PeerGone(Exception):
    """End of stream (or a reset) in the middle of a request."""


class Reader:
    """A connection's reading side: `buffer` holds what was received and not yet parsed (the rest of a request,
    or pipelined ones)."""

    def __init__(self, stream: PlainStream, stamped: bool = False, every_read: bool = False) -> None:
        self.stream = stream
        self.fd = stream.fd
        self.buffer = bytearray()
        self.hung_up = False
        self.peer_done = False  # the peer's end of stream (its FIN) or a reset was read
        self.reset = False  # a reset: the peer is gone, where an end of stream may be a half-close
        # A socket whose reads carry the kernel's time of arrival (SO_TIMESTAMPNS, inherited from its listener) is
        # read with recvmsg: every read (`every_read`: the debugger's, whose host shares its thread with the UI), else
        # the first only (the early start's runtime asks before the host is up); each stamped read costs a warm invoke
        # ~1 µs.
        self._stamping: Optional[socket.socket] = stream.socket if stamped else None
        self._every_read = every_read
        # When the bytes of the last read reached the kernel (TCP stamps a read with its last segment's arrival), on
        # trio's clock: read as a request is complete (its head, or its body), when that request arrived.
        self.last_arrival: Optional[float] = None
        # Its unread bytes are left there on purpose (a streamed body paced to Lambda's rate, or held back by a slow
        # caller): not a call the host is late to hear (deadlines.calls_unheard).
        self.reads_held = False

    def _read(self) -> bytes:
        if self._stamping is None:
            self.last_arrival = None
            return os.read(self.fd, RECEIVE_BYTES)
        data, ancillary, _, _ = self._stamping.recvmsg(RECEIVE_BYTES, _STAMP_SPACE)
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                seconds, nanoseconds = struct.unpack("qq", raw[:16])
                self.last_arrival = trio.current_time() - max(0.0, time.time() - (seconds + nanoseconds / 1e9))
        if not self._every_read:
            self._stamping = None
        return data

    async def _receive(self) -> None:
        # Straight from the socket (non-blocking), waiting only when nothing is there: trio's receive_some passes
        # through the scheduler on every call, and a warm invoke is three requests and three answers on this path.
        await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled wait (an idle connection closed) still ends here
        while True:
            try:
                data = self._read()
                break
            except BlockingIOError:
                await self._wait_readable()
            except OSError:
                data = b""  # reset by the peer: gone all the same
                self.reset = True
                break
        if not data:
            self.peer_done = True
            raise PeerGone
        self.buffer += data

    async def _wait_readable(self) -> None:
        await trio.lowlevel.wait_readable(self.fd)

    async def _await_request(self) -> bool:
        """Receive the next request's first bytes; False when there are none to come."""
        try:
            await self._receive()
        except PeerGone:
            return False
        return True

    async def _read_head(self) -> Optional[Head]:
        searched = 0
        while True:
            if self.buffer[:2] == _TLS_HANDSHAKE:
                # An https:// client's hello has no line end to wait for: it would wait for the idle limit (75 s). Its
                # answer is this 400 in plain text, which a TLS client reports at once ("wrong version number").
                raise BadRequest(400, "InvalidRequest", "A TLS handshake (an https:// URL) on a plain-HTTP port: "
                                 "lambdatui serves http:// only")
            if self.buffer[:1] in _BLANK:  # empty lines before a request are skipped (RFC 9112 §2.2)
                del self.buffer[:len(self.buffer) - len(self.buffer.lstrip(b"\r\n"))]
                searched = 0
            end = find_head_end(self.buffer, searched)
            if end is not None:
                start, stop = end
                block = bytes(self.buffer[:start])
                del self.buffer[:stop]
                return parse_head(block)
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise BadRequest(431, "RequestHeaderFieldsTooLarge", "Request header fields too large")
            searched = max(0, len(self.buffer) - 3)
            if not self.buffer:  # between requests
                if not await self._await_request():
                    return None
                continue
            try:
                await self._receive()
            except PeerGone:
                return None

    async def _read_body(self, head: Head, limit: int) -> tuple[bytes, bool, bool]:
        """(body, too_large, truncated): at most `limit` bytes kept, the rest read and dropped; truncated (with
        no body) when the peer hung up before the end of the body it declared."""
        if head.length == 0:
            return b"", False, False
        if head.expects_continue and len(self.buffer) < (head.length or 1):
            await self.stream.send_all(CONTINUE)
        kept: list[bytes] = []
        try:
            if head.length is None:
                size = await self._read_chunks(kept, limit)
            else:
                size = head.length
                await self._read_exactly(size, kept if size <= limit else None)
        except PeerGone:
            self.hung_up = True
            return b"", False, True
        if size > limit:
            return b"", True, False
        return (kept[0] if len(kept) == 1 else b"".join(kept)), False, False

    async def _read_exactly(self, size: int, kept: Optional[list[bytes]]) -> None:
        """Consume `size` bytes of body, appended to `kept` (dropped when None)."""
        while size:
            if not self.buffer:
                await self._receive()
            take = min(size, len(self.buffer))
            if kept is not None:
                kept.append(bytes(self.buffer[:take]))
            del self.buffer[:take]
            size -= take

    async def _read_line(self, bound: int) -> bytes:
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[:end + 1])
                del self.buffer[:end + 1]
                return line
            if len(self.buffer) > bound:
                raise BadRequest(400, "InvalidRequestFormat", "Chunked body line too long")
            await self._receive()

    async def _read_chunks(self, kept: list[bytes], limit: int) -> int:
        size = 0
        while chunk := await self._read_chunk_size():
            size += chunk
            await self._read_exactly(chunk, kept if size <= limit else None)
            await self._read_chunk_end()
        await self._read_trailers()
        return size

    async def _read_chunk_size(self) -> int:
        text = (await self._read_line(_MAX_CHUNK_LINE)).split(b";", 1)[0].strip()
        if not text or len(text) > 16 or text.strip(b"0123456789abcdefABCDEF"):
            raise BadRequest(400, "InvalidRequestFormat", "Malformed chunk size in chunked body")
        return int(text, 16)

    async def _read_chunk_end(self) -> None:
        if await self._read_line(2) not in (b"\r\n", b"\n"):
            raise BadRequest(400, "InvalidRequestFormat", "Malformed chunk end in chunked body")

    async def _read_trailers(self) -> dict[str, str]:
        """The chunked body's trailer fields, names in lower case (a streamed response's error: lambda-spec §1.8)."""
        size = 0
        fields: dict[str, str] = {}
        while (trailer := await self._read_line(MAX_HEAD_BYTES)) not in (b"\r\n", b"\n"):
            size += len(trailer)
            if size > MAX_HEAD_BYTES:
                raise BadRequest(431, "RequestHeaderFieldsTooLarge", "Request trailer fields too large")
            name, colon, value = trailer.decode("latin-1").partition(":")
            if colon:
                fields[name.strip().lower()] = value.strip()
        return fields


class BodyPieces:
    """One request's body, taken from its connection piece by piece as it arrives (an ASGI app's `receive`)."""

    def __init__(self, reader: Reader, head: Head) -> None:
        self.reader, self.head = reader, head
        self.left = head.length or 0  # bytes not yet read: of the whole body, or of the current chunk
        self.in_chunk = False
        self.done = head.length == 0  # all of it has been read
        self.continued = False  # a 100 Continue was sent (or was not needed)
        self.trailers: dict[str, str] = {}  # a chunked body's trailer fields, once it has all been read

    async def next(self) -> Optional[bytes]:
        """The body's next bytes; b"" once it has all been read (`done`), None if the peer hung up first.
        A malformed chunked body raises BadRequest."""
        if self.done:
            return b""
        reader = self.reader
        try:
            if self.head.expects_continue and not self.continued:
                self.continued = True  # asked for now, or not needed: its first bytes are here already
                if not reader.buffer:
                    await reader.stream.send_all(CONTINUE)
            if self.head.length is None and not self.left:
                if self.in_chunk:
                    await reader._read_chunk_end()
                self.left = await reader._read_chunk_size()
                self.in_chunk = True
                if not self.left:
                    self.trailers = await reader._read_trailers()
                    self.done = True
                    return b""
            if not reader.buffer:
                await reader._receive()
        except (PeerGone, trio.BrokenResourceError):
            reader.hung_up = True
            return None
        take = min(self.left, len(reader.buffer))
        piece = bytes(reader.buffer[:take])
        del reader.buffer[:take]
        self.left -= take
        if self.head.length is not None and not self.left:
            self.done = True
        return piece

    async def drain(self) -> bool:
        """Read and drop what is left of the body; False when the connection cannot go on past it."""
        if self.head.expects_continue and not self.continued and not self.reader.buffer:
            return False  # the client still waits to be asked for its body: it never sent it
        try:
            while not self.done:
                if await self.next() is None:
                    return False
        except BadRequest:
            return False
        return True
