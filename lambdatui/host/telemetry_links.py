"""The host's end of a telemetry listener's connection: one batch at a time, by HTTP (POST or PUT of a JSON
array, on a kept-alive connection) or TCP (NDJSON), to the sandbox's loopback (lambda-spec §3.2): the address its
names and `localhost` resolve to in the environment (processes/sandbox_hosts.py `own_loopback`), or 127.0.0.1 where the
listener is only there (in Lambda both are the sandbox's own; here 127.0.0.1 is the host's, which a listener may
still have bound, by number).

Whatever the listener does (refuse, hang up, answer garbage) becomes `DeliveryFailed`, never an exception in the
host's nursery: the delivery (host/telemetry_delivery.py) retries or reports the batch dropped.
"""

from __future__ import annotations

from typing import Optional

import trio

from lambdatui.host.telemetry_buffer import Batch
from lambdatui.listen_address import is_own_listener
from lambdatui.processes.sandbox_hosts import HOST_LOOPBACK

MAX_RESPONSE_HEAD = 64 * 1024
# A listener's answer body is read and thrown away up to this; past it the connection is closed instead (its status
# already said whether the batch was taken): the listener is user code, and the host's memory and time are not its.
MAX_ANSWER_BODY = 1024 * 1024


class DeliveryFailed(Exception):
    """An attempt that did not deliver: `reason` says why, for the debugger (`TelemetryDelivered.error`)."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused  # the listener answered, with a status >= 400


# What a listener can make an attempt fail with: it is the user's code, and its answer may be anything (a ValueError
# is a malformed number in it). All of it becomes DeliveryFailed; none of it may reach the host's nursery.
_LISTENER_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError, ValueError)


class OwnListener(ConnectionRefusedError):
    """The address is one of lambdatui's own servers (listen_address.is_own_listener): not the extension's listener,
    whatever answers there, so it counts as no listener at all."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OwnListener):
        return str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (no listener on the port yet)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Link:
    """One kept-alive connection to a listener on the sandbox's loopback, opened when first needed."""

    def __init__(self, port: int, addresses: tuple[str, ...] = (HOST_LOOPBACK,)) -> None:
        """`addresses`: where the listener may be, the likeliest first, each tried in turn at every new connection
        (a listener that binds late, on the sandbox's address, is found there even after a host process on
        127.0.0.1 took the first connections). Once it answered at one that is not the last, it is only ever
        there: were it to stop listening (its extension killed at shutdown), the host's 127.0.0.1 is someone
        else's, and the records are not theirs."""
        self.port = port
        self._addresses = addresses
        self._stream: Optional[trio.SocketStream] = None

    async def _open(self) -> tuple[trio.SocketStream, bool]:
        """The connection, and whether it was open already (it may have been closed by the listener since)."""
        stream = self._stream
        if stream is not None and stream.socket.is_readable():
            self.close()  # idle, yet readable: the listener closed it (or speaks out of turn); start afresh
            stream = None
        if stream is not None:
            return stream, True
        for address in self._addresses[:-1]:
            try:
                stream = await self._connect(address)
            except ConnectionRefusedError:
                continue
            self._addresses = (address,)
            return stream, False
        return await self._connect(self._addresses[-1]), False

    async def _connect(self, address: str) -> trio.SocketStream:
        if is_own_listener(address, self.port):
            raise OwnListener(f"no listener of the extension's on port {self.port}: lambdatui's own server listens "
                              f"at {address}:{self.port} (its Invoke API or function URL), never a destination")
        sock = trio.socket.socket()
        try:
            await sock.connect((address, self.port))
        except BaseException:
            sock.close()
            raise
        stream = self._stream = trio.SocketStream(sock)  # which sets TCP_NODELAY
        return stream

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.socket.close()

    async def send(self, batch: Batch) -> None:
        """Deliver one batch, or raise DeliveryFailed."""
        raise NotImplementedError


class TcpLink(Link):
    """NDJSON on one TCP connection: a batch is delivered once the kernel took it (there is no answer)."""

    async def send(self, batch: Batch) -> None:
        try:
            stream, _ = await self._open()
            await stream.send_all(batch.ndjson())
        except _LISTENER_ERRORS as exc:
            self.close()
            raise DeliveryFailed(_describe(exc)) from exc


class HttpLink(Link):
    """HTTP/1.1 requests of a JSON array; the answer's status decides, its body is read and ignored."""

    def __init__(self, port: int, path: str, method: str, addresses: tuple[str, ...] = (HOST_LOOPBACK,)) -> None:
        super().__init__(port, addresses)
        self._head = (f"{method} {path} HTTP/1.1\r\nHost: sandbox.localdomain:{port}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: ").encode("latin-1")
        self._buf = bytearray()
        self._answered = False  # a byte of the answer came

    async def send(self, batch: Batch) -> None:
        body = batch.json_array()
        request = self._head + b"%d\r\n\r\n" % len(body) + body
        while True:
            reused = False
            self._buf.clear()
            self._answered = False
            try:
                stream, reused = await self._open()
                await stream.send_all(request)
                status, keep = await self._read_answer(stream)
                break
            except _LISTENER_ERRORS as exc:
                self.close()
                if reused and not self._answered:
                    # Not a byte of answer on a connection kept from before: the listener closed it while we sent
                    # (the race every keep-alive client has). Once more on a fresh one, as HTTP clients do.
                    continue
                raise DeliveryFailed(_describe(exc)) from exc
        if not keep:
            self.close()
        if status >= 400:
            raise DeliveryFailed(f"the listener answered HTTP {status}", refused=True)

    async def _receive(self, stream: trio.SocketStream) -> bool:
        data = await stream.receive_some(65536)
        if data:
            self._buf += data
            self._answered = True
        return bool(data)

    async def _until(self, stream: trio.SocketStream, separator: bytes, limit: int) -> bytes:
        while (end := self._buf.find(separator)) < 0:
            if len(self._buf) > limit or not await self._receive(stream):
                raise DeliveryFailed("the listener closed the connection without a whole HTTP answer")
        found = bytes(self._buf[:end])
        del self._buf[:end + len(separator)]
        return found

    async def _skip(self, stream: trio.SocketStream, size: int) -> None:
        while len(self._buf) < size:
            if not await self._receive(stream):
                raise DeliveryFailed("the listener closed the connection in the middle of its answer")
        del self._buf[:size]

    async def _read_answer(self, stream: trio.SocketStream) -> tuple[int, bool]:
        """(status, whether the connection stays open), the whole answer read (RFC 9112 §6 framing)."""
        while True:
            lines = (await self._until(stream, b"\r\n\r\n", MAX_RESPONSE_HEAD)).decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            try:
                status = int(rest[:3])
            except ValueError:
                raise DeliveryFailed(f"the listener's answer is not HTTP: {lines[0][:80]!r}") from None
            if status >= 200:
                break  # 1xx (100 Continue) is interim: the final answer follows
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        connection = headers.get("connection", "")
        keep = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
        if status in (204, 304):
            return status, keep
        if "chunked" in headers.get("transfer-encoding", ""):
            read = 0
            while size := int((await self._until(stream, b"\r\n", 1024)).split(b";")[0] or b"0", 16):
                read += size
                if read > MAX_ANSWER_BODY:
                    return status, False
                await self._skip(stream, size + 2)
            while await self._until(stream, b"\r\n", MAX_RESPONSE_HEAD):
                pass  # trailer fields
            return status, keep
        if "content-length" in headers:
            length = int(headers["content-length"])
            if length < 0:
                raise DeliveryFailed(f"the listener's answer has a negative Content-Length: {length}")
            if length > MAX_ANSWER_BODY:
                return status, False
            await self._skip(stream, length)
            return status, keep
        read = 0
        while read <= MAX_ANSWER_BODY and await self._receive(stream):  # no framing: it ends with the connection
            read += len(self._buf)
            self._buf.clear()
        return status, False
