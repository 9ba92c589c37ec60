"""TOML text, written by hand: the standard library reads TOML but has no writer.

Strings use TOML's escapes, as literal strings `'...'` when the text allows it, else basic strings. Events and
responses go in as JSON text (TOML has no null, JSON does), on one line, in a form UTF-8 (and so TOML) can hold.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping, Optional

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def is_control(ch: str) -> bool:
    return ch < " " or ch == "\x7f"


def toml_basic_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif is_control(ch):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_string(text: str) -> str:
    """A literal string `'...'` when TOML allows one (no `'`, no control character but tab), else a basic one."""
    if "'" not in text and not any(is_control(ch) and ch != "\t" for ch in text):
        return f"'{text}'"
    return toml_basic_string(text)


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_basic_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }" \
            if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def writable(text: str) -> bool:
    """Whether UTF-8 (and so TOML) can hold `text`: not when it has a lone surrogate, which JSON's "\\ud800" makes."""
    return _LONE_SURROGATE.search(text) is None


def lone_surrogates_replaced(text: str) -> str:
    """`text` with each lone surrogate as U+FFFD, so that UTF-8 can hold it (the value is lost: a last resort)."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def json_line(value: Any) -> str:
    """`value` as one line of JSON text that UTF-8 can hold: a lone surrogate stays a JSON escape (same value)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if writable(text) else _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_text(payload: bytes) -> Optional[str]:
    """The payload as one line of JSON text, or None when it is not JSON (or too deep for Python's parser)."""
    try:
        return json_line(json.loads(payload.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
