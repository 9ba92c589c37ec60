"""The debugger's record of the sandbox API's traffic: one `ApiExchanged` fact per request, at the edge (issue 15).

Each route of the sandbox's table is wrapped (only when the debugger runs: `sandbox_router` asks the host), so the
framing and the routes stay as they are. What a wrapped request costs is a few microseconds on the host's loop:
two clock readings, a handful of header look-ups, two slices of at most `PREVIEW_BYTES` (never a copy of a whole
body) and the fact itself. A long poll (every GET of the sandbox's API parks: /next, the init gate) is published
when it parks as well, so that the debugger shows it waiting.

Who made a request: the runtime (the Runtime API's paths and lambdatui's private family, which only our own
bootstrap calls), or an extension, named by its Lambda-Extension-Identifier as its register answer gave it. The
metadata endpoint's callers send no such header, and either may call it: its calls have a tab of their own.
"""

from __future__ import annotations

import itertools
import time
from typing import Callable, Iterable, Optional

from lambdatui.api import headers as h
from lambdatui.api.http11_exchange import Exchange, Route
from lambdatui.api.http11_head import BadRequest
from lambdatui.api.metadata_routes import PATH as METADATA_PATH
from lambdatui.api.rendering import Answer
from lambdatui.model.api_traffic import RUNTIME
from lambdatui.model.error_types import body_error_type
from lambdatui.model.facts import ApiExchanged
from lambdatui.model.facts.sandbox_api import PREVIEW_BYTES

UNKNOWN_EXTENSION = "extension (unregistered)"  # a caller whose identifier no register answer gave
METADATA_CALLERS = "metadata (runtime or extension)"  # who called the metadata endpoint: no header says which
# The request headers worth showing (lower case, as the framing keeps them): what Lambda reads from a caller.
REQUEST_HEADERS = (
    "content-type", "content-length", "transfer-encoding",
    h.EXTENSION_NAME.lower(), h.EXTENSION_IDENTIFIER.lower(), h.EXTENSION_ACCEPT_FEATURE.lower(),
    h.EXTENSION_ERROR_TYPE.lower(), h.FUNCTION_ERROR_TYPE.lower(), h.RESPONSE_MODE.lower(),
)
_KEPT = frozenset(REQUEST_HEADERS)
_IDENTIFIER = h.EXTENSION_IDENTIFIER.lower()
_NAME = h.EXTENSION_NAME.lower()
_ERROR_HEADERS = (h.FUNCTION_ERROR_TYPE.lower(), h.EXTENSION_ERROR_TYPE.lower())
_REGISTER = "/2020-01-01/extension/register"
_EXTENSION_PREFIXES = ("/2020-01-01/", "/2022-07-01/", "/2020-08-15/")
_ERROR_BODY_PARSED = 4096  # a refusal's JSON is small: a larger body is not parsed for its errorType

Publish = Callable[[ApiExchanged], None]


def refusal_type(status: int, body: bytes) -> str:
    """The `errorType` of a 4xx/5xx answer's JSON body, if it has one."""
    if status < 400 or len(body) > _ERROR_BODY_PARSED:
        return ""
    return body_error_type(body) or ""


class ApiCapture:
    """Wraps one environment's routes; every exchange becomes an `ApiExchanged` handed to `publish`."""

    def __init__(self, publish: Publish, clock: Callable[[], float] = time.time) -> None:
        self._publish = publish
        self._clock = clock
        self._seq = itertools.count(1)
        self._names: dict[str, str] = {}  # extension identifier -> name, from the register answers

    def wrap(self, routes: Iterable[tuple[str, str, Route]]) -> list[tuple[str, str, Route]]:
        """The table's routes, each recorded; its GETs are the long polls, but the metadata endpoint's (answered at once)."""
        return [(method, path, self.wrap_route(route, long_poll=method == "GET" and path != METADATA_PATH))
                for method, path, route in routes]

    def wrap_route(self, route: Route, *, long_poll: bool = False) -> Route:
        """One route recorded (also the 404 and 405 answers: a runtime calling a wrong path needs to see it)."""
        inner = route.handle

        async def handle(exchange: Exchange) -> Optional[Answer]:
            seq, started = next(self._seq), self._clock()
            participant = self._participant(exchange)
            if long_poll:
                self._publish(self._fact(seq, participant, exchange, None, started, None, long_poll))
            try:
                answer = await inner(exchange)
            except Exception as exc:
                # The framing answers these (http11._handle): a malformed body with its 400, a bug of ours with a 500.
                refused = exc.answer() if isinstance(exc, BadRequest) else Answer(500, (), b"")
                self._publish(self._fact(seq, participant, exchange, refused, started, self._clock(), long_poll))
                raise
            if exchange.path == _REGISTER:
                self._registered(exchange, answer)
            # A truncated body's answer goes nowhere: the caller hung up, or its body was malformed and the framing
            # answers that (400). The view shows what the wire carried.
            sent = answer if not exchange.truncated else exchange.malformed.answer() if exchange.malformed else None
            self._publish(self._fact(seq, participant, exchange, sent, started, self._clock(), long_poll))
            return answer

        return route._replace(handle=handle)

    def _participant(self, exchange: Exchange) -> str:
        if not exchange.path.startswith(_EXTENSION_PREFIXES):
            return METADATA_CALLERS if exchange.path == METADATA_PATH else RUNTIME
        identifier = exchange.headers.get(_IDENTIFIER)
        if identifier is not None:
            return self._names.get(identifier, UNKNOWN_EXTENSION)
        name = exchange.headers.get(_NAME)  # a register call: the name it asks for
        return name.strip() if name and name.strip() else UNKNOWN_EXTENSION

    def _registered(self, exchange: Exchange, answer: Optional[Answer]) -> None:
        """A register answer names the caller's identifier: learn it, for its later calls."""
        name = exchange.headers.get(_NAME)
        if answer is None or answer.status != 200 or not name:
            return
        for key, value in answer.headers:
            if key.lower() == _IDENTIFIER:
                self._names[value] = name.strip()

    def _fact(self, seq: int, participant: str, exchange: Exchange, answer: Optional[Answer], started: float,
              answered: Optional[float], long_poll: bool) -> ApiExchanged:
        # On the invoke's path: kept to plain look-ups and slices (about 4 µs, half of it the frozen dataclass).
        headers = exchange.headers
        sent = tuple([item for item in headers.items() if item[0] in _KEPT])
        body = exchange.body
        error_type = headers.get(_ERROR_HEADERS[0]) or headers.get(_ERROR_HEADERS[1]) or ""
        if answer is None:
            status, response_headers, answer_body = 0, (), b""
        else:
            status, response_headers, answer_body = answer.status, tuple(answer.headers), answer.body
            if status >= 400:
                error_type = refusal_type(status, answer_body) or error_type
        return ApiExchanged(
            seq, participant, exchange.method, exchange.path, status, sent, response_headers,
            body[:PREVIEW_BYTES].decode("utf-8", "replace") if body else "",
            answer_body[:PREVIEW_BYTES].decode("utf-8", "replace") if answer_body else "",
            started, answered, len(body), len(answer_body), error_type, long_poll,
        )
