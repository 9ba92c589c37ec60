"""Error objects the runtime reports, shaped exactly like awslambdaric's.

The host (and the caller of Invoke) sees these bodies verbatim, so the keys, the
error-type strings and the stack-trace format follow awslambdaric (spec §6.2-§6.4).
"""

from __future__ import annotations

import os
import traceback
from types import TracebackType

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

# Frames from files under this directory are ours, not the user's: they are cut
# from stack traces the way awslambdaric cuts its own bootstrap.py frames.
BOOTSTRAP_DIR = os.path.dirname(os.path.realpath(__file__))
HANDLER_CALL = "call_handler"  # loop.call_handler: the frame that calls the user's handler


class FaultError(Exception):
    """A failure the runtime classifies itself (awslambdaric's FaultException).

    Carries the Lambda error type and, for syntax errors, a ready-made trace.
    """

    def __init__(self, error_type: str, msg: str, trace: Optional[List[str]] = None) -> None:
        super().__init__(msg)
        self.error_type = error_type
        self.msg = msg
        self.trace = trace


def make_error(
    message: Optional[str],
    error_type: Optional[str],
    stack_trace: Optional[List[str]],
    request_id: Optional[str] = None,
) -> Dict[str, Any]:
    """Build the error body posted to `/error` or `/init/error` (requestId "" at init)."""
    return {
        "errorMessage": message if message else "",
        "errorType": error_type if error_type else "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _is_bootstrap_file(filename: str) -> bool:
    """True for frames that run our own code (including the __main__ launcher)."""
    try:
        path = os.path.realpath(filename)
    except (TypeError, ValueError):
        return False
    return path.startswith(BOOTSTRAP_DIR + os.sep)


def user_stack(tb: Optional[TracebackType]) -> List[str]:
    """`traceback.format_list` of the traceback with the bootstrap's own frames dropped.

    When no frame is the user's, awslambdaric keeps its own frames, i.e. its call of the handler
    (`response = request_handler(event, lambda_context)`); ours keeps its call of the handler
    (loop.call_handler) likewise, and nothing when the handler was not called at all.
    Frames go through plain 4-tuples as in awslambdaric, which also keeps Python 3.11+
    column carets (`^^^^`) out of the trace.
    """
    every = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    frames = [f for f in every if not _is_bootstrap_file(f[0])]
    if not frames:
        frames = [f for f in every if f[2] == HANDLER_CALL and _is_bootstrap_file(f[0])]
    return traceback.format_list(frames)


def error_from_exception(exc: BaseException, request_id: Optional[str] = None) -> Dict[str, Any]:
    """Error body for any exception: FaultError keeps its own type and trace.

    Other exceptions use the class name as errorType and str(exc) as the message,
    as awslambdaric's `build_fault_result`/`handle_event_request` do. A __str__ that raises is
    not caught: in awslambdaric its exception escapes the runtime loop and the runtime dies
    (Runtime.ExitError), and a debugger must not show a tidy error Lambda never returns.
    """
    if isinstance(exc, FaultError):
        return make_error(exc.msg, exc.error_type, exc.trace, request_id)
    return make_error(str(exc), type(exc).__name__, user_stack(exc.__traceback__), request_id)

