"""The timeline reducer: hand-written fact sequences, and the real core's fact stream folded into bars."""

from __future__ import annotations

import itertools
from typing import Optional

import pytest

from lambdatui.core import inputs as ins
from lambdatui.core.effects import RUNTIME, Emit, Reply
from lambdatui.core.environment import Environment, EnvironmentConfig
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.timeline import Timeline, TimelineBar

B = Boundary
RID = "3f2a9c1e-aaaa-bbbb-cccc-000000000001"


def simple(bars: tuple[TimelineBar, ...]) -> list[tuple[str, str]]:
    return [(b.kind, b.label) for b in bars]


def of_kind(timeline: Timeline, kind: str) -> list[TimelineBar]:
    return [b for b in timeline.bars() if b.kind == kind]


def report(rid: str = RID, duration: float = 12.3, memory: Optional[int] = 45, init: Optional[float] = None,
           status: str = "success", error_type: Optional[str] = None, cold: bool = False) -> f.InvokeReported:
    return f.InvokeReported(rid, duration, 13, 128, memory, init, status, error_type, cold)


# ---------------------------------------------------------------------- hand-written sequences


def test_an_invoke_bar_takes_label_status_duration_and_report_from_the_facts():
    t = Timeline()
    t.apply(f.PhaseStarted("invoke", RID, at=10.0))
    assert t.bars() == (TimelineBar("invoke", "3f2a9c1e", 10.0, None, None, None, ""),)  # running
    t.apply(report())
    t.apply(f.PhaseEnded("invoke", "success", 12.3, at=10.5))  # 500 ms wall, 12.3 ms without the hold
    assert t.bars() == (TimelineBar("invoke", "3f2a9c1e", 10.0, 10.5, 12.3, "success", "12.3 ms · 45 MB"),)


REPORT_DETAILS = [
    ("warm", report(), "12.3 ms · 45 MB"),
    ("memory unknown", report(memory=None), "12.3 ms"),
    ("cold start", report(init=80.25, cold=True), "12.3 ms · 45 MB · init 80.2 ms"),
    ("suppressed init", report(memory=None, cold=True), "12.3 ms · cold"),
    ("error", report(status="error", error_type="Runtime.Unhandled"), "12.3 ms · 45 MB · Runtime.Unhandled"),
]


@pytest.mark.parametrize("fact,detail", [r[1:] for r in REPORT_DETAILS], ids=[r[0] for r in REPORT_DETAILS])
def test_report_detail(fact, detail):
    t = Timeline()
    t.apply(f.PhaseStarted("invoke", RID, at=1.0))
    t.apply(fact)
    t.apply(f.PhaseEnded("invoke", fact.status, fact.duration_ms, fact.error_type, at=1.1))
    bar = t.bars()[0]
    assert (bar.detail, bar.status) == (detail, fact.status)


def test_invokes_that_overlap_in_one_environment_each_end_by_their_own_facts():
    # Managed Instances: three invokes at once in one environment. Each bar ends with its own PhaseEnded and REPORT;
    # a new one starting no longer closes the one before as "interrupted" (drawn ✗ with a few ms).
    a, b, c = (f"{n}0000000-aaaa-bbbb-cccc-00000000000{n}" for n in (1, 2, 3))
    t = Timeline()
    for at, rid in ((1.0, a), (1.01, b), (1.02, c)):
        t.apply(f.PhaseStarted("invoke", rid, at=at))
    assert [bar.end for bar in t.bars()] == [None, None, None]  # all three running
    assert len(t.open_seqs()) == 3
    for at, rid in ((4.02, c), (4.0, a), (4.01, b)):
        t.apply(report(rid, duration=3000.0))
        t.apply(f.PhaseEnded("invoke", "success", 3000.0, at=at, request_id=rid))
    assert [(bar.label, bar.status, bar.duration_ms) for bar in t.bars()] == [
        ("10000000", "success", 3000.0), ("20000000", "success", 3000.0), ("30000000", "success", 3000.0)]
    assert t.open_seqs() == frozenset()


def test_a_report_for_another_request_does_not_touch_the_bar():
    t = Timeline()
    t.apply(f.PhaseStarted("invoke", RID, at=1.0))
    t.apply(report("someone-else"))
    assert t.bars()[0].detail == ""


def test_init_sub_phases_follow_the_boundaries():
    t = Timeline()
    t.apply(f.PhaseStarted("init", "init", at=1.0))
    t.apply(f.BoundaryReached(B.INIT_EXTENSIONS, held=False), at=1.0)
    t.apply(f.BoundaryReached(B.INIT_RUNTIME, held=False), at=1.2)
    t.apply(f.BoundaryReached(B.INIT_FUNCTION, held=False), at=1.25)
    t.apply(f.PhaseEnded("init", "success", 400.0, at=1.4))
    t.apply(f.BoundaryReached(B.INIT_DONE, held=False), at=1.4)
    assert [(b.kind, b.label, b.start, b.end, b.status) for b in t.bars()] == [
        ("init", "init", 1.0, 1.4, "success"),
        ("init step", "extension init", 1.0, 1.2, None),
        ("init step", "runtime init", 1.2, 1.25, None),
        ("init step", "function init", 1.25, 1.4, None),
    ]
    durations = [b.duration_ms for b in t.bars()]
    assert durations == pytest.approx([400.0, 200.0, 50.0, 150.0])
    assert t.marker() == "init.done"


def test_init_sub_phases_are_timed_on_inits_clock_when_the_boundaries_tell_it():
    # Between the boundaries' arrivals the core's Init clock stood still for a while (the sandbox settling before
    # the runtime's spawn, the globals report after the import): the steps are the differences of the Init times
    # the boundaries carry, and the last one ends with Init's duration, so together they are Init.
    t = Timeline()
    t.apply(f.PhaseStarted("init", "init", at=1.0))
    t.apply(f.BoundaryReached(B.INIT_EXTENSIONS, held=False, init_ms=0.0), at=1.0)
    t.apply(f.BoundaryReached(B.INIT_RUNTIME, held=True, init_ms=2.0), at=1.002)
    t.apply(f.HoldReleased(B.INIT_RUNTIME), at=5.0)  # the hold's time is in no step
    t.apply(f.BoundaryReached(B.INIT_FUNCTION, held=False, init_ms=27.0), at=5.040)
    t.apply(f.PhaseEnded("init", "success", 31.0, at=5.050))
    t.apply(f.BoundaryReached(B.INIT_DONE, held=False), at=5.050)
    steps = {b.label: b.duration_ms for b in of_kind(t, "init step")}
    assert steps == pytest.approx({"extension init": 2.0, "runtime init": 25.0, "function init": 4.0})
    assert [b.start for b in of_kind(t, "init step")] == [1.0, 5.0, 5.040]


def test_a_failed_init_closes_its_running_sub_phase_with_the_status():
    t = Timeline()
    t.apply(f.PhaseStarted("init", "init", at=0.0))
    t.apply(f.BoundaryReached(B.INIT_EXTENSIONS, held=False), at=0.0)
    t.apply(f.BoundaryReached(B.INIT_RUNTIME, held=False), at=0.1)
    t.apply(f.PhaseEnded("init", "timeout", 10_000.0, "Sandbox.Timedout", at=10.0))
    init, ext, rt = t.bars()
    assert (init.status, init.detail, init.duration_ms) == ("timeout", "Sandbox.Timedout", 10_000.0)
    assert (rt.label, rt.end, rt.status) == ("runtime init", 10.0, "timeout")
    # a boundary after the failure starts no sub-phase: Init is over
    t.apply(f.BoundaryReached(B.INIT_FUNCTION, held=False), at=11.0)
    assert len(t.bars()) == 3


def test_a_held_boundary_makes_a_held_bar_and_delays_the_next_sub_phase():
    t = Timeline()
    t.apply(f.PhaseStarted("init", "init", at=0.0))
    t.apply(f.BoundaryReached(B.INIT_EXTENSIONS, held=False), at=0.0)
    t.apply(f.BoundaryReached(B.INIT_RUNTIME, held=True, detail=""), at=0.5)
    assert t.marker() == "init.runtime" and t.held
    t.apply(f.HoldReleased(B.INIT_RUNTIME), at=30.5)
    assert not t.held
    held = of_kind(t, "held")
    assert [(b.label, b.start, b.end, b.duration_ms) for b in held] == [("held at init.runtime", 0.5, 30.5, 30_000.0)]
    runtime_init = [b for b in t.bars() if b.label == "runtime init"]
    assert runtime_init[0].start == 30.5  # the pause is not runtime init's time


def test_frozen_gaps_and_the_thaw():
    t = Timeline()
    t.apply(f.EnvironmentFrozen(("runtime", "extension:a")), at=2.0)
    t.apply(f.EnvironmentFrozen(("runtime",)), at=2.5)  # already frozen: no second bar
    t.apply(f.EnvironmentThawed(("runtime",)), at=7.0)
    assert t.bars() == (TimelineBar("frozen", "frozen", 2.0, 7.0, 5000.0, None, "runtime, extension:a"),)


def test_time_held_at_invoke_start_is_the_holds_and_not_the_frozen_gaps():
    """Frozen 1.7 s, then held 6 s at invoke.start before the thaw: the frozen bar says 1.7 s, the hold 6 s."""
    t = Timeline()
    t.apply(f.EnvironmentFrozen(("runtime",)), at=2.0)
    t.apply(f.BoundaryReached(B.INVOKE_START, held=True, detail=RID), at=3.7)
    t.apply(f.HoldReleased(B.INVOKE_START), at=9.7)
    t.apply(f.EnvironmentThawed(("runtime",)), at=9.7)
    t.apply(f.PhaseStarted("invoke", RID, at=9.7))
    frozen, held, _ = t.bars()
    assert (frozen.kind, frozen.end, frozen.duration_ms) == ("frozen", 9.7, pytest.approx(1700.0))
    assert (held.kind, held.duration_ms) == ("held", pytest.approx(6000.0))


def test_a_thaw_while_still_held_leaves_the_hold_so_far_out_of_the_frozen_gap():
    t = Timeline()
    t.apply(f.EnvironmentFrozen(("runtime",)), at=2.0)
    t.apply(f.BoundaryReached(B.INVOKE_START, held=True, detail=RID), at=3.0)
    t.apply(f.EnvironmentThawed(("runtime",)), at=5.0)
    assert t.bars()[0].duration_ms == pytest.approx(1000.0)


def test_the_frozen_gap_ends_where_the_next_invoke_begins_with_nothing_to_thaw():
    """Every process frozen by the user (a fault): the core thaws nothing at the invoke and says nothing of it; the
    gap still ends where the invoke begins, not at the reset its timeout brings."""
    t = Timeline()
    t.apply(f.EnvironmentFrozen(("runtime",)), at=2.0)
    t.apply(f.PhaseStarted("invoke", RID, at=5.0))
    t.apply(f.StateChanged(EnvState.COLD, 1), at=6.0)
    frozen, invoke = t.bars()
    assert (frozen.kind, frozen.end, invoke.start) == ("frozen", 5.0, 5.0)


def test_a_frozen_environment_whose_processes_died_ends_its_frozen_bar():
    t = Timeline()
    t.apply(f.EnvironmentFrozen(("runtime",)), at=2.0)
    t.apply(f.StateChanged(EnvState.COLD, 1), at=3.0)
    assert t.bars()[0].end == 3.0


@pytest.mark.parametrize("phase", ["reset", "shutdown"])
def test_reset_and_shutdown_bars(phase):
    t = Timeline()
    t.apply(f.PhaseStarted(phase, "timeout", at=5.0))
    t.apply(f.PhaseEnded(phase, "success", 310.0, at=5.4))
    assert t.bars() == (TimelineBar(phase, phase, 5.0, 5.4, 310.0, "success", "timeout", reason="timeout"),)


def test_a_failed_phase_carries_its_error_type_and_a_held_shutdown_its_reason():
    # Data the explain bar reads, so that no reader has to take the detail line apart.
    t = Timeline()
    t.apply(f.PhaseStarted("invoke", RID, at=1.0))
    t.apply(_function_error(RID, "ValueError"), at=1.5)
    t.apply(f.PhaseEnded("invoke", "success", 500.0, at=1.5))
    assert of_kind(t, "invoke")[0].error_type == "ValueError"
    t.apply(f.PhaseStarted("invoke", "second-request", at=2.0))
    t.apply(f.PhaseEnded("invoke", "failure", 10.0, error_type="Runtime.ExitError", at=2.1))
    assert of_kind(t, "invoke")[1].error_type == "Runtime.ExitError"
    t.apply(f.BoundaryReached(Boundary.SHUTDOWN_START, held=True, detail="failure"), at=2.2)
    assert of_kind(t, "held")[0].reason == "failure"


def test_facts_without_a_time_go_at_the_latest_time_seen_unless_placed():
    t = Timeline()
    t.apply(f.PhaseStarted("invoke", RID, at=4.0))
    t.apply(f.EnvironmentFrozen(("runtime",)))
    assert of_kind(t, "frozen")[0].start == 4.0
    t.apply(f.EnvironmentThawed(("runtime",)), at=6.0)
    assert of_kind(t, "frozen")[0].end == 6.0
    t.apply(f.PhaseEnded("invoke", "success", 1.0, at=3.0))  # a fact's own time always wins over `at`
    assert of_kind(t, "invoke")[0].end == 4.0  # ...but never before the bar began


def test_unrelated_facts_change_nothing_and_bars_is_cached():
    t = Timeline()
    t.apply(f.PhaseStarted("invoke", RID, at=1.0))
    first = t.bars()
    t.apply(f.LogLine("platform", "START"))
    assert t.bars() is first


def test_memory_is_bounded_and_dropped_bars_are_counted():
    t = Timeline(max_bars=3)
    for i in range(5):
        t.apply(f.PhaseStarted("invoke", f"req-{i}", at=float(i)))
        t.apply(f.PhaseEnded("invoke", "success", 1.0, at=i + 0.5))
    assert [b.label for b in t.bars()] == ["req-2", "req-3", "req-4"]
    assert t.dropped == 2
    # A bar keeps its number when older ones are dropped: a selection made by it still names the same bar.
    assert [b.seq for b in t.bars()] == [3, 4, 5]


def test_the_default_bound_is_500():
    t = Timeline()
    for i in range(501):
        t.apply(f.EnvironmentFrozen(("runtime",)), at=float(i))
        t.apply(f.EnvironmentThawed(("runtime",)), at=i + 0.5)
    assert (len(t.bars()), t.dropped, t.bars()[0].start) == (500, 1, 1.0)


def test_marker_is_none_before_any_boundary():
    assert Timeline().marker() is None


# ---------------------------------------------------------------------- the real core's fact stream


class Run:
    """The pure core driven on a fake clock, every emitted fact folded into a Timeline as the host would."""

    def __init__(self, extensions: tuple[str, ...] = (), timeout_ms: int = 3000) -> None:
        config = EnvironmentConfig("fn", "app.handler", timeout_ms, 128, extension_names=extensions)
        ids = itertools.count(1)
        self.env = Environment(config, new_id=lambda: f"id-{next(ids)}")
        self.timeline = Timeline()
        self.mono = 100.0
        self._tokens = itertools.count(1)
        self.ext_ids: dict[str, str] = {}
        self.facts: list[object] = []

    def advance(self, ms: float) -> None:
        self.mono = round(self.mono + ms / 1000, 6)

    def feed(self, event: ins.Input) -> list:
        out = self.env.handle(event, ins.Instant(self.mono, int(self.mono * 1000)))
        for effect in out:
            if isinstance(effect, Emit):
                self.facts.append(effect.fact)
                self.timeline.apply(effect.fact, at=self.mono)
        return out

    def token(self) -> int:
        return next(self._tokens)

    def register(self, name: str) -> None:
        tok = self.token()
        out = self.feed(ins.ExtensionRegister(tok, name, ("INVOKE", "SHUTDOWN")))
        reply = next(e for e in out if isinstance(e, Reply) and e.token == tok)
        self.ext_ids[name] = dict(reply.headers)["Lambda-Extension-Identifier"]

    def ext_next(self, name: str) -> None:
        self.feed(ins.ExtensionNext(self.token(), self.ext_ids[name]))

    def runtime_next(self) -> None:
        self.feed(ins.RuntimeNext(self.token()))

    def gate(self) -> None:
        self.feed(ins.FunctionInitGate(self.token()))

    def invoke(self, rid: str) -> None:
        self.feed(ins.InvokeRequested(self.token(), ins.Invocation(rid, b"{}")))

    def respond(self, rid: str) -> None:
        self.feed(ins.RuntimeResponse(self.token(), rid, b'"ok"', "application/json"))

    def bars(self) -> list[tuple[str, str, float, Optional[float], Optional[float], Optional[str]]]:
        return [(b.kind, b.label, b.start, b.end, None if b.duration_ms is None else round(b.duration_ms, 3), b.status)
                for b in self.timeline.bars()]


def cold_start(run: Run, hold_at_runtime_ms: float = 0.0) -> None:
    if hold_at_runtime_ms:
        run.feed(ins.BreakpointsSet(frozenset({B.INIT_RUNTIME})))
    run.feed(ins.StartEnvironment())  # t=100.000
    run.advance(10)
    run.register("ext")  # 100.010: every extension registered -> INIT_RUNTIME
    run.ext_next("ext")
    if hold_at_runtime_ms:
        run.advance(hold_at_runtime_ms)
        run.feed(ins.ContinueRequested())
    run.advance(30)
    run.gate()  # runtime up, asks to import the handler -> INIT_FUNCTION
    run.advance(50)
    run.runtime_next()  # handler imported -> Init done -> frozen


def test_a_cold_start_then_an_invoke_from_the_real_core():
    run = Run(("ext",))
    cold_start(run)
    run.advance(1000)
    run.invoke("req-1")  # 101.090: thaw, deliver
    run.advance(12)
    run.respond("req-1")
    run.runtime_next()
    run.ext_next("ext")  # 101.102: invoke done -> frozen again
    assert run.bars() == [
        ("init", "init", 100.0, 100.09, 90.0, "success"),
        ("init step", "extension init", 100.0, 100.01, 10.0, None),
        ("init step", "runtime init", 100.01, 100.04, 30.0, None),
        ("init step", "function init", 100.04, 100.09, 50.0, None),
        ("frozen", "frozen", 100.09, 101.09, 1000.0, None),
        ("invoke", "req-1", 101.09, 101.102, 12.0, "success"),
        ("frozen", "frozen", 101.102, None, None, None),
    ]
    invoke = of_kind(run.timeline, "invoke")[0]
    assert invoke.detail == "12.0 ms · init 90.0 ms"  # the core reports no memory figure (yet)
    assert run.timeline.marker() == "invoke.done"


def test_time_held_at_a_breakpoint_is_a_held_bar_and_not_init_time():
    run = Run(("ext",))
    cold_start(run, hold_at_runtime_ms=60_000)
    init = of_kind(run.timeline, "init")[0]
    assert init.duration_ms == pytest.approx(90.0)  # the core's figure excludes the minute held
    assert init.end - init.start == pytest.approx(60.09)
    held = of_kind(run.timeline, "held")
    assert [(b.label, b.start, b.end) for b in held] == [("held at init.runtime", 100.01, 160.01)]
    steps = {b.label: (b.start, b.end) for b in of_kind(run.timeline, "init step")}
    assert steps["runtime init"] == (160.01, 160.04)
    assert steps["extension init"] == (100.0, 100.01)
    # the hold froze the extension: that is the held bar's time, not a frozen gap of Lambda's (a 0 ms frozen bar over
    # the hold was drawn before, and `[` stopped on it); the one frozen bar is the idle environment's after Init
    frozen = of_kind(run.timeline, "frozen")
    assert [(b.start, b.end) for b in frozen] == [(160.09, None)]


def test_a_timeout_resets_and_the_next_invoke_reinitialises_inside_itself():
    run = Run(timeout_ms=1000)
    run.feed(ins.StartEnvironment())
    run.advance(5)
    run.gate()
    run.advance(5)
    run.runtime_next()  # 100.010 Init done
    run.invoke("req-1")
    run.advance(1000)
    run.feed(ins.TimerFired("invoke"))  # 101.010: timeout -> reset
    run.feed(ins.ProcessExited(RUNTIME, 1, "signal: killed"))
    run.advance(500)
    run.invoke("req-2")  # 101.510: suppressed Init inside the invoke
    run.advance(20)
    run.gate()
    run.advance(20)
    run.runtime_next()
    run.advance(7)
    run.respond("req-2")
    run.runtime_next()  # 101.557
    kinds = [(k, label, status) for k, label, _, _, _, status in run.bars()]
    assert kinds == [
        ("init", "init", "success"),
        ("init step", "extension init", None),
        ("init step", "runtime init", None),
        ("init step", "function init", None),
        ("frozen", "frozen", None),  # Init done, frozen, thawed by the waiting invoke at the same instant
        ("invoke", "req-1", "timeout"),
        ("reset", "reset", "success"),
        # Its Init first, as Lambda logs INIT_START before START: the invoke bar came first, as if after it
        ("init", "init (suppressed, inside an invoke)", "success"),
        ("init step", "extension init", None),
        ("init step", "runtime init", None),
        ("init step", "function init", None),
        ("invoke", "req-2", "success"),
        ("frozen", "frozen", None),
    ]
    by_label = {b.label: b for b in run.timeline.bars()}
    assert by_label["req-1"].duration_ms == pytest.approx(1000.0)
    assert by_label["reset"].detail == "timeout"
    assert by_label["req-2"].duration_ms == pytest.approx(47.0)  # the re-init is billed inside the invoke
    assert by_label["init (suppressed, inside an invoke)"].duration_ms == pytest.approx(40.0)
    assert "cold" in by_label["req-2"].detail
    assert not [b for b in run.timeline.bars() if b.end is None and b.kind != "frozen"]


def test_shutdown_from_the_real_core():
    run = Run()
    run.feed(ins.StartEnvironment())
    run.gate()
    run.runtime_next()
    run.advance(100)
    run.feed(ins.ShutdownRequested())
    run.advance(3)
    run.feed(ins.ProcessExited(RUNTIME, 1, "signal: killed"))
    shutdown = of_kind(run.timeline, "shutdown")
    assert [(b.start, b.end, b.status, b.detail) for b in shutdown] == [(100.1, 100.103, "success", "spindown")]
    assert all(b.end is not None for b in run.timeline.bars())  # the frozen bar ended with the processes
    assert run.timeline.marker() == "shutdown.done"


# ---------------------------------------------------------------------- what happened, not what REPORT says


def _function_error(rid: str = RID, error_type: str = "ProgrammingError") -> f.InvocationCompleted:
    return f.InvocationCompleted(f.InvocationResult(rid, b'{"errorType": "x"}', function_error=True,
                                                    error_type=error_type))


@pytest.mark.parametrize("result_first", [True, False], ids=["result before REPORT", "REPORT before result"])
def test_a_handled_function_error_is_an_error_bar_whatever_report_says(result_first: bool):
    timeline = Timeline()
    timeline.apply(f.PhaseStarted("invoke", RID, at=1.0))
    closing = [report(status="success"), f.PhaseEnded("invoke", "success", 12.3, at=1.0123)]
    for fact in ([_function_error()] + closing) if result_first else (closing + [_function_error()]):
        timeline.apply(fact)
    [bar] = timeline.bars()
    assert bar.status == "error"
    assert "ProgrammingError" in bar.detail
    assert bar.handler_error  # the invoke itself succeeded: nothing was reset


def test_a_successful_result_and_another_requests_error_leave_the_bar_a_success():
    timeline = Timeline()
    timeline.apply(f.PhaseStarted("invoke", RID, at=1.0))
    timeline.apply(f.InvocationCompleted(f.InvocationResult(RID, b"{}")))
    timeline.apply(_function_error("someone-else"))
    timeline.apply(report(status="success"))
    timeline.apply(f.PhaseEnded("invoke", "success", 12.3, at=1.0123))
    assert [bar.status for bar in timeline.bars()] == ["success"]


def test_a_timeout_stays_a_timeout_though_its_result_is_a_function_error():
    timeline = Timeline()
    timeline.apply(f.PhaseStarted("invoke", RID, at=1.0))
    timeline.apply(f.PhaseEnded("invoke", "timeout", 1000.0, at=2.0))
    timeline.apply(_function_error(error_type="Sandbox.Timedout"))
    assert [(bar.status, bar.handler_error) for bar in timeline.bars()] == [("timeout", False)]
