"""JSON as Lambda's front end takes it (json_text.py), with the same verdict on every Python lambdatui runs on.

Python's parser follows about 1,000 levels to 3.11, 1,500 on 3.12 and 10,000 on 3.13; past the host's, the document
is followed without recursion, by the same grammar. The depths below are past the parser of each of those versions.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from lambdatui import json_text
from lambdatui.json_text import MAX_DEPTH, _no_constant, _walk, check_json, nesting_depth, top_level_string

HAND_PICKED = ['{}', '[]', '1', '-0.5e+3', '"a\\"b"', '{"a": [1, 2, {"b": null}]}', ' [ true , false ] ', '[1,]',
               '{"a":1,}', '{a:1}', '[1 2]', '01', '1.', '.5', '"\x01"', '[', ']', '{"a" 1}', 'nul', '[nullx]', 'NaN',
               '[1] x', '', ' ', '{"a":1}{', '[-]', '"\\u12"', '[[]]', '{"":{}}', '1e5', '-', 'truefalse', '"\\q"',
               '[١]']
# Past the parser of Python 3.9-3.11 (~1,000 levels), of 3.12 (~1,500) and of 3.13 (~10,000): the deepest Lambda takes.
PAST_EACH_PARSER = (1_500, 5_000, MAX_DEPTH)


def refusal(check, text: str) -> str | None:
    """None when `check` takes `text`, else what it says."""
    try:
        check(text)
    except ValueError as exc:
        return str(exc)
    return None


def strict(text: str) -> None:
    json.loads(text, parse_constant=_no_constant)


def nested(depth: int, opening: str = "[", inner: str = "", closing: str = "]") -> str:
    return opening * depth + inner + closing * depth


def same_verdict(parsed: str | None, walked: str | None) -> bool:
    """The same words as the parser's, so that a document too deep for one host's parser and not for another's is
    refused with the same message on both; 3.13 alone names a trailing comma (older parsers expect a value or a
    key there)."""
    if parsed is not None and parsed.startswith("Illegal trailing comma"):
        return walked is not None and walked.startswith(("Expecting value", "Expecting property name"))
    return parsed == walked


def test_it_takes_and_refuses_what_pythons_parser_takes_and_refuses_and_says_the_same() -> None:
    generator = random.Random(9)  # the same corpus every run: short texts of JSON's own characters
    alphabet = '[]{}",:0123456789-.eE tfnrualNI\\'
    texts = HAND_PICKED + [''.join(generator.choice(alphabet) for _ in range(generator.randint(0, 8)))
                           for _ in range(20_000)]
    differ = [text for text in texts if not same_verdict(refusal(strict, text), refusal(_walk, text))]
    assert differ == []


@pytest.mark.parametrize("opening, inner, closing", [("[", "", "]"), ('{"a":', "1", "}")])
def test_a_document_nested_past_pythons_parser_is_json_up_to_the_limit(opening: str, inner: str, closing: str) -> None:
    assert check_json(opening + inner + closing) is None
    for depth in PAST_EACH_PARSER:
        deep = nested(depth, opening, inner, closing)
        assert check_json(deep) is None  # taken, as Lambda's front end takes it: the function's runtime decides
        with pytest.raises(json.JSONDecodeError, match="Expecting ',' delimiter"):
            check_json(deep[:-1])
    with pytest.raises(ValueError, match="nested deeper than 10,000 levels"):
        check_json(nested(MAX_DEPTH + 1, opening, inner, closing))
    assert check_json("[1]") is None  # the shared decoder is fine after a RecursionError


def test_a_host_whose_parser_follows_past_the_limit_still_refuses_past_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A later Python may read deeper than 10,000 levels (3.14 bounds recursion by the stack's size): the verdict
    stays Lambda's."""

    class Unbounded:
        @staticmethod
        def decode(text: str) -> Any:
            return {"errorType": "Read"}  # as if it had read the whole document

    monkeypatch.setattr(json_text, "_DECODER", Unbounded)
    monkeypatch.setattr(json_text, "_READER", Unbounded)
    json_text._host_parser_reads_past_max_depth.cache_clear()
    try:
        with pytest.raises(ValueError, match="nested deeper than 10,000 levels"):
            check_json(nested(MAX_DEPTH + 1))
        check_json(nested(MAX_DEPTH))
        assert top_level_string(b'{"errorType": "Read", "a": ' + nested(MAX_DEPTH).encode() + b"}", "errorType") is None
        assert top_level_string(b'{"errorType": "Read", "a": ' + nested(MAX_DEPTH - 1).encode() + b"}",
                                "errorType") == "Read"
    finally:
        json_text._host_parser_reads_past_max_depth.cache_clear()


def _random_value(generator: random.Random, depth: int) -> Any:
    if depth == 0 or generator.random() < 0.3:
        return generator.choice([1, -2.5, None, True, "", "[", "{[}", '"]]', "\\", "a\\\"[", "\u00e9{"])
    if generator.random() < 0.5:
        return [_random_value(generator, depth - 1) for _ in range(generator.randint(0, 3))]
    return {generator.choice(["a", "[", "}", '"{']): _random_value(generator, depth - 1)
            for _ in range(generator.randint(0, 3))}


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def test_nesting_depth_is_the_documents_whatever_its_strings_hold() -> None:
    generator = random.Random(5)
    values = [_random_value(generator, 6) for _ in range(2_000)]
    assert [nesting_depth(json.dumps(value, indent=generator.choice([None, 1]))) for value in values] == [
        _depth(value) for value in values]
    assert [nesting_depth(nested(depth)) for depth in PAST_EACH_PARSER] == list(PAST_EACH_PARSER)


@pytest.mark.parametrize("depth", PAST_EACH_PARSER[:-1] + (MAX_DEPTH - 1,))
def test_a_top_level_string_is_read_past_the_hosts_parser(depth: int) -> None:
    body = ('{"errorType": "First", "errorMessage": {"errorType": "Inner"}, "data": ' + nested(depth)
            + ', "errorType": "Last"}')
    assert top_level_string(body.encode(), "errorType") == "Last"  # the last, as Python's parser keeps
    assert top_level_string(body.encode(), "errorMessage") is None  # not a string
    assert top_level_string(body.encode(), "stackTrace") is None
    assert top_level_string(body.encode("utf-16"), "errorType") == "Last"  # bytes decoded as json.loads decodes them
    with_constants = body.replace('"data": ', '"data": [NaN, -Infinity, Infinity], "more": ')
    assert top_level_string(with_constants.encode(), "errorType") == "Last"  # as json.loads reads them


@pytest.mark.parametrize("body", [
    nested(MAX_DEPTH + 1, '{"errorType": "Deep", "a": ', "1", "}"),  # past Lambda's bound at its innermost
    "[" + nested(MAX_DEPTH - 1, '{"errorType": "Deep", "a": ', "1", "}") + "]",  # an array, not an object
    '{"errorType": "Deep", "a": ' + nested(MAX_DEPTH - 1)[:-1] + "}",  # not JSON
    '{"errorType": 5, "a": ' + nested(MAX_DEPTH - 1) + "}",
    '{"errorType": "Deep", "a": NaN x, "b": ' + nested(MAX_DEPTH - 1) + "}",
], ids=["past-the-limit", "array", "cut-short", "number", "after-nan"])
def test_no_top_level_string_in_a_document_lambda_refuses_or_that_holds_none(body: str) -> None:
    assert top_level_string(body.encode(), "errorType") is None
    shallow = body.replace(nested(MAX_DEPTH - 1), "[]").replace(nested(MAX_DEPTH - 1)[:-1], "[")
    if shallow != body:  # the same verdict where the host's own parser reads it
        assert top_level_string(shallow.encode(), "errorType") is None


def test_the_debuggers_event_panel_takes_what_lambda_takes_and_shows_it() -> None:
    """The event editor and `i` refused an event the host's json could not follow, which `serve` and a replay take;
    the event's detail (`d`) pretty-printed it with that json, and raised RecursionError past it."""
    from lambdatui.ui.detail_texts import event_detail
    from lambdatui.ui.widgets.event_panel import event_problem

    deepest = nested(MAX_DEPTH)
    assert event_problem(deepest) is None
    assert event_detail(deepest, "deep.json").sections[0].text == deepest  # as written: too deep to re-indent
    past = event_problem(nested(MAX_DEPTH + 1))
    assert past is not None and not past.syntax and "nested deeper than 10,000 levels" in past.message
    for depth in PAST_EACH_PARSER:  # a syntax error, with its line and column, whichever parser found it
        cut = event_problem(nested(depth)[:-1])
        assert cut is not None and cut.syntax and cut.message == f"1:{2 * depth} Expecting ',' delimiter"
