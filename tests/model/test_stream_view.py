"""The debugger's view of a streamed response (DebugState.stream) and of an invoke's name (a function URL's
"GET /path"): folded from the facts, as the result panel and the timeline read them."""

from __future__ import annotations

from lambdatui.model import facts as f
from lambdatui.model import timeline as tl
from lambdatui.model.debug_snapshot import StreamView
from lambdatui.model.debug_state import MAX_LABELS, DebugState

RID = "5f000000-0000-4000-8000-000000000001"
OTHER = "5f000000-0000-4000-8000-000000000002"


def started(state: DebugState, rid: str = RID, label: str = "", to_caller: bool = True) -> None:
    state.apply(f.PhaseStarted("invoke", rid, 10.0, label=label))
    state.apply(f.ResponseStreamStarted(rid, "text/plain", to_caller, 4.5))


def test_a_stream_is_folded_as_it_arrives_then_as_it_ended():
    state = DebugState()
    started(state, label="GET /items")
    assert state.stream == StreamView(RID, "text/plain", True, 4.5, label="GET /items")
    state.apply(f.ResponseStreamed(RID, 8, 1, 0.5, 10.01))
    state.apply(f.ResponseStreamed(RID, 24, 3, 100.5, 10.11))
    assert (state.stream.size, state.stream.chunks, state.stream.elapsed_ms, state.stream.ended) == (24, 3, 100.5,
                                                                                                     False)
    assert state.stream.ms_per_chunk == 100.5 / 3
    state.apply(f.ResponseStreamEnded(RID, 24, None))
    assert state.stream.ended and state.stream.error_type is None and state.stream.size == 24
    state.apply(f.InvocationCompleted(f.InvocationResult(RID, b"", "text/plain", streamed=24)))
    assert state.stream is not None and state.last_result_label == "GET /items"


def test_progress_never_goes_back_and_a_strangers_progress_is_ignored():
    state = DebugState()
    started(state)
    state.apply(f.ResponseStreamed(RID, 24, 3, 100.0))
    state.apply(f.ResponseStreamed(RID, 8, 1, 1.0))  # late, out of order: the furthest stays
    state.apply(f.ResponseStreamed(OTHER, 999, 9, 9.0))
    state.apply(f.ResponseStreamEnded(OTHER, 999, "X"))
    assert (state.stream.size, state.stream.chunks, state.stream.ended) == (24, 3, False)
    assert StreamView(RID, "", False, 0.0).ms_per_chunk is None  # before the first chunk


def test_a_failed_stream_keeps_the_type_its_trailers_declared():
    state = DebugState()
    started(state)
    state.apply(f.ResponseStreamEnded(RID, 16, "Function.StreamFailed"))
    assert state.stream.ended and state.stream.error_type == "Function.StreamFailed"


def test_an_earlier_invokes_stream_is_let_go_when_a_later_one_ends():
    state = DebugState()
    started(state)
    state.apply(f.ResponseStreamEnded(RID, 16, None))
    state.apply(f.InvocationCompleted(f.InvocationResult(RID, b"", streamed=16)))
    state.apply(f.PhaseStarted("invoke", OTHER, 11.0))
    state.apply(f.InvocationCompleted(f.InvocationResult(OTHER, b'"plain"')))
    assert state.stream is None and state.last_result_label == ""


def test_a_stream_cut_by_its_invokes_end_is_let_go_after_the_next_invoke():
    state = DebugState()
    started(state)  # never ends: the invoke timed out mid-stream
    timed_out = f.InvocationResult(RID, b"{}", function_error=True, error_type="Sandbox.Timedout")
    state.apply(f.InvocationCompleted(timed_out))
    assert state.stream is not None and not state.stream.ended  # shown with that result
    state.apply(f.InvocationCompleted(f.InvocationResult(OTHER, b'"plain"')))
    assert state.stream is None


def test_a_stream_still_arriving_stays_while_another_invoke_ends():
    """A Managed Instance runs several invokes at once: one that does not stream may end meanwhile."""
    state = DebugState()
    started(state)
    state.apply(f.InvocationCompleted(f.InvocationResult(OTHER, b'"plain"')))
    assert state.stream is not None and state.stream.request_id == RID


def test_labels_are_bounded_and_name_the_timeline_bar():
    state = DebugState()
    for number in range(MAX_LABELS + 5):
        state.apply(f.PhaseStarted("invoke", f"req-{number}", float(number), label=f"GET /{number}"))
    assert len(state._labels) == MAX_LABELS and "req-0" not in state._labels
    last = MAX_LABELS + 4
    state.apply(f.InvocationCompleted(f.InvocationResult(f"req-{last}", b"{}")))
    assert state.last_result_label == f"GET /{last}"
    bar = [b for b in state.timeline.bars() if b.kind == tl.INVOKE][-1]
    assert (bar.label, bar.caller) == (f"req-{last}"[:8], f"GET /{last}")
