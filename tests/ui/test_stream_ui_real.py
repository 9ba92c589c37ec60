"""The Result panel over a real streamed response: the debugger, composed as `lambdatui PATH` composes it, on the
streaming sample (sample_functions/stream/bootstrap, a custom runtime), with real processes and real HTTP.

The sample holds its stream after chunk 0 until a gate file exists (`{"gate": FILE}`): the test opens the gate only
once the panel shows that chunk arriving, so "streaming…" is seen while the runtime is provably still streaming.
Every wait is bounded and on the state it means (the snapshot, the screen); nothing sleeps.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest
from _host import running_debugger, screen_text
from botocore.eventstream import EventStreamBuffer
from test_app_keys import SIZE, frozen_idle, held_at, shows, until
from textual.pilot import Pilot
from textual.widgets import Static

from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.tui import build_debugger
from lambdatui.ui.app import LambdaTuiApp

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parents[2]
STREAM = REPO / "sample_functions" / "stream" / "bootstrap"
HTTP_TIMEOUT = 30.0


@asynccontextmanager
async def debugging_the_stream_sample() -> AsyncIterator[Pilot]:
    """The debugger on the streaming sample, with its Invoke API served (port 0); Init run to frozen; quit at the
    end through the quit action, the only way out that stops the host."""
    config = resolve_function(str(STREAM), timeout_s=30)
    app = build_debugger(config, invoke_port=0)
    async with running_debugger(app, SIZE) as pilot:
        await until(pilot, held_at(Boundary.INIT_EXTENSIONS), "the cold start held at init.extensions")
        await pilot.press("c")
        await until(pilot, frozen_idle, "Init to finish and the environment to freeze")
        yield pilot


def invoke_from_the_panel(pilot: Pilot, event: dict) -> None:
    """What `e` then `i` do: the event panel's text, invoked (a buffered invoke, as the debugger's own are)."""
    app = pilot.app
    assert isinstance(app, LambdaTuiApp)
    app.event_text = json.dumps(event)
    app.action_invoke()


def invoke_with_response_stream(address: str, event: dict) -> list[tuple[str, bytes]]:
    """InvokeWithResponseStream on the debugger's Invoke API: its event-stream messages, (event type, payload)."""
    host, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
    try:
        connection.request("POST", "/2021-11-15/functions/function/response-streaming-invocations",
                           json.dumps(event).encode(), {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        buffer = EventStreamBuffer()
        buffer.add_data(response.read())
        return [(message.headers[":event-type"], message.payload) for message in buffer]
    finally:
        connection.close()


def arriving(snapshot: DebuggerSnapshot, chunks_sent: int) -> bool:
    """A stream is on its way and has brought `chunks_sent` of the sample's 8-byte chunks."""
    stream = snapshot.stream
    return stream is not None and not stream.ended and stream.size == 8 * chunks_sent


def answered(request_count: int):
    return lambda s: (s.invocations >= request_count and s.last_result is not None
                      and s.environment.current_request_id is None)


async def test_the_panel_shows_real_streams_as_they_arrive_and_how_they_ended(code_dir: Path) -> None:
    async with debugging_the_stream_sample() as pilot:
        app = pilot.app
        assert isinstance(app, LambdaTuiApp) and app.invoke_api

        # A buffered invoke (the debugger's own): the panel says "streaming…" while the runtime waits at its gate.
        gate = code_dir / "gate-1"
        invoke_from_the_panel(pilot, {"chunks": 3, "pause_ms": 0, "gate": str(gate)})
        await until(pilot, lambda s: arriving(s, 1), "chunk 0 to arrive")
        await shows(pilot, "streaming…", "8 B · text/plain", "first byte", "kept whole for a buffered caller")
        gate.touch()
        first = await until(pilot, answered(1), "the first stream's result")
        assert first.last_result is not None and first.last_result.payload == b"chunk 0\nchunk 1\nchunk 2\n"
        await shows(pilot, f"response  request {first.last_result.request_id[:8]}", "24 B · text/plain", "chunk 2",
                    "/chunk avg")
        assert "streaming…" not in screen_text(pilot)

        # A mid-stream failure: marked, with the error its trailers declared and the body's message.
        invoke_from_the_panel(pilot, {"chunks": 4, "pause_ms": 0, "fail_after": 2})
        failed = await until(pilot, answered(2), "the failed stream's result")
        assert failed.last_result is not None and failed.last_result.function_error
        # The panel is a third of 140 columns: its rows are cut at its edge, so the whole rows are read from it.
        await shows(pilot, "function error: StreamFailed", "✗ stream failed mid-way after", "Function.StreamFailed",
                    '"errorMessage": "failed after 2')
        title = str(app.query_one("#result-title", Static).visual)
        stream_rows = str(app.query_one("#result-stream", Static).visual)
        assert f"function error: StreamFailed  request {failed.last_result.request_id[:8]}" in title
        assert "2 chunks (16 B)\nFunction.StreamFailed · StreamFailed: failed after 2 chunks" in stream_rows

        # A caller that takes the stream (InvokeWithResponseStream on the debugger's Invoke API): its bytes went to
        # it as they arrived, so the panel says how many, and names the invoke.
        gate = code_dir / "gate-3"
        call = asyncio.create_task(asyncio.to_thread(
            invoke_with_response_stream, app.invoke_api, {"chunks": 2, "pause_ms": 0, "gate": str(gate)}))
        try:
            await until(pilot, lambda s: arriving(s, 1), "chunk 0 of the streaming invoke")
            await shows(pilot, "streaming…  InvokeWithRespon", "to the caller as it arrives")
        finally:
            gate.touch()
        messages = await asyncio.wait_for(call, HTTP_TIMEOUT)
        assert messages == [("PayloadChunk", b"chunk 0\n"), ("PayloadChunk", b"chunk 1\n"), ("InvokeComplete", b"{}")]
        third = await until(pilot, answered(3), "the streaming invoke's result")
        assert third.last_result is not None and third.last_result.streamed == 16
        await shows(pilot, "response  InvokeWithResponseStr", "16 bytes streamed to the caller")
        assert f"request {third.last_result.request_id[:8]}" in str(app.query_one("#result-title", Static).visual)
