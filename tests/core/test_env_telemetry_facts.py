"""The facts the telemetry records are made of (issue 10): RuntimeDone, ExtensionOverhead, ExtensionReported and
the invoke's trace header, with the instants and durations the core knows (holds left out, as everywhere)."""

from __future__ import annotations

from driver import MONO0, Driver, ext

from lambdatui.core import inputs as ins
from lambdatui.core.common import INVOKE_TIMER
from lambdatui.core.effects import RUNTIME
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def warm(extensions: tuple[str, ...] = ("obs",)) -> Driver:
    d = Driver(extensions=extensions)
    d.cold_start()
    return d


def since_start(d: Driver, ms: float) -> float:
    return round(MONO0 + ms / 1000, 6)


def rounded(value):
    """Floats to the microsecond: the driver's clock is exact, float arithmetic on it is not."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, tuple):
        return tuple(rounded(v) for v in value)
    if isinstance(value, (f.RuntimeDone, f.ExtensionOverhead, f.Span)):
        return type(value)(*(rounded(getattr(value, name)) for name in value.__dataclass_fields__))
    return value


def test_runtime_done_when_the_runtime_asks_for_its_next_event_with_its_spans():
    d = warm()
    d.advance(10)
    _, rid = d.invoke()  # delivered at 10 ms
    d.advance(5)
    d.respond(rid, b'"0123456789"')  # 12 bytes
    d.advance(1.5)
    mark = d.mark()
    d.runtime_next()
    [done] = d.facts(f.RuntimeDone, since=mark)
    assert rounded(done) == f.RuntimeDone(
        rid, "success", None, 6.5, 12,
        (f.Span("responseLatency", since_start(d, 10), 5.0), f.Span("responseDuration", since_start(d, 15), 0.0),
         f.Span("runtimeOverhead", since_start(d, 15), 1.5)),
        "", since_start(d, 16.5))
    assert d.reports(since=mark) == []  # the extension has not asked for its next event yet: no REPORT


def test_the_extensions_overhead_runs_from_the_runtimes_next_to_the_last_extensions():
    d = warm(("a", "b"))
    _, rid = d.invoke()
    d.respond(rid)
    d.advance(2)
    d.runtime_next()  # at 2 ms
    d.advance(3)
    d.ext_next("a")
    d.advance(4)
    mark = d.mark()
    d.ext_next("b")  # at 9 ms
    kinds = [type(fact) for fact in d.facts(since=mark) if type(fact) in (f.ExtensionOverhead, f.InvokeReported)]
    assert kinds == [f.ExtensionOverhead, f.InvokeReported]
    [overhead] = d.facts(f.ExtensionOverhead, since=mark)
    assert rounded(overhead) == f.ExtensionOverhead(rid, f.Span("extensionOverhead", since_start(d, 2), 7.0))


def test_no_extension_overhead_without_extensions():
    d = warm(())
    _, rid = d.invoke()
    d.complete_invoke(rid)
    assert d.facts(f.ExtensionOverhead) == []
    assert len(d.facts(f.RuntimeDone)) == 1


def test_a_hold_after_the_response_is_not_runtime_overhead():
    d = warm()
    d.feed(ins.BreakpointsSet(frozenset({Boundary.INVOKE_RESPONSE})))
    _, rid = d.invoke()
    d.advance(1)
    d.respond(rid)
    assert d.held_boundaries() == ["invoke.response"]
    d.advance(60_000)  # the user looks for a minute
    d.feed(ins.ContinueRequested())
    d.advance(2)
    d.runtime_next()
    [done] = d.facts(f.RuntimeDone)
    assert rounded((done.duration_ms, done.spans[-1])) == (3.0, f.Span("runtimeOverhead", since_start(d, 1), 2.0))


def test_an_error_response_is_status_error_with_the_type_the_platform_records():
    d = warm()
    _, rid = d.invoke()
    d.advance(4)
    d.invocation_error(rid, b'{"errorType":"ValueError","errorMessage":"bad"}', error_type="ValueError")
    d.advance(1)
    d.runtime_next()
    [done] = d.facts(f.RuntimeDone)
    # The caller sees the body's type; the platform records the header's, sanitised (lambda-spec §1.5).
    assert rounded((done.status, done.error_type, done.produced_bytes, done.duration_ms)) == (
        "error", "Runtime.Unknown", 0, 5.0)
    assert [span.name for span in done.spans] == ["runtimeOverhead"]  # no /response: no response spans


def test_a_timeout_is_runtime_done_before_the_reset_begins():
    d = warm()
    _, rid = d.invoke(trace_id=TRACE)
    d.advance(3000)
    mark = d.mark()
    d.fire(INVOKE_TIMER)
    facts = d.facts(since=mark)
    [done] = [fact for fact in facts if isinstance(fact, f.RuntimeDone)]
    assert rounded(done) == f.RuntimeDone(rid, "timeout", "Sandbox.Timedout", 3000.0, 0, (), "", since_start(d, 3000))
    reset = next(i for i, fact in enumerate(facts) if isinstance(fact, f.PhaseStarted) and fact.phase == "reset")
    assert facts.index(done) < reset
    report = next(fact for fact in facts if isinstance(fact, f.InvokeReported))
    assert facts.index(done) < facts.index(report)


def test_a_crash_is_runtime_done_with_the_platforms_account():
    d = warm()
    _, rid = d.invoke()
    d.advance(2)
    d.exited(RUNTIME, code=1)
    [done] = d.facts(f.RuntimeDone)
    assert rounded((done.request_id, done.duration_ms)) == (rid, 2.0)
    assert (done.status, done.error_type, done.detail) == (
        "error", "Runtime.ExitError", "Runtime exited with error: exit status 1")


def test_runtime_done_once_even_when_an_extension_fails_the_invoke_after():
    d = warm()
    _, rid = d.invoke()
    d.respond(rid)
    d.runtime_next()
    d.exited(ext("obs"), code=1)  # during the extension's own work after the response
    assert [(done.status, done.error_type) for done in d.facts(f.RuntimeDone)] == [("success", None)]
    [report] = d.reports()
    assert (report.status, report.error_type) == ("error", "Extension.Crash")


def test_the_invokes_phase_carries_its_trace_header():
    d = warm()
    _, rid = d.invoke(trace_id=TRACE)
    assert [(p.detail, p.trace_id) for p in d.facts(f.PhaseStarted) if p.phase == "invoke"] == [(rid, TRACE)]


def test_extensions_are_reported_at_the_end_of_a_successful_init():
    d = Driver(extensions=("a", "b"))
    d.start()
    d.register("a", ("INVOKE", "SHUTDOWN"))
    d.register("b", ("SHUTDOWN",))
    d.ext_next("a")
    d.ext_next("b")
    d.runtime_next()
    facts = d.facts()
    reported = [fact for fact in facts if isinstance(fact, f.ExtensionReported)]
    assert reported == [f.ExtensionReported("a", "Ready", ("INVOKE", "SHUTDOWN")),
                        f.ExtensionReported("b", "Ready", ("SHUTDOWN",))]
    init_end = next(fact for fact in facts if isinstance(fact, f.PhaseEnded) and fact.phase == "init")
    assert facts.index(reported[-1]) < facts.index(init_end)


def test_a_failed_init_reports_every_launched_extension_with_its_error():
    d = Driver(extensions=("a", "b", "c"))
    d.start()
    d.register("a")
    d.register("b")
    d.ext_init_error("b", "Extension.ConfigInvalid")
    d.exited(ext("b"), code=1)  # "c" never registered
    reported = d.facts(f.ExtensionReported)
    assert reported == [
        f.ExtensionReported("a", "Registered", ("INVOKE", "SHUTDOWN")),
        # The type it declared, as RAPID's AgentInfo.ErrorType: INIT_REPORT keeps the platform's Extension.InitError.
        f.ExtensionReported("b", "InitError", ("INVOKE", "SHUTDOWN"), "Extension.ConfigInvalid"),
        f.ExtensionReported("c", "Started", ()),
    ]


def test_a_suppressed_init_that_fails_still_ends_its_invokes_runtime():
    d = warm()
    d.invoke()
    d.exited(RUNTIME, code=1)  # crash: reset, the next invoke re-initialises
    d.exited(ext("obs"), code=0)
    mark = d.mark()
    _, rid2 = d.invoke()
    d.register("obs")
    d.ext_next("obs")
    d.advance(7)
    d.exited(RUNTIME, code=2)  # dies during the suppressed Init
    [done] = d.facts(f.RuntimeDone, since=mark)
    assert (done.request_id, done.status, done.error_type, done.duration_ms) == (rid2, "error", "Runtime.ExitError",
                                                                                 0.0)
