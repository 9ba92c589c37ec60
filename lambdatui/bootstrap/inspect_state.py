"""The globals/threads report sent to the host after Function init and each invoke.

It lets the debugger show what survives between invocations of a warm environment
(module state, caches, leaked threads). It runs on every invoke, so each value costs
one bounded repr and, for plain containers, one bounded walk (see `content_digest`).

A repr runs user code: it may be slow, raise, or never end. Each one is bounded in length
and in time (SIGALRM interrupts it in the main thread, where the runtime loop runs), and the
whole report in time, so a report never blocks the function. The host stops the function's
deadlines while the report is written (core/clock_rules.py), so what it costs is never the
function's time.
"""

from __future__ import annotations

import collections
import itertools
import reprlib
import signal
import threading
import time
import types

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Union

REPR_LIMIT = 200
REPR_TIME_LIMIT_S = 0.05
REPORT_TIME_LIMIT_S = 1.0

_FUNCTION_TYPES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
)


class _BoundedRepr(reprlib.Repr):
    """reprlib.Repr that lets a raising __repr__ raise (reprlib hides it as `<X instance>`)."""

    def repr_instance(self, x: Any, level: int) -> str:
        shaped = self._as_builtin(x, level)
        if shaped is not None:
            return shaped
        text = repr(x)
        if len(text) > self.maxother:
            half = max(0, (self.maxother - 3) // 2)
            text = text[:half] + "..." + text[len(text) - (self.maxother - 3 - half):]
        return text

    def _as_builtin(self, x: Any, level: int) -> Optional[str]:
        """A subclass of a builtin container that prints as the builtin does (its repr not its own), or one of
        collections' (defaultdict, Counter, OrderedDict: their name around a dict): bounded as the builtin is. reprlib
        knows them by exact type name only, and repr() of the whole would be built in the function's memory first
        (a 250,000-key defaultdict: ~30 MB more than `invoke` needs)."""
        kind = type(x)
        if isinstance(x, collections.defaultdict) and kind.__repr__ is collections.defaultdict.__repr__:
            return "%s(%s, %s)" % (kind.__name__, self.repr1(x.default_factory, level - 1), self.repr_dict(x, level))
        if isinstance(x, (collections.Counter, collections.OrderedDict)) and kind.__repr__ in _NAMED_DICT_REPRS:
            return "%s(%s)" % (kind.__name__, self.repr_dict(x, level))
        for builtin, shaped in _BUILTIN_SHAPES:
            if isinstance(x, builtin) and kind.__repr__ is builtin.__repr__:
                return getattr(self, shaped)(x, level)  # type: ignore[no-any-return]
        return None

    # reprlib cuts a str before its repr, but not bytes: repr() of the whole costs up to 4 characters a byte in
    # the function's own memory (a 25 MB cache entry: a 100 MB string), enough to run it out of memory. Cut first.
    repr_bytes = repr_bytearray = reprlib.Repr.repr_str

    # reprlib sorts a dict's keys and a set's items first: a copy of them all in the function's memory (a cache of
    # millions of keys: tens of MB) and their own __lt__ run. Their first items as they iterate, as repr() shows them.
    def repr_dict(self, x: Any, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{" + self.fillvalue + "}"
        pieces = ["%s: %s" % (self.repr1(key, level - 1), self.repr1(x[key], level - 1))
                  for key in itertools.islice(x, self.maxdict)]
        if len(x) > self.maxdict:
            pieces.append(self.fillvalue)
        return "{%s}" % ", ".join(pieces)

    def repr_set(self, x: Any, level: int) -> str:
        return self._repr_iterable(x, level, "{", "}", self.maxset) if x else "set()"

    def repr_frozenset(self, x: Any, level: int) -> str:
        return self._repr_iterable(x, level, "frozenset({", "})", self.maxfrozenset) if x else "frozenset()"


_NAMED_DICT_REPRS = (collections.Counter.__repr__, collections.OrderedDict.__repr__)
_BUILTIN_SHAPES = ((dict, "repr_dict"), (list, "repr_list"), (tuple, "repr_tuple"), (set, "repr_set"),
                   (frozenset, "repr_frozenset"))


# The bounded repr's limits (the debugger's detail view says them when a repr was cut).
MAX_LEVEL, MAX_ITEMS, MAX_DICT_ITEMS, MAX_STRING = 3, 8, 6, 120


def _make_repr() -> reprlib.Repr:
    """A bounded repr with room for useful detail (attributes: 3.9 has no kwargs)."""
    r = _BoundedRepr()
    r.maxlevel = MAX_LEVEL
    r.maxtuple = r.maxlist = r.maxarray = r.maxset = r.maxfrozenset = r.maxdeque = MAX_ITEMS
    r.maxdict = MAX_DICT_ITEMS
    r.maxstring = MAX_STRING
    r.maxlong = 60
    r.maxother = REPR_LIMIT
    return r


_REPR = _make_repr()


class _ReprOverran(BaseException):
    """Raised into a repr past its time; a BaseException so that `except Exception` in user code lets it pass."""


def _can_interrupt() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def call_with_time_limit(fn: Callable[[], str], seconds: float) -> Optional[str]:
    """fn's result, or None when it ran past `seconds` and was interrupted.

    The function's own SIGALRM handler and any alarm it had pending are put back as they were:
    the inspection takes none of the function's time, so its alarm does not advance either.
    """
    if not _can_interrupt():
        return fn()
    armed = [True]

    def on_alarm(signum: int, frame: Any) -> None:
        if armed[0]:
            raise _ReprOverran()

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    # The interval re-fires the alarm should the repr swallow one.
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds, seconds)
    try:
        try:
            return fn()
        finally:
            armed[0] = False  # from here on the handler is inert: restoring below cannot be interrupted
    except _ReprOverran:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            signal.setitimer(signal.ITIMER_REAL, previous_delay, previous_interval)


# Exactly these types: their repr runs no user code and reprlib cuts them before the work, so it is always quick.
_PLAIN_TYPES = (int, float, complex, bool, str, bytes, type(None))


def is_plain(value: Any) -> bool:
    return type(value) in _PLAIN_TYPES


def bounded_repr(value: Any) -> str:
    """repr cut to REPR_LIMIT characters, within REPR_TIME_LIMIT_S; a raising or slow __repr__ is reported."""
    try:
        text = call_with_time_limit(lambda: _REPR.repr(value), REPR_TIME_LIMIT_S)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: a repr must not end the runtime
        return "<repr raised %s>" % type(exc).__name__
    if text is None:
        return "<repr took over %d ms>" % round(REPR_TIME_LIMIT_S * 1000)
    if len(text) > REPR_LIMIT:
        text = text[: REPR_LIMIT - 3] + "..."
    # A repr may hold lone surrogates (half an emoji from JSON): the report must stay valid UTF-8.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# Containers whose iteration runs no user code (exact types only: a subclass may override __iter__).
_WALKED_TYPES = (list, tuple, dict, set, frozenset, collections.deque, collections.OrderedDict,
                 collections.defaultdict)
DIGEST_NODES = 10000  # values a digest looks at; a larger container has no digest (its change cannot be told)
_DIGEST_BYTES = 1 << 20  # a bytearray up to 1 MB is read whole


def content_digest(value: Any) -> str:
    """A fingerprint of a plain container's whole content, or "" when it cannot be taken within bounds.

    The repr is cut (8 items, 3 levels), so `CACHE[42] = 1` or `CONFIG["a"]["b"]["c"]["d"] = 2` leaves it as it was:
    without this, an in-place mutation past the cut reads as "same", the very warm-start bug the view is for.
    The walk runs no user code: it enters only exact builtin containers, takes plain leaves by value (str and
    bytes by length and hash), and anything else by identity (a change inside an object of the function's own
    class is not seen). It is compared only within one process, so hash() randomisation does not matter.
    """
    if type(value) is bytearray:
        return _fingerprint(bytes(value)) if len(value) <= _DIGEST_BYTES else ""
    if type(value) not in _WALKED_TYPES:
        return ""
    tokens: List[Any] = []
    seen: Dict[int, int] = {}
    stack = [value]
    try:
        while stack:
            if len(tokens) > DIGEST_NODES:
                return ""
            item = stack.pop()
            kind = type(item)
            if kind in (str, bytes):
                tokens.append((kind.__name__, len(item), hash(item)))
            elif kind in _PLAIN_TYPES:
                tokens.append(item)  # int, float, complex, bool, None: by value (hash(-1) == hash(-2))
            elif kind in _WALKED_TYPES:
                if id(item) in seen:  # a cycle, or the same object twice
                    tokens.append(("@", seen[id(item)]))
                    continue
                seen[id(item)] = len(seen)
                if len(tokens) + len(stack) + len(item) > DIGEST_NODES:  # each gives a token at least: no digest
                    return ""  # known before its copy below, which would cost the function its size again
                items = list(item.items()) if isinstance(item, dict) else list(item)
                tokens.append((kind.__name__, len(items)))
                for child in reversed(items):
                    if isinstance(item, dict):
                        stack.extend((child[1], child[0]))
                    else:
                        stack.append(child)
            else:
                tokens.append(("obj", id(item)))
    except RuntimeError:  # another thread of the function resized it meanwhile: no digest this time
        return ""
    # Every token is built of builtin values only: their repr runs no user code.
    return _fingerprint(repr(tokens))


def _fingerprint(data: Union[str, bytes]) -> str:
    """hash(), compared within one process only: hashlib would map libcrypto into the function's process, ~4 MB
    that a memory cgroup counts against the function under the debugger and not under `invoke`."""
    return "%016x" % (hash(data) & 0xFFFFFFFFFFFFFFFF)


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
    give_up_at = time.monotonic() + REPORT_TIME_LIMIT_S
    for name, value in list(vars(module).items()):
        digest = ""
        if time.monotonic() < give_up_at or is_plain(value):
            text = bounded_repr(value)
            if time.monotonic() < give_up_at:
                digest = content_digest(value)
        else:
            text = "<not shown: the report took over %d s>" % REPORT_TIME_LIMIT_S
        entries.append(
            {
                "name": name,
                "type": qualified_type_name(value),
                "repr": text,
                "id": id(value),
                "kind": classify(name, value, module_name),
                "digest": digest,
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
    """Body of POST /lambdatui/v1/globals.

    In Lambda the function's other threads would be frozen by now; while the report is written they are not
    (usually well under a millisecond; a slow repr gives them up to the report's bounds). Starving them instead,
    with a long switch interval, would let any of them that got the GIL starve the report in turn.
    """
    return {
        "phase": phase,
        "requestId": request_id,
        "globals": globals_report(module),
        "threads": threads_report(),
    }
