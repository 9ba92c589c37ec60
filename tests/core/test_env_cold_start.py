"""Cold start, invoke and the Runtime API, without extensions (lambda-spec §1, §4.1, §4.4, §4.7)."""

from __future__ import annotations

import json
import math

import pytest
from driver import ARN, WALL0, Driver

from lambdatui.core.effects import RUNTIME, CompleteInvocation, Emit, Freeze, Reply, Spawn, StartTimer, Thaw
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState

INIT_START = ("INIT_START Runtime Version: python:3\t"
              "Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:lambdatui-python-3")


def warm() -> Driver:
    d = Driver()
    d.start()
    d.advance(250)
    d.runtime_next()
    return d


def test_start_environment_logs_init_start_starts_the_init_timer_and_spawns_the_runtime():
    d = Driver()
    out = d.start()
    assert d.lines() == [INIT_START]
    assert d.state is EnvState.INIT
    assert StartTimer("init", d.mono + 10.0) in out
    assert [e for e in out if isinstance(e, Spawn)] == [Spawn(RUNTIME, 1)]
    assert d.facts(f.PhaseStarted) == [f.PhaseStarted("init", "init", d.mono)]
    assert d.boundaries() == [("init.extensions", False), ("init.runtime", False)]
    assert not d.effects(Freeze)


def test_start_environment_twice_does_nothing_the_second_time():
    d = Driver()
    d.start()
    assert d.start() == []


def test_runtime_first_next_parks_and_ends_init_with_a_freeze():
    d = Driver()
    d.start()
    d.advance(250)
    tok = d.runtime_next()
    assert not d.answered(tok)  # parked
    assert d.state is EnvState.FROZEN
    assert d.effects(Freeze) == [Freeze((RUNTIME,), whole=True)]
    assert d.facts(f.EnvironmentFrozen) == [f.EnvironmentFrozen((RUNTIME,))]
    assert d.cancelled_timers() == ["init"]
    ended = d.facts(f.PhaseEnded)
    assert [(e.phase, e.status) for e in ended] == [("init", "success")]
    assert ended[0].duration_ms == pytest.approx(250.0)
    assert not any(line.startswith("INIT_REPORT") for line in d.lines())  # only on failure
    assert d.boundaries()[-1] == ("init.done", False)


def test_invoke_thaws_and_answers_the_parked_next_with_the_event_and_headers():
    d = warm()
    parked = d.next_token[RUNTIME]
    d.advance(250)
    m = d.mark()
    caller, rid = d.invoke("r-1", payload=b'{"k":1}', trace_id="Root=1-abc;Parent=1;Sampled=1",
                           client_context='{"custom":{"a":"b"}}', cognito_identity='{"cognitoIdentityId":"x"}')
    assert d.effects(Thaw, m) == [Thaw((RUNTIME,), whole=True)]
    assert d.state is EnvState.RUNNING
    reply = d.reply(parked)
    assert reply.status == 200 and reply.body == b'{"k":1}'
    assert dict(reply.headers) == {
        "Lambda-Runtime-Aws-Request-Id": "r-1",
        "Lambda-Runtime-Deadline-Ms": str(WALL0 + 500 + 3000),
        "Lambda-Runtime-Invoked-Function-Arn": ARN,
        "Content-Type": "application/json",
        "Lambda-Runtime-Trace-Id": "Root=1-abc;Parent=1;Sampled=1",
        "Lambda-Runtime-Client-Context": '{"custom":{"a":"b"}}',
        "Lambda-Runtime-Cognito-Identity": '{"cognitoIdentityId":"x"}',
    }
    # The thaw comes before the event is handed over.
    kinds = [type(e) for e in d.effects(since=m) if isinstance(e, (Thaw, Reply))]
    assert kinds == [Thaw, Reply]
    assert d.lines(since=m) == ["START RequestId: r-1 Version: $LATEST"]
    assert d.started_timers(m) == {"invoke": d.mono + 3.0}


def test_optional_runtime_headers_are_absent_when_not_given():
    d = warm()
    d.invoke("r-1", content_type="text/plain")
    headers = dict(d.reply(d.next_token[RUNTIME]).headers)
    assert headers["Content-Type"] == "text/plain"
    assert set(headers) == {"Lambda-Runtime-Aws-Request-Id", "Lambda-Runtime-Deadline-Ms",
                            "Lambda-Runtime-Invoked-Function-Arn", "Content-Type"}


def test_an_event_invokes_client_context_is_not_passed_on():
    """"Lambda passes the ClientContext object to your function for synchronous invocations only" (Invoke's API
    reference): whichever door an Event invoke came through (the Invoke API, InvokeAsync, a replay), the runtime is
    not told its caller's context. The Cognito identity is not a caller's option there, and stays."""
    d = warm()
    d.invoke("r-1", caller=False, asynchronous=True, client_context='{"custom":{"a":"b"}}',
             cognito_identity='{"cognitoIdentityId":"x"}')
    headers = dict(d.reply(d.next_token[RUNTIME]).headers)
    assert "Lambda-Runtime-Client-Context" not in headers
    assert headers["Lambda-Runtime-Cognito-Identity"] == '{"cognitoIdentityId":"x"}'


def test_response_is_accepted_and_completes_the_invoke_at_once_without_a_log_tail():
    d = warm()
    caller, rid = d.invoke()
    m = d.mark()
    tok = d.respond(rid, b'{"answer":42}', "application/json")
    reply = d.reply(tok)
    assert (reply.status, reply.body) == (202, b'{"status":"OK"}')
    assert ("Content-Type", "application/json") in reply.headers
    assert d.completions(m) == [CompleteInvocation(
        caller, f.InvocationResult(rid, b'{"answer":42}', "application/json"), with_log_tail=False)]
    assert d.state is EnvState.RUNNING  # the invoke is not done until the runtime parks again
    assert not d.reports()


@pytest.mark.parametrize("answer", ["response", "error"])
def test_the_caller_gets_its_result_before_the_runtime_gets_its_202(answer: str):
    """RAPID hands the response to the invoke's caller, then answers the runtime: the caller never waits behind
    the 202 (nor behind the runtime's next /next, which follows it)."""
    d = warm()
    caller, rid = d.invoke()
    m = d.mark()
    tok = (d.respond(rid) if answer == "response"
           else d.invocation_error(rid, b'{"errorMessage":"boom","errorType":"ValueError"}', error_type="ValueError"))
    answers = [e for e in d.effects(since=m) if isinstance(e, (CompleteInvocation, Reply))]
    assert [(type(e), e.token) for e in answers] == [(CompleteInvocation, caller), (Reply, tok)]
    assert answers[1].status == 202


def test_response_content_type_passes_through_to_the_caller():
    d = warm()
    caller, rid = d.invoke()
    d.respond(rid, b"\x00\x01", "application/unknown")
    assert d.result_for(caller) == f.InvocationResult(rid, b"\x00\x01", "application/unknown")


def test_wants_log_tail_completes_only_when_the_invoke_is_done():
    d = warm()
    caller, rid = d.invoke(wants_log_tail=True)
    d.respond(rid)
    assert not d.completions()
    m = d.mark()
    d.runtime_next()
    done = d.completions(m)
    assert [(c.token, c.with_log_tail) for c in done] == [(caller, True)]
    # the tail must include END and REPORT: both are emitted before the completion
    effects = d.effects(since=m)
    reported_at = next(i for i, e in enumerate(effects) if isinstance(e, Emit) and isinstance(e.fact, f.InvokeReported))
    assert effects.index(done[0]) > reported_at


def test_next_after_response_ends_the_invoke_with_end_report_and_freeze():
    d = Driver()
    d.start()
    d.advance(250.4)
    d.runtime_next()
    d.advance(1000)
    caller, rid = d.invoke()
    d.advance(100.3)
    d.respond(rid)
    d.advance(20)
    m = d.mark()
    d.runtime_next()
    assert d.lines(since=m) == [f"END RequestId: {rid}"]
    [report] = d.reports(m)
    assert report.status == "success" and report.error_type is None
    assert report.duration_ms == pytest.approx(120.3)
    assert report.init_duration_ms == pytest.approx(250.4)
    assert report.billed_duration_ms == math.ceil(120.3 + 250.4) == 371
    assert report.memory_size_mb == 128
    assert d.cancelled_timers(m) == ["invoke"]
    assert d.state is EnvState.FROZEN
    assert d.effects(Freeze, m) == [Freeze((RUNTIME,), whole=True)]
    assert d.env.invocations_done == 1


def test_init_duration_is_reported_on_the_first_invoke_only():
    d = warm()
    for _ in range(3):
        d.advance(10)
        _, rid = d.invoke()
        d.advance(5.5)
        d.complete_invoke(rid)
    first, second, third = d.reports()
    assert first.init_duration_ms == pytest.approx(250.0)
    assert second.init_duration_ms is None and third.init_duration_ms is None
    assert second.billed_duration_ms == 6
    assert "Init Duration" not in d.report_lines()[1]


def test_invoke_requested_while_cold_runs_an_on_demand_init_first():
    d = Driver()
    caller, rid = d.invoke()
    assert d.state is EnvState.INIT
    assert d.facts(f.PhaseStarted)[0] == f.PhaseStarted("init", "init", d.mono)
    assert "init" in d.started_timers()
    assert d.spawned() == [RUNTIME]
    assert d.lines() == [INIT_START]  # START comes when the invoke itself starts
    d.advance(100.5)
    d.runtime_next()
    assert d.state is EnvState.RUNNING  # went straight on: no freeze in between
    assert not d.effects(Freeze)
    assert d.reply(d.next_token[RUNTIME]).headers[0] == ("Lambda-Runtime-Aws-Request-Id", rid)
    d.advance(1.2)
    d.complete_invoke(rid)
    assert d.reports()[0].init_duration_ms == pytest.approx(100.5)


def test_second_invoke_waits_in_the_queue_and_starts_after_invoke_done_without_a_freeze():
    d = warm()
    c1, r1 = d.invoke()
    c2, r2 = d.invoke()
    assert d.facts(f.InvocationQueued) == [f.InvocationQueued(r1, 1), f.InvocationQueued(r2, 1)]
    assert d.env.snapshot(d.mono).queued == (r2,)
    d.respond(r1)
    m = d.mark()
    tok = d.runtime_next()
    assert d.lines(since=m) == [f"END RequestId: {r1}", f"START RequestId: {r2} Version: $LATEST"]
    assert d.reply(tok).headers[0] == ("Lambda-Runtime-Aws-Request-Id", r2)
    assert not d.effects(Freeze, m) and not d.effects(Thaw, m)
    assert d.state is EnvState.RUNNING
    d.complete_invoke(r2)
    assert [c.token for c in d.completions()] == [c1, c2]
    assert d.state is EnvState.FROZEN


def test_queue_position_counts_waiting_invokes():
    d = warm()
    d.invoke()
    d.invoke()
    _, r3 = d.invoke()
    assert d.facts(f.InvocationQueued)[-1] == f.InvocationQueued(r3, 2)


# ---------------------------------------------------------------------- Runtime API errors

INVALID_REQUEST_ID = b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}'


@pytest.mark.parametrize("call", ["response", "error"])
def test_post_for_an_unknown_request_id_is_400_invalid_request_id(call):
    d = warm()
    caller, rid = d.invoke()
    tok = d.respond("not-the-id") if call == "response" else d.invocation_error("not-the-id", b"{}")
    reply = d.reply(tok)
    assert (reply.status, reply.body) == (400, INVALID_REQUEST_ID)
    assert ("Content-Type", "application/json") in reply.headers
    assert not d.completions()
    assert d.env.runtime.state.value == "Running"  # nothing changed
    d.respond(rid)
    assert d.result_for(caller).payload == b'"ok"'


def test_response_when_no_invoke_is_in_flight_is_400():
    d = warm()
    assert d.reply(d.respond("r-1")).body == INVALID_REQUEST_ID


def test_response_for_a_finished_invoke_is_400():
    d = warm()
    _, rid = d.invoke()
    d.complete_invoke(rid)
    assert d.reply(d.respond(rid)).status == 400


@pytest.mark.parametrize(
    ("second", "to"), [("response", "InvocationResponse"), ("error", "InvocationErrorResponse")])
def test_second_post_for_the_same_id_is_403_invalid_state_transition(second, to):
    d = warm()
    caller, rid = d.invoke()
    d.respond(rid)
    tok = d.respond(rid) if second == "response" else d.invocation_error(rid, b"{}")
    reply = d.reply(tok)
    assert reply.status == 403
    assert json.loads(reply.body) == {
        "errorType": "InvalidStateTransition",
        "errorMessage": f"State transition from RuntimeResponseSentState to {to} failed for runtime. "
                        "Error: State transition is not allowed",
    }
    assert len(d.completions()) == 1 and d.result_for(caller).payload == b'"ok"'


def test_response_before_the_event_was_delivered_is_400():
    d = Driver()
    d.start()
    assert d.reply(d.respond("r-1")).status == 400


def test_next_after_init_error_is_403():
    d = Driver()
    d.start()
    d.init_error(b'{"errorMessage":"boom","errorType":"Runtime.ImportModuleError"}', "Runtime.ImportModuleError")
    tok = d.runtime_next()
    reply = d.reply(tok)
    assert reply.status == 403
    assert json.loads(reply.body) == {
        "errorType": "InvalidStateTransition",
        "errorMessage": "State transition from InitError to Ready failed for runtime. Error: State transition is not allowed",
    }


def test_init_error_after_the_first_next_is_403():
    d = warm()
    tok = d.init_error(b"{}", "Runtime.Oops")
    reply = d.reply(tok)
    assert reply.status == 403
    assert json.loads(reply.body)["errorMessage"].startswith("State transition from Ready to InitError failed")


def test_init_error_is_accepted_with_202():
    d = Driver()
    d.start()
    tok = d.init_error(b'{"errorMessage":"x","errorType":"Runtime.ImportModuleError"}', "Runtime.ImportModuleError")
    assert (d.reply(tok).status, d.reply(tok).body) == (202, b'{"status":"OK"}')
    assert d.state is EnvState.INIT  # takes effect when the runtime exits


def test_too_large_response_is_413_and_the_caller_gets_response_size_too_large():
    d = warm()
    caller, rid = d.invoke()
    tok = d.respond(rid, b"", too_large=True)
    reply = d.reply(tok)
    assert reply.status == 413
    assert reply.body == (b'{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).",'
                          b'"errorType":"RequestEntityTooLarge"}')
    result = d.result_for(caller)
    assert result.function_error is True
    assert result.error_type == "Function.ResponseSizeTooLarge"
    assert json.loads(result.payload) == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }


def test_error_body_is_forwarded_as_is():
    d = warm()
    caller, rid = d.invoke()
    body = b'{"errorMessage": "division by zero", "errorType": "ZeroDivisionError", "stackTrace": ["  x"]}'
    tok = d.invocation_error(rid, body, "application/json", None)
    assert (d.reply(tok).status, d.reply(tok).body) == (202, b'{"status":"OK"}')
    result = d.result_for(caller)
    assert result.payload == body  # byte for byte, spacing included
    assert result.function_error is True
    assert result.error_type == "ZeroDivisionError"
    d.runtime_next()
    assert d.reports()[0].status == "success"  # a function error is not a platform failure


def test_error_with_the_xray_cause_content_type_drops_error_cause():
    d = warm()
    caller, rid = d.invoke()
    body = json.dumps({"errorMessage": "m", "errorType": "ValueError", "stackTrace": [],
                       "errorCause": {"paths": [], "working_directory": "/var/task"}}).encode()
    d.invocation_error(rid, body, "application/vnd.aws.lambda.error.cause+json", "Runtime.Unknown")
    result = d.result_for(caller)
    assert json.loads(result.payload) == {"errorMessage": "m", "errorType": "ValueError", "stackTrace": []}
    assert result.content_type == "application/json"


def test_error_with_another_content_type_keeps_error_cause():
    d = warm()
    caller, rid = d.invoke()
    body = b'{"errorMessage":"m","errorType":"E","errorCause":{"x":1}}'
    d.invocation_error(rid, body, "application/vnd.aws.lambda.error+json", None)
    assert d.result_for(caller).payload == body


@pytest.mark.parametrize(
    ("header", "expected_type"),
    [("Runtime.NoSuchHandler", "Runtime.NoSuchHandler"), ("Unhandled", "Unhandled"), (None, "Runtime.Unknown")],
)
def test_empty_error_body_is_built_from_the_error_type_header(header, expected_type):
    d = warm()
    caller, rid = d.invoke()
    d.invocation_error(rid, b"  ", "application/json", header)
    result = d.result_for(caller)
    assert json.loads(result.payload) == {"errorMessage": "", "errorType": expected_type}
    assert result.function_error is True


def test_non_json_error_body_is_forwarded_and_the_platform_type_is_sanitised():
    d = warm()
    caller, rid = d.invoke()
    d.invocation_error(rid, b"plain text failure", "text/plain", "Function.bad")
    result = d.result_for(caller)
    assert result.payload == b"plain text failure"
    assert result.error_type == "Function.Unknown"


def test_second_next_while_running_re_renders_the_same_event():
    d = warm()
    _, rid = d.invoke()
    tok = d.runtime_next()
    assert d.reply(tok).headers[0] == ("Lambda-Runtime-Aws-Request-Id", rid)
    assert d.state is EnvState.RUNNING


def test_parked_next_abandoned_then_reconnected_is_answered_by_the_next_invoke():
    from lambdatui.core.inputs import RequestAbandoned

    d = warm()
    d.feed(RequestAbandoned(d.next_token[RUNTIME]))
    tok = d.runtime_next()
    assert not d.answered(tok)
    _, rid = d.invoke()
    assert d.reply(tok).headers[0] == ("Lambda-Runtime-Aws-Request-Id", rid)


def test_invoke_arriving_while_the_runtimes_next_was_dropped_is_delivered_on_reconnect():
    from lambdatui.core.inputs import RequestAbandoned

    d = warm()
    d.feed(RequestAbandoned(d.next_token[RUNTIME]))
    _, rid = d.invoke()
    tok = d.runtime_next()
    assert d.answered(tok)
    assert d.reply(tok).headers[0] == ("Lambda-Runtime-Aws-Request-Id", rid)
