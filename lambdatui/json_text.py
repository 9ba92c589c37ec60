"""Whether text is JSON as Lambda takes it: one standard JSON document, in UTF-8, integers of any length among it.

Python's `int()` refuses a number of more than 4,300 digits, so `json.loads` would too (a ValueError that reads
like malformed JSON); Lambda's front end takes it, and what the function makes of it is its runtime's business.
Python's parser also takes what Lambda's refuses: NaN and Infinity (no JSON has them: "Non-standard token"), and
bytes in UTF-16 or UTF-32, which it detects; Lambda reads UTF-8 (a byte-order mark before it is skipped).
Python's parser stops at about 1,000 levels of nesting (its recursion limit), where Lambda's takes a document nested
far deeper: past that, the document is checked without recursion, up to `MAX_DEPTH` levels (the spec is silent on
Lambda's own bound; Go's encoding/json stops at 10,000, and so does this).
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring

MAX_DEPTH = 10_000

_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS = ("true", "false", "null")


def _no_constant(name: str) -> None:
    raise ValueError(f"Non-standard token '{name}': JSON has no NaN or Infinity")


# Integers kept as text (no conversion, whatever their length), NaN and Infinity refused: a check, not a parse.
_DECODER = json.JSONDecoder(parse_int=str, parse_constant=_no_constant)


def check_json(text: str | bytes) -> bool:
    """Raises ValueError unless `text` is one JSON document; whether it nests deeper than Python's parser follows
    (a Python runtime, ours or awslambdaric, fails its invoke with Runtime.UnmarshalError)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"the body is not UTF-8 text (byte {exc.start} cannot start or continue a "
                             "character)") from None
    try:
        _DECODER.decode(text)  # what json.loads(text, parse_int=..., parse_constant=...) does, without a decoder each
    except RecursionError:
        _check_deep(text)
        return True
    return False


def _check_deep(text: str) -> None:
    """The grammar of JSON, followed with a stack of open containers instead of recursion."""
    open_containers: list[str] = []  # "{" or "["
    pos = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    while True:
        # A value is expected at `pos`.
        char = text[pos:pos + 1]
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
                pos = _key(text, pos)
                continue
            else:
                continue
        elif char == '"':
            pos = scanstring(text, pos + 1)[1]
        elif (number := _NUMBER.match(text, pos)) is not None:
            pos = number.end()
        elif text.startswith(_LITERALS, pos):
            pos += next(len(word) for word in _LITERALS if text.startswith(word, pos))
        else:
            raise ValueError(f"Expecting value: char {pos}")
        # After a value: a comma and the next one, or the closers of the containers it ends.
        while True:
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if not open_containers:
                if pos != len(text):
                    raise ValueError(f"Extra data: char {pos}")
                return
            char = text[pos:pos + 1]
            inner = open_containers[-1]
            if char == ",":
                pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                if inner == "{":
                    pos = _key(text, pos)
                break
            if char == ("}" if inner == "{" else "]"):
                open_containers.pop()
                pos += 1
                continue
            raise ValueError(f"Expecting ',' delimiter: char {pos}")


def _key(text: str, pos: int) -> int:
    """Past an object's `"key":` and the space after it, where its value starts."""
    if text[pos:pos + 1] != '"':
        raise ValueError(f"Expecting property name enclosed in double quotes: char {pos}")
    pos = _SPACE.match(text, scanstring(text, pos + 1)[1]).end()  # type: ignore[union-attr]
    if text[pos:pos + 1] != ":":
        raise ValueError(f"Expecting ':' delimiter: char {pos}")
    return _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
