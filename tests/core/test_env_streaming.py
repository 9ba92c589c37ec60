"""A streamed /response in the core (lambda-spec §1.8, §12.1; core/stream_rules.py): the stream's start moves the
runtime to InvocationResponse (from then on /error is refused), its end decides the invoke: whole, with the error
its trailers declared, cut by the runtime hanging up, or past the limit. The bytes themselves never reach the core.
"""

from __future__ import annotations

import base64
import json

import pytest
from driver import Driver

from lambdatui.core.effects import RUNTIME
from lambdatui.core.runtime_machine import RuntimeState
from lambdatui.core.stream_rules import STREAM_ACCEPTED
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState

ERROR = {"errorMessage": "failed after 2 chunks", "errorType": "StreamFailed"}


def warm() -> Driver:
    d = Driver()
    d.cold_start()
    return d


def streaming(*, to_caller: bool = False, label: str = "") -> tuple[Driver, int, str]:
    """A warm environment whose runtime has the event and has begun to stream its response; (driver, caller, id)."""
    d = warm()
    caller, rid = d.invoke(streamed=to_caller, label=label)
    d.advance(7)
    start = d.stream_start(rid)
    assert d.reply(start).status == STREAM_ACCEPTED
    return d, caller, rid


def error_json(reply) -> tuple[int, str]:
    return reply.status, json.loads(reply.body)["errorType"]


# ---------------------------------------------------------------------- the stream's start


def test_an_accepted_stream_moves_the_runtime_to_invocation_response():
    d, caller, rid = streaming()
    assert d.env.runtime.state is RuntimeState.STREAMING
    assert RuntimeState.STREAMING.value == "InvocationResponse"  # the name RAPID's 403 messages use
    assert d.state is EnvState.RUNNING
    assert not d.answered(caller)  # the caller waits for the end (a buffered caller gets it whole)
    [started] = d.facts(f.ResponseStreamStarted)
    assert (started.request_id, started.content_type, started.to_caller) == (rid, "text/plain", False)
    assert started.first_byte_ms == pytest.approx(7.0)  # from the event's delivery to the stream's start
    changes = [p for p in d.facts(f.ParticipantChanged) if p.participant == RUNTIME]
    assert (changes[-1].state, changes[-1].parked) == ("InvocationResponse", False)


def test_a_caller_that_takes_a_stream_is_told_in_the_start_fact():
    d, _, _ = streaming(to_caller=True)
    [started] = d.facts(f.ResponseStreamStarted)
    assert started.to_caller is True


def test_error_during_a_stream_is_refused_403_invalid_state_transition():
    d, caller, rid = streaming()
    refused = d.invocation_error(rid, json.dumps(ERROR).encode(), error_type="Function.StreamFailed")
    assert error_json(d.reply(refused)) == (403, et.INVALID_STATE_TRANSITION)
    assert "InvocationResponse" in json.loads(d.reply(refused).body)["errorMessage"]
    assert d.env.runtime.state is RuntimeState.STREAMING  # the stream goes on
    assert not d.answered(caller)
    d.stream_end(rid, b"all of it")
    assert d.result_for(caller).payload == b"all of it"


def test_a_second_response_is_refused_during_the_stream_and_after_it():
    d, caller, rid = streaming()
    plain = d.respond(rid, b'"again"')
    again = d.stream_start(rid)
    assert error_json(d.reply(plain)) == (403, et.INVALID_STATE_TRANSITION)
    assert error_json(d.reply(again)) == (403, et.INVALID_STATE_TRANSITION)
    end = d.stream_end(rid, b"first")
    assert d.reply(end).status == 202
    after = d.respond(rid, b'"late"')
    late_stream = d.stream_start(rid)
    assert error_json(d.reply(after)) == (403, et.INVALID_STATE_TRANSITION)
    assert error_json(d.reply(late_stream)) == (403, et.INVALID_STATE_TRANSITION)
    assert d.result_for(caller).payload == b"first"  # one answer, the first one's


def test_an_unknown_request_id_is_400_at_the_start_and_at_the_end():
    d = warm()
    caller, rid = d.invoke()
    start = d.stream_start("not-" + rid)
    assert error_json(d.reply(start)) == (400, et.INVALID_REQUEST_ID)
    assert d.env.runtime.state is RuntimeState.RUNNING  # nothing started
    assert d.reply(d.stream_start(rid)).status == STREAM_ACCEPTED
    end = d.stream_end("not-" + rid, b"x")
    assert error_json(d.reply(end)) == (400, et.INVALID_REQUEST_ID)
    assert not d.answered(caller) and d.env.runtime.state is RuntimeState.STREAMING


def test_an_end_without_a_start_is_400():
    d = warm()
    _, rid = d.invoke()
    end = d.stream_end(rid, b"x")
    assert error_json(d.reply(end)) == (400, et.INVALID_REQUEST_ID)


# ---------------------------------------------------------------------- how it ends


def test_a_whole_stream_is_the_response_kept_for_a_buffered_caller():
    d, caller, rid = streaming()
    end = d.stream_end(rid, b"chunk 0\nchunk 1\n")
    assert d.reply(end).status == 202
    result = d.result_for(caller)
    assert (result.payload, result.content_type, result.function_error, result.streamed) == (
        b"chunk 0\nchunk 1\n", "text/plain", False, -1)
    assert d.env.runtime.state is RuntimeState.RESPONSE_SENT
    assert d.facts(f.ResponseStreamEnded) == [f.ResponseStreamEnded(rid, 16, None)]


def test_a_stream_to_its_caller_keeps_no_payload_only_its_size():
    d, caller, rid = streaming(to_caller=True)
    d.stream_end(rid, b"", size=5000)
    result = d.result_for(caller)
    assert (result.payload, result.streamed, result.function_error) == (b"", 5000, False)


def test_the_trailers_error_fails_the_invoke_with_the_decoded_body():
    d, caller, rid = streaming()
    body = json.dumps(ERROR).encode()
    end = d.stream_end(rid, b"chunk 0\nchunk 1\n", error_type="Function.StreamFailed", error_body=body)
    assert d.reply(end).status == 202  # Lambda takes the stream as a successful /response (§1.8)
    result = d.result_for(caller)
    assert result.function_error is True
    assert json.loads(result.payload) == ERROR  # the error, not the bytes streamed before it
    assert result.error_type == "StreamFailed"  # the body's type, as the caller sees it
    # The stream's end says the type its trailers declared, which the platform records.
    assert d.facts(f.ResponseStreamEnded) == [f.ResponseStreamEnded(rid, 16, "Function.StreamFailed")]
    d.runtime_next()
    [done] = d.facts(f.RuntimeDone)
    assert (done.status, done.error_type) == ("error", "Function.StreamFailed")


def test_a_trailer_error_without_an_error_object_still_reaches_the_caller_under_its_type():
    d, caller, rid = streaming()
    d.stream_end(rid, b"x", error_type="Function.Broke", error_body=b"plain words")
    result = d.result_for(caller)
    assert result.function_error and result.error_type == "Function.Broke"
    assert json.loads(result.payload) == {"errorMessage": "plain words", "errorType": "Function.Broke"}


def test_a_runtime_that_hangs_up_mid_stream_is_a_truncated_response():
    d, caller, rid = streaming(to_caller=True)
    end = d.stream_end(rid, b"", size=9, truncated=True)
    assert error_json(d.reply(end)) == (400, et.TRUNCATED_HTTP_REQUEST)
    result = d.result_for(caller)
    assert (result.function_error, result.error_type, result.streamed) == (True, et.RUNTIME_TRUNCATED_RESPONSE, 9)
    assert json.loads(result.payload)["errorType"] == et.RUNTIME_TRUNCATED_RESPONSE
    assert d.facts(f.ResponseStreamEnded) == [f.ResponseStreamEnded(rid, 9, et.RUNTIME_TRUNCATED_RESPONSE)]


def test_a_stream_past_a_buffered_callers_limit_is_too_large_413_to_the_runtime():
    d, caller, rid = streaming()
    end = d.stream_end(rid, b"kept until the limit", too_large=True)
    reply = d.reply(end)
    assert error_json(reply) == (413, et.REQUEST_ENTITY_TOO_LARGE)
    assert str(et.MAX_RESPONSE_BYTES) in json.loads(reply.body)["errorMessage"]
    result = d.result_for(caller)
    assert (result.function_error, result.error_type) == (True, et.FUNCTION_RESPONSE_SIZE_TOO_LARGE)
    assert str(et.MAX_RESPONSE_BYTES) in json.loads(result.payload)["errorMessage"]


def test_a_streaming_callers_limit_is_the_streamed_one():
    d, caller, rid = streaming(to_caller=True)
    end = d.stream_end(rid, b"", size=et.MAX_STREAMED_RESPONSE_BYTES, too_large=True)
    assert str(et.MAX_STREAMED_RESPONSE_BYTES) in json.loads(d.reply(end).body)["errorMessage"]
    result = d.result_for(caller)
    assert (result.error_type, result.streamed) == (et.FUNCTION_RESPONSE_SIZE_TOO_LARGE,
                                                    et.MAX_STREAMED_RESPONSE_BYTES)


# ---------------------------------------------------------------------- what the platform reports


def test_report_and_runtime_done_count_the_streamed_bytes_and_time_the_first_byte():
    d, _, rid = streaming(to_caller=True)  # delivered, then 7 ms to the stream's start
    d.advance(40)
    d.stream_end(rid, b"", size=1234)
    d.advance(2)
    d.runtime_next()
    [done] = d.facts(f.RuntimeDone)
    assert (done.status, done.error_type, done.produced_bytes) == ("success", None, 1234)
    assert done.duration_ms == pytest.approx(49.0)
    spans = {span.name: span.duration_ms for span in done.spans}
    assert spans["responseLatency"] == pytest.approx(7.0)  # to the first byte
    assert spans["responseDuration"] == pytest.approx(40.0)  # the stream itself
    assert spans["runtimeOverhead"] == pytest.approx(2.0)
    [report] = d.reports()
    assert (report.request_id, report.status) == (rid, "success")
    assert report.duration_ms == pytest.approx(49.0)
    assert d.report_lines()[0].startswith(f"REPORT RequestId: {rid}\tDuration: 49.00 ms")
    assert d.state is EnvState.FROZEN  # the invoke is over: frozen until the next


def test_the_invokes_label_reaches_its_phase_fact():
    d, _, rid = streaming(label="GET /items")
    [started] = [p for p in d.facts(f.PhaseStarted) if p.phase == "invoke"]
    assert (started.detail, started.label) == (rid, "GET /items")


def test_the_next_invoke_after_a_stream_is_an_ordinary_one():
    d, _, rid = streaming()
    d.stream_end(rid, b"streamed")
    d.runtime_next()
    second, rid2 = d.invoke()
    d.respond(rid2, b'"plain"')
    assert d.result_for(second).payload == b'"plain"'
    assert len(d.facts(f.ResponseStreamStarted)) == 1


def test_base64_is_the_servers_business_the_core_gets_the_decoded_body():
    """The API decodes Lambda-Runtime-Function-Error-Body (runtime_stream._decoded); what reaches the core is the
    JSON itself, and a body that is still base64 is passed on as text."""
    d, caller, rid = streaming()
    encoded = base64.b64encode(json.dumps(ERROR).encode())
    d.stream_end(rid, b"", error_type="Function.StreamFailed", error_body=encoded)
    result = d.result_for(caller)
    assert json.loads(result.payload)["errorMessage"] == encoded.decode()
