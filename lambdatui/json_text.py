"""Whether text is JSON as Lambda takes it: one standard JSON document, in UTF-8, integers of any length among it,
nested at most `MAX_DEPTH` levels. The verdict depends on the text alone, never on the Python lambdatui runs on.

Python's `int()` refuses a number of more than 4,300 digits, so `json.loads` would too (a ValueError that reads
like malformed JSON); Lambda's front end takes it, and what the function makes of it is its runtime's business.
Python's parser also takes what Lambda's refuses: NaN and Infinity (no JSON has them: "Non-standard token"), and
bytes in UTF-16 or UTF-32, which it detects; Lambda reads UTF-8 (a byte-order mark before it is skipped).
Lambda's front end takes a document nested up to its own bound (the spec is silent on it; Go's encoding/json stops at
10,000, and so does this). How deep Python's parser follows depends on its version (about 1,000 levels to 3.11,
1,500 on 3.12, 10,000 on 3.13), so past the host's, the document is followed without recursion. Whether the
function reads it is its runtime's business, as on Lambda: a Python runtime, ours or awslambdaric, fails an
invoke nested deeper than its own Python reads with Runtime.UnmarshalError.
"""

from __future__ import annotations

import functools
import json
import re
from itertools import accumulate
from json.decoder import JSONDecodeError, scanstring
from typing import Optional

MAX_DEPTH = 10_000

_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS = ("true", "false", "null")
_CONSTANTS = ("NaN", "Infinity", "-Infinity")  # Python's parser reads them, and hands them to parse_constant
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^][{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _no_constant(name: str) -> None:
    raise ValueError(f"Non-standard token '{name}': JSON has no NaN or Infinity")


# Integers kept as text (no conversion, whatever their length), NaN and Infinity refused: a check, not a parse.
_DECODER = json.JSONDecoder(parse_int=str, parse_constant=_no_constant)
# For reading a value as json.loads does (NaN and Infinity taken), but a number is a float, never a string,
# however many digits it has (int() refuses more than 4,300).
_READER = json.JSONDecoder(parse_int=float)


def check_json(text: str | bytes) -> None:
    """Raises ValueError unless `text` is one JSON document Lambda's front end takes (whether the function's
    runtime can read it is the runtime's business)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"the body is not UTF-8 text (byte {exc.start} cannot start or continue a "
                             "character)") from None
    try:
        _DECODER.decode(text)  # what json.loads(text, parse_int=..., parse_constant=...) does, without a decoder each
    except RecursionError:
        _walk(text)
        return
    if _past_max_depth(text):
        _walk(text)  # raises, saying where


def top_level_string(document: bytes, key: str) -> Optional[str]:
    """The string under `key` in the JSON object `document` (its last `key`, as Python's parser keeps the last);
    None when there is none, or `document` is no JSON object (NaN and Infinity taken, as json.loads takes them).
    Read to MAX_DEPTH levels on every host, however deep the host's own parser follows."""
    try:
        text = document.decode(json.detect_encoding(document), "surrogatepass")  # as json.loads decodes bytes
    except UnicodeDecodeError:
        return None
    try:
        value = _READER.decode(text)
    except RecursionError:
        try:
            return _walk(text, key, constants=True)
        except ValueError:
            return None
    except ValueError:  # not JSON
        return None
    if not isinstance(value, dict) or _past_max_depth(text):
        return None
    found = value.get(key)
    return found if isinstance(found, str) else None


def nesting_depth(text: str) -> int:
    """How deep JSON `text` nests (0 for a scalar), counted without recursion: its strings are skipped, so a bracket
    inside one counts for nothing. Text that is not JSON gets a number all the same, the same on every host."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _past_max_depth(text: str) -> bool:
    """Whether `text`, which this Python's parser read, nests past MAX_DEPTH: only a Python whose parser follows
    that deep (none up to 3.13) can have read such a document."""
    return len(text) > 2 * MAX_DEPTH and _host_parser_reads_past_max_depth() and nesting_depth(text) > MAX_DEPTH


@functools.lru_cache(maxsize=None)
def _host_parser_reads_past_max_depth() -> bool:
    """Up to Python 3.13 the parser's recursion limit stops it before MAX_DEPTH (a RecursionError, and the walk
    below decides); a later Python may bound its recursion by the stack's size instead, and read deeper."""
    deeper = MAX_DEPTH + 1
    try:
        _DECODER.decode("[" * deeper + "]" * deeper)
    except RecursionError:
        return False
    return True


def _walk(text: str, member: Optional[str] = None, constants: bool = False) -> Optional[str]:
    """The grammar of JSON, followed with a stack of open containers instead of recursion: ValueError unless `text`
    is one document (with NaN and Infinity among its values if `constants`). The string the top-level object's
    `member` holds, if any (the last, as Python's parser keeps the last)."""
    open_containers: list[str] = []  # "{" or "["
    found: Optional[str] = None
    wanted = False  # the value at `pos` is the top-level object's `member`
    pos = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    while True:
        # A value is expected at `pos`.
        char = text[pos:pos + 1]
        if wanted:
            found = scanstring(text, pos + 1)[0] if char == '"' else None
            wanted = False
        if char in ("{", "["):
            if len(open_containers) >= MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH:,} levels: char {pos}")
            open_containers.append(char)
            pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
            closer = "}" if char == "{" else "]"
            if text[pos:pos + 1] == closer:
                open_containers.pop()
                pos += 1
            elif char == "{":
                pos, key = _key(text, pos)
                wanted = key == member and len(open_containers) == 1
                continue
            else:
                continue
        elif char == '"':
            pos = scanstring(text, pos + 1)[1]
        elif (number := _NUMBER.match(text, pos)) is not None:
            pos = number.end()
        elif text.startswith(_LITERALS, pos):
            pos += next(len(word) for word in _LITERALS if text.startswith(word, pos))
        elif (constant := next((word for word in _CONSTANTS if text.startswith(word, pos)), None)) is not None:
            if not constants:
                _no_constant(constant)  # as check_json's parser refuses it, in the same words
            pos += len(constant)
        else:
            raise JSONDecodeError("Expecting value", text, pos)
        # After a value: a comma and the next one, or the closers of the containers it ends.
        while True:
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if not open_containers:
                if pos != len(text):
                    raise JSONDecodeError("Extra data", text, pos)
                return found
            char = text[pos:pos + 1]
            inner = open_containers[-1]
            if char == ",":
                pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                if inner == "{":
                    pos, key = _key(text, pos)
                    wanted = key == member and len(open_containers) == 1
                break
            if char == ("}" if inner == "{" else "]"):
                open_containers.pop()
                pos += 1
                continue
            raise JSONDecodeError("Expecting ',' delimiter", text, pos)


def _key(text: str, pos: int) -> tuple[int, str]:
    """Past an object's `"key":` and the space after it, where its value starts; and the key."""
    if text[pos:pos + 1] != '"':
        raise JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
    key, end = scanstring(text, pos + 1)
    pos = _SPACE.match(text, end).end()  # type: ignore[union-attr]
    if text[pos:pos + 1] != ":":
        raise JSONDecodeError("Expecting ':' delimiter", text, pos)
    return _SPACE.match(text, pos + 1).end(), key  # type: ignore[union-attr]
