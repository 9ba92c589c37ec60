"""Item 6: a scenario's `expect.response` is a structural subset by default; `response_exact = true` is equality.

From the README: every key named must be there and match, recursively; keys not named are ignored; arrays
compare whole; JSON types matter (`true` is not `1`); a mismatch names the first differing key, e.g.
`response.body.status: expected 200, got 500`, then a diff.
"""

from __future__ import annotations

import pytest

from acceptance_support import cli, outcomes, write

HANDLER = """\
    import json

    def handler(event, context):
        return json.loads(event["ret"]) if "ret" in event else {
            "a": 1, "b": {"c": 2, "d": [1, 2], "deep": {"x": "y", "n": None}}, "e": True, "f": 1,
            "items": [{"a": 1, "b": 2}], "s": "1", "rid": "8e4c-request-id", "word": "héllo",
        }
    """

PASSING = """\
[[step]]
invoke = {}
expect = { response = { a = 1 } }

[[step]]
invoke = {}
expect = { response = { b = { c = 2 } } }

[[step]]
invoke = {}
expect = { response = { b = { deep = { x = "y" } }, e = true, f = 1, s = "1" } }

[[step]]
invoke = {}
expect = { response = { b = { d = [1, 2] }, items = [{ a = 1, b = 2 }] } }

[[step]]
invoke = {}
expect = { response = {} }

[[step]]
invoke = {}
expect = { response = '{"b": {"deep": {"n": null}}, "word": "h\\u00e9llo"}' }

[[step]]
invoke = {}
expect.response_exact = true
expect.response = { a = 1, b = { c = 2, d = [1, 2], deep = { x = "y", n = "PLACEHOLDER" } }, e = true, f = 1, items = [{ a = 1, b = 2 }], s = "1", rid = "8e4c-request-id", word = "héllo" }

[[step]]
invoke = { ret = "5" }
expect = { response = '5' }

[[step]]
invoke = { ret = "[1, {\\"k\\": 2}]" }
expect = { response = '[1, {"k": 2}]' }

[[step]]
invoke = { ret = "\\"text\\"" }
expect = { response = '"text"' }

[[step]]
invoke = { ret = "{\\"x\\": 1.5}" }
expect = { response = { x = 1.5 }, response_exact = true }
"""


def replay(code_dir, scenario: str):
    write(code_dir / "handler.py", HANDLER)
    write(code_dir / "s.toml", scenario, dedent=False)
    return cli("replay", code_dir / "handler.py", code_dir / "s.toml")


def test_subset_and_exact_matches_that_hold(code_dir):
    # TOML has no null: the exact step's None is written as JSON text instead.
    scenario = PASSING.replace(
        'expect.response = { a = 1, b = { c = 2, d = [1, 2], deep = { x = "y", n = "PLACEHOLDER" } }, e = true, f = 1, '
        'items = [{ a = 1, b = 2 }], s = "1", rid = "8e4c-request-id", word = "héllo" }',
        'expect.response = \'{"a": 1, "b": {"c": 2, "d": [1, 2], "deep": {"x": "y", "n": null}}, "e": true, "f": 1, '
        '"items": [{"a": 1, "b": 2}], "s": "1", "rid": "8e4c-request-id", "word": "h\\u00e9llo"}\'')
    result = replay(code_dir, scenario)
    assert result.returncode == 0, result.stdout + result.stderr
    assert outcomes(result.stdout) == ["success"] * 11


FAILING = {
    "nested-value": ('{ b = { c = 3 } }', "", "response.b.c: expected 3, got 2"),
    "missing-key": ('{ a = 1, zz = 1 }', "", "response.zz"),
    "array-element-subset": ('{ items = [{ a = 1 }] }', "", "response.items"),
    "null-is-not-missing": ("'{\"zz\": null}'", "", "response.zz"),
    "true-is-not-1": ('{ f = true }', "", "response.f"),
    "object-expected-scalar-found": ('{ a = { x = 1 } }', "", "response.a"),
    "exact-with-extra-keys": ('{ a = 1, b = { c = 2, d = [1, 2], deep = { x = "y" } }, e = true, f = 1, '
                              'items = [{ a = 1, b = 2 }], s = "1", word = "héllo" }',
                              "expect.response_exact = true\n", "response.b.deep: keys not expected: n"),
    "exact-nested-extra": ("'{\"a\": 1}'", 'expect.response_exact = true\ninvoke = { ret = "{\\"a\\": 1, \\"b\\": {}}" }\n',
                           "response: keys not expected: b"),
}


@pytest.mark.parametrize("name", list(FAILING))
def test_mismatches_fail_with_a_message_naming_the_first_differing_key(code_dir, name):
    expected, extra, message = FAILING[name]
    invoke = "" if "invoke =" in extra else "invoke = {}\n"
    scenario = f"[[step]]\n{invoke}{extra}expect.response = {expected}\n"
    result = replay(code_dir, scenario)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    assert outcomes(result.stdout) == ["success"], output  # the invoke itself succeeded; the check failed
    mismatch = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("mismatch")]
    assert mismatch, output
    assert message in mismatch[0], mismatch[0]


def test_a_response_expectation_against_a_non_object_response_is_a_clean_failure(code_dir):
    scenario = '[[step]]\ninvoke = { ret = "\\"hello\\"" }\nexpect = { response = { a = 1 } }\n'
    result = replay(code_dir, scenario)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert any(line.strip().startswith("mismatch") for line in result.stdout.splitlines()), result.stdout


def test_response_exact_without_a_response_is_refused_or_ignored_never_a_crash(code_dir):
    result = replay(code_dir, "[[step]]\ninvoke = {}\nexpect = { response_exact = true }\n")
    assert result.returncode in (0, 2), result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
