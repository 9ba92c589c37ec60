"""In-process checks of the bootstrap's pure pieces (imported as lambdatui.bootstrap)."""

from __future__ import annotations

import collections
import json
import os
from decimal import Decimal

import pytest

from lambdatui.bootstrap import codec, faults, handler, inspect_state
from lambdatui.bootstrap.errors import FaultError


def test_decimals_are_bare_json_numbers():
    assert codec.to_json({"a": Decimal("1.10"), "b": [Decimal("-0"), Decimal("1E+3")]}) == (
        '{"a": 1.10, "b": [-0, 1E+3]}'
    )
    assert codec.to_json(Decimal("NaN")) == "NaN"
    assert codec.to_json({"s": "\u0000lambdatui-decimal\u00000"}) == '{"s": "\\u0000lambdatui-decimal\\u00000"}'


def test_non_ascii_follows_aws_execution_env(monkeypatch):
    monkeypatch.delenv("AWS_EXECUTION_ENV", raising=False)
    assert codec.to_json("é") == '"\\u00e9"'
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12")
    assert codec.to_json({"p": Decimal("2.5"), "s": "é"}) == '{"p": 2.5, "s": "é"}'


def test_marshal_and_unmarshal_errors():
    with pytest.raises(FaultError) as caught:
        codec.encode_result({1, 2})
    assert caught.value.error_type == "Runtime.MarshalError"
    assert caught.value.msg == "Unable to marshal response: Object of type set is not JSON serializable"
    with pytest.raises(FaultError) as caught:
        codec.decode_event(b"[1,", "application/json")
    assert caught.value.error_type == "Runtime.UnmarshalError"
    assert codec.decode_event(b"[1,", "application/json; charset=utf-8") == b"[1,", "exact match, like awslambdaric"


@pytest.mark.parametrize("value, expected", [
    ('{"type": "KeyError", "message": "k"}', (KeyError, "KeyError", "'k'")),
    ('{"type": "UnicodeDecodeError", "message": "u"}', (Exception, "UnicodeDecodeError", "u")),
    ('{"type": "Throttled"}', (Exception, "Throttled", "")),
    ("not json", (Exception, "Exception", "not json")),
    ('{"type": "bad\\u0000name", "message": "m"}', (Exception, "Exception", "m")),
])
def test_injected_exceptions(value, expected):
    base, name, text = expected
    exc = faults.injected_exception(value)
    assert isinstance(exc, base)
    assert type(exc).__name__ == name
    assert str(exc) == text


def test_malformed_handler_message_matches_awslambdaric():
    with pytest.raises(FaultError) as caught:
        handler.split_handler("nodot")
    assert caught.value.msg == "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"


def test_classify_and_type_names():
    mod_name = __name__
    assert inspect_state.classify("__doc__", None, mod_name) == "dunder"
    assert inspect_state.classify("os", os, mod_name) == "module"
    assert inspect_state.classify("f", test_classify_and_type_names, mod_name) == "function"
    assert inspect_state.classify("C", FaultError, mod_name) == "import"
    assert inspect_state.classify("j", json.dumps, mod_name) == "import"
    assert inspect_state.classify("length", len, mod_name) == "import"
    assert inspect_state.classify("x", [1], mod_name) == "state"
    assert inspect_state.qualified_type_name(collections.OrderedDict()) == "collections.OrderedDict"
    assert inspect_state.qualified_type_name(os) == "module"
    assert inspect_state.qualified_type_name(3) == "int"


def test_bounded_repr():
    class Loud:
        def __repr__(self):
            return "L" * 5000

    assert len(inspect_state.bounded_repr(Loud())) <= 200
    assert len(inspect_state.bounded_repr(list(range(10000)))) <= 200
    assert len(inspect_state.bounded_repr({"k" * 500: "v" * 500})) <= 200
    assert inspect_state.bounded_repr(12) == "12"
