"""Two values of a session that a recording must handle for its replay to reach the same outcome (README, "`lambdatui
invoke ... --record FILE`"):

- the caller's X-Amzn-Trace-Id, which the function sees as `_X_AMZN_TRACE_ID`. The recorder writes it with its step
  (`trace_header`, a parallel step's `trace_headers`) when the caller sent one, not when lambdatui made it, and a
  replay sends it again, so a function that acts on `Sampled=1` does the same;
- the Runtime API's address (AWS_LAMBDA_RUNTIME_API), new on every run here, where Lambda's is always 127.0.0.1:9001:
  a response that quotes it is compared without it, as without the request id.

The unit tests feed the recorder facts, as the fleet delivers them; the last one replays through real processes.
"""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from lambdatui.config import resolve_function
from lambdatui.ids import new_trace_id, new_uuid
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.fleet import FleetOptions
from lambdatui.scenario.model import Caller, InvokeAction, ParallelAction
from lambdatui.scenario.parse import ScenarioError, parse_scenario
from lambdatui.scenario.record import Recorder
from recorder_support import Fleet, Line, Session, completed, queued, reported, run, started
from scenario_support import replay

SAMPLES = Path(__file__).resolve().parents[2] / "sample_functions"
SAMPLED = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def parse(text: str):
    return parse_scenario(textwrap.dedent(text), Path("s.toml"))


def recorder() -> Recorder:
    return Recorder(resolve_function(str(SAMPLES / "counter" / "handler.py")))


def token_of(address: str) -> str:
    """The stand-in environment's metadata token (a UUID's form, as ids.new_token makes them)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, address))


class ApiFleet(Fleet):
    """The stand-in fleet, with the Runtime API address and metadata token of each environment alive
    (`FleetHost.hosts`)."""

    def __init__(self, *addresses: str) -> None:
        super().__init__(FleetOptions())
        self.addresses = list(addresses)
        self.subscribed = None

    def hosts(self):
        return [SimpleNamespace(runtime_api=address, metadata_token=token_of(address))
                for address in self.addresses]

    def subscribe(self, listener):  # `invoke`'s fleet: its facts unnumbered
        self.subscribed = listener
        return lambda: None


def one_invoke(response: object, trace_id: str = "") -> list[f.Fact]:
    request_id = new_uuid()  # as long as a real one: a short id would be quoted by chance
    return [f.InvocationQueued(request_id, 1, b"{}"), f.PhaseStarted("invoke", request_id, 0.0, trace_id),
            started(request_id), f.InvocationCompleted(f.InvocationResult(request_id, json.dumps(response).encode()))]


# ---------------------------------------------------------------------- the caller's trace header


def test_a_step_names_the_trace_header_its_caller_sent() -> None:
    steps = parse(f"""
        [[step]]
        invoke = {{}}
        trace_header = "{SAMPLED}"

        [[step]]
        parallel = [{{}}, {{}}]
        trace_headers = ["", "{SAMPLED}"]
    """).steps
    assert [s.action for s in steps] == [
        InvokeAction(b"{}", caller=Caller(trace_header=SAMPLED)),
        ParallelAction((b"{}", b"{}"), callers=(Caller(), Caller(trace_header=SAMPLED))),
    ]


@pytest.mark.parametrize("text, fragment", [
    ('invoke = {}\ntrace_header = "Root=1\\nX: y"', "trace_header = 'Root=1\\nX: y': give the X-Amzn-Trace-Id"),
    ('invoke = {}\ntrace_header = "Root=1-\\u20ac"', "latin-1 text, no control character"),
    ("invoke = {}\ntrace_header = 1", "trace_header = 1: give the X-Amzn-Trace-Id"),
    ('parallel = [{}, {}]\ntrace_headers = ["", 2]', "trace_headers[1] = 2: give the X-Amzn-Trace-Id"),
    ('parallel = [{}, {}]\ntrace_headers = [""]', "give one for each of the 2 events"),
    ('parallel = [{}, {}]\ntrace_header = "Root=1"', "a parallel step takes trace_headers = [...]"),
    ('invoke = {}\ntrace_headers = ["Root=1"]', "trace_headers goes with parallel = [...]; an invoke takes "
                                                 "trace_header"),
    ('pause = 1\ntrace_header = "Root=1"', "trace_header goes with invoke, event_file or parallel, not with pause"),
])
def test_a_misplaced_or_malformed_trace_header_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse("[[step]]\n" + text + "\n")
    assert fragment in str(caught.value), str(caught.value)


def test_the_recorder_writes_the_callers_trace_header_not_the_one_lambdatui_made() -> None:
    # serve hands a caller's X-Amzn-Trace-Id to the function; an invoke whose caller sent none gets one lambdatui
    # makes (ids.new_trace_id), which a replay makes anew: only the caller's is part of the step.
    rec = recorder()
    for fact in [*one_invoke({"ok": 1}, SAMPLED), *one_invoke({"ok": 2}, new_trace_id())]:
        rec(fact)
    text = rec.to_toml()
    first, second = parse_scenario(text, Path("r.toml")).steps
    assert first.action.caller == Caller(trace_header=SAMPLED), text
    assert second.action.caller == Caller(), text
    assert text.count("trace_header") == 1, text


def test_a_parallel_step_names_each_callers_trace_header_by_position() -> None:
    rec, fleet = recorder(), ApiFleet()
    rec.attach(Session(fleet))  # type: ignore[arg-type]
    fleet.alive = [Line(EnvState.RUNNING, 1, busy=True), Line(EnvState.RUNNING, 2, busy=True)]
    run(fleet, 1, queued("a", 1), f.PhaseStarted("invoke", "a", 0.0, new_trace_id()), started("a"))
    run(fleet, 2, queued("b", 2), f.PhaseStarted("invoke", "b", 0.0, SAMPLED), started("b"))
    run(fleet, 1, completed("a", 1), reported("a", True))
    run(fleet, 2, completed("b", 2), reported("b", True))
    text = rec.to_toml()
    [burst] = parse_scenario(text, Path("r.toml")).steps
    assert isinstance(burst.action, ParallelAction), text
    assert burst.action.callers == (Caller(), Caller(trace_header=SAMPLED)), text


# ---------------------------------------------------------------------- the Runtime API's address


def test_a_response_is_compared_without_the_runtime_apis_address() -> None:
    # AWS_LAMBDA_RUNTIME_API is a new port on every run (Lambda's: 127.0.0.1:9001). A longer port that merely starts
    # with it is another address, and so is compared; the rest of the response is compared as usual.
    rec, fleet = recorder(), ApiFleet("127.0.0.1:4000")
    rec.listen(fleet)  # type: ignore[arg-type]
    response = {"api": "127.0.0.1:4000", "next": "http://127.0.0.1:4000/2018-06-01/runtime/invocation/next",
                "db": "127.0.0.1:40001", "n": 1}
    for fact in one_invoke(response):
        fleet.subscribed(fact)
    text = rec.to_toml()
    [step] = parse_scenario(text, Path("r.toml")).steps
    assert step.expect.response == {"db": "127.0.0.1:40001", "n": 1}, text
    assert "4000\"" not in text and "4000/" not in text, text
    assert "# api, next carry the Runtime API's address (AWS_LAMBDA_RUNTIME_API, 127.0.0.1:9001 in Lambda), new on " \
           "every run: the other keys are compared" in text, text


def test_a_response_is_compared_without_the_environments_metadata_token() -> None:
    # AWS_LAMBDA_METADATA_TOKEN is each environment's, new on every run (Lambda's too): a handler returning
    # os.environ replays with the rest of its response compared.
    rec, fleet = recorder(), ApiFleet("127.0.0.1:4000")
    rec.listen(fleet)  # type: ignore[arg-type]
    for fact in one_invoke({"AWS_LAMBDA_METADATA_TOKEN": token_of("127.0.0.1:4000"), "n": 1}):
        fleet.subscribed(fact)
    text = rec.to_toml()
    [step] = parse_scenario(text, Path("r.toml")).steps
    assert step.expect.response == {"n": 1}, text
    assert token_of("127.0.0.1:4000") not in text, text
    assert "# AWS_LAMBDA_METADATA_TOKEN carries the environment's metadata token (AWS_LAMBDA_METADATA_TOKEN), new " \
           "on every run: the other keys are compared" in text, text


def test_an_address_of_an_environment_gone_is_still_left_out() -> None:
    # A SnapStart restore's function may return the snapshot's address, captured during Init; a response that is
    # only the address has nothing left to compare but its success.
    rec, fleet = recorder(), ApiFleet("127.0.0.1:4000")
    rec.listen(fleet)  # type: ignore[arg-type]
    for fact in one_invoke({"n": 1}):
        fleet.subscribed(fact)
    fleet.addresses = ["127.0.0.1:5000"]
    for fact in [*one_invoke({"captured": "127.0.0.1:4000", "n": 2}), *one_invoke("127.0.0.1:5000")]:
        fleet.subscribed(fact)
    text = rec.to_toml()
    first, second, third = parse_scenario(text, Path("r.toml")).steps
    assert (first.expect.response, second.expect.response) == ({"n": 1}, {"n": 2}), text
    assert text.rstrip().endswith("expect = { succeeded = true }") and third.expect.succeeded, text
    assert "# response not compared: it carries the Runtime API's address" in text, text


# ---------------------------------------------------------------------- the replay


TRACE_PROBE = '''import os
def handler(event, context):
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}
'''


@pytest.mark.trio
async def test_a_replay_sends_the_trace_header_and_makes_one_where_none_is_given(code_dir: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(TRACE_PROBE)
    replayed = await replay(handler, f"""
        [[step]]
        invoke = {{}}
        trace_header = "{SAMPLED}"
        expect = {{ response = {{ trace = "{SAMPLED}" }} }}

        [[step]]
        parallel = [{{}}, {{}}]
        trace_headers = ["{SAMPLED}", ""]
        expect.each = [{{ response = {{ trace = "{SAMPLED}" }} }}, {{ succeeded = true }}]
    """, code_dir)
    assert replayed.result.passed, replayed.out
    traces = [json.loads(found.group(1))["trace"] for found in re.finditer(r" response +(\{.*\})$", replayed.out,
                                                                            re.MULTILINE)]
    assert len(traces) == 3 and traces.count(SAMPLED) == 2, replayed.out
    made = next(trace for trace in traces if trace != SAMPLED)
    assert made.startswith("Root=1-") and made.endswith(";Sampled=0"), made
