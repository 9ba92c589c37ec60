"""A streamed response in the Result panel (lambda-spec §1.8): shown as it arrives, then how it ended; and a
function URL's invoke named by its method and path (the panel's title, the timeline's bar).

The snapshots are synthetic: the recorded warm counter session (tests/ui/sessions/warm.json), whose views are
folded again from made-up stream facts by the real reducer (`DebugState`), so that the panel renders exactly what
the host would hand it. `test_stream_ui_real.py` runs the real thing. Update the SVG with
`pytest tests/ui/test_result_stream.py --snapshot-update`, then look at it in `__snapshots__/test_result_stream/`
before accepting it (as for `test_snapshots.py`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Iterable

import pytest
from _host import SMALL, hosted, screen_text
from replay_backend import RecordedSession, load_session, replay
from test_snapshots import LARGE, SAMPLES, settled  # noqa: F401 - its autouse fixtures are imported below
from test_snapshots import no_cursor_blink, plain_terminal_environment, stopped_clock  # noqa: F401
from textual.widgets import Static

from lambdatui.model import facts as f
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.debug_state import DebugState
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.themes import DEFAULT_THEME
from lambdatui.ui.widgets import PhaseTimeline, ResultView

WARM = load_session("warm")
RID = "a3000000-0000-4000-8000-000000000003"  # the warm session's last invoke: its bar is on the timeline
NEW = "5f000000-0000-4000-8000-000000000004"  # an invoke after it, still streaming
LABEL = "GET /items"
ERROR = {"errorMessage": "failed after 2 chunks", "errorType": "StreamFailed"}


def folded(facts: Iterable[f.Fact], base: DebuggerSnapshot = WARM.snapshot) -> DebuggerSnapshot:
    """`base` with the views the facts make: result, report, stream, the invoke's name, the timeline."""
    state = DebugState()
    for fact in facts:
        state.apply(fact, 1000.0)
    return dataclasses.replace(
        base, last_result=state.last_result or base.last_result, last_report=state.last_report or base.last_report,
        stream=state.stream, last_result_label=state.last_result_label, memory=())


def began(rid: str = NEW, *, to_caller: bool = True, label: str = LABEL) -> list[f.Fact]:
    return [f.PhaseStarted("invoke", rid, 1000.0, label=label),
            f.ResponseStreamStarted(rid, "text/plain", to_caller, 4.5)]


def progress(rid: str, chunks: int, elapsed_ms: float) -> f.ResponseStreamed:
    return f.ResponseStreamed(rid, 8 * chunks, chunks, elapsed_ms, 1000.0 + elapsed_ms / 1000)


def ended(rid: str, result: f.InvocationResult, error_type: str | None = None, chunks: int = 2) -> list[f.Fact]:
    return [progress(rid, chunks, 50.6), f.ResponseStreamEnded(rid, 8 * chunks, error_type),
            f.InvocationCompleted(result),
            f.InvokeReported(rid, 52.0, 53, 128, 32, None, "success")]


def failed_mid_way(rid: str = RID) -> list[f.Fact]:
    """A URL invoke whose runtime streamed two chunks to the caller, then declared an error in its trailers."""
    result = f.InvocationResult(rid, json.dumps(ERROR).encode(), function_error=True, error_type="StreamFailed",
                                streamed=16)
    return [*began(rid), progress(rid, 1, 0.4), *ended(rid, result, "Function.StreamFailed")]


def panel(pilot) -> str:
    return screen_text(pilot)


pytestmark = pytest.mark.anyio


# ---------------------------------------------------------------------- as it arrives


async def test_a_stream_shows_as_it_arrives() -> None:
    first = folded([*began(), progress(NEW, 1, 0.4)])
    later = folded([*began(), progress(NEW, 1, 0.4), progress(NEW, 3, 100.5)])
    async with hosted(ResultView(), first) as pilot:
        text = panel(pilot)
        assert f"streaming…  {LABEL}  request 5f000000" in text
        assert "1 chunk · 8 B · text/plain" in text
        assert "first byte 4.5 ms · 0.40 ms/chunk avg" in text
        assert "to the caller as it arrives" in text
        assert '"invocations": 3' not in text and "Status success" not in text  # the last result is another's
        view: ResultView = pilot.app.widget  # type: ignore[assignment]
        view.show(later)
        await pilot.pause()
        text = panel(pilot)
        assert "3 chunks · 24 B · text/plain" in text and "first byte 4.5 ms · 33.5 ms/chunk avg" in text


async def test_a_stream_kept_for_a_buffered_caller_says_so_while_it_runs() -> None:
    async with hosted(ResultView(), folded(began(to_caller=False, label=""))) as pilot:
        text = panel(pilot)
        assert "streaming…  request 5f000000" in text  # no name: not a URL invoke
        assert "0 chunks · 0 B · text/plain" in text and "first byte 4.5 ms" in text and "/chunk" not in text
        assert "kept whole for a buffered caller" in text


# ---------------------------------------------------------------------- how it ended


async def test_a_buffered_callers_stream_ends_with_the_whole_text() -> None:
    result = f.InvocationResult(NEW, b"chunk 0\nchunk 1\n", "text/plain")
    snapshot = folded([*began(to_caller=False, label=""), *ended(NEW, result)])
    async with hosted(ResultView(), snapshot) as pilot:
        text = panel(pilot)
    assert "response  request 5f000000  text/plain" in text
    assert "2 chunks · 16 B · text/plain" in text and "25.3 ms/chunk avg" in text
    assert "chunk 0" in text and "chunk 1" in text
    assert "streaming" not in text and "streamed to the caller" not in text and "✗" not in text
    assert "Status success · Duration 52.00 ms" in text


async def test_a_stream_to_its_caller_ends_with_how_many_bytes_it_got() -> None:
    result = f.InvocationResult(NEW, b"", "text/plain", streamed=16)
    async with hosted(ResultView(), folded([*began(), *ended(NEW, result)])) as pilot:
        text = panel(pilot)
    assert f"response  {LABEL}  request 5f000000" in text
    assert "16 bytes streamed to the caller" in text and "2 chunks · 16 B" in text


async def test_a_caller_that_hung_up_mid_stream_is_said_while_it_runs_and_once_over() -> None:
    left = [*began(), progress(NEW, 1, 0.4), f.ResponseStreamCallerLeft(NEW, 8)]
    async with hosted(ResultView(), folded(left)) as pilot:
        text = panel(pilot)
        assert "caller hung up after 8 B: the rest read unpaced, dropped" in text
        assert "to the caller as it arrives" not in text
        view: ResultView = pilot.app.widget  # type: ignore[assignment]
        view.show(folded([*left, *ended(NEW, f.InvocationResult(NEW, b"", "text/plain", streamed=16))]))
        await pilot.pause()
        text = panel(pilot)
    assert "16 bytes streamed; the caller hung up after taking 8 B, the rest was dropped" in text
    assert "streamed to the caller" not in text


async def test_a_stream_its_caller_held_back_says_so_beside_the_timeout() -> None:
    timed_out = f.InvocationResult(NEW, b'{"errorMessage": "Task timed out after 1.00 seconds"}',
                                   function_error=True, error_type="Sandbox.Timedout", streamed=16)
    facts = [*began(), progress(NEW, 2, 0.8), f.ResponseStreamCallerStalled(NEW, 8), f.InvocationCompleted(timed_out)]
    async with hosted(ResultView(), folded(facts)) as pilot:
        text = panel(pilot)
    assert "its caller read no more after 8 B, holding the runtime back" in text


async def test_a_failure_mid_stream_is_marked_with_the_trailers_error() -> None:
    async with hosted(ResultView(), folded(failed_mid_way())) as pilot:
        text = panel(pilot)
        title = pilot.app.query_one("#result-title", Static)
        box = pilot.app.query_one("#result-stream", Static)
        assert title.has_class("-error")
        marks = [(str(box.visual)[span.start:span.end], str(span.style)) for span in box.visual.spans]
    assert f"function error: StreamFailed  {LABEL}  request a3000000" in text
    assert "✗ stream failed mid-way after 2 chunks (16 B)" in text
    assert "Function.StreamFailed · StreamFailed: failed after 2 chunks" in text
    assert '"errorMessage": "failed after 2 chunks"' in text  # the error the caller got, whole
    assert ("✗ stream failed mid-way after 2 chunks (16 B)", "bold $text-error") in marks
    assert "streamed to the caller" not in text  # the payload is the error


async def test_a_stream_cut_by_a_timeout_never_ended() -> None:
    result = f.InvocationResult(NEW, b'{"errorMessage":"Task timed out after 3.00 seconds","errorType":'
                                     b'"Sandbox.Timedout"}', function_error=True, error_type="Sandbox.Timedout",
                                streamed=8)
    snapshot = folded([*began(), progress(NEW, 1, 0.4), f.InvocationCompleted(result)])
    async with hosted(ResultView(), snapshot) as pilot:
        text = panel(pilot)
    assert "✗ stream never ended after 1 chunk (8 B)" in text
    assert "Sandbox.Timedout: Task timed out after 3.00 seconds" in text


async def test_an_invoke_that_did_not_stream_has_no_stream_rows() -> None:
    async with hosted(ResultView(), WARM.snapshot) as pilot:
        assert not pilot.app.query_one("#result-stream").display
        assert "chunk" not in panel(pilot)


async def test_the_failure_still_shows_at_100_columns() -> None:
    async with hosted(ResultView(), folded(failed_mid_way()), size=SMALL) as pilot:
        assert "✗ stream failed" in panel(pilot)


# ---------------------------------------------------------------------- a function URL's invoke, named


async def test_a_url_invoke_is_named_in_the_title_and_on_its_bar() -> None:
    result = f.InvocationResult(NEW, b'{"statusCode": 200}')
    state = DebugState()
    for fact in [f.PhaseStarted("invoke", NEW, 1000.0, label="POST /orders"), f.InvocationCompleted(result),
                 f.PhaseEnded("invoke", "success", 5000.0, at=1005.0)]:  # a bar wide enough for both
        state.apply(fact)
    snapshot = dataclasses.replace(WARM.snapshot, last_result=result, last_report=None, memory=(),
                                   last_result_label=state.last_result_label, timeline=state.timeline.bars())
    async with hosted(ResultView(), snapshot) as pilot:
        assert "response  POST /orders  request 5f000000" in panel(pilot)
    async with hosted(PhaseTimeline(), snapshot) as pilot:
        assert "POST /orders 5f000000" in panel(pilot)


async def test_a_narrow_url_bar_keeps_the_method_and_path() -> None:
    state = DebugState()
    for fact in [f.PhaseStarted("invoke", NEW, 1000.0, label="GET /a/rather/long/path/to/something"),
                 f.PhaseEnded("invoke", "error", 0.2, "Runtime.ExitError", at=1000.0002)]:
        state.apply(fact)
    snapshot = dataclasses.replace(WARM.snapshot, timeline=state.timeline.bars())
    async with hosted(PhaseTimeline(), snapshot) as pilot:
        text = panel(pilot)
    assert " GET /… ✗" in text  # the name first, cut to the bar, still marked failed


# ---------------------------------------------------------------------- the image


def test_a_mid_stream_failure_in_the_main_screen(snap_compare) -> None:
    """The warm counter session, whose last invoke (a3000000) was a function URL's "GET /items": its runtime
    streamed two chunks to the caller, then declared Function.StreamFailed in its trailers.

    Result panel: title "function error: StreamFailed  GET /items  request a3000000  application/json" in the
    error colour (cut at the panel's edge); under it "2 chunks · 16 B · text/plain", "first byte 4.5 ms · 25.3 ms/chunk avg", then in bold
    error colour "✗ stream failed mid-way after 2 chunks (16 B)" and "Function.StreamFailed · StreamFailed: failed
    after 2 chunks"; the REPORT line (Duration 52.00 ms); the error document {"errorMessage": "failed after 2
    chunks", "errorType": "StreamFailed"}. The timeline's last invoke bar, in the error colour, reads "GET /it… ✗"
    (the warm session's own 2.5 ms bar, renamed and failed: the name cut to the bar, still marked). The header says "✗ a3000000 function error: StreamFailed".
    The other panes are the warm session's.
    """
    snapshot = folded(failed_mid_way())
    timeline = tuple(dataclasses.replace(bar, caller=LABEL, status="error", error_type="StreamFailed")
                     if bar.label == RID[:8] else bar for bar in snapshot.timeline)  # as the reducer marks it
    app = LambdaTuiApp(replay(RecordedSession("stream_failed", dataclasses.replace(snapshot, timeline=timeline),
                                              WARM.logs)), code_dir=SAMPLES / "counter", theme=DEFAULT_THEME)
    app.event_text = '{"n": 3}'
    app.event_source = "--event"
    assert snap_compare(app, terminal_size=LARGE, run_before=settled)
