"""Frozen dataclasses <-> JSON, driven by their type hints: enough for `DebuggerSnapshot` and the facts.

Generic on purpose: it knows nothing of lambdatui's types, only of what their annotations say
(`typing.get_type_hints`), so a new field in a snapshot needs no change here. Supported: dataclasses,
enums (by value), str/int/float/bool/None, `Optional[...]` and other unions, `tuple[X, ...]` and
fixed tuples, lists, `frozenset[X]` / `set[X]` (written sorted, so the file is stable), `dict[str, X]`,
`Mapping[str, X]` (read back as a dict) and `bytes` (base64). A value of a union of several dataclasses
(a `Fact`) carries its class name in a "type" key so that it decodes to the right one.
"""

from __future__ import annotations

import base64
import collections.abc
import dataclasses
import enum
import json
import types
import typing
from functools import lru_cache
from typing import Any, Union

TYPE_KEY = "type"
_NONE = type(None)


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _arms(tp: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(tp)
    return ()


def _tagged(tp: Any) -> bool:
    """Whether values of `tp` need their class name: a union with more than one dataclass in it."""
    return sum(1 for arm in _arms(tp) if dataclasses.is_dataclass(arm)) > 1


# ---------------------------------------------------------------------- encoding


def to_json_value(value: Any, tp: Any = Any) -> Any:
    """`value` (declared as `tp`) as plain JSON data."""
    if value is None:
        return None
    arms = _arms(tp)
    if arms:
        inner = [a for a in arms if a is not _NONE]
        if _tagged(tp) and dataclasses.is_dataclass(value):
            data = _encode_dataclass(value)
            return {TYPE_KEY: type(value).__name__, **data}
        for arm in inner:
            if _accepts(arm, value):
                return to_json_value(value, arm)
        return to_json_value(value, Any)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(value, (frozenset, set)):
        item = args[0] if args else Any
        encoded = [to_json_value(v, item) for v in value]
        return sorted(encoded, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (tuple, list)):
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return [to_json_value(v, t) for v, t in zip(value, args)]
        item = args[0] if args else Any
        return [to_json_value(v, item) for v in value]
    if isinstance(value, dict):
        item = args[1] if len(args) == 2 else Any
        return {str(k): to_json_value(v, item) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _encode_dataclass(value: Any) -> dict[str, Any]:
    hints = _hints(type(value))
    return {field.name: to_json_value(getattr(value, field.name), hints[field.name])
            for field in dataclasses.fields(value)}


def _accepts(tp: Any, value: Any) -> bool:
    """Whether `value` is an instance of the (possibly generic) type `tp`."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp) or tp
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        return isinstance(value, origin)
    except TypeError:
        return False


# ---------------------------------------------------------------------- decoding


def from_json_value(tp: Any, data: Any) -> Any:
    """Plain JSON data back into a value of type `tp`."""
    if tp is Any:
        return data
    arms = _arms(tp)
    if arms:
        if data is None:
            if _NONE in arms:
                return None
            raise ValueError(f"None for non-optional {tp}")
        inner = [a for a in arms if a is not _NONE]
        if isinstance(data, dict) and TYPE_KEY in data and _tagged(tp):
            name = data[TYPE_KEY]
            for arm in inner:
                if dataclasses.is_dataclass(arm) and arm.__name__ == name:
                    return _decode_dataclass(arm, {k: v for k, v in data.items() if k != TYPE_KEY})
            raise ValueError(f"no {name} in {tp}")
        errors = []
        for arm in inner:
            try:
                return from_json_value(arm, data)
            except (TypeError, ValueError, KeyError) as exc:
                errors.append(exc)
        raise ValueError(f"{data!r} matches no arm of {tp}: {errors}")
    if data is None:
        if tp is _NONE or tp is None:
            return None
        raise ValueError(f"None for non-optional {tp}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise TypeError(f"{tp.__name__} from {type(data).__name__}")
        return _decode_dataclass(tp, data)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if tp is bytes:
        return base64.b64decode(data)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is tuple or tp is tuple:
        if not isinstance(data, list):
            raise TypeError(f"tuple from {type(data).__name__}")
        if not args:
            return tuple(data)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json_value(args[0], v) for v in data)
        if len(args) != len(data):
            raise ValueError(f"{len(data)} items for {tp}")
        return tuple(from_json_value(t, v) for t, v in zip(args, data))
    if origin in (frozenset, set, list) or tp in (frozenset, set, list):
        container = origin or tp
        item = args[0] if args else Any
        return container(from_json_value(item, v) for v in data)
    if origin in (dict, collections.abc.Mapping) or tp is dict:
        item = args[1] if len(args) == 2 else Any
        return {k: from_json_value(item, v) for k, v in data.items()}
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise TypeError(f"float from {type(data).__name__}")
        return float(data)
    if tp in (str, int, bool):
        if not isinstance(data, tp) or (tp is int and isinstance(data, bool)):
            raise TypeError(f"{tp.__name__} from {type(data).__name__}")
        return data
    raise TypeError(f"cannot decode {tp}")


def _decode_dataclass(cls: type, data: dict[str, Any]) -> Any:
    hints = _hints(cls)
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    kwargs = {name: from_json_value(hints[name], value) for name, value in data.items()}
    return cls(**kwargs)


# ---------------------------------------------------------------------- text


def dumps(value: Any, tp: Any = Any) -> str:
    return json.dumps(to_json_value(value, tp), indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def loads(tp: Any, text: str) -> Any:
    return from_json_value(tp, json.loads(text))
