"""Error-type strings, as Lambda's platform and the Runtime/Extensions APIs spell them (lambda-spec §1, §2.5, §4.10),
and the errorType a runtime's own error document carries."""

from __future__ import annotations

from typing import Optional

from lambdatui.json_text import top_level_string

RUNTIME_EXIT_ERROR = "Runtime.ExitError"
RUNTIME_OUT_OF_MEMORY = "Runtime.OutOfMemory"  # newer RAPID's name for a runtime the OOM killer ended (§10.2)
RUNTIME_INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint"
RUNTIME_INVALID_RESPONSE_MODE = "Runtime.InvalidResponseModeHeader"
RUNTIME_TRUNCATED_RESPONSE = "Runtime.TruncatedResponse"
RUNTIME_UNKNOWN = "Runtime.Unknown"
RUNTIME_BEFORE_SNAPSHOT_ERROR = "Runtime.BeforeSnapshotError"  # SnapStart hooks (lambda-spec §4.8, §6.7)
RUNTIME_AFTER_RESTORE_ERROR = "Runtime.AfterRestoreError"
FUNCTION_UNKNOWN = "Function.Unknown"
FUNCTION_RESPONSE_SIZE_TOO_LARGE = "Function.ResponseSizeTooLarge"
SANDBOX_TIMEDOUT = "Sandbox.Timedout"
SANDBOX_FAILURE = "Sandbox.Failure"
EXTENSION_INIT_ERROR = "Extension.InitError"
EXTENSION_EXIT_ERROR = "Extension.ExitError"
EXTENSION_CRASH = "Extension.Crash"
EXTENSION_LAUNCH_ERROR = "Extension.LaunchError"
# A process died: any other type was reported by one that lived on.
CRASH_TYPES = frozenset({RUNTIME_EXIT_ERROR, RUNTIME_OUT_OF_MEMORY, EXTENSION_CRASH})

# Runtime API errors
INVALID_REQUEST_ID = "InvalidRequestID"
INVALID_STATE_TRANSITION = "InvalidStateTransition"
REQUEST_ENTITY_TOO_LARGE = "RequestEntityTooLarge"
INVALID_FUNCTION_RESPONSE_MODE = "InvalidFunctionResponseMode"
TRUNCATED_HTTP_REQUEST = "TruncatedHTTPRequest"

# Extensions API errors (all HTTP 403)
EXT_MISSING_IDENTIFIER = "Extension.MissingExtensionIdentifier"
EXT_INVALID_IDENTIFIER = "Extension.InvalidExtensionIdentifier"
EXT_UNKNOWN_IDENTIFIER = "Extension.UnknownExtensionIdentifier"
EXT_INVALID_NAME = "Extension.InvalidExtensionName"
EXT_INVALID_EVENT_TYPE = "Extension.InvalidEventType"
EXT_INVALID_STATE = "Extension.InvalidExtensionState"
EXT_REGISTRATION_CLOSED = "Extension.RegistrationClosed"
EXT_TOO_MANY = "Extension.TooManyExtensions"
EXT_MISSING_HEADER = "Extension.MissingHeader"
INVALID_REQUEST_FORMAT = "InvalidRequestFormat"

MAX_RESPONSE_BYTES = 6_291_556  # 6 MiB + 100 bytes: the figure real error messages quote
MAX_STREAMED_RESPONSE_BYTES = 200 * 1024 * 1024  # a streamed response (lambda-spec §1.8, §4.11)
# A synchronous request (an Invoke's payload, a function URL's event): 6 MiB exactly, as Lambda's front end takes it
# and its message says; only a response may have the 100 bytes more.
MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD_BYTES = 1_048_576
MAX_EXTENSIONS = 10


def error_kind(api_status: int) -> str:
    """What an invoke's error is called where it is shown: the Invoke API's own error when it answered with one
    (SnapStart's 400 SnapStartException, 409 without a snapshot...: the event never reached the handler, and a
    "function error: SnapStartException" would send the user looking for an exception in their code), else the
    function's."""
    return f"Invoke API error {api_status}" if api_status else "function error"


def failure_kind(error_type: str | None, timed_out: bool, api_status: int = 0) -> str:
    """What kind of failure an invoke's error was: "timeout", "crash", "function error" (the handler's own
    exception, e.g. ValueError) or "error" (the platform's view: Runtime.*, Sandbox.*, Function.*); the Invoke
    API's error (`error_kind`) when `api_status` says it answered with one."""
    if api_status:
        return error_kind(api_status)
    if timed_out:
        return "timeout"
    if error_type in CRASH_TYPES:
        return "crash"
    return "function error" if not error_type or "." not in error_type else "error"


# What json.loads raises on a body it cannot read: not JSON (ValueError, UnicodeDecodeError among them), nested
# deeper than Python's recursion limit (RecursionError), or not an object (AttributeError on .get). A runtime may
# post any of them and Lambda forwards it as-is: inspecting a body must never fail a rule, nor a view, midway.
UNREADABLE_JSON = (ValueError, RecursionError, AttributeError, TypeError)


def body_error_type(body: bytes) -> Optional[str]:
    """The errorType of a runtime's error document (its /error or /init/error body), None without one. Here, in the
    model, so that the core's rules and the facts that carry the body read it the same way; read as deep as
    Lambda's front end reads JSON (json_text.MAX_DEPTH) on every host, so a body nested past what the host's own
    parser follows has the same type on every Python lambdatui runs on."""
    return top_level_string(body, "errorType") or None
