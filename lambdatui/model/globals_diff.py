"""Turn the bootstrap's raw globals report into a `GlobalsReported` fact, diffed against the previous one.

The report is JSON posted by a process that runs user code, so it is untrusted: every field is
checked here and a malformed report raises `ValueError` with a message that names the bad field,
never a `KeyError` or `TypeError` from deep inside the diff. Sizes are capped so one hostile or
runaway report cannot make every later fact (and every UI frame that renders it) enormous.

What the diff answers is the question a warm-start bug poses: which module-level state survived
the last invoke, and did the handler mutate it in place or rebind it?
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Optional

from lambdatui.model.facts import GlobalEntry, GlobalsReported, ThreadEntry

MAX_ENTRIES = 1000  # globals (and threads) kept from one report; the rest are dropped
MAX_TEXT = 200  # characters kept of a repr or a type name (the bootstrap's own bound)
PHASES = ("init", "restore", "invoke")  # restore: a SnapStart copy, after its after-restore hooks
KINDS = frozenset({"dunder", "module", "function", "class", "import", "state"})

NEW = "new"
CHANGED = "changed"
REPLACED = "replaced"
SAME = "same"


def diff_globals(report: dict, previous: Optional[GlobalsReported], generation: int) -> GlobalsReported:
    """Validate `report` and say, per global, how it differs from `previous`.

    `previous` only counts when it belongs to the same `generation`: a new generation is a fresh
    process (after a reset), where every global is new and nothing can be gone, even when the names
    and (recycled) ids happen to match.
    """
    if not isinstance(report, Mapping):
        raise ValueError(f"globals report must be a JSON object, got {_json_type(report)}")
    phase = _required(report, "phase", str, "report")
    if phase not in PHASES:
        raise ValueError(f"globals report: phase must be one of {', '.join(PHASES)}, got {phase!r}")
    request_id = _optional_str(report, "requestId", "report")
    all_globals = _required(report, "globals", list, "report")
    raw_globals = all_globals[:MAX_ENTRIES]
    raw_threads = _required(report, "threads", list, "report")[:MAX_ENTRIES]

    before = _comparable(previous, generation)
    entries = _parse_globals(raw_globals, before)
    # A name past the cap is still there: it is not gone (only not shown, and the view says how many are not).
    names = {e.name for e in entries} | {raw.get("name") for raw in all_globals[MAX_ENTRIES:] if isinstance(raw, Mapping)}
    gone = tuple(name for name in before if name not in names)
    threads = tuple(_parse_thread(raw, i) for i, raw in enumerate(raw_threads))
    dropped = len(all_globals) - len(raw_globals)
    return GlobalsReported(phase, request_id, generation, entries, gone, threads, dropped)


def classify_change(current: GlobalEntry, before: Optional[GlobalEntry]) -> str:
    """new / replaced / changed / same for one global.

    CPython reuses an id once its object is freed, so a rebinding can keep the id. A different
    type at the same id can only be another object: that is "replaced", not "changed". (A rebinding
    to an object of the same type that landed on the recycled id is indistinguishable from an
    in-place mutation.) A mutation past the repr's cut leaves the repr as it was: the content digest, taken
    of plain containers, tells it; without one (a user object, a container too large) it reads as "same".
    """
    if before is None:
        return NEW
    if before.identity != current.identity or before.type != current.type:
        return REPLACED
    if before.repr != current.repr:
        return CHANGED
    if before.digest and current.digest and before.digest != current.digest:
        return CHANGED
    return SAME


# ---------------------------------------------------------------------- the diff


def _comparable(previous: Optional[GlobalsReported], generation: int) -> dict[str, GlobalEntry]:
    """The previous report's entries by name, or nothing when it is of another process."""
    if previous is None or previous.generation != generation:
        return {}
    return {e.name: e for e in previous.entries}


def _parse_globals(raw_globals: list, before: Mapping[str, GlobalEntry]) -> tuple[GlobalEntry, ...]:
    entries: list[GlobalEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_globals):
        entry = _parse_global(raw, i)
        if entry.name in seen:
            # vars(module) cannot hold a name twice: the report was not built by our bootstrap.
            raise ValueError(f"globals report: globals[{i}].name {entry.name!r} appears twice")
        seen.add(entry.name)
        entries.append(replace(entry, change=classify_change(entry, before.get(entry.name))))
    return tuple(entries)


# ---------------------------------------------------------------------- validation


def _parse_global(raw: Any, i: int) -> GlobalEntry:
    where = f"globals[{i}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"globals report: {where} must be an object, got {_json_type(raw)}")
    name = _required(raw, "name", str, where)
    type_name = _clip(_required(raw, "type", str, where))
    text = _clip(_required(raw, "repr", str, where))
    identity = _required(raw, "id", int, where)
    kind = _required(raw, "kind", str, where)
    if kind not in KINDS:
        raise ValueError(f"globals report: {where}.kind must be one of {', '.join(sorted(KINDS))}, got {kind!r}")
    digest = raw.get("digest", "")  # optional: a report without it compares by repr alone
    if not isinstance(digest, str):
        raise ValueError(f"globals report: {where}.digest must be a string, got {_json_type(digest)}")
    return GlobalEntry(name, type_name, text, identity, kind, NEW, _clip(digest))  # the change is decided by the diff


def _parse_thread(raw: Any, i: int) -> ThreadEntry:
    where = f"threads[{i}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"globals report: {where} must be an object, got {_json_type(raw)}")
    name = _clip(_required(raw, "name", str, where))
    ident = raw.get("ident")
    if ident is not None and not _is_int(ident):
        raise ValueError(f"globals report: {where}.ident must be an integer or null, got {_json_type(ident)}")
    daemon = _required(raw, "daemon", bool, where)
    alive = _required(raw, "alive", bool, where)
    return ThreadEntry(name, ident, daemon, alive)


def _required(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise ValueError(f"globals report: {where} has no {key!r}")
    value = obj[key]
    ok = _is_int(value) if kind is int else isinstance(value, kind)
    if not ok:
        raise ValueError(f"globals report: {where}.{key} must be {_json_type_name(kind)}, got {_json_type(value)}")
    return value


def _optional_str(obj: Mapping[str, Any], key: str, where: str) -> Optional[str]:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"globals report: {where}.{key} must be a string or null, got {_json_type(value)}")
    return value


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as bool, a subclass of int: an id of `true` is a malformed report.
    return isinstance(value, int) and not isinstance(value, bool)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a number",
               bool: "a boolean", type(None): "null"}


def _json_type_name(kind: type) -> str:
    return _JSON_NAMES.get(kind, kind.__name__)


def _json_type(value: Any) -> str:
    """How the offending value looks in JSON terms, for the error message."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "an object"
    return _JSON_NAMES.get(type(value), type(value).__name__)
