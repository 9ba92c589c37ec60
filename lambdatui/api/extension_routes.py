"""Extensions API `2020-01-01` (lambda-spec §2). Requests are validated here, before any state transition."""

from __future__ import annotations

import json
from typing import Optional, Union

from lambdatui.api import headers as h
from lambdatui.api.http11_exchange import Exchange, Route
from lambdatui.api.rendering import Answer, error, from_reply
from lambdatui.core import inputs as ins
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import error_types as et

PREFIX = "/2020-01-01/extension"
EVENT_TYPES = ("INVOKE", "SHUTDOWN")
REGISTER_BODY_LIMIT = 64 * 1024
_NAME = h.EXTENSION_NAME.lower()
_IDENTIFIER = h.EXTENSION_IDENTIFIER.lower()
_ACCEPT_FEATURE = h.EXTENSION_ACCEPT_FEATURE.lower()
_ERROR_TYPE = h.EXTENSION_ERROR_TYPE.lower()


def extension_identifier(exchange: Exchange) -> Union[str, Answer]:
    """The caller's Lambda-Extension-Identifier, or the 403 Lambda answers without a valid one."""
    value = exchange.headers.get(_IDENTIFIER)
    if not value:
        return error(403, et.EXT_MISSING_IDENTIFIER, "Missing Lambda-Extension-Identifier header")
    import uuid  # here: `invoke` and `serve` start ~2 ms sooner where no extension calls

    try:
        uuid.UUID(value)
    except ValueError:
        return error(403, et.EXT_INVALID_IDENTIFIER, f"Invalid Lambda-Extension-Identifier {value}")
    return value


def _parse_events(raw: bytes) -> Union[tuple[str, ...], Answer]:
    # RAPID decodes the body with Go's encoding/json, for which a `null` (the whole body, or a field's value: what a
    # Go extension marshals for a nil slice) is as if absent, and refuses only what does not decode or a non-empty
    # configurationKeys (lambda-spec §2.2).
    try:
        data = json.loads(raw)  # an empty body too is refused, as RAPID refuses it
    except (ValueError, RecursionError) as exc:
        return error(403, et.INVALID_REQUEST_FORMAT, f"Invalid register body: {exc}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return error(403, et.INVALID_REQUEST_FORMAT, "Register body must be a JSON object")
    if data.get("configurationKeys") not in (None, []):
        return error(403, et.INVALID_REQUEST_FORMAT, "configurationKeys are deprecated; use environment variables instead")
    events = data.get("events")
    if events is None:
        events = []
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        return error(403, et.INVALID_REQUEST_FORMAT, "'events' must be a list of event names")
    for event in events:
        if event not in EVENT_TYPES:
            return error(403, et.EXT_INVALID_EVENT_TYPE, f"Invalid event type {event!r}: expected INVOKE or SHUTDOWN")
    return tuple(events)


def extension_routes(host: EnvironmentHost) -> list[tuple[str, str, Route]]:
    async def register(exchange: Exchange) -> Answer:
        name = exchange.headers.get(_NAME, "").strip()
        if not name:
            return error(403, et.EXT_INVALID_NAME, "Empty extension name")
        if exchange.too_large:
            return error(403, et.INVALID_REQUEST_FORMAT, "Register body too large")
        events = _parse_events(exchange.body)
        if isinstance(events, Answer):
            return events
        features = {f.strip() for f in exchange.headers.get(_ACCEPT_FEATURE, "").split(",")}
        return from_reply(await host.request(
            lambda token: ins.ExtensionRegister(token, name, events, wants_account_id="accountId" in features)
        ))

    async def next_event(exchange: Exchange) -> Optional[Answer]:
        extension_id = extension_identifier(exchange)
        if isinstance(extension_id, Answer):
            return extension_id
        arrived = exchange.arrived
        reply = await host.request(lambda token: ins.ExtensionNext(token, extension_id, arrived),
                                   long_poll=exchange)
        return None if reply is None else from_reply(reply)

    def report(kind: type) -> Route:
        async def handle(exchange: Exchange) -> Answer:
            extension_id = extension_identifier(exchange)
            if isinstance(extension_id, Answer):
                return extension_id
            error_type: Optional[str] = exchange.headers.get(_ERROR_TYPE)
            if not error_type:
                return error(403, et.EXT_MISSING_HEADER, "Lambda-Extension-Function-Error-Type not found")
            return from_reply(await host.request(lambda token: kind(token, extension_id, error_type)))

        # The body (the error's details) is read and dropped, as Lambda does; RAPID never reads it, so a body cut
        # short or malformed does not lose the report: it still reaches the core (the framing answers the body).
        return Route(handle, hears_truncation=True)

    return [
        ("POST", f"{PREFIX}/register", Route(register, REGISTER_BODY_LIMIT)),
        ("GET", f"{PREFIX}/event/next", Route(next_event)),
        ("POST", f"{PREFIX}/init/error", report(ins.ExtensionInitError)),
        ("POST", f"{PREFIX}/exit/error", report(ins.ExtensionExitError)),
    ]
