"""`expect.response` matches a subset by default, the whole object with `response_exact = true`.

A response that carries a request id (new on every run) can then still be checked by the keys that are
stable. The replays run the real host and a real function; the matcher itself is also tested directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdatui.scenario.parse import ScenarioError, parse_scenario

from scenario_support import replay, write_probe

# Returns its request id (never the same twice) next to stable values, nested and in a list.
WITH_REQUEST_ID = '''count = 0


def handler(event, context):
    global count
    count += 1
    return {"requestId": context.aws_request_id, "count": count,
            "body": {"ok": True, "items": [1, 2], "meta": {"source": "probe", "at": context.aws_request_id}}}
'''


@pytest.mark.trio
async def test_a_subset_of_the_keys_matches_a_response_with_a_request_id(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir, WITH_REQUEST_ID), """
        [[step]]
        invoke = {}
        expect.response = { count = 1 }

        [[step]]
        invoke = {}
        expect.response = { count = 2, body = { ok = true, meta = { source = "probe" } } }
    """, code_dir)
    assert replayed.result.passed, replayed.out
    assert replayed.result.expectations == 2


@pytest.mark.trio
async def test_lists_compare_whole_inside_a_subset(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir, WITH_REQUEST_ID), """
        [[step]]
        invoke = {}
        expect.response = { body = { items = [1] } }
    """, code_dir)
    mismatch = replayed.result.mismatch
    assert mismatch is not None and mismatch.key == "response"
    assert "response.body.items: expected [1], got [1, 2]" in replayed.out, replayed.out


@pytest.mark.trio
async def test_a_nested_mismatch_names_the_key_with_expected_and_got(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir, WITH_REQUEST_ID), """
        [[step]]
        invoke = {}
        expect.response = { count = 1, body = { meta = { source = "elsewhere" } } }
    """, code_dir)
    assert not replayed.result.passed
    out = replayed.out
    assert 'response.body.meta.source: expected "elsewhere", got "probe"' in out, out
    # The diff shows only what the expectation names: the request id is not a difference here.
    assert "requestId" not in out.split("FAILED", 1)[1], out


@pytest.mark.trio
async def test_a_missing_key_is_named(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir, WITH_REQUEST_ID), """
        [[step]]
        invoke = {}
        expect.response = { body = { status = 200 } }
    """, code_dir)
    assert "response.body.status: expected 200, got no such key" in replayed.out, replayed.out


@pytest.mark.trio
async def test_exact_mode_fails_on_extra_keys(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir, WITH_REQUEST_ID), """
        [[step]]
        invoke = {}
        expect = { response = { count = 1 }, response_exact = true }
    """, code_dir)
    assert not replayed.result.passed
    out = replayed.out
    assert "response: keys not expected: body, requestId (response_exact = true)" in out, out


@pytest.mark.trio
async def test_exact_mode_passes_on_the_whole_object_and_names_a_differing_key(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [function]
        env = { GREETING = "hi" }

        [[step]]
        invoke = { n = 1 }
        expect.response = { invocations = 1, event = { n = 1 }, greeting = "hi" }
        expect.response_exact = true

        [[step]]
        invoke = { n = 2 }
        expect.response = { invocations = 2, event = { n = 2 }, greeting = "hello" }
        expect.response_exact = true
    """, code_dir)
    assert replayed.result.steps_run == 2 and replayed.result.failed_step.number == 2
    assert 'response.greeting: expected "hello", got "hi"' in replayed.out, replayed.out


# ---------------------------------------------------------------------- the matcher and the parser


def test_matcher_subset_and_exact() -> None:
    from lambdatui.scenario.match import response_difference

    got = {"requestId": "r-1", "n": 1, "nested": {"a": 1, "b": [1, {"c": 2}]}}
    assert response_difference({"n": 1}, got, exact=False) is None
    assert response_difference({"nested": {"b": [1, {"c": 2}]}}, got, exact=False) is None
    assert response_difference({}, got, exact=False) is None
    assert response_difference(got, dict(got), exact=True) is None
    # Lists compare whole, also the objects inside them.
    assert response_difference({"nested": {"b": [1, {}]}}, got, exact=False) is not None
    # true is not 1, 1 is 1.0, as in JSON.
    assert response_difference({"n": True}, got, exact=False) is not None
    assert response_difference({"n": 1.0}, got, exact=False) is None
    extra = response_difference({"n": 1, "nested": {"a": 1, "b": [1, {"c": 2}]}}, got, exact=True)
    assert extra is not None and extra.path == "response" and "requestId" in extra.message
    deep = response_difference({"nested": {"a": 2}}, got, exact=False)
    assert deep is not None and deep.message == "response.nested.a: expected 2, got 1"
    shape = response_difference({"nested": {"a": {"x": 1}}}, got, exact=False)
    assert shape is not None and shape.message == 'response.nested.a: expected {"x": 1}, got 1'
    odd = response_difference({"a key": {"x": 1}}, {"a key": {"x": 2}}, exact=False)
    assert odd is not None and odd.path == 'response["a key"].x'
    scalar = response_difference(3, 4, exact=False)
    assert scalar is not None and scalar.message == "response: expected 3, got 4"
    # NaN, as Python's json writes it: a recorded NaN matches the NaN it came from ("expected NaN, got NaN" before).
    nan = float("nan")
    assert response_difference({"x": nan}, {"x": nan}, exact=False) is None
    assert response_difference({"x": nan}, {"x": 1.0}, exact=False) is not None


def test_response_exact_is_parsed_and_checked() -> None:
    scenario = parse_scenario("[[step]]\ninvoke = {}\nexpect = { response = { a = 1 }, response_exact = true }\n",
                              Path("s.toml"))
    assert scenario.steps[0].expect.response_exact is True
    default = parse_scenario("[[step]]\ninvoke = {}\nexpect.response = { a = 1 }\n", Path("s.toml"))
    assert default.steps[0].expect.response_exact is False
    with pytest.raises(ScenarioError, match="response_exact must be true or false"):
        parse_scenario("[[step]]\ninvoke = {}\nexpect = { response = {}, response_exact = 1 }\n", Path("s.toml"))
    with pytest.raises(ScenarioError, match="response_exact needs expect.response"):
        parse_scenario("[[step]]\ninvoke = {}\nexpect = { response_exact = true }\n", Path("s.toml"))
