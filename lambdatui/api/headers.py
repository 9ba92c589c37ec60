"""Lambda's header names, in one place (lambda-spec §1-§2, §7)."""

REQUEST_ID = "Lambda-Runtime-Aws-Request-Id"
FUNCTION_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
RESPONSE_MODE = "Lambda-Runtime-Function-Response-Mode"

EXTENSION_NAME = "Lambda-Extension-Name"
EXTENSION_IDENTIFIER = "Lambda-Extension-Identifier"
EXTENSION_ACCEPT_FEATURE = "Lambda-Extension-Accept-Feature"
EXTENSION_ERROR_TYPE = "Lambda-Extension-Function-Error-Type"

INVOCATION_TYPE = "X-Amz-Invocation-Type"
LOG_TYPE = "X-Amz-Log-Type"
CLIENT_CONTEXT = "X-Amz-Client-Context"
TENANT_ID = "X-Amz-Tenant-Id"
TRACE_ID = "X-Amzn-Trace-Id"
FUNCTION_ERROR = "X-Amz-Function-Error"
LOG_RESULT = "X-Amz-Log-Result"
EXECUTED_VERSION = "X-Amz-Executed-Version"
AMZN_REQUEST_ID = "X-Amzn-RequestId"
AMZN_ERROR_TYPE = "X-Amzn-ErrorType"


def header_text(value: str) -> str:
    """A header value as its sender wrote it: the servers keep each byte of a head as one latin-1 character, and
    clients send text in UTF-8 (a client context's `é` is two bytes); a value that is not UTF-8 stays as it came."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value
