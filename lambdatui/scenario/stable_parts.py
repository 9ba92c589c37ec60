"""What of a response a replay can compare: the walk that leaves out its volatile parts, whatever makes them so.

`expect.response` matches a subset (match.py), so an object keeps the keys whose values are stable and a replay still
checks them; arrays compare whole, so one volatile part leaves the whole array out. The recorder walks a response
this way once for the ids a run makes anew (record_expectations.py) and once for the clock's readings
(clock_values.py): each says only which values are volatile.
"""

from __future__ import annotations

from typing import Any, Callable

from lambdatui.scenario.match import ROOT, child_path

# "Nothing stable to compare": its own marker, since None is JSON null, a value a replay compares like any other.
NOTHING: Any = object()


def stable_parts(value: Any, volatile: Callable[[Any], bool], path: str = "") -> tuple[Any, list[str]]:
    """`value` without the parts `volatile` picks, and the paths of those it left out.

    `volatile` is asked of every string, number, boolean and null, and of every key: an object whose key is volatile
    loses that entry (a replay's key differs, so the entry could never match). An object left empty only by what
    it left out, an array with a volatile part, and a volatile value are NOTHING: nothing stable to compare.
    """
    if isinstance(value, dict):
        kept: dict[str, Any] = {}
        left_out: list[str] = []
        for key, inner in value.items():
            where = child_path(path, key) if path else key
            if volatile(key):
                left_out.append(where)
                continue
            part, dropped = stable_parts(inner, volatile, where)
            left_out += dropped
            if part is not NOTHING:
                kept[key] = part
        # An object that was empty has something stable to check: that it is empty.
        return (kept if kept or not left_out else NOTHING), left_out
    if isinstance(value, list):
        inside = any(stable_parts(item, volatile, f"{path}[{i}]")[1] for i, item in enumerate(value))
        return (NOTHING, [path or ROOT]) if inside else (value, [])
    return (NOTHING, [path or ROOT]) if volatile(value) else (value, [])
