"""Whether text is JSON as Lambda takes it: any valid JSON, integers of any length among it.

Python's `int()` refuses a number of more than 4,300 digits, so `json.loads` would too (a ValueError that reads
like malformed JSON); Lambda's front end takes it, and what the function makes of it is its runtime's business.
"""

from __future__ import annotations

import json


def check_json(text: str | bytes) -> None:
    """Raises ValueError (or RecursionError, nested past Python's parser) unless `text` is one JSON document."""
    json.loads(text, parse_int=str)
