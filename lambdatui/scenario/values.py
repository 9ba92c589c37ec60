"""Checks on single TOML values of a scenario: each either returns the value in the form the model
holds, or raises ValueError with a message that names the key and says what would be right."""

from __future__ import annotations

import datetime
import difflib
import json
import signal
from typing import Any, Iterable

from lambdatui.json_text import check_json, nesting_depth
from lambdatui.lambda_limits import event_size_problem
from lambdatui.model.boundaries import ALL_BOUNDARIES, Boundary

# Python's parsers (json, tomllib) recurse once per level and give up near the recursion limit (1,000).
TOO_DEEP = "nested too deeply for Python's parsers"
# A scenario's JSON values (an expected response, a caller's client context) are held as Python values, which a
# replay walks level by level (match.py: about three frames a level, against Python's limit of 1,000): past ~320
# levels that walk failed with RecursionError on 3.11, ~490 on 3.13, and json.loads itself gives up at a depth
# each version puts elsewhere. One bound, well inside all of them, is the same scenario error on every host.
MAX_VALUE_DEPTH = 200


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return "a date/time"
    return type(value).__name__


def unknown_hint(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def to_json(value: Any, where: str) -> Any:
    """A TOML value as the JSON value it stands for; dates have no JSON form."""
    if isinstance(value, dict):
        return {k: to_json(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        raise ValueError(f"{where} is a TOML date/time, which JSON cannot hold: quote it")
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ValueError(f"{where} is {value}, which JSON cannot hold")
    return value


def _not_empty(text: str, what: str) -> None:
    if not text.strip():
        raise ValueError(f"{what} is empty, which is not JSON (write {{}} for an empty object)")


def json_text(text: str, what: str) -> Any:
    """JSON text a scenario holds as a value, nested at most MAX_VALUE_DEPTH levels."""
    _not_empty(text, what)
    if nesting_depth(text) > MAX_VALUE_DEPTH:
        raise ValueError(f"{what} is nested too deeply: more than {MAX_VALUE_DEPTH} levels, deeper than a scenario "
                         "compares")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None


def event_text(text: str, what: str) -> None:
    """An event's text, checked as `invoke` and the Invoke API check one (lambdatui/json_text.py): NaN and Infinity
    refused, an integer of any length and nesting as deep as Lambda's front end takes allowed, so that the same event
    reaches the same outcome, and every recorded one replays."""
    _not_empty(text, what)
    try:
        check_json(text)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None


def sized_event(event: bytes, asynchronous: bool, what: str) -> bytes:
    """The event, if Lambda would take one that large (an Event invoke's limit is 1 MB, a synchronous one's 6 MiB)."""
    too_large = event_size_problem(len(event), asynchronous)
    if too_large is not None:
        raise ValueError(f"{what} is {too_large}")
    return event


def boundary_named(name: Any, what: str) -> Boundary:
    valid = ", ".join(b.value for b in ALL_BOUNDARIES)
    if not isinstance(name, str):
        raise ValueError(f"{what} must be a boundary name, got {type_name(name)} (one of: {valid})")
    try:
        return Boundary(name)
    except ValueError:
        raise ValueError(f"{what} = {name!r} is not a boundary (one of: {valid})") from None


def parse_signal(value: Any) -> int:
    """"SIGKILL", "KILL", "sigterm" or a number, as the signal number; ValueError names the choices."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"signal must be a name like \"SIGKILL\" or a number, got {type_name(value)}")
    if isinstance(value, int) or value.strip().isdigit():
        number = int(value)
        if not 1 <= number < signal.NSIG:
            raise ValueError(f"signal = {value!r} is not a signal number (1 to {signal.NSIG - 1})")
        return number
    name = value.strip().upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(f"signal = {value!r} is not a signal name (e.g. SIGKILL, SIGTERM, SIGSEGV)") from None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def string_value(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type_name(value)}")
    return value


def tmp_paths(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be an array of paths like \"/tmp/counter.txt\", got {type_name(value)}")
    paths = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.startswith("/tmp/") or len(item) <= len("/tmp/"):
            shown = repr(item) if isinstance(item, str) else type_name(item)
            raise ValueError(f"{what}[{i}] = {shown}: give a path as the function sees it, under /tmp/ "
                             "(e.g. \"/tmp/counter.txt\")")
        paths.append(item.rstrip("/") if item != "/tmp/" else item)
    return tuple(paths)


def after_retries(raw: dict[str, Any], kind: str, name: str) -> int:
    """A step's `after_retries = N`: an invoke's, an event file's or a parallel step's."""
    if "after_retries" not in raw:
        return 0
    value = raw["after_retries"]
    if kind not in ("invoke", "event_file", "parallel"):
        raise ValueError(f"{name}: after_retries = N goes with an invoke's step, not with {kind}")
    if not is_int(value) or value < 0:
        raise ValueError(f"{name}: after_retries = {value!r}: the retries of failed Event invokes that had ended "
                         "when the step's invoke came, 0 or more")
    return value
