"""Faults the host injects through the private channel (`Lambdatui-Raise`).

The debugger makes the handler "raise on its next entry" without editing user code:
the bootstrap raises the named exception where it would have called the handler, so
it takes the ordinary error path (log record, `/error` body, errorType = the name).
"""

from __future__ import annotations

import builtins
import json

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Any, Tuple


def parse_raise_header(value: str) -> Tuple[str, str]:
    """`{"type": "ValueError", "message": "boom"}` → ("ValueError", "boom").

    A value that is not such a JSON object is taken as the message of an Exception.
    """
    try:
        spec: Any = json.loads(value)
    except ValueError:
        spec = None
    if not isinstance(spec, dict):
        return "Exception", value
    name = spec.get("type") or "Exception"
    message = spec.get("message")
    return str(name), "" if message is None else str(message)


def make_exception(name: str, message: str) -> BaseException:
    """A builtin exception when `name` is one, else a fresh Exception subclass of that name."""
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, BaseException):
        try:
            return cls(message)
        except Exception:  # builtins with mandatory extra arguments (UnicodeDecodeError...)
            pass
    try:
        # __module__ "builtins" so tracebacks print the bare name the host asked for.
        fresh = type(name, (Exception,), {"__module__": "builtins"})
    except (TypeError, ValueError):  # e.g. a NUL in the name
        fresh = Exception
    return fresh(message)


def injected_exception(header_value: str) -> BaseException:
    """The exception to raise for one `Lambdatui-Raise` header."""
    return make_exception(*parse_raise_header(header_value))
