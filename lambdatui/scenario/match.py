"""How `expect.response` is compared with the function's response: structurally, as JSON.

By default the expectation is a subset: every key it names must be there and match, recursively through
nested objects, and keys it does not name are ignored, so a response that carries a request id (new on
every run) can still be checked by its stable keys. Arrays compare whole, element by element (a subset of
an array has no single obvious meaning: a prefix, any order?). `response_exact = true` compares the whole
object. A difference is reported at the first place it occurs, as a path (`response.body.items`) with what
was expected and what came back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Optional

ROOT = "response"
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
MAX_SHOWN = 120  # characters of a value in a one-line message


@dataclass(frozen=True)
class Difference:
    """Where a response departs from `expect.response`, and the line that says so."""

    path: str  # where, e.g. response.body["a key"].items
    message: str  # the whole line: path, expected, got


def json_equal(a: Any, b: Any) -> bool:
    """Structural JSON equality: true is not 1, 1 is 1.0, objects ignore key order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        # Python's json writes and reads NaN (the function's response may carry one): the same text is the same value.
        return a == b or (a != a and b != b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _BARE.match(key) else f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def response_difference(expected: Any, actual: Any, *, exact: bool, path: str = ROOT) -> Optional[Difference]:
    """The first place where `actual` does not match `expected`, or None when it matches."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            where = child_path(path, key)
            if key not in actual:
                return Difference(where, f"{where}: expected {shown(value)}, got no such key")
            inner = response_difference(value, actual[key], exact=exact, path=where)
            if inner is not None:
                return inner
        if exact:
            extra = sorted(k for k in actual if k not in expected)
            if extra:
                return Difference(path, f"{path}: keys not expected: {', '.join(extra)} (response_exact = true)")
        return None
    if json_equal(expected, actual):
        return None
    return Difference(path, f"{path}: expected {shown(expected)}, got {shown(actual)}")


def projected(expected: Any, actual: Any) -> Any:
    """`actual` cut down to the keys `expected` names, for a diff that shows only what was checked."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: projected(expected[k], actual[k]) for k in expected if k in actual}
    return actual


# ---------------------------------------------------------------------- expect.telemetry


def telemetry_difference(expected: tuple[str, ...], actual: list[str], *, exact: bool) -> Optional[str]:
    """Why the record types `actual` (in the order received) do not match `expected`, or None when they do.

    Not exact: `expected` must appear in order, other records allowed before, between and after them. Exact:
    the same list.
    """
    if exact:
        if list(expected) == actual:
            return None
        for i, (want, got) in enumerate(zip(expected, actual)):
            if want != got:
                return f"record {i + 1}: expected {want}, got {got} (exact = true)"
        if len(actual) < len(expected):
            return f"record {len(actual) + 1}: expected {expected[len(actual)]}, got no more records (exact = true)"
        return f"record {len(expected) + 1}: got {actual[len(expected)]}, expected no more records (exact = true)"
    at = 0
    for i, want in enumerate(expected):
        try:
            at = actual.index(want, at) + 1
        except ValueError:
            after = f" after {expected[i - 1]}" if i else ""
            anywhere = " (it came earlier, out of order)" if want in actual else ""
            return f"no {want}{after}{anywhere}"
    return None


def telemetry_prefix(expected: tuple[str, ...], actual: list[str]) -> bool:
    """Whether more records could still make `actual` equal `expected` (exact): it is a prefix of it."""
    return len(actual) <= len(expected) and list(expected[: len(actual)]) == actual
