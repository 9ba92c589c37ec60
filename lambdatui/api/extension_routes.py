"""Extensions API `2020-01-01` (lambda-spec §2). Requests are validated here, before any state transition."""

from __future__ import annotations

import json
import uuid
from typing import Optional, Union

from quart import Blueprint, Response, request

from lambdatui.api import headers as h
from lambdatui.api.rendering import error, from_reply, read_body
from lambdatui.core import inputs as ins
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import error_types as et

EVENT_TYPES = ("INVOKE", "SHUTDOWN")


def _identifier() -> Union[str, Response]:
    value = request.headers.get(h.EXTENSION_IDENTIFIER)
    if not value:
        return error(403, et.EXT_MISSING_IDENTIFIER, "Missing Lambda-Extension-Identifier header")
    try:
        uuid.UUID(value)
    except ValueError:
        return error(403, et.EXT_INVALID_IDENTIFIER, f"Invalid Lambda-Extension-Identifier {value}")
    return value


def _parse_events(raw: bytes) -> Union[tuple[str, ...], Response]:
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError) as exc:
        return error(403, et.INVALID_REQUEST_FORMAT, f"Invalid register body: {exc}")
    if not isinstance(data, dict):
        return error(403, et.INVALID_REQUEST_FORMAT, "Register body must be a JSON object")
    if "configurationKeys" in data:
        return error(403, et.INVALID_REQUEST_FORMAT, "configurationKeys are deprecated; use environment variables instead")
    events = data.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        return error(403, et.INVALID_REQUEST_FORMAT, "'events' must be a list of event names")
    for event in events:
        if event not in EVENT_TYPES:
            return error(403, et.EXT_INVALID_EVENT_TYPE, f"Invalid event type {event!r}: expected INVOKE or SHUTDOWN")
    return tuple(events)


def extension_blueprint(host: EnvironmentHost) -> Blueprint:
    api = Blueprint("extensions", __name__, url_prefix="/2020-01-01/extension")

    @api.post("/register")
    async def register() -> Response:
        name = request.headers.get(h.EXTENSION_NAME, "").strip()
        if not name:
            return error(403, et.EXT_INVALID_NAME, "Empty extension name")
        body, too_large = await read_body(64 * 1024)
        if too_large:
            return error(403, et.INVALID_REQUEST_FORMAT, "Register body too large")
        events = _parse_events(body)
        if isinstance(events, Response):
            return events
        features = {f.strip() for f in request.headers.get(h.EXTENSION_ACCEPT_FEATURE, "").split(",")}
        return from_reply(await host.request(
            lambda token: ins.ExtensionRegister(token, name, events, wants_account_id="accountId" in features)
        ))

    @api.get("/event/next")
    async def next_event() -> Response:
        extension_id = _identifier()
        if isinstance(extension_id, Response):
            return extension_id
        return from_reply(await host.request(lambda token: ins.ExtensionNext(token, extension_id)))

    async def _report(kind: type) -> Response:
        extension_id = _identifier()
        if isinstance(extension_id, Response):
            return extension_id
        error_type: Optional[str] = request.headers.get(h.EXTENSION_ERROR_TYPE)
        if not error_type:
            return error(403, et.EXT_MISSING_HEADER, "Lambda-Extension-Function-Error-Type not found")
        await read_body(1024 * 1024)
        return from_reply(await host.request(lambda token: kind(token, extension_id, error_type)))

    @api.post("/init/error")
    async def init_error() -> Response:
        return await _report(ins.ExtensionInitError)

    @api.post("/exit/error")
    async def exit_error() -> Response:
        return await _report(ins.ExtensionExitError)

    return api
