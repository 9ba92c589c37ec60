"""HTTP/1.1 request heads in, response heads out: pure functions for our HTTP/1.1 server (`http11`).

Strict where a lax reading could desynchronise the connection (RFC 9112): one request line, token field names
with no space before the colon, no obsolete line folding, no control characters, one Content-Length (or equal
copies), Transfer-Encoding only `chunked` (which then wins over Content-Length), a Host on HTTP/1.1. A bare LF
ends a line as CRLF does, and empty lines before a request are skipped, as RFC 9112 §2.2 allows.
"""

from __future__ import annotations

import re
import time
from http import HTTPStatus
from typing import NamedTuple, Optional, Sequence
from urllib.parse import unquote

from lambdatui.api.rendering import Answer, error

# Request line and header fields; a longer head is answered 431. Go's net/http default, which Lambda's and the
# emulator's servers keep: awslambdaric sends an error's X-Ray cause, message included, in a header up to 1 MiB.
MAX_HEAD_BYTES = 1024 * 1024

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_SEARCHED_PLAINLY = 8192  # searched plainly from where a search starts (a longer head: the expression)

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_FIELD_NAME = re.compile(_TOKEN)
_REQUEST_LINE = re.compile(rf"({_TOKEN}) ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])")
# Control characters other than HTAB and the LF that ends a line (a CR that does not end one included) are never
# part of a head.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_STATUS_LINES = {status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n" for status in HTTPStatus}
# A CR, LF or NUL in a value would end the header early: a client context is JSON, whose whitespace may be a newline.
_UNSAFE_VALUE = re.compile(r"[\r\n\x00]")


class BadRequest(Exception):
    """A request the framing cannot read: answered with Lambda's JSON error shape, then the connection closes."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message

    def answer(self) -> Answer:
        return error(self.status, self.error_type, self.message)


def _malformed(message: str) -> BadRequest:
    return BadRequest(400, "InvalidRequestFormat", message)


class Head(NamedTuple):
    method: str
    path: str  # percent-decoded, without the query, as ASGI servers give it
    headers: dict[str, str]  # lower-case name → the first field's value (Connection, Transfer-Encoding: all joined)
    length: Optional[int]  # body bytes declared; None for a chunked body
    keep_alive: bool
    expects_continue: bool
    target: str  # the request target as sent: an ASGI app's raw path and query string
    http10: bool
    repeated: tuple[tuple[str, str], ...] = ()  # the fields that repeat an earlier field's name, in order


def find_head_end(buffer: bytearray, start: int) -> Optional[tuple[int, int]]:
    """(end of the last header line, start of the body) once the blank line that ends a head is in `buffer`: where
    `_HEAD_END` first matches from `start`. Every form of that blank line holds a LF followed by LF or CRLF, so in the
    first few KB two plain searches find it (the regular expression took ~3 µs a request); past them (a long head, or
    a body behind one that has no blank line in them) the regular expression, which stops at its first match."""
    stop = start + _SEARCHED_PLAINLY
    lf_crlf = buffer.find(b"\n\r\n", start, stop + 2)  # each finds only what starts before `stop`
    lf_lf = buffer.find(b"\n\n", start, stop + 1 if lf_crlf < 0 else lf_crlf + 2)
    if lf_lf >= 0 or lf_crlf >= 0:
        at = lf_lf if lf_crlf < 0 or 0 <= lf_lf < lf_crlf else lf_crlf  # the first LF of the blank line
        begin = at - 1 if at > start and buffer[at - 1] == 13 else at  # with the CR before it, if any
        end = at + 3 if at == lf_crlf else at + 2
    elif len(buffer) <= stop:
        return None
    else:
        match = _HEAD_END.search(buffer, start)
        if match is None:
            return None
        begin, end = match.span()
    if begin > MAX_HEAD_BYTES:
        raise BadRequest(431, "RequestHeaderFieldsTooLarge", "Request header fields too large")
    return begin, end


def parse_head(block: bytes) -> Head:
    """The request line and header fields, without the blank line that ends them."""
    text = block.decode("latin-1").replace("\r\n", "\n")
    if _CONTROL.search(text) is not None:
        raise _malformed("Control character in the request head")
    lines = text.split("\n")
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        raise _malformed("Malformed request line")
    method, target, major, minor = request_line.groups()
    if target[:1] != "/":
        target = _origin_form(target)
    if major != "1":
        raise BadRequest(505, "HTTPVersionNotSupported", f"HTTP/{major}.{minor} is not supported")
    headers: dict[str, str] = {}
    repeated: list[tuple[str, str]] = []
    hosts = 0
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or _FIELD_NAME.fullmatch(name) is None:
            raise _malformed("Malformed header field")
        name = name.lower()
        value = value.strip(" \t")
        if name == "host":
            hosts += 1
        known = headers.get(name)
        if known is None:
            headers[name] = value
            continue
        repeated.append((name, value))  # a function URL's event joins them (lambda-spec §12.3)
        if name in ("connection", "transfer-encoding"):
            headers[name] = f"{known}, {value}"
        elif name == "content-length" and value != known:
            raise _malformed("Conflicting Content-Length fields")
    http10 = minor == "0"
    if hosts > 1 or (hosts == 0 and not http10):
        raise _malformed("An HTTP/1.1 request needs exactly one Host field")
    return Head(method, unquote(target.partition("?")[0]), headers, _body_length(headers),
                _keeps_alive(headers, http10),
                not http10 and headers.get("expect", "").lower() == "100-continue", target, http10,
                tuple(repeated))


def _origin_form(target: str) -> str:
    """An absolute-form target (`http://host:port/path?query`), which a server must accept (RFC 9112 §3.2.2), as the
    origin-form it stands for; any other is left for the routes to refuse."""
    scheme, sep, rest = target.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return target
    at = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    path = rest[at:]
    return path if path.startswith("/") else "/" + path


def _body_length(headers: dict[str, str]) -> Optional[int]:
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.lower() != "chunked":
            raise BadRequest(501, "NotImplemented", f"Unsupported Transfer-Encoding {coding!r}")
        return None
    length = headers.get("content-length")
    if length is None:
        return 0
    if not (length.isascii() and length.isdigit()):
        raise _malformed("Malformed Content-Length field")
    return int(length)


def _keeps_alive(headers: dict[str, str], http10: bool) -> bool:
    """HTTP/1.0 always closes (as h11 and hypercorn did); HTTP/1.1 unless asked to close."""
    if http10:
        return False
    connection = headers.get("connection")
    return connection is None or "close" not in (token.strip().lower() for token in connection.split(","))


def has_body(status: int) -> bool:
    """Whether an answer with this status may carry a body at all (RFC 9110 §6.4.1: not 1xx, 204 or 304)."""
    return not (status < 200 or status in (204, 304))


def render_head(status: int, headers: Sequence[tuple[str, str]], length: Optional[int], date: str,
                close: bool) -> bytes:
    """A response head; `length` None: the body follows in chunks (Transfer-Encoding: chunked). A status that
    has no body gets no framing either (`has_body`)."""
    parts = [_STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n"]
    for name, value in headers:
        if _UNSAFE_VALUE.search(value):
            value = _UNSAFE_VALUE.sub(" ", value)
        parts.append(f"{name}: {value}\r\n")
    if has_body(status):
        parts.append("Transfer-Encoding: chunked\r\n" if length is None else f"Content-Length: {length}\r\n")
    parts.append(f"Date: {date}\r\n")
    if close:
        parts.append("Connection: close\r\n")
    parts.append("\r\n")
    text = "".join(parts)
    try:
        return text.encode("latin-1")  # header values came in as latin-1: the same bytes go back out
    except UnicodeEncodeError:
        pass
    # A value beyond latin-1 (a decoded client context) goes out as UTF-8; a function's name taken from a folder whose
    # name is not UTF-8 (its bytes kept as surrogates by the file system's decoding) as those bytes; a lone surrogate
    # that stands for no byte as U+FFFD. Never a route that fails on what a value holds.
    return _STRAY_SURROGATE.sub("\ufffd", text).encode("utf-8", "surrogateescape")


# Surrogates other than U+DC80-U+DCFF, which surrogateescape turns back into the bytes 0x80-0xFF they stand for.
_STRAY_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header (RFC 9110's IMF-fixdate), formatted once per second; email.utils would cost 2.5 ms to import."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        t = time.gmtime(now)
        _date_cache = (now, f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
                            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")
    return _date_cache[1]
