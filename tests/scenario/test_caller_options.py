"""What an invoke's caller sent besides the event, in scenarios: `client_context` and `qualifier` (a parallel step's
`client_contexts` and `qualifiers`), written by the recorder for the invokes that had them (`serve`'s callers), and
sent again by a replay, so that the function sees the same `context.client_context` and invoked function ARN."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.scenario.model import Caller, InvokeAction, ParallelAction
from lambdatui.scenario.parse import ScenarioError, parse_scenario
from lambdatui.scenario.record import Recorder
from scenario_support import replay

SAMPLES = Path(__file__).resolve().parents[2] / "sample_functions"
CONTEXT = '{"custom": {"tenant": "a"}}'


def parse(text: str):
    return parse_scenario(textwrap.dedent(text), Path("s.toml"))


def test_an_invoke_and_a_parallel_step_name_what_their_callers_sent() -> None:
    steps = parse("""
        [[step]]
        invoke = {}
        client_context = '{"custom": {"tenant": "a"}}'
        qualifier = "prod"

        [[step]]
        invoke = {}
        client_context = { custom = { tenant = "a" } }

        [[step]]
        parallel = [{}, {}]
        client_contexts = ['{"custom": {"tenant": "a"}}', ""]
        qualifiers = ["", "v2"]
    """).steps
    assert [s.action for s in steps] == [
        InvokeAction(b"{}", caller=Caller(CONTEXT, "prod")),
        InvokeAction(b"{}", caller=Caller(CONTEXT)),
        ParallelAction((b"{}", b"{}"), callers=(Caller(CONTEXT), Caller(None, "v2"))),
    ]


def test_a_streamed_caller_is_named_on_an_invoke_and_by_position_in_a_parallel_step() -> None:
    steps = parse("""
        [[step]]
        invoke = {}
        streamed = true
        [[step]]
        parallel = [{}, {}]
        streams = [false, true]
        [[step]]
        invoke = {}
        streamed = { hung_up_after = 65536 }
        [[step]]
        parallel = [{}, {}]
        streams = [{ hung_up_after = 0 }, true]
        [[step]]
        invoke = {}
        streamed = { stopped_reading_after = 4096 }
    """).steps
    assert [s.action for s in steps] == [
        InvokeAction(b"{}", caller=Caller(streamed=True)),
        ParallelAction((b"{}", b"{}"), callers=(Caller(), Caller(streamed=True))),
        InvokeAction(b"{}", caller=Caller(streamed=True, hung_up_after=65536)),
        ParallelAction((b"{}", b"{}"), callers=(Caller(streamed=True, hung_up_after=0), Caller(streamed=True))),
        InvokeAction(b"{}", caller=Caller(streamed=True, stopped_reading_after=4096)),
    ]


def test_the_recorder_writes_a_caller_that_hung_up_or_stopped_reading_and_reads_it_back() -> None:
    recorder = Recorder(resolve_function(str(SAMPLES / "counter" / "handler.py")))
    for request_id, fact in (("a", f.ResponseStreamCallerLeft("a", 65536)), ("b", None),
                             ("c", f.ResponseStreamCallerStalled("c", 4096))):
        recorder(f.InvocationQueued(request_id, 1, b"{}", streamed=True))
        if fact is not None:
            recorder(fact)
        recorder(f.InvocationCompleted(f.InvocationResult(request_id, b"", streamed=9437184)))
    text = recorder.to_toml()
    assert "streamed = { hung_up_after = 65536 }" in text and "streamed = true" in text, text
    assert "streamed = { stopped_reading_after = 4096 }" in text, text
    first, second, third = parse_scenario(text, Path("r.toml")).steps
    assert first.action.caller == Caller(streamed=True, hung_up_after=65536), text
    assert second.action.caller == Caller(streamed=True), text
    assert third.action.caller == Caller(streamed=True, stopped_reading_after=4096), text


@pytest.mark.parametrize("text, fragment", [
    ("invoke = {}\nclient_context = '[1]'", "client_context must be a JSON object"),
    ("invoke = {}\nclient_context = '{'", "client_context is not valid JSON"),
    ("invoke = {}\nclient_context = 3", "takes a table or the JSON text of an object, got an integer"),
    ('invoke = {}\nqualifier = "a b"', "qualifier = 'a b': give a version or alias"),
    ('parallel = [{}, {}]\nqualifier = "prod"', "a parallel step takes qualifiers = [...]"),
    ('parallel = [{}, {}]\nqualifiers = ["prod"]', "give one for each of the 2 events"),
    ('invoke = {}\nclient_contexts = ["{}"]', "client_contexts goes with parallel"),
    ('pause = 1\nqualifier = "prod"', "qualifier goes with invoke, event_file or parallel, not with pause"),
    ("invoke = {}\nstreamed = 1", "streamed = 1: give true (the caller took the response as a stream"),
    ("invoke = {}\nstreamed = { hung_up_after = -1 }", "give { hung_up_after = N }, the bytes its caller took"),
    ('invoke = {}\nstreamed = { hung_up_after = "1" }', "give { hung_up_after = N }"),
    ("invoke = {}\nstreamed = { after = 1 }", "give { hung_up_after = N }"),
    ("invoke = {}\nstreamed = { hung_up_after = 1, stopped_reading_after = 1 }", "or { stopped_reading_after = N }"),
    ('invoke = {}\nstreamed = { stopped_reading_after = 5 }\ninvocation_type = "Event"',
     "streamed = { stopped_reading_after = 5 } takes the response as a stream"),
    ("parallel = [{}, {}]\nstreams = [true, { hung_up_after = true }]", "streams[1] = {'hung_up_after': True}"),
    ('invoke = {}\nstreamed = true\ninvocation_type = "Event"', "an Event invoke's caller takes no response"),
    ('parallel = [{}, {}]\nstreams = [true]', "give one for each of the 2 events (false for a buffered invoke)"),
    ('parallel = [{}, {}]\nstreams = [false, true]\ninvocation_types = ["RequestResponse", "Event"]',
     "streams[1] = true takes the response as a stream; an Event invoke's caller takes no response"),
    ("parallel = [{}, {}]\nstreamed = true", "a parallel step takes streams = [...]"),
    ("invoke = {}\nstreams = [true]", "streams goes with parallel = [...]; an invoke takes streamed"),
    ("invoke = {}\nexpect = { succeeded = false }", "expect.succeeded takes true (the invoke returned a response)"),
    ('invoke = {}\nexpect = { succeeded = true, error_type = "E" }', "succeeded and expect.error_type cannot both"),
    ('invoke = {}\nexpect = { failed_after = "Extension.ExitError", error_type = "E" }',
     "failed_after is a failure after a response; expect.error_type one instead of it"),
    ("invoke = {}\nexpect = { failed_after = true }", "failed_after"),
])
def test_a_misplaced_or_malformed_caller_option_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse("[[step]]\n" + text + "\n")
    assert fragment in str(caught.value), str(caught.value)


def test_the_recorder_writes_what_each_caller_sent_and_reads_back_the_same() -> None:
    recorder = Recorder(resolve_function(str(SAMPLES / "counter" / "handler.py")))
    for request_id, context, qualifier in (("a", CONTEXT, "prod"), ("b", None, "")):
        recorder(f.InvocationQueued(request_id, 1, json.dumps({"id": request_id}).encode(), False, context, qualifier))
        recorder(f.InvocationCompleted(f.InvocationResult(request_id, b'{"ok": true}')))
    text = recorder.to_toml()
    first, second = parse_scenario(text, Path("r.toml")).steps
    assert first.action.caller == Caller(CONTEXT, "prod"), text
    assert second.action.caller == Caller(), text


CONTEXT_PROBE = '''def handler(event, context):
    client = context.client_context
    arn = context.invoked_function_arn.split(":")  # arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    return {"tenant": client.custom["tenant"] if client else "none", "qualifier": arn[7] if len(arn) > 7 else "none"}
'''


@pytest.mark.trio
async def test_a_replay_sends_the_client_context_and_the_qualifier(code_dir: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(CONTEXT_PROBE)
    replayed = await replay(handler, """
        [[step]]
        invoke = {}
        client_context = '{"custom": {"tenant": "a"}}'
        qualifier = "prod"
        expect = { response = { tenant = "a", qualifier = "prod" } }

        [[step]]
        parallel = [{}, {}]
        client_contexts = ['{"custom": {"tenant": "b"}}', ""]
        qualifiers = ["", "v2"]
        expect.each = [{ response = { tenant = "b", qualifier = "none" } }, { response = { tenant = "none", qualifier = "v2" } }]
    """, code_dir)
    assert replayed.result.passed, replayed.out
