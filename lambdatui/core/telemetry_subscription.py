"""A Telemetry API or Logs API subscription request, validated as Lambda validates it (lambda-spec §3.1, §3.3, §3.7).

Pure: the body in, a `Subscription` or the error Lambda answers out. Where the spec is silent we chose:
- a destination host must be the sandbox's own loopback: `sandbox.localdomain` and `sandbox` (what Lambda
  documents and the AWS emulator accepts), or `localhost`/`127.0.0.1`, the same loopback under other names;
- the Logs API's HTTP destination may name `"method": "PUT"` (POST otherwise), as its documentation allows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Union
from urllib.parse import quote, urlsplit

from lambdatui.model.telemetry import TELEMETRY, Subscription

TELEMETRY_SCHEMAS = ("2022-07-01", "2022-12-13", "2025-01-29")
LOGS_SCHEMAS = ("2020-08-15", "2021-03-18")
TYPES = ("platform", "function", "extension")
SANDBOX_HOSTS = ("sandbox.localdomain", "sandbox", "localhost", "127.0.0.1")
# (minimum, default, maximum), the buffering table of lambda-spec §3.3 (the Logs API shares it).
# What a URI's path and query keep as they are (RFC 3986 pchar, and `%` of what is encoded already).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
BUFFERING = {
    "maxItems": (1_000, 10_000, 10_000),
    "maxBytes": (262_144, 262_144, 1_048_576),
    "timeoutMs": (25, 1_000, 30_000),
}


@dataclass(frozen=True)
class Invalid:
    """A subscription request Lambda turns away: the status, error type and message it answers with."""

    status: int
    error_type: str
    message: str


def validation_error_type(api: str) -> str:
    return "ValidationError" if api == TELEMETRY else "Logs.ValidationError"


def parse_subscription(api: str, body: bytes) -> Union[Subscription, Invalid]:
    """The subscription `body` asks for, or why Lambda would answer 400."""

    def bad(message: str) -> Invalid:
        return Invalid(400, validation_error_type(api), message)

    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        return bad("The request body is not valid JSON")
    if not isinstance(request, dict):
        return bad("The request body must be a JSON object")
    schemas = TELEMETRY_SCHEMAS if api == TELEMETRY else LOGS_SCHEMAS
    schema = request.get("schemaVersion", None if api == TELEMETRY else LOGS_SCHEMAS[0])
    if schema not in schemas:
        return bad(f"schemaVersion must be one of {', '.join(schemas)}; got {_shown(schema)}")
    types = request.get("types")
    if not isinstance(types, list) or not types or not all(t in TYPES for t in types):
        return bad(f"types must be a non-empty list of {', '.join(TYPES)}; got {_shown(types)}")
    buffering = request.get("buffering", {})
    if buffering is None:
        buffering = {}
    if not isinstance(buffering, dict):
        return bad("buffering must be an object")
    limits: dict[str, int] = {}
    for name, (low, default, high) in BUFFERING.items():
        value = buffering.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return bad(f"buffering.{name} must be an integer from {low} to {high}; got {_shown(value)}")
        limits[name] = value
    destination = _destination(request.get("destination"))
    if isinstance(destination, str):
        return bad(destination)
    protocol, port, path, method, uri = destination
    if protocol == "HTTP" and method != "POST" and api == TELEMETRY:
        return bad("destination.method is not supported by the Telemetry API (it delivers by POST)")
    return Subscription(api, schema, tuple(dict.fromkeys(types)), limits["maxItems"], limits["maxBytes"],
                        limits["timeoutMs"], protocol, port, path, method, uri)


def _destination(value: Any) -> Union[str, tuple[str, int, str, str, str]]:
    if not isinstance(value, dict):
        return "destination is required: {\"protocol\": \"HTTP\", \"URI\": \"http://sandbox.localdomain:PORT\"}"
    protocol = value.get("protocol")
    if protocol == "TCP":
        port = value.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            return f"destination.port must be an integer from 1 to 65535; got {_shown(port)}"
        return ("TCP", port, "", "", "")
    if protocol != "HTTP":
        return f"destination.protocol must be HTTP or TCP; got {_shown(protocol)}"
    uri = value.get("URI")
    if not isinstance(uri, str):
        return "destination.URI is required for the HTTP protocol"
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return f"destination.URI is not a valid URI: {_shown(uri)}"
    if parts.scheme != "http":
        return f"destination.URI must be http:// (Lambda delivers in plain HTTP inside the sandbox); got {_shown(uri)}"
    if (parts.hostname or "") not in SANDBOX_HOSTS:
        return (f"destination.URI must name the sandbox (http://sandbox.localdomain:PORT): a listener lives inside "
                f"the execution environment; got {_shown(uri)}")
    if port is None:
        return f"destination.URI must name a port; got {_shown(uri)}"
    method = value.get("method", "POST")
    if method not in ("POST", "PUT"):
        return f"destination.method must be POST or PUT; got {_shown(method)}"
    # The request target as Lambda's Go client sends it: what may not stand in one (a space, a non-ASCII letter)
    # percent-encoded, what is encoded already kept.
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE + "?")
    return ("HTTP", port, path, method, uri)


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."
