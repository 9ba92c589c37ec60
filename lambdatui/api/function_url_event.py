"""Function URLs (lambda-spec §12.3), the pure part: an HTTP request as Lambda's payload format 2.0 event, the
function's result as the HTTP response, and the prelude of a streamed `http-integration-response`.

No sockets and no clock: the route (`function_url`) hands in what it read and the time, and writes what comes out.
Where the documentation is silent, the rules follow what real function URLs were seen to do (LocalStack's tests
recorded against AWS, API Gateway HTTP APIs, which share the format): a request body is a string only for text
content types (`text/*`, JSON, XML, JavaScript), base64 otherwise, a missing Content-Type included; a result
without `statusCode` is the body as is, except that a JSON string is unquoted; a function error is 502 with the
plain-text body `Internal Server Error`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from typing import Any, NamedTuple, Optional, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

from lambdatui.api.headers import header_text

HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
PRELUDE_END = b"\0" * 8  # between the JSON prelude and the body of a streamed http-integration-response
MAX_PRELUDE_BYTES = 16 * 1024  # the prelude must fit in the stream's first 16 KB (lambda-spec §1.8)
DEFAULT_CONTENT_TYPE = "application/json"  # what Lambda assumes when the function does not say
REQUEST_ID_HEADER = "x-amzn-RequestId"

_TEXT_TYPES = frozenset(("application/json", "application/xml", "application/javascript"))
# Hop-by-hop fields: Lambda's front end answers the client itself, so they never reach the event, and the ones a
# function sets never reach the client (our framing writes its own Content-Length or chunks, Date, Connection).
_HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                         "upgrade", "expect"))
_FRAMING = _HOP_BY_HOP | {"content-length", "date"}
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Headers = list[tuple[str, str]]


class HttpAnswer(NamedTuple):
    status: int
    headers: Headers
    body: bytes


class MalformedResponse(Exception):
    """The function's result cannot be an HTTP response: the URL answers 502, as Lambda does."""


class UrlRequest(NamedTuple):
    """One HTTP request as the function URL received it."""

    method: str
    target: str  # the request target as sent: path and query string, percent-encoding kept
    fields: Sequence[tuple[str, str]]  # every header field in order, names in lower case, repeated ones too
    body: bytes
    source_ip: str
    protocol: str  # "HTTP/1.1"
    request_id: str  # the invoke's request id: also requestContext.requestId
    trace_id: str  # X-Amzn-Trace-Id, as the event's header and the runtime's _X_AMZN_TRACE_ID
    api_id: str  # the URL id
    port: int  # the port the request came in on (x-forwarded-port)
    now: float  # seconds since the epoch, when the request arrived


def url_id(function_name: str) -> str:
    """A function URL's id: 32 lower-case letters and digits, the same for the same function, as Lambda's is."""
    digest = hashlib.sha256(f"lambdatui:{function_name}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").lower().replace("=", "")[:32]


def has_a_path(target: str) -> bool:
    """Whether a request target names a path (origin form `/p`, or absolute form `http://h/p`): every rawPath a
    function URL sends starts with `/`; CONNECT's authority form (`host:443`) and OPTIONS' `*` name none."""
    return target.startswith("/") or target[:8].lower().startswith(("http://", "https://"))


def bad_target_answer() -> HttpAnswer:
    return HttpAnswer(400, [("Content-Type", DEFAULT_CONTENT_TYPE)], b'{"message":"Bad Request"}')


def split_target(target: str) -> tuple[str, str]:
    """(raw path, raw query string without its `?`) of a request target; an absolute-form one loses its origin."""
    if not target.startswith("/"):
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path, query


def label(method: str, target: str) -> str:
    """How the debugger names the invoke: `GET /path`."""
    return f"{method} {split_target(target)[0]}"


def is_text(content_type: Optional[str]) -> bool:
    """Whether Lambda passes a body of this type as a string (else base64, `isBase64Encoded: true`)."""
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES


def url_event(request: UrlRequest) -> dict[str, Any]:
    """The event the function receives (payload format 2.0), keys in Lambda's order."""
    raw_path, raw_query = split_target(request.target)
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.fields:
        value = header_text(value)
        if name == "cookie":
            # Format 2.0 lists them on their own, and a function URL keeps the header too (API Gateway drops it).
            # Repeated Cookie fields are one header joined by "; " (RFC 9113's rule for an HTTP/2 request's).
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            headers[name] = f"{headers[name]}; {value}" if name in headers else value
        elif name not in _HOP_BY_HOP:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    headers.setdefault("x-amzn-trace-id", request.trace_id)
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-port", str(request.port))
    headers.setdefault("x-forwarded-proto", "http")
    event: dict[str, Any] = {"version": "2.0", "routeKey": "$default", "rawPath": raw_path,
                             "rawQueryString": raw_query}
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    parameters: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
    if parameters:
        event["queryStringParameters"] = parameters
    event["requestContext"] = {
        "accountId": "anonymous",  # the caller's account: none for a URL without IAM auth
        "apiId": request.api_id,
        "domainName": headers.get("host", f"{request.api_id}.lambda-url.localhost"),
        "domainPrefix": request.api_id,
        # rawPath as sent; http.path decoded (a live function URL's event: `/space%20value` → `/space value`)
        "http": {"method": request.method, "path": unquote(raw_path), "protocol": request.protocol,
                 "sourceIp": request.source_ip, "userAgent": headers.get("user-agent", "")},
        "requestId": request.request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": _request_time(request.now),
        "timeEpoch": int(request.now * 1000),
    }
    if request.body:
        text = _text_body(request.body, headers.get("content-type"))
        event["body"] = text if text is not None else base64.b64encode(request.body).decode("ascii")
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def event_bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _text_body(body: bytes, content_type: Optional[str]) -> Optional[str]:
    if not is_text(content_type):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None  # text that is not UTF-8 would not survive as a JSON string: base64, as binary


def _request_time(now: float) -> str:
    """`12/Mar/2020:19:03:58 +0000`, in English whatever the locale."""
    t = time.gmtime(now)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


# ---------------------------------------------------------------------- the function's result → HTTP


def buffered_answer(payload: bytes) -> HttpAnswer:
    """The HTTP response for a function's (buffered) result; raises MalformedResponse for one that cannot be."""
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        raise MalformedResponse("the function's response is not JSON") from None
    if isinstance(value, dict) and "statusCode" in value:
        status, headers = _head(value)
        return HttpAnswer(status, headers, _body(value))
    if isinstance(value, str):  # a JSON string is the body without its quotes (seen on AWS)
        return HttpAnswer(200, [("Content-Type", DEFAULT_CONTENT_TYPE)], value.encode("utf-8"))
    # Any other JSON goes out as AWS writes it again, compact (`{"hello": "world"}` arrives as `{"hello":"world"}`).
    try:
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
    except RecursionError:  # nested deeper than the encoder goes: as the function wrote it
        body = payload
    return HttpAnswer(200, [("Content-Type", DEFAULT_CONTENT_TYPE)], body)


def error_answer() -> HttpAnswer:
    """A function error, a timeout, or a response that cannot be an HTTP one."""
    return HttpAnswer(502, [("Content-Type", DEFAULT_CONTENT_TYPE)], b"Internal Server Error")


def throttled_answer() -> HttpAnswer:
    return HttpAnswer(429, [("Content-Type", DEFAULT_CONTENT_TYPE), ("x-amzn-ErrorType", "ThrottlingException")],
                      b'{"message":"Rate Exceeded."}')


def too_large_answer(limit: int) -> HttpAnswer:
    body = json.dumps({"message": f"Request must be smaller than {limit} bytes for the InvokeFunction operation"})
    return HttpAnswer(413, [("Content-Type", DEFAULT_CONTENT_TYPE), ("x-amzn-ErrorType", "RequestTooLargeException")],
                      body.encode())


def _head(value: dict[str, Any], status_required: bool = True) -> tuple[int, Headers]:
    status = value.get("statusCode", None if status_required else 200)
    if isinstance(status, str) and status.isascii() and status.isdigit():
        status = int(status)  # "418" is taken as 418, as AWS takes it
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        # 1xx are interim answers, never the last: a client sent one waits for the final answer until it times out
        raise MalformedResponse(f"statusCode {status!r} is not the status of a final HTTP answer")
    headers: Headers = []
    given = value.get("headers") or {}
    if not isinstance(given, dict):
        raise MalformedResponse("headers is not an object")
    for name, field in given.items():
        if _FIELD_NAME.fullmatch(name) is None:
            raise MalformedResponse(f"{name!r} is not a header name")
        if name.lower() not in _FRAMING:
            headers.append((name, _header_value(field)))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.insert(0, ("Content-Type", DEFAULT_CONTENT_TYPE))
    cookies = value.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(cookie, str) for cookie in cookies):
        raise MalformedResponse("cookies is not a list of strings")
    headers.extend(("Set-Cookie", cookie) for cookie in cookies)
    return status, headers


def _header_value(field: Any) -> str:
    if isinstance(field, str):
        return field
    if isinstance(field, list):  # several values of one header: joined, as format 2.0 joins them
        return ",".join(_header_value(item) for item in field)
    return json.dumps(field)  # a number or a boolean, as its JSON text


def _body(value: dict[str, Any]) -> bytes:
    body = value.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if value.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse("isBase64Encoded, but the body is not base64") from None
    return body.encode("utf-8")


# ---------------------------------------------------------------------- a streamed http-integration-response


class PreludeReader:
    """Reads a streamed http-integration-response's head: the JSON prelude up to the 8 NUL bytes. Feed it the
    stream's pieces until it returns (status, headers, the body bytes that came with the prelude)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, piece: bytes) -> Optional[tuple[int, Headers, bytes]]:
        self._buffer += piece
        end = self._buffer.find(PRELUDE_END)
        # Past 16 KB whether its end came in the same piece or not: how the runtime's writes were cut must not
        # decide whether a response is taken.
        if end > MAX_PRELUDE_BYTES or (end < 0 and len(self._buffer) > MAX_PRELUDE_BYTES + len(PRELUDE_END)):
            raise MalformedResponse(f"no prelude end (8 NUL bytes) in the stream's first {MAX_PRELUDE_BYTES} "
                                    "bytes")
        if end < 0:
            return None
        try:
            prelude = json.loads(bytes(self._buffer[:end]))
        except (ValueError, RecursionError):
            raise MalformedResponse("the stream's prelude is not JSON") from None
        if not isinstance(prelude, dict):
            raise MalformedResponse("the stream's prelude is not a JSON object")
        status, headers = _head(prelude, status_required=False)
        return status, headers, bytes(self._buffer[end + len(PRELUDE_END):])
