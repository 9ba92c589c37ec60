"""Handler resolution: `_HANDLER` → the user's callable, with awslambdaric's error types.

The messages are awslambdaric's (`_get_handler`, spec §6.2) character for character,
because users and tests match on them.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from .errors import (
    BUILT_IN_MODULE_CONFLICT,
    HANDLER_NOT_FOUND,
    IMPORT_MODULE_ERROR,
    MALFORMED_HANDLER_NAME,
    USER_CODE_SYNTAX_ERROR,
    FaultError,
)

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Any, Callable, Tuple


def split_handler(handler: str) -> Tuple[str, str]:
    """`dir/sub/mod.fn` → ("dir/sub/mod", "fn"); no dot is a MalformedHandlerName."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError(MALFORMED_HANDLER_NAME, "Bad handler '%s': %s" % (handler, exc)) from None
    return modname, fname


def import_handler_module(modname: str) -> ModuleType:
    """Import the handler module; ImportError and SyntaxError are classified.

    Any other exception raised by the module's top-level code propagates unchanged:
    its class name becomes the errorType.
    """
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultError(
                BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module %s as a handler module" % modname,
            )
        return importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        raise FaultError(
            IMPORT_MODULE_ERROR, "Unable to import module '%s': %s" % (modname, exc)
        ) from None
    except SyntaxError as exc:
        trace = ['  File "%s" Line %s\n    %s' % (exc.filename, exc.lineno, exc.text)]
        raise FaultError(
            USER_CODE_SYNTAX_ERROR, "Syntax error in module '%s': %s" % (modname, exc), trace
        ) from None


def resolve_handler(handler: str) -> Tuple[ModuleType, Callable[..., Any]]:
    """The handler module (its globals are reported) and the function to call."""
    modname, fname = split_handler(handler)
    module = import_handler_module(modname)
    try:
        function = getattr(module, fname)
    except AttributeError:
        raise FaultError(
            HANDLER_NOT_FOUND, "Handler '%s' missing on module '%s'" % (fname, modname)
        ) from None
    return module, function
