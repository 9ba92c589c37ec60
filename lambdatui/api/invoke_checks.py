"""What the Invoke API checks and answers whichever route serves a request (the plain invoke's own route in
`server`, the streaming invoke's in `stream_invoke`, or the quart app's in `invoke_routes`): kept free of quart,
so a plain invoke never imports it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Optional
from urllib.parse import parse_qsl

from lambdatui.api import headers as h
from lambdatui.config import FunctionConfig
from lambdatui.core.common import function_arn
from lambdatui.ids import new_uuid
from lambdatui.json_text import check_json
from lambdatui.lambda_limits import MAX_QUALIFIER_CHARS, QUALIFIER
from lambdatui.model import error_types as et
from lambdatui.model.facts import InvocationResult
from lambdatui.model.fleet import EVENT


def fault_side(status: int) -> str:
    """The restJson error's `Type`: "Service" for Lambda's own failure (a 5xx, ServiceException), "User" for what the
    caller asked wrong or too much of (a 4xx, throttles included), as AWS writes it."""
    return "Service" if status >= 500 else "User"


def compact_json(body: dict[str, str]) -> bytes:
    """An error body as AWS's front end writes it: no spaces (lambda-spec §11.1 gives the throttle's so)."""
    return json.dumps(body, separators=(",", ":")).encode()


# The errors whose body spells its text `Message`, as Lambda writes them and botocore's model reads them (a real
# ResourceNotFoundException: {"Message":"Function not found: ...","Type":"User"}); the others', and AWS's common
# errors' (ValidationException), spell it `message`. botocore takes Error.Message from either; the modeled field
# (e.response["Message"], another SDK's typed getter) only from its own spelling.
_CAPITALISED = frozenset({"ResourceNotFoundException", "ServiceException", "SnapStartException",
                          "SnapStartNotReadyException", "SnapStartTimeoutException",
                          "SnapStartRegenerationFailureException", "InvalidRuntimeException",
                          "NoPublishedVersionException", "RecursiveInvocationException",
                          "ServiceQuotaExceededException"})


class InvokeRefused(Exception):
    """An Invoke API request Lambda itself would refuse, before anything runs."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message

    def parts(self, request_id: Optional[str] = None) -> tuple[int, list[tuple[str, str]], bytes]:
        """AWS restJson error shape: botocore reads the type from X-Amzn-ErrorType; every AWS answer has an id (the
        invoke's, when the log names it: `request_id`)."""
        text = "Message" if self.error_type in _CAPITALISED else "message"
        body = compact_json({"Type": fault_side(self.status), text: self.message})
        return self.status, [("Content-Type", "application/json"), (h.AMZN_ERROR_TYPE, self.error_type),
                             (h.AMZN_REQUEST_ID, request_id or new_uuid())], body


def method_not_allowed() -> InvokeRefused:
    """Another method on an Invoke API path (a GET of .../invocations), on whichever route serves that path."""
    return InvokeRefused(405, "MethodNotAllowed", "Method not allowed for this endpoint")


# What Lambda's front end answers for a request over its limit, as callers have seen it: the error type on the wire
# is RequestEntityTooLargeException (the API reference names it RequestTooLargeException), and a synchronous
# request's limit is 6 MiB exactly (a response may have 100 bytes more: et.MAX_RESPONSE_BYTES).
REQUEST_TOO_LARGE = "RequestEntityTooLargeException"
MAX_SYNC_REQUEST_BYTES = et.MAX_SYNC_PAYLOAD_BYTES  # also a function URL's event's limit


def payload_limit(invocation_type: str) -> int:
    return et.MAX_ASYNC_PAYLOAD_BYTES if invocation_type == EVENT else MAX_SYNC_REQUEST_BYTES


def checked_payload(payload: bytes, too_large: bool, invocation_type: str, operation: str = "InvokeFunction",
                    size: int = 0) -> bytes:
    """The event as the runtime gets it: JSON, as Lambda requires; an empty body is `{}`. `size`: how many bytes
    the caller sent, when `too_large`."""
    if too_large and invocation_type == EVENT:
        raise InvokeRefused(413, REQUEST_TOO_LARGE, f"{size} byte payload is too large for the Event invocation type "
                                                    f"(limit {et.MAX_ASYNC_PAYLOAD_BYTES} bytes)")
    if too_large:
        raise InvokeRefused(413, REQUEST_TOO_LARGE,
                            f"Request must be smaller than {MAX_SYNC_REQUEST_BYTES} bytes for the {operation} operation")
    if not payload.strip():
        return b"{}"
    try:
        check_json(payload)
    except ValueError as exc:
        raise InvokeRefused(400, "InvalidRequestContentException",
                            f"Could not parse request body into json: {exc}") from None
    return payload


MAX_CLIENT_CONTEXT_BYTES = 3583
# The Invoke API's constraints on FunctionName (botocore's model, NamespacedFunctionName), as Lambda names them when it
# refuses one; the name itself is a function's, 64 characters at most ("If you specify only the function name, it is
# limited to 64 characters", the API reference): no function has a longer one.
FUNCTION_NAME = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
                 r"(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?")
_FUNCTION_NAME = re.compile(FUNCTION_NAME)
_NAME_GROUP = 11  # ([a-zA-Z0-9-_\.]+): the function's own name
MAX_FUNCTION_NAME_CHARS = 256
MAX_NAME_CHARS = 64


def _invalid_name(function_name: str, constraint: str) -> InvokeRefused:
    return InvokeRefused(400, "ValidationException", f"1 validation error detected: Value '{function_name}' at "
                                                     f"'functionName' failed to satisfy constraint: {constraint}")


def checked_qualifier(function_name: str, query: str, served: FunctionConfig) -> str:
    """The version or alias the caller named (lambda-spec §7.1): a `:qualifier` ending the FunctionName (a name, a
    partial ARN or a full ARN), or the Qualifier parameter; "" for none. The runtime's invoked function ARN carries
    it, as Lambda's does. Any name is this function's (README), and its region and account are lambdatui's, but for
    one of the template's other functions (`served.siblings`): that caller means another function, which
    `--function` serves by its logical ID. A FunctionName outside Lambda's constraints is refused as Lambda refuses
    it (ValidationException)."""
    parts = function_name.split(":")
    # ACCOUNT:function:NAME, REGION:ACCOUNT:function:NAME, arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME
    named_at = next((at + 1 for at in (1, 2, 5) if len(parts) > at + 1 and parts[at] == "function"), 0)
    if len(parts) > named_at and parts[named_at] in served.siblings:
        other = parts[named_at]
        raise InvokeRefused(404, "ResourceNotFoundException",
                            f"Function not found: {function_arn(other)} (lambdatui serves {served.name} of the "
                            f"template here: serve --function {served.siblings[other]} runs that one)")
    if len(function_name) > MAX_FUNCTION_NAME_CHARS:
        raise _invalid_name(function_name, f"Member must have length less than or equal to {MAX_FUNCTION_NAME_CHARS}")
    matched = _FUNCTION_NAME.fullmatch(function_name)
    if matched is None:  # a character no name has, or more than one qualifier after the name
        raise _invalid_name(function_name, f"Member must satisfy regular expression pattern: {FUNCTION_NAME}")
    if len(matched.group(_NAME_GROUP)) > MAX_NAME_CHARS:
        raise _invalid_name(function_name, f"Member must have length less than or equal to {MAX_NAME_CHARS}")
    in_name = parts[named_at + 1] if len(parts) > named_at + 1 else ""
    given = ""
    if query:  # nearly every invoke has none: nothing to parse
        given = next((value for key, value in parse_qsl(query, keep_blank_values=True) if key == "Qualifier"), "")
    if in_name and given and in_name != given:
        raise InvokeRefused(400, "InvalidParameterValueException",
                            "The derived qualifier from the function name does not match the specified qualifier.")
    qualifier = in_name or given
    if len(qualifier) > MAX_QUALIFIER_CHARS:
        raise InvokeRefused(400, "InvalidParameterValueException",
                            f"Value '{qualifier}' at 'qualifier' failed to satisfy constraint: Member must have length "
                            f"less than or equal to {MAX_QUALIFIER_CHARS}")
    if qualifier and not QUALIFIER.fullmatch(qualifier):
        raise InvokeRefused(400, "InvalidParameterValueException",
                            f"Value '{qualifier}' at 'qualifier' failed to satisfy constraint: Member must satisfy "
                            "regular expression pattern: (|[a-zA-Z0-9$_-]+)")
    return qualifier


LOG_TYPES = ("None", "Tail")


def checked_invocation_type(value: Optional[str], allowed: tuple[str, ...]) -> str:
    """X-Amz-Invocation-Type, RequestResponse when absent; one the API does not take is refused."""
    return _one_of(h.INVOCATION_TYPE, value, allowed, "RequestResponse")


def checked_log_type(value: Optional[str]) -> str:
    """X-Amz-Log-Type, None when absent; another value is refused, as an unknown X-Amz-Invocation-Type is."""
    return _one_of(h.LOG_TYPE, value, LOG_TYPES, "None")


def _one_of(header: str, value: Optional[str], allowed: tuple[str, ...], absent: str) -> str:
    if value is None:
        return absent
    if value not in allowed:
        raise InvokeRefused(400, "InvalidParameterValueException",
                            f"Invalid {header} {value!r}: expected one of {', '.join(allowed)}")
    return value


def check_no_tenant(tenant_id: Optional[str]) -> None:
    """Only a function with tenant isolation takes X-Amz-Tenant-Id, and Lambda refuses it for any other (boto3's
    TenantId): lambdatui emulates functions without it, so it says so rather than run the invoke with the tenant
    left out (the function's context.tenant_id would be None, where the caller expects its tenant)."""
    if tenant_id is not None:
        raise InvokeRefused(400, "InvalidParameterValueException",
                            f"{h.TENANT_ID} = {tenant_id!r}: this function does not use tenant isolation, so an "
                            "invoke cannot name a tenant (lambdatui emulates functions without tenant isolation)")


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
        is_object = client_context.lstrip().startswith("{")  # one document, checked: an object is one that opens so
    except (binascii.Error, ValueError):
        is_object = False
    if not is_object:
        raise InvokeRefused(400, "InvalidRequestContentException",
                            "Client context must be a valid Base64-encoded JSON object.")
    return client_context


def result_headers(result: InvocationResult, tail: Optional[str], version: str) -> list[tuple[str, str]]:
    """`version`: the one that ran (FleetOptions.function_version), whatever alias or version the caller named."""
    headers = [("Content-Type", result.content_type), (h.AMZN_REQUEST_ID, result.request_id),
               (h.EXECUTED_VERSION, version)]
    if result.function_error:
        headers.append((h.FUNCTION_ERROR, "Unhandled"))
    if tail is not None:
        headers.append((h.LOG_RESULT, tail))
    return headers


def throttle_parts(refused: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A throttle as Lambda answers it (lambda-spec §11.1): 429, TooManyRequestsException, and its Reason first;
    with the request id the log's line about it names, as every AWS answer carries one (`InvokeRefused.parts`)."""
    refusal = refused.refusal
    body: dict[str, str] = {"Type": fault_side(refusal.status), "message": refusal.message}
    if refusal.reason is not None:
        body = {"Reason": refusal.reason, **body}
    request_id = getattr(refused, "request_id", None) or new_uuid()
    return (refusal.status, [("Content-Type", "application/json"), (h.AMZN_ERROR_TYPE, refusal.error_type),
                             (h.AMZN_REQUEST_ID, request_id)], compact_json(body))


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
    return InvokeRefused(result.api_status, result.error_type or "ServiceException", message).parts(result.request_id)


def result_parts(result: InvocationResult, tail: Optional[str],
                 version: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """A synchronous invoke's answer: the API's own error when no function answered, else 200 and the function's
    (`version`: the one that ran)."""
    failed = api_failure_parts(result)
    return failed if failed is not None else (200, result_headers(result, tail, version), result.payload)
