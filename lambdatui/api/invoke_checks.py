"""What the Invoke API checks and answers whichever route serves a request (the plain invoke's own route in
`server`, the streaming invoke's in `stream_invoke`, or the quart app's in `invoke_routes`): kept free of quart,
so a plain invoke never imports it."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Optional

from lambdatui.api import headers as h
from lambdatui.json_text import check_json
from lambdatui.model.facts import InvocationResult


class InvokeRefused(Exception):
    """An Invoke API request Lambda itself would refuse, before anything runs."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message

    def parts(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """AWS restJson error shape: botocore reads the type from X-Amzn-ErrorType."""
        body = json.dumps({"Type": "User", "message": self.message}).encode()
        return self.status, [("Content-Type", "application/json"), (h.AMZN_ERROR_TYPE, self.error_type)], body


def checked_payload(payload: bytes, too_large: bool, limit: int, invocation_type: str) -> bytes:
    """The event as the runtime gets it: JSON, as Lambda requires; an empty body is `{}`."""
    if too_large:
        raise InvokeRefused(413, "RequestTooLargeException",
                            f"Request must be smaller than {limit} bytes for the {invocation_type} invocation type")
    if not payload.strip():
        return b"{}"
    try:
        check_json(payload)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than Python's json can follow
        raise InvokeRefused(400, "InvalidRequestContentException",
                            f"Could not parse request body into json: {exc}") from None
    return payload


MAX_CLIENT_CONTEXT_BYTES = 3583


def checked_invocation_type(value: Optional[str], allowed: tuple[str, ...]) -> str:
    """X-Amz-Invocation-Type, RequestResponse when absent; one the API does not take is refused."""
    if value is None:
        return "RequestResponse"
    if value not in allowed:
        raise InvokeRefused(400, "InvalidParameterValueException",
                            f"Invalid X-Amz-Invocation-Type {value!r}: expected one of {', '.join(allowed)}")
    return value


def checked_client_context(encoded: Optional[str]) -> Optional[str]:
    """X-Amz-Client-Context as the runtime gets it: base64 of a JSON document, decoded (None when absent)."""
    if not encoded:
        return None
    if len(encoded) > MAX_CLIENT_CONTEXT_BYTES:
        raise InvokeRefused(400, "InvalidParameterValueException",
                            f"Client context must be at most {MAX_CLIENT_CONTEXT_BYTES} bytes")
    try:
        client_context = base64.b64decode(encoded, validate=True).decode()
        check_json(client_context)
    except (binascii.Error, ValueError, RecursionError):
        raise InvokeRefused(400, "InvalidRequestContentException",
                            "Client context must be a valid Base64-encoded JSON object.") from None
    return client_context


def result_headers(result: InvocationResult, tail: Optional[str]) -> list[tuple[str, str]]:
    headers = [("Content-Type", result.content_type), (h.AMZN_REQUEST_ID, result.request_id),
               (h.EXECUTED_VERSION, "$LATEST")]
    if result.function_error:
        headers.append((h.FUNCTION_ERROR, "Unhandled"))
    if tail is not None:
        headers.append((h.LOG_RESULT, tail))
    return headers


def throttle_parts(refused: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A throttle as Lambda answers it (lambda-spec §11.1): 429, TooManyRequestsException, and its Reason first."""
    refusal = refused.refusal
    body: dict[str, str] = {"Type": "User", "message": refusal.message}
    if refusal.reason is not None:
        body = {"Reason": refusal.reason, **body}
    return (refusal.status, [("Content-Type", "application/json"), (h.AMZN_ERROR_TYPE, refusal.error_type)],
            json.dumps(body).encode())


def api_failure_parts(result: InvocationResult) -> Optional[tuple[int, list[tuple[str, str]], bytes]]:
    """The Invoke API's own error when no function answered (SnapStart's restore failures, a snapshot that could
    not be made), as botocore reads it; None for a function's answer."""
    if not result.api_status:
        return None
    try:
        message = json.loads(result.payload).get("errorMessage")
    except (ValueError, AttributeError, RecursionError):
        message = None
    if not isinstance(message, str):
        message = result.payload.decode("utf-8", "replace")
    return InvokeRefused(result.api_status, result.error_type or "ServiceException", message).parts()
