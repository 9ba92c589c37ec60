"""Issue 8, hardening: bodies the core cannot read, bodies cut short, and the extension limit counted in full.

No input may raise after the core has changed state: a body nested deeper than Python's json can follow is
forwarded as Lambda forwards it, and its error type is read all the same, as deep as Lambda's front end reads JSON,
whichever Python the host runs (its json follows ~1,000 levels to 3.11, ~1,500 on 3.12, ~10,000 on 3.13); past
that bound, the error type comes from the header instead.
"""

from __future__ import annotations

import json

import pytest
from driver import Driver

from lambdatui.core import inputs as ins
from lambdatui.json_text import MAX_DEPTH
from lambdatui.model.boundaries import EnvState


def deep_error(depth: int, error_type: str = "Deep") -> bytes:
    """An error document nested `depth` levels, itself the first."""
    return (b'{"errorType":"' + error_type.encode() + b'","errorMessage":"nested","data":' + b"[" * (depth - 1)
            + b"]" * (depth - 1) + b"}")


# Past every Python's json from 3.10 to 3.13, within Lambda's bound; and one level past that bound.
DEEP_ERROR = deep_error(MAX_DEPTH)
TOO_DEEP_ERROR = deep_error(MAX_DEPTH + 1)
TRUNCATED = {"errorType": "Runtime.TruncatedResponse",
             "errorMessage": "The runtime closed its connection before the end of the response body it declared."}


def warm() -> Driver:
    d = Driver()
    d.start()
    d.runtime_next()
    return d


@pytest.mark.parametrize("content_type", ["application/json", "application/vnd.aws.lambda.error.cause+json"])
@pytest.mark.parametrize("body, error_type", [(DEEP_ERROR, "Deep"), (TOO_DEEP_ERROR, "Runtime.Deep")],
                         ids=["typed-by-its-body", "past-lambdas-bound-typed-by-its-header"])
def test_an_error_body_nested_too_deep_to_parse_is_forwarded_and_typed_as_on_every_host(
        content_type: str, body: bytes, error_type: str) -> None:
    d = warm()
    caller, rid = d.invoke()
    tok = d.invocation_error(rid, body, content_type, "Runtime.Deep")
    assert (d.reply(tok).status, d.reply(tok).body) == (202, b'{"status":"OK"}')
    result = d.result_for(caller)
    assert (result.payload, result.function_error, result.error_type) == (body, True, error_type)
    d.runtime_next()
    assert d.state is EnvState.FROZEN
    caller, rid = d.invoke()
    d.complete_invoke(rid)
    assert d.result_for(caller).payload == b'"ok"'


@pytest.mark.parametrize("body, error_type", [(deep_error(MAX_DEPTH, "Runtime.Deep"), "Runtime.Deep"),
                                              (deep_error(MAX_DEPTH + 1, "Runtime.Deep"), "Runtime.Unknown")],
                         ids=["typed-by-its-body", "past-lambdas-bound"])
def test_an_init_error_body_nested_too_deep_to_parse_is_kept(body: bytes, error_type: str) -> None:
    d = Driver()
    d.start()
    tok = d.init_error(body, None)
    assert d.reply(tok).status == 202
    assert d.env.runtime.init_error_body == body
    assert d.env.runtime.init_error_type == error_type  # no header: the body's type, else RAPID's default


@pytest.mark.parametrize("body", [b'{"errorType": 5}', b'{"errorType": ""}', b'["errorType"]', b'"x"', b"\xff\xfe"])
def test_an_error_type_the_body_does_not_give_as_a_string_comes_from_the_header(body: bytes) -> None:
    d = warm()
    caller, rid = d.invoke()
    d.invocation_error(rid, body, "application/json", "Runtime.FromHeader")
    result = d.result_for(caller)
    assert (result.payload, result.error_type) == (body, "Runtime.FromHeader")


@pytest.mark.parametrize("kind", ["response", "error"])
def test_a_body_cut_short_fails_the_invoke_with_runtime_truncated_response(kind: str) -> None:
    d = warm()
    caller, rid = d.invoke()
    tok = d.token()
    if kind == "response":
        d.feed(ins.RuntimeResponse(tok, rid, b'{"partial', "application/json", truncated=True))
    else:
        d.feed(ins.RuntimeInvocationError(tok, rid, b'{"partial', "application/json", None, truncated=True))
    assert (d.reply(tok).status, json.loads(d.reply(tok).body)) == (
        400, {"errorMessage": "HTTP request detected as truncated", "errorType": "TruncatedHTTPRequest"})
    result = d.result_for(caller)
    assert (result.function_error, result.error_type) == (True, "Runtime.TruncatedResponse")
    assert json.loads(result.payload) == TRUNCATED
    # The runtime lives on: its next /next ends the invoke, and the next invoke reaches it.
    d.runtime_next()
    assert d.state is EnvState.FROZEN
    assert d.reports()[-1].status == "success"
    caller, rid = d.invoke()
    d.complete_invoke(rid)
    assert d.result_for(caller).payload == b'"ok"'


def test_a_truncated_response_with_the_wrong_request_id_is_invalid_request_id() -> None:
    d = warm()
    d.invoke()
    tok = d.token()
    d.feed(ins.RuntimeResponse(tok, "not-it", b"", "application/json", truncated=True))
    assert json.loads(d.reply(tok).body)["errorType"] == "InvalidRequestID"


def test_an_internal_extension_registering_before_ten_launched_ones_is_the_eleventh() -> None:
    names = [f"ext-{i}" for i in range(10)]
    d = Driver(names)
    d.start()
    reply = d.register("internal", ("INVOKE",))  # none of the ten has registered yet
    assert (reply.status, json.loads(reply.body)) == (
        403, {"errorMessage": "Extension limit (10) reached", "errorType": "Extension.TooManyExtensions"})
    assert "internal" not in d.env.extensions
    for name in names:
        assert d.register(name).status == 200
    for name in names:
        d.ext_next(name)
    d.runtime_next()
    assert d.state is EnvState.FROZEN
    assert sum(1 for s in d.env.extensions.values() if s.registered) == 10


def test_with_nine_launched_an_early_internal_extension_takes_the_tenth_place_and_no_more() -> None:
    names = [f"ext-{i}" for i in range(9)]
    d = Driver(names)
    d.start()
    assert d.register("internal-a", ("INVOKE",)).status == 200
    assert d.register("internal-b", ("INVOKE",)).status == 403
    for name in names:
        assert d.register(name).status == 200
    assert sum(1 for s in d.env.extensions.values() if s.registered) == 10
