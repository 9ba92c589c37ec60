"""The Recorder and its TOML: whatever it writes, the scenario parser reads back to the same steps.

These feed the recorder the controller's own command and fact values, as the controller does when the
recorder is attached to it; the round trip through real processes is in test_scenario_cli.py and
test_record_every_invoke.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary
from lambdatui.scenario.model import FaultAction, InvokeAction, NewEnvironmentAction, ShutdownAction
from lambdatui.scenario.parse import parse_scenario
from lambdatui.scenario.record import Recorder
from lambdatui.scenario.toml_writer import toml_string, toml_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
COUNTER = REPO / "sample_functions" / "counter" / "handler.py"

AWKWARD = [
    "", "plain", "it's", 'say "hi"', "back\\slash", "tab\there", "new\nline", "cr\rlf", "nul\x00", "bell\x07",
    "del\x7f", "unicode: é ✓ 😀", "'''", '"""', "\\u0041", "both ' and \"", "\x1b[31mred",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_strings_survive_a_toml_round_trip(text: str) -> None:
    assert tomllib.loads(f"v = {toml_string(text)}")["v"] == text


def test_literal_strings_when_possible() -> None:
    assert toml_string('{"a": "b\\\\c"}') == """'{"a": "b\\\\c"}'"""
    assert toml_string("it's").startswith('"')


def test_values_survive_a_toml_round_trip() -> None:
    value = {"a": 1, "b": -2.5, "c": True, "d": ["x", 2], "e": {"nested key": "v"}, "f": {}, "g": 1e300}
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def _config(**kw):
    return resolve_function(str(COUNTER), **kw)


def _completed(request_id: str, payload: dict, *, error: str | None = None) -> f.InvocationCompleted:
    return f.InvocationCompleted(f.InvocationResult(request_id, json.dumps(payload).encode(),
                                                    function_error=error is not None, error_type=error))


def _queued(request_id: str, event: bytes = b"{}", position: int = 1) -> f.InvocationQueued:
    return f.InvocationQueued(request_id, position, event)


def _reported(request_id: str, cold: bool) -> f.InvokeReported:
    return f.InvokeReported(request_id, 1.5, 2, 128, 20, None, "success", cold=cold)


def test_recorded_invokes_parse_back_with_their_expectations() -> None:
    recorder = Recorder(_config(timeout_s=5, memory_mb=256, env_pairs=["AA=x'y", "BB=2"]))
    events = [b'{"n": 1}', b'{\n  "text": "it\'s \\"quoted\\"\\n",\n  "none": null\n}']
    for i, event in enumerate(events):
        recorder(_queued(f"id-{i}", event, i + 1))
    recorder(_completed("id-0", {"invocations": 1, "note": "it's"}))
    recorder(_reported("id-0", True))
    recorder(_completed("id-1", {"errorMessage": "RequestId: id-1 Error: boom"}, error="Runtime.ExitError"))
    recorder(_reported("id-1", False))
    text = recorder.to_toml()
    assert "id-0" not in text and "id-1" not in text  # no request ids, no durations
    assert "Duration" not in text
    scenario = parse_scenario(text, Path("rec.toml"))
    assert scenario.function.timeout == 5 and scenario.function.memory == 256
    assert scenario.function.handler is None  # not given on the command line
    assert scenario.function.env == {"AA": "x'y", "BB": "2"}
    first, second = scenario.steps
    assert json.loads(first.action.event) == {"n": 1}
    assert first.expect.response == {"invocations": 1, "note": "it's"} and first.expect.cold is True
    assert json.loads(second.action.event) == json.loads(events[1])
    assert not second.expect.has_response  # an error body quotes the request id
    assert second.expect.error_type == "Runtime.ExitError" and second.expect.cold is False


def test_handler_is_recorded_only_when_given() -> None:
    recorder = Recorder(_config(handler="handler.handler"), handler_given=True)
    recorder(_queued("r"))
    assert parse_scenario(recorder.to_toml(), Path("r.toml")).function.handler == "handler.handler"


def test_a_response_carrying_the_request_id_is_not_compared() -> None:
    recorder = Recorder(_config())
    recorder(_queued("abc-123"))
    recorder(_completed("abc-123", {"requestId": "abc-123"}))
    recorder(_reported("abc-123", True))
    text = recorder.to_toml()
    assert "abc-123" not in text
    assert "carries the request id" in text
    step = parse_scenario(text, Path("r.toml")).steps[0]
    assert not step.expect.has_response and step.expect.cold is True


def test_the_log_stream_name_and_the_trace_id_are_left_out_as_the_request_id_is() -> None:
    """`context.log_stream_name` is new for every environment and the trace id for every invoke: a response quoting
    them failed every replay (a bug hunt)."""
    recorder = Recorder(_config())
    recorder(_queued("abc-123"))
    recorder(_completed("abc-123", {"log": "2026/12/01/[$LATEST]" + "a6" * 16, "count": 2,
                                    "trace": "Root=1-674cb3a1-" + "0f" * 12 + ";Parent=1;Sampled=0"}))
    text = recorder.to_toml()
    assert "[$LATEST]" not in text and "Root=1-" not in text, text
    assert "log, trace carry the request id (or the log stream's, the trace's), new on every run" in text, text
    assert parse_scenario(text, Path("r.toml")).steps[0].expect.response == {"count": 2}


def test_a_managed_instances_log_stream_name_is_left_out_too() -> None:
    """Managed Instances run `$LATEST.PUBLISHED`, which names their environments' log streams."""
    recorder = Recorder(_config())
    recorder(_queued("abc-123"))
    recorder(_completed("abc-123", {"log": "2026/12/01/[$LATEST.PUBLISHED]" + "a6" * 16, "count": 2}))
    text = recorder.to_toml()
    assert "[$LATEST.PUBLISHED]" not in text, text
    assert parse_scenario(text, Path("r.toml")).steps[0].expect.response == {"count": 2}


def test_a_response_with_a_request_id_is_compared_by_its_stable_keys() -> None:
    # expect.response matches a subset, so the keys that quote the request id are simply left out.
    recorder = Recorder(_config())
    recorder(_queued("abc-123"))
    recorder(_completed("abc-123", {"requestId": "abc-123", "count": 1,
                                    "body": {"at": "id abc-123", "ok": True, "items": ["abc-123"], "none": {}},
                                    "only_id": {"id": "abc-123"}}))
    text = recorder.to_toml()
    assert "abc-123" not in text
    assert "requestId, body.at, body.items, only_id.id carry the request id" in text, text
    step = parse_scenario(text, Path("r.toml")).steps[0]
    assert step.expect.response == {"count": 1, "body": {"ok": True, "none": {}}} and not step.expect.response_exact


def test_a_key_that_quotes_the_request_id_is_left_out_as_a_value_that_does() -> None:
    """A response keyed by the request id (`{context.aws_request_id: ...}`) was recorded verbatim: its key is new on
    every run, so every replay failed. The entry is left out and the rest still compared."""
    recorder = Recorder(_config())
    recorder(_queued("abc-123"))
    recorder(_completed("abc-123", {"seen": {"abc-123": 1, "count": 2}, "ok": True}))
    text = recorder.to_toml()
    assert "seen.abc-123 carries the request id" in text, text  # one key: "carries", not "carry"
    assert parse_scenario(text, Path("r.toml")).steps[0].expect.response == {"seen": {"count": 2}, "ok": True}


def test_a_shortened_request_id_is_left_out_as_the_whole_one_is() -> None:
    recorder = Recorder(_config())
    request_id = "5d3f9a2c-1b4e-4c8d-9f0a-7e6b5c4d3a21"
    recorder(_queued(request_id))
    recorder(_completed(request_id, {"short": request_id[:8], "tag": f"job-{request_id[:8]}", "ok": True}))
    text = recorder.to_toml()
    assert parse_scenario(text, Path("r.toml")).steps[0].expect.response == {"ok": True}, text


def _started(request_id: str, held: bool = False) -> f.BoundaryReached:
    return f.BoundaryReached(Boundary.INVOKE_START, held=held, detail=request_id)


def test_invokes_are_recorded_from_the_facts_in_the_order_their_events_went_out() -> None:
    # Whatever sent them (the UI, the Invoke API, an Event invoke), every invoke is queued: that is what counts.
    recorder = Recorder(_config())
    recorder.command(c.Invoke(b'{"i": 0}'))  # the command alone records nothing: its facts will
    recorder(_queued("first", b'{"i": 1}', 1))
    recorder(_queued("second", b'{"i": 2}', 2))
    recorder(_started("first"))
    recorder(_completed("first", {"i": 1}))
    recorder(_started("second"))
    recorder(_completed("second", {"i": 2}))
    steps = parse_scenario(recorder.to_toml(), Path("r.toml")).steps
    assert [json.loads(s.action.event) for s in steps] == [{"i": 1}, {"i": 2}]
    assert [s.expect.response for s in steps] == [{"i": 1}, {"i": 2}]


def test_commands_and_invokes_keep_the_order_they_took_effect_in() -> None:
    recorder = Recorder(_config())
    recorder(_queued("a"))
    recorder(_started("a"))
    recorder.command(c.InjectFault(flt.Crash()))  # while a ran: before it, armed for invoke.start
    recorder(_queued("b"))
    recorder.command(c.InjectFault(flt.RaiseInHandler()))  # b waits in the queue: before it
    recorder(_started("b", held=True))
    recorder.command(c.InjectFault(flt.Freeze("runtime")))  # b is held at invoke.start: before it, armed there
    recorder(f.HoldReleased(Boundary.INVOKE_START))
    recorder.command(c.NewEnvironment())
    recorder(_queued("c"))
    recorder(_completed("c", {}, error="Runtime.ExitError"))  # c failed in its Init, never started: placed here
    recorder(_queued("d"))  # never started by the end: last
    recorder.command(c.Shutdown())
    steps = parse_scenario(recorder.to_toml(), Path("r.toml")).steps
    kinds = [type(s.action).__name__ for s in steps]
    assert kinds == ["FaultAction", "InvokeAction", "FaultAction", "FaultAction", "InvokeAction",
                     "NewEnvironmentAction", "InvokeAction", "ShutdownAction", "InvokeAction"]
    faults = [s.action.fault for s in steps if isinstance(s.action, FaultAction)]
    assert [fault.at for fault in faults] == [Boundary.INVOKE_START, None, Boundary.INVOKE_START]


def test_faults_new_environment_and_shutdown_are_recorded() -> None:
    faults = [
        flt.Crash(),
        flt.Crash("runtime", signal=15),
        flt.Crash("runtime", exit_code=3, at=Boundary.INVOKE_START),
        flt.Freeze("audit"),
        flt.Thaw("audit", at=Boundary.INVOKE_DONE),
        flt.ForceTimeout(at=Boundary.INIT_FUNCTION),
        flt.RaiseInHandler("KeyError", "it's \"gone\""),
        flt.ExtensionInitError("audit"),
    ]
    recorder = Recorder(_config())
    recorder.command(c.SetBreakpoints(frozenset({Boundary.INVOKE_START})))  # holds are not replayed
    for fault in faults:
        recorder.command(c.InjectFault(fault))
    recorder.command(c.Step())
    recorder.command(c.Continue())
    recorder.command(c.NewEnvironment())
    recorder.command(c.Shutdown())
    actions = [s.action for s in parse_scenario(recorder.to_toml(), Path("r.toml")).steps]
    recorded = [a.fault for a in actions if isinstance(a, FaultAction)]
    # A crash without a signal is SIGKILL either way; the parser keeps "not given" as None.
    assert recorded == faults
    assert actions[-2:] == [NewEnvironmentAction(), ShutdownAction()]
    assert len(actions) == len(faults) + 2


def test_an_invoke_with_no_result_still_replays() -> None:
    recorder = Recorder(_config())
    recorder(_queued("never"))
    step = parse_scenario(recorder.to_toml(), Path("r.toml")).steps[0]
    assert step.action == InvokeAction(b"{}") and step.expect.keys() == ()


def _refused(request_id: str, event: bytes = b"{}") -> f.InvocationRefused:
    return f.InvocationRefused(request_id, "The execution environment has shut down.", event)


def test_invokes_the_end_of_the_session_turned_away_are_comments_not_steps() -> None:
    # Quitting shuts the environment down: an invoke still waiting is answered with an error only the quit
    # caused, and one arriving during that shutdown is refused. Neither reached the function: a replay must
    # not run them, let alone expect that error.
    recorder = Recorder(_config())
    recorder(_queued("ran", b'{"n": 1}'))
    recorder(_started("ran"))
    recorder(_completed("ran", {"n": 1}))
    recorder(_queued("waiting", b'{"n": 2}'))
    recorder(_queued("held", b'{"n": 3}', 2))
    recorder(_started("held", held=True))
    recorder.session_ended()
    recorder(_completed("held", {"errorType": "Sandbox.Failure"}, error="Sandbox.Failure"))
    recorder(_completed("waiting", {"errorType": "Sandbox.Failure"}, error="Sandbox.Failure"))
    recorder(_refused("late", b'{"n": 4}'))
    text = recorder.to_toml()
    steps = parse_scenario(text, Path("r.toml")).steps
    assert [json.loads(s.action.event) for s in steps] == [{"n": 1}], text
    assert "Sandbox.Failure" not in text, text
    for n in (2, 3, 4):
        assert f"""#   invoke = '{{"n": {n}}}'""" in text, text


def test_an_invoke_the_end_of_the_session_cut_off_is_a_step_without_expectations() -> None:
    recorder = Recorder(_config())
    recorder(_queued("running", b'{"n": 1}'))
    recorder(_started("running"))
    recorder.session_ended()
    recorder(f.InvokeCutOff("running"))  # the core's word: the shutdown answered it, not the function
    recorder(_completed("running", {"errorType": "Sandbox.Failure"}, error="Sandbox.Failure"))
    text = recorder.to_toml()
    (step,) = parse_scenario(text, Path("r.toml")).steps
    assert json.loads(step.action.event) == {"n": 1} and step.expect.keys() == (), text
    assert "the session ended while the function ran this invoke" in text, text


def test_a_session_with_nothing_to_replay_is_written_as_the_shutdown_it_ended_with() -> None:
    recorder = Recorder(_config())
    assert parse_scenario(recorder.to_toml(), Path("r.toml")).steps[0].action == ShutdownAction()
    recorder(_queued("waiting"))
    recorder.session_ended()
    recorder(_completed("waiting", {}, error="Sandbox.Failure"))
    (step,) = parse_scenario(recorder.to_toml(), Path("r.toml")).steps
    assert step.action == ShutdownAction()


def test_an_invoke_refused_before_the_session_ended_stays_a_step() -> None:
    recorder = Recorder(_config())
    recorder.command(c.Shutdown())
    recorder(_refused("late", b'{"late": true}'))
    recorder.session_ended()
    kinds = [type(s.action).__name__ for s in parse_scenario(recorder.to_toml(), Path("r.toml")).steps]
    assert kinds == ["ShutdownAction", "InvokeAction"]


def test_a_result_the_function_gave_before_the_session_ended_is_still_compared() -> None:
    # Held at invoke.response when the user quits: the caller is answered by the end's shutdown, with the
    # function's own response.
    recorder = Recorder(_config())
    recorder(_queued("answered", b'{"n": 1}'))
    recorder(_started("answered"))
    recorder.session_ended()
    recorder(_completed("answered", {"n": 1}))
    (step,) = parse_scenario(recorder.to_toml(), Path("r.toml")).steps
    assert step.expect.response == {"n": 1}


@pytest.mark.parametrize("error_type", [42, {"a": 1}, "Bad\ud800Type"], ids=["number", "object", "lone-surrogate"])
def test_an_error_type_toml_cannot_hold_is_left_out_with_a_comment(error_type) -> None:
    recorder = Recorder(_config())
    recorder(_queued("id-0"))
    recorder(f.InvocationCompleted(f.InvocationResult("id-0", b'{"errorType": 42}', function_error=True,
                                                      error_type=error_type)))
    text = recorder.to_toml()
    text.encode("utf-8")  # a file can hold it
    scenario = parse_scenario(text, Path("r.toml"))
    assert scenario.steps[0].expect.error_type is None
    assert "# error_type not compared" in text, text


def test_text_no_utf8_file_can_hold_is_replaced_so_the_recording_still_parses() -> None:
    # A variable from non-UTF-8 bytes on the command line arrives as a lone surrogate (surrogateescape).
    recorder = Recorder(_config(env_pairs=["RAW=caf\udce9"]))
    recorder(_queued("id-0", b'{"k": "\\udc00"}'))
    text = recorder.to_toml()
    text.encode("utf-8")
    scenario = parse_scenario(text, Path("r.toml"))
    assert scenario.function.env == {"RAW": "caf\ufffd"}
    assert json.loads(scenario.steps[0].action.event) == {"k": "\udc00"}  # JSON escapes keep the event exact
