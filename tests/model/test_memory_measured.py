"""Memory after each phase (issue 11): folded into the debugger's state and the timeline's bars."""

from __future__ import annotations

from lambdatui.model import facts as f
from lambdatui.model.debug_state import MAX_MEMORY_POINTS, DebugState
from lambdatui.model.timeline import INIT, INVOKE, memory_text


def measured(phase: str = "invoke", request_id: str | None = "r1", runtime: int | None = 40,
             environment: int | None = 44, limit: int = 128) -> f.MemoryMeasured:
    return f.MemoryMeasured(phase, request_id, runtime, runtime, environment, limit, "cgroup v1", at=1.0)


def test_memory_text_prefers_the_environment_and_falls_back_to_the_runtime():
    assert memory_text(measured(environment=44)) == "44/128 MB"
    assert memory_text(measured(environment=None, runtime=40)) == "40/128 MB"
    assert memory_text(measured(environment=None, runtime=None)) == "?/128 MB"


def test_the_state_keeps_the_runtimes_measurements_until_a_new_init():
    state = DebugState()
    state.apply(f.PhaseStarted("init", "init", 0.5))
    for n, rid in enumerate(("r1", "r2", "r3"), 1):
        state.apply(measured(request_id=rid, environment=20 + 25 * n))
    assert [m.environment_mb for m in state.memory] == [45, 70, 95]
    state.apply(f.PhaseStarted("init", "invoke", 2.0))  # a reset's re-init: a new runtime starts from scratch
    assert list(state.memory) == []


def test_the_state_keeps_a_bounded_number_of_measurements():
    state = DebugState()
    for n in range(MAX_MEMORY_POINTS + 10):
        state.apply(measured(request_id=f"r{n}", environment=n))
    assert len(state.memory) == MAX_MEMORY_POINTS
    assert state.memory[-1].environment_mb == MAX_MEMORY_POINTS + 9


def test_each_measurement_goes_on_its_phases_bar():
    state = DebugState()
    state.apply(f.PhaseStarted("init", "init", 1.0))
    state.apply(f.PhaseEnded("init", "success", 50.0, at=1.05))
    state.apply(measured("init", None, environment=20))
    for rid, mb in (("r1", 45), ("r2", 70)):
        state.apply(f.PhaseStarted("invoke", rid, 2.0))
        state.apply(f.InvokeReported(rid, 3.0, 3, 128, mb - 4, None, "success"))
        state.apply(f.PhaseEnded("invoke", "success", 3.0, at=2.1))
        state.apply(measured(request_id=rid, environment=mb))
    bars = state.timeline.bars()
    [init] = [b for b in bars if b.kind == INIT]
    assert init.detail.endswith("mem 20/128 MB")
    invokes = [b for b in bars if b.kind == INVOKE]
    assert [b.detail.rsplit(" · ", 1)[-1] for b in invokes] == ["mem 45/128 MB", "mem 70/128 MB"]
    assert invokes[1].detail.startswith("3.0 ms · 66 MB")  # REPORT's figures first
