"""The globals/threads report sent to the host after Function init and each invoke.

It lets the debugger show what survives between invocations of a warm environment
(module state, caches, leaked threads). It runs on every invoke, so each value costs
one bounded repr and nothing walks object graphs.
"""

from __future__ import annotations

import reprlib
import threading
import types
from typing import Any, Dict, List, Optional

REPR_LIMIT = 200

_FUNCTION_TYPES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
)


class _BoundedRepr(reprlib.Repr):
    """reprlib.Repr that lets a raising __repr__ raise (reprlib hides it as `<X instance>`)."""

    def repr_instance(self, x: Any, level: int) -> str:
        text = repr(x)
        if len(text) > self.maxother:
            half = max(0, (self.maxother - 3) // 2)
            text = text[:half] + "..." + text[len(text) - (self.maxother - 3 - half):]
        return text


def _make_repr() -> reprlib.Repr:
    """A bounded repr with room for useful detail (attributes: 3.9 has no kwargs)."""
    r = _BoundedRepr()
    r.maxlevel = 3
    r.maxtuple = r.maxlist = r.maxarray = r.maxset = r.maxfrozenset = r.maxdeque = 8
    r.maxdict = 6
    r.maxstring = 120
    r.maxlong = 60
    r.maxother = REPR_LIMIT
    return r


_REPR = _make_repr()


def bounded_repr(value: Any) -> str:
    """repr cut to REPR_LIMIT characters; a raising __repr__ is reported, not propagated."""
    try:
        text = _REPR.repr(value)
    except Exception as exc:
        return "<repr failed: %s>" % type(exc).__name__
    if len(text) > REPR_LIMIT:
        text = text[: REPR_LIMIT - 3] + "..."
    return text


def qualified_type_name(value: Any) -> str:
    """`int`, `dict`, `collections.OrderedDict`, `module`: builtins stay unqualified."""
    cls = type(value)
    try:
        module = cls.__module__
        name = cls.__qualname__
    except Exception:  # exotic metaclasses; the bare name always exists
        module, name = None, cls.__name__
    if not isinstance(module, str) or module == "builtins":
        return name
    return "%s.%s" % (module, name)


def classify(name: str, value: Any, module_name: str) -> str:
    """dunder / module / function / class / import / state (see the private contract)."""
    if len(name) >= 4 and name.startswith("__") and name.endswith("__"):
        return "dunder"
    if isinstance(value, types.ModuleType):
        return "module"
    is_class = isinstance(value, type)
    if is_class or isinstance(value, _FUNCTION_TYPES):
        try:
            defined_here = getattr(value, "__module__", None) == module_name
        except Exception:
            defined_here = False
        if not defined_here:
            return "import"
        return "class" if is_class else "function"
    return "state"


def globals_report(module: Optional[types.ModuleType]) -> List[Dict[str, Any]]:
    """One entry per global of the handler module, in definition order."""
    if module is None:
        return []
    module_name = module.__name__
    entries = []
    for name, value in list(vars(module).items()):
        entries.append(
            {
                "name": name,
                "type": qualified_type_name(value),
                "repr": bounded_repr(value),
                "id": id(value),
                "kind": classify(name, value, module_name),
            }
        )
    return entries


def threads_report() -> List[Dict[str, Any]]:
    """Live Python threads: a thread started by the handler outlives the invoke."""
    return [
        {"name": t.name, "ident": t.ident, "daemon": t.daemon, "alive": t.is_alive()}
        for t in threading.enumerate()
    ]


def build_report(
    phase: str, request_id: Optional[str], module: Optional[types.ModuleType]
) -> Dict[str, Any]:
    """Body of POST /lambdatui/v1/globals."""
    return {
        "phase": phase,
        "requestId": request_id,
        "globals": globals_report(module),
        "threads": threads_report(),
    }
