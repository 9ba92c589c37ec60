"""JSON as Lambda's Go decoder reads it, for a function's JSON log line that becomes a Telemetry API record."""

from __future__ import annotations

import json
import math


def _not_json(text: str) -> float:
    raise ValueError(f"{text} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} does not fit a double")
    return value


# JSON as Lambda's Go decoder reads it: Python's also takes NaN and Infinity (and 1e999 as infinity), which a
# listener's strict parser would then be sent, and refuse the whole batch for.
go_json = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite).decode
