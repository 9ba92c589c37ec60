"""A runtime's call the host heard after it arrived (`arrived`, the kernel's stamp): the wait is not the function's
time, and a deadline that passed before the call arrived is carried out first (core/clock_rules.py `_heard_late`).

In the debugger the host shares its thread with the UI: a `/response` can wait a repaint in the socket. Heard late,
it must neither lengthen the invoke's Duration nor turn an answer in time into a timeout; one that arrived after the
deadline must not turn a timeout into an answer either (the deadline timer was due first, whatever the host heard).
"""

from __future__ import annotations

from driver import Driver

from lambdatui.core import inputs as ins
from lambdatui.model import error_types as et


def _invoked(timeout_ms: int = 1000) -> tuple[Driver, int, str, float]:
    d = Driver(timeout_ms=timeout_ms)
    d.cold_start()
    caller, request_id = d.invoke()
    return d, caller, request_id, d.mono


def _respond(d: Driver, request_id: str, arrived: float) -> None:
    d.feed(ins.RuntimeResponse(d.token(), request_id, b'"ok"', "application/json", arrived=arrived))


def _next(d: Driver, arrived: float) -> None:
    d.feed(ins.RuntimeNext(d.token(), arrived))


def test_the_wait_before_the_host_heard_the_response_is_not_in_the_duration() -> None:
    d, caller, request_id, started = _invoked()
    d.advance(20)  # the handler answers after 20 ms ...
    arrived = d.mono
    d.advance(300)  # ... and the host hears it 300 ms later
    _respond(d, request_id, arrived)
    _next(d, arrived)
    assert not d.result_for(caller).function_error
    [report] = d.reports()
    assert 19 <= report.duration_ms <= 21, report


def test_an_answer_in_time_heard_past_the_deadline_is_not_a_timeout() -> None:
    d, caller, request_id, started = _invoked(timeout_ms=1000)
    d.advance(990)  # 10 ms before the deadline
    arrived = d.mono
    d.advance(40)  # heard 30 ms past it, before the host carried out the timer (it held off: host/deadlines.py)
    _respond(d, request_id, arrived)
    _next(d, arrived)
    assert not d.result_for(caller).function_error
    assert d.reports()[0].status == "success"


def test_an_answer_that_arrived_after_the_deadline_is_a_timeout_though_heard_first() -> None:
    d, caller, request_id, started = _invoked(timeout_ms=1000)
    d.advance(1010)  # the deadline has passed; the host has not yet carried out its timer
    arrived = d.mono
    d.advance(5)
    _respond(d, request_id, arrived)  # heard before the timer: the timer still comes first
    result = d.result_for(caller)
    assert result.function_error and result.error_type == et.SANDBOX_TIMEDOUT, result
    assert d.reports()[0].status == "timeout"


def test_a_streamed_response_heard_late_counts_to_its_last_bytes_arrival() -> None:
    d, caller, request_id, started = _invoked(timeout_ms=1000)
    d.advance(10)
    d.feed(ins.RuntimeStreamStarted(d.token(), request_id, "text/plain", arrived=d.mono))
    d.advance(980)  # its last bytes, 10 ms before the deadline ...
    arrived = d.mono
    d.advance(40)  # ... heard 30 ms past it
    d.feed(ins.RuntimeStreamEnded(d.token(), request_id, b"chunks", 6, "text/plain", arrived=arrived))
    d.feed(ins.RuntimeNext(d.token()))  # unstamped: the stream's end alone says when it came
    assert not d.result_for(caller).function_error
    [report] = d.reports()
    assert report.status == "success" and 989 <= report.duration_ms <= 991, report


def test_a_stream_that_ended_after_the_deadline_is_a_timeout_though_heard_first() -> None:
    d, caller, request_id, started = _invoked(timeout_ms=1000)
    d.feed(ins.RuntimeStreamStarted(d.token(), request_id, "text/plain", arrived=d.mono))
    d.advance(1010)
    arrived = d.mono
    d.advance(5)
    d.feed(ins.RuntimeStreamEnded(d.token(), request_id, b"chunks", 6, "text/plain", arrived=arrived))
    assert d.reports()[0].status == "timeout"


def test_an_extensions_next_heard_late_ends_the_invoke_when_it_arrived() -> None:
    d = Driver(["ext-a"], timeout_ms=1000)
    d.cold_start({"ext-a": ("INVOKE",)})
    caller, request_id = d.invoke()
    d.advance(10)
    _respond(d, request_id, d.mono)
    _next(d, d.mono)
    d.advance(20)  # the extension is done 30 ms in ...
    arrived = d.mono
    d.advance(300)  # ... and heard 300 ms later
    d.feed(ins.ExtensionNext(d.token(), d.ext_ids["ext-a"], arrived))
    [report] = d.reports()
    assert report.status == "success" and 29 <= report.duration_ms <= 31, report


def test_an_extensions_next_heard_late_while_the_handler_runs_is_the_handlers_time() -> None:
    """The host was busy, but the handler was not waiting on it: it ran, and read its time left against the deadline
    it was given. Held, that wait left the Duration shorter than the time the handler saw go by (a replay's
    `expect.response` then compared a time left it should have known as a clock reading)."""
    d = Driver(["ext-a"], timeout_ms=1000)
    d.cold_start({"ext-a": ("INVOKE",)})
    caller, request_id = d.invoke()
    d.advance(5)  # the extension is done 5 ms in ...
    arrived = d.mono
    d.advance(300)  # ... and heard 300 ms later, while the handler runs on
    d.feed(ins.ExtensionNext(d.token(), d.ext_ids["ext-a"], arrived))
    d.advance(5)
    _respond(d, request_id, d.mono)
    _next(d, d.mono)
    [report] = d.reports()
    assert report.status == "success" and 309 <= report.duration_ms <= 311, report


def test_a_response_heard_late_while_an_extension_works_is_the_extensions_time() -> None:
    d = Driver(["ext-a"], timeout_ms=1000)
    d.cold_start({"ext-a": ("INVOKE",)})
    caller, request_id = d.invoke()
    d.advance(10)
    arrived = d.mono
    d.advance(300)  # the answer is heard 300 ms late; the extension works on all the while ...
    _respond(d, request_id, arrived)
    _next(d, arrived)
    d.advance(10)
    d.feed(ins.ExtensionNext(d.token(), d.ext_ids["ext-a"], d.mono))  # ... and is done 320 ms in
    [report] = d.reports()
    assert report.status == "success" and 319 <= report.duration_ms <= 321, report


def test_an_extensions_next_heard_after_a_later_response_is_held_only_from_that_response() -> None:
    """The extension asked for its next event 2 ms in, while the handler ran; the host heard the handler's answer
    (10 ms in) first, and the extension's call after it. Only the time after the answer was nobody's: held from the
    call's own arrival, the Duration lost the handler's 8 ms (a replay then compared a time left of 990 it should have
    known as a clock reading)."""
    d = Driver(["ext-a"], timeout_ms=1000)
    d.cold_start({"ext-a": ("INVOKE",)})
    caller, request_id = d.invoke()
    d.advance(2)
    asked = d.mono
    d.advance(8)
    answered = d.mono
    d.advance(300)  # the host hears the answer ...
    _respond(d, request_id, answered)
    _next(d, answered)
    d.advance(5)  # ... then the extension's call, which came first
    d.feed(ins.ExtensionNext(d.token(), d.ext_ids["ext-a"], asked))
    [report] = d.reports()
    assert report.status == "success" and 9 <= report.duration_ms <= 11, report
