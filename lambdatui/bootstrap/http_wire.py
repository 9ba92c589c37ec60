"""HTTP/1.1 on a raw socket: just what the runtime's Runtime API client needs.

Why not http.client: on the warm path ~80% of the runtime process's CPU went into
http.client and the email package it parses headers with, and importing the two cost
~40 ms of every cold start. This is one kept-alive connection (no proxies or TLS); its
caller may send a second request before reading the first's answer (pipelining: the
answers are read in order), with the response framing of RFC 9112 §6:
no body (1xx, 204, 304), chunked, Content-Length, or read until the server closes.
"""

from __future__ import annotations

import socket
from collections import namedtuple

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Tuple

_RECV_SIZE = 65536
# A response head (status line + fields) larger than this is not a Runtime API answer;
# the bound keeps a confused peer from growing our memory without end.
MAX_HEAD_BYTES = 1 << 20
_HEX_DIGITS = b"0123456789abcdefABCDEF"


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection before sending a byte of its answer.

    On a kept-alive connection this is the stale case: the server had closed it while
    idle. A ConnectionResetError, as http.client's exception of the same name.
    """


class ProtocolError(Exception):
    """The server's bytes are not an HTTP/1.x response, or stop in the middle of one."""


class Response(namedtuple("Response", "status headers body")):
    """A fully read response (reading it all is what keeps the connection reusable)."""

    __slots__ = ()
    status: int
    headers: Dict[str, str]  # lower-cased names; a repeated field's values joined by ", " (Content-Length: the last)
    body: bytes


def split_address(address: str) -> Tuple[str, int]:
    """`host:port`, `[v6]:port` or `host` (port 80), read as http.client reads it."""
    colon, bracket = address.rfind(":"), address.rfind("]")
    host, port = address, 80
    if colon > bracket:
        host = address[:colon]
        if address[colon + 1 :]:
            try:
                port = int(address[colon + 1 :])
            except ValueError:
                raise ValueError("nonnumeric port: '%s'" % address[colon + 1 :]) from None
    if host[:1] == "[" and host[-1:] == "]":
        host = host[1:-1]
    return host, port


class Connection(object):
    """One kept-alive HTTP/1.1 client connection; it connects on the first request after a close."""

    def __init__(self, address: str, connect_timeout: float) -> None:
        self.host, self.port = split_address(address)
        self.host_header = address
        self.connect_timeout = connect_timeout
        self.sock: Optional[socket.socket] = None
        self._buf = b""  # received, not yet consumed (normally empty between responses)

    def connect(self) -> None:
        # An ASCII name as bytes: as text, the socket module would load the IDNA codec first (~1.4 ms of Init).
        host = self.host.encode("ascii") if self.host.isascii() else self.host
        sock = socket.create_connection((host, self.port), self.connect_timeout)
        sock.settimeout(None)  # the timeout is for connecting only: /next may block for hours
        # Small requests must leave at once: Nagle + delayed ACK add ~40 ms each on loopback.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self._buf = sock, b""

    def close(self) -> None:
        sock, self.sock, self._buf = self.sock, None, b""
        if sock is not None:
            sock.close()

    # -- request -----------------------------------------------------------------------

    def send_request(self, method: str, path: str, body: Optional[bytes], headers: Dict[str, str]) -> None:
        """Send one request, with the fields http.client sent (Host, Accept-Encoding, Content-Length)."""
        head = self._head(method, path, body, headers)
        _send_all(self._socket(), head, body or b"")

    def send_with_next(self, method: str, path: str, body: bytes, headers: Dict[str, str], next_path: str) -> None:
        """A small request and a GET of `next_path` behind it (HTTP/1.1 pipelining, RFC 9112 §9.3.2) in one system
        call: the server reads both in one read, and answers the first without another task of its running between
        them (two sends could reach it as two reads, apart)."""
        data = self._head(method, path, body, headers) + body + self._head("GET", next_path, None, {})
        self._socket().sendall(data)

    def _socket(self) -> socket.socket:
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        return self.sock

    def _head(self, method: str, path: str, body: Optional[bytes], headers: Dict[str, str]) -> bytes:
        fields = ["%s %s HTTP/1.1" % (method, path), "Host: " + self.host_header, "Accept-Encoding: identity"]
        fields += ["%s: %s" % item for item in headers.items()]
        if body is not None:
            fields.append("Content-Length: %d" % len(body))
        for field in fields:
            if "\r" in field or "\n" in field:  # would split into a second request (header injection)
                raise ValueError("Invalid header value %r" % field)
        return ("\r\n".join(fields) + "\r\n\r\n").encode("latin-1")

    # -- response ----------------------------------------------------------------------

    def read_response(self, wait: Optional[Callable[[socket.socket], None]] = None) -> Response:
        """Read one whole response; the connection is then ready for the next request, or closed. `wait`, if
        given, waits for its first byte (the rest follows it)."""
        assert self.sock is not None
        while True:
            if not self._buf:
                if wait is not None:
                    wait(self.sock)
                if not self._fill():
                    raise RemoteDisconnected("Remote end closed connection without response")
            version, status, headers = _parse_head(self._read_until(b"\r\n\r\n", "response head"))
            if status >= 200:
                break
            # 1xx is an interim answer (RFC 9110 §15.2): the final one follows on the same connection.
        tokens = _tokens(headers.get("connection", ""))
        will_close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
        transfer_coding = _tokens(headers.get("transfer-encoding", ""))
        if status in (204, 304):
            body = b""
        elif transfer_coding:
            if transfer_coding[-1] != "chunked":  # RFC 9112 §6.3: then only the close ends the body
                body, will_close = self._read_to_eof(), True
            else:
                body = self._read_chunked()
        elif "content-length" in headers:
            body = self._read_exact(_content_length(headers["content-length"]))
        else:
            body, will_close = self._read_to_eof(), True
        if will_close:
            self.close()
        return Response(status, headers, body)

    def _fill(self) -> bool:
        """Receive more bytes into the buffer; False at end of stream."""
        assert self.sock is not None
        data = self.sock.recv(_RECV_SIZE)
        self._buf += data
        return bool(data)

    def _read_until(self, separator: bytes, what: str) -> bytes:
        """The bytes before `separator` (which is consumed too)."""
        searched = 0
        while True:
            end = self._buf.find(separator, searched)
            if end >= 0:
                found, self._buf = self._buf[:end], self._buf[end + len(separator) :]
                return found
            if len(self._buf) > MAX_HEAD_BYTES:
                raise ProtocolError("%s longer than %d bytes" % (what, MAX_HEAD_BYTES))
            searched = max(0, len(self._buf) - len(separator) + 1)  # the separator may straddle two reads
            if not self._fill():
                raise ProtocolError("connection closed in the middle of the %s: %r" % (what, self._buf[:200]))

    def _read_exact(self, size: int) -> bytes:
        buf = self._buf
        if len(buf) >= size:  # the common case: the body came in the same segment as the head
            self._buf = buf[size:]
            return buf[:size]
        # A large body: receive straight into its final buffer, then one copy to bytes.
        body = bytearray(size)
        body[: len(buf)] = buf
        view, got, self._buf = memoryview(body), len(buf), b""
        assert self.sock is not None
        while got < size:
            n = self.sock.recv_into(view[got:])
            if not n:
                raise ProtocolError("connection closed after %d of %d body bytes" % (got, size))
            got += n
        return bytes(body)

    def _read_to_eof(self) -> bytes:
        chunks, self._buf = [self._buf], b""
        while self._fill():
            chunks.append(self._buf)
            self._buf = b""
        return b"".join(chunks)

    def _read_chunked(self) -> bytes:
        chunks: List[bytes] = []
        while True:
            size_field = self._read_until(b"\r\n", "chunk size line").split(b";", 1)[0].strip()  # drop extensions
            if not size_field or size_field.strip(_HEX_DIGITS) or len(size_field) > 15:
                raise ProtocolError("invalid chunk size: %r" % size_field[:50])
            size = int(size_field, 16)
            if size == 0:
                break
            chunks.append(self._read_exact(size))
            if self._read_until(b"\r\n", "chunk"):
                raise ProtocolError("chunk data longer than its size %d" % size)
        while self._read_until(b"\r\n", "trailer section"):
            pass  # trailer fields carry nothing the runtime uses
        return b"".join(chunks)


def _send_all(sock: socket.socket, head: bytes, body: bytes) -> None:
    """Head and body in one system call (one segment for a small request: the server wakes once),
    without copying a large body: sendmsg saved ~0.5 ms of CPU per 6 MB POST over head + body."""
    if len(body) < 65536 or not hasattr(sock, "sendmsg"):  # no sendmsg on Windows
        sock.sendall(head + body)  # copying a small body costs nothing measurable
        return
    sent = sock.sendmsg([head, body])
    if sent < len(head):  # partial write (a signal, a full buffer): finish with sendall
        sock.sendall(head[sent:])
        sent = len(head)
    sock.sendall(memoryview(body)[sent - len(head) :])


def _parse_head(head: bytes) -> Tuple[str, int, Dict[str, str]]:
    """Status line and fields; names are case-insensitive, so they are stored lower-cased."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(None, 2)
    if (
        len(parts) < 2
        or not parts[0].startswith("HTTP/1.")
        or len(parts[1]) != 3
        or not (parts[1].isascii() and parts[1].isdigit())
        or parts[1] < "100"
    ):
        raise ProtocolError("malformed status line: %r" % lines[0][:200])
    headers: Dict[str, str] = {}
    name = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and name:  # obs-fold: a continuation of the previous field
            headers[name] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        name = name.lower()
        if not colon or not name or name != name.strip():
            raise ProtocolError("malformed header line: %r" % line[:200])
        value = value.strip(" \t")
        if name in headers and name != "content-length":
            headers[name] += ", " + value
        else:
            headers[name] = value  # a repeated Content-Length: the last field is the one read (_content_length)
    return parts[0], int(parts[1]), headers


def _tokens(value: str) -> List[str]:
    """A comma-separated field's lower-cased tokens (Connection, Transfer-Encoding)."""
    return [t.strip().lower() for t in value.split(",") if t.strip()]


def _content_length(value: str) -> int:
    """The last Content-Length field's value (_parse_head keeps only that one), as awslambdaric's libcurl reads it.

    RFC 9112 §6.3 makes differing Content-Length fields an error, but Lambda's Python runtime takes the answer: its
    bundled libcurl (7.83.1; lib/http.c, Curl_http_header) sets the body's size from each Content-Length
    field in turn, so the last one counts. A Runtime API proxy writes such answers (AWS's Go proxy sample copies the
    upstream's `content-length` and Go's server adds its own, the true one, after it), and works in Lambda.
    One field listing differing values ("7, 35") is still refused: 7.83.1 would read its leading number, today's
    curl refuses it, and no proxy is known to write one.
    """
    values = {v.strip() for v in value.split(",")}  # a list in one field: acceptable only if the values agree
    length = values.pop() if len(values) == 1 else ""
    if not (length.isascii() and length.isdigit()):
        raise ProtocolError("invalid Content-Length: %r" % value[:100])
    return int(length)
