"""Whether text is JSON as Lambda takes it: one standard JSON document, in UTF-8, integers of any length among it.

Python's `int()` refuses a number of more than 4,300 digits, so `json.loads` would too (a ValueError that reads
like malformed JSON); Lambda's front end takes it, and what the function makes of it is its runtime's business.
Python's parser also takes what Lambda's refuses: NaN and Infinity (no JSON has them: "Non-standard token"), and
bytes in UTF-16 or UTF-32, which it detects; Lambda reads UTF-8 (a byte-order mark before it is skipped).
"""

from __future__ import annotations

import json


def _no_constant(name: str) -> None:
    raise ValueError(f"Non-standard token '{name}': JSON has no NaN or Infinity")


def check_json(text: str | bytes) -> None:
    """Raises ValueError (or RecursionError, nested past Python's parser) unless `text` is one JSON document."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"the body is not UTF-8 text (byte {exc.start} cannot start or continue a "
                             "character)") from None
    json.loads(text, parse_int=str, parse_constant=_no_constant)
