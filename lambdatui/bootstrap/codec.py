"""Event decoding and result encoding, as awslambdaric's LambdaMarshaller does it.

awslambdaric uses simplejson; we must stay stdlib-only, so what its defaults add over
the stdlib encoder is rebuilt here: Decimal as a bare JSON number (NaN as NaN) and
bytes values and dict keys as UTF-8 text. Not rebuilt: simplejson's namedtuple-as-object (a
namedtuple result is a JSON array here) and its parser's error wording.
"""

from __future__ import annotations

import decimal  # at start-up, as awslambdaric does: a function's own decimal.py is shadowed, as in Lambda
import json
import math
import os
import re

from .errors import MARSHAL_ERROR, UNMARSHAL_ERROR, FaultError

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Any, List, Set, Tuple

JSON_CONTENT_TYPE = "application/json"
BYTES_CONTENT_TYPE = "application/unknown"

# awslambdaric turns ensure_ascii off only on these managed runtimes.
_NON_ASCII_ENVS = re.compile(r"AWS_Lambda_python3\.(\d+)$")

# Decimals are first encoded as this marker string (with a nonce of the call's own, so that no string of the
# result can be taken for one), then swapped for their digits.
_DECIMAL_MARKER = "\u0000lambdatui-decimal-%s\u0000"
_KEY_ERROR = "keys must be str, int, float, bool or None, not "


def _ensure_ascii() -> bool:
    """False on python3.12+ managed runtimes (AWS_EXECUTION_ENV), as in awslambdaric."""
    match = _NON_ASCII_ENVS.match(os.environ.get("AWS_EXECUTION_ENV", ""))
    return not (match and int(match.group(1)) >= 12)


def to_json(obj: Any) -> str:
    """json.dumps with awslambdaric's conventions: NaN allowed, Decimal as a number."""
    decimals: List[str] = []
    marker = ""

    def default(value: Any) -> Any:
        nonlocal marker
        if isinstance(value, decimal.Decimal):
            if value.is_nan():
                return math.nan
            if not marker:
                marker = _DECIMAL_MARKER % os.urandom(8).hex()
            decimals.append(str(value))
            return "%s%d" % (marker, len(decimals) - 1)
        if isinstance(value, bytes):  # simplejson encodes bytes values as UTF-8 text
            return value.decode("utf-8")
        raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)

    ensure_ascii = _ensure_ascii()
    try:
        text = json.dumps(obj, default=default, allow_nan=True, ensure_ascii=ensure_ascii)
    except TypeError as exc:
        if not str(exc).startswith(_KEY_ERROR):
            raise
        # Only now, when the stdlib refused a key, is the value walked: a bytes key is UTF-8 text to simplejson.
        text = json.dumps(_simplejson_keys(obj, set()), default=default, allow_nan=True, ensure_ascii=ensure_ascii)
    if not decimals:
        return text
    quoted_marker = json.dumps(marker, ensure_ascii=ensure_ascii)[1:-1]
    pattern = re.compile('"' + re.escape(quoted_marker) + r'(\d+)"')
    return pattern.sub(lambda m: decimals[int(m.group(1))], text)


def _simplejson_key(key: Any) -> Any:
    """A dict key as simplejson takes it: bytes decoded as UTF-8; what no JSON key can be, its TypeError wording
    (the class's bare name, where the stdlib says `decimal.Decimal`)."""
    if key is None or isinstance(key, (str, int, float)):
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8")
    raise TypeError("%s%s" % (_KEY_ERROR, type(key).__name__))


def _simplejson_keys(value: Any, active: Set[int]) -> Any:
    """A copy of the dicts and lists in `value` with their keys as simplejson takes them (see _simplejson_key). A
    container already being copied is left as it is, for json.dumps to report the circular reference."""
    if not isinstance(value, (dict, list, tuple)) or id(value) in active:
        return value
    active.add(id(value))
    try:
        if isinstance(value, dict):
            return {_simplejson_key(k): _simplejson_keys(v, active) for k, v in value.items()}
        return [_simplejson_keys(v, active) for v in value]
    finally:
        active.discard(id(value))


def decode_event(body: bytes, content_type: str) -> Any:
    """The handler's event: parsed JSON for application/json, the raw bytes otherwise."""
    if content_type != JSON_CONTENT_TYPE:
        return body
    try:
        return json.loads(body)
    except Exception as exc:
        raise FaultError(UNMARSHAL_ERROR, "Unable to unmarshal input: %s" % exc) from None


def encode_result(result: Any) -> Tuple[bytes, str]:
    """Response body and content type: bytes as-is, anything else as JSON (None → null)."""
    if isinstance(result, bytes):
        return result, BYTES_CONTENT_TYPE
    try:
        return to_json(result).encode("utf-8"), JSON_CONTENT_TYPE
    except Exception as exc:
        raise FaultError(MARSHAL_ERROR, "Unable to marshal response: %s" % exc) from None
