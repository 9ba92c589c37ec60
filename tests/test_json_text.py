"""The check of JSON nested past Python's parser follows JSON's grammar as Python's own parser does (json_text.py)."""

from __future__ import annotations

import json
import random

import pytest

from lambdatui.json_text import MAX_DEPTH, _check_deep, check_json

HAND_PICKED = ['{}', '[]', '1', '-0.5e+3', '"a\\"b"', '{"a": [1, 2, {"b": null}]}', ' [ true , false ] ', '[1,]',
               '{"a":1,}', '{a:1}', '[1 2]', '01', '1.', '.5', '"\x01"', '[', ']', '{"a" 1}', 'nul', '[nullx]', 'NaN',
               '[1] x', '', ' ', '{"a":1}{', '[-]', '"\\u12"', '[[]]', '{"":{}}', '1e5', '-', 'truefalse', '"\\q"',
               '[١]']


def takes(check, text: str) -> bool:
    try:
        check(text)
    except ValueError:
        return False
    return True


def strict(text: str) -> None:
    json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


def test_it_takes_and_refuses_what_pythons_parser_takes_and_refuses() -> None:
    generator = random.Random(9)  # the same corpus every run: short texts of JSON's own characters
    alphabet = '[]{}",:0123456789-.eE tfnrual\\'
    texts = HAND_PICKED + [''.join(generator.choice(alphabet) for _ in range(generator.randint(0, 8)))
                           for _ in range(20_000)]
    differ = [text for text in texts if takes(strict, text) != takes(_check_deep, text)]
    assert differ == []


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")])
def test_a_document_nested_past_pythons_parser_is_json_up_to_the_limit(opening: str, closing: str) -> None:
    assert check_json(opening + "1" * (opening == '{"a":') + closing) is False
    for depth in (1_500, MAX_DEPTH):
        deep = opening * depth + ("1" if opening == '{"a":' else "") + closing * depth
        assert check_json(deep) is True  # valid, and past what a Python runtime can read
        with pytest.raises(ValueError):
            check_json(deep[:-1])
    with pytest.raises(ValueError, match="nested deeper than 10,000 levels"):
        check_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
