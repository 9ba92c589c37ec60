"""Event invokes in scenarios: `invocation_type = "Event"` (`invocation_types` for a parallel step), written by the
recorder for the Event invokes it saw, sent by a replay as Event invokes (queued at the limit, not throttled)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.scenario.model import InvokeAction, ParallelAction
from lambdatui.scenario.parse import ScenarioError, parse_scenario
from lambdatui.scenario.record import Recorder
from scenario_support import replay, write_probe

SAMPLES = Path(__file__).resolve().parents[2] / "sample_functions"


def parse(text: str):
    return parse_scenario(textwrap.dedent(text), Path("s.toml"))


def test_an_invoke_and_a_parallel_step_say_which_invokes_are_event_invokes() -> None:
    steps = parse("""
        [[step]]
        invoke = {}
        invocation_type = "Event"

        [[step]]
        parallel = [{}, {}]
        invocation_types = ["RequestResponse", "Event"]

        [[step]]
        invoke = {}
    """).steps
    assert [s.action for s in steps] == [InvokeAction(b"{}", asynchronous=True),
                                         ParallelAction((b"{}", b"{}"), (False, True)), InvokeAction(b"{}")]


@pytest.mark.parametrize("text, fragment", [
    ('invoke = {}\ninvocation_type = "event"', "invocation_type = 'event': give \"RequestResponse\" or \"Event\""),
    ('parallel = [{}, {}]\ninvocation_type = "Event"', "a parallel step takes invocation_types"),
    ('parallel = [{}, {}]\ninvocation_types = ["Event"]', "for each of the 2 events"),
    ('invoke = {}\ninvocation_types = ["Event"]', "invocation_types goes with parallel"),
    ('pause = 1\ninvocation_type = "Event"', "invocation_type goes with invoke or event_file"),
])
def test_a_misplaced_or_malformed_invocation_type_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse("[[step]]\n" + text + "\n")
    assert fragment in str(caught.value), str(caught.value)


def test_the_recorder_writes_the_event_invokes_it_saw() -> None:
    recorder = Recorder(resolve_function(str(SAMPLES / "counter" / "handler.py")))
    for request_id, asynchronous in (("a", False), ("b", True)):
        recorder(f.InvocationQueued(request_id, 1, json.dumps({"id": request_id}).encode(), asynchronous))
        recorder(f.InvocationCompleted(f.InvocationResult(request_id, b'{"ok": true}')))
    text = recorder.to_toml()
    first, second = parse_scenario(text, Path("r.toml")).steps
    assert not first.action.asynchronous and second.action.asynchronous, text
    assert text.count("invocation_type = 'Event'") == 1, text


@pytest.mark.trio
async def test_an_event_step_is_sent_as_an_event_invoke_and_waited_for(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), """
        [[step]]
        invoke = { greeting = "queued" }
        invocation_type = "Event"
        expect = { response = { event = { greeting = "queued" }, invocations = 1 } }
    """, code_dir)
    assert replayed.result.passed, replayed.out
    assert "-- step 1/1: invoke {\"greeting\": \"queued\"} (Event)" in replayed.out, replayed.out
