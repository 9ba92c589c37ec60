"""SVG snapshots of an extension's event view (issue 10), over the state `telemetry_session.py` folds from facts.

Update with `pytest tests/ui/test_extension_snapshots.py --snapshot-update`, then look at the SVG in
`__snapshots__/test_extension_snapshots/` before accepting it (as for `test_snapshots.py`).
"""

from __future__ import annotations

from replay_backend import RecordedSession, replay
from telemetry_session import activity_snapshot
from test_snapshots import LARGE, SAMPLES, settled  # noqa: F401 - its autouse fixtures are imported below
from test_snapshots import no_cursor_blink, plain_terminal_environment, stopped_clock  # noqa: F401

from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.themes import DEFAULT_THEME


def telemetry_app() -> LambdaTuiApp:
    app = LambdaTuiApp(replay(RecordedSession("telemetry", activity_snapshot(), ())), code_dir=SAMPLES / "extension",
                       theme=DEFAULT_THEME)
    app.event_source = "--event"
    return app


def test_extension_events_with_a_batch_open(snap_compare) -> None:
    """`v` on the extension sample's audit extension, warm after invoke a1000000, its invoke's batch opened.

    Above the list: "Telemetry API 2022-12-13: platform, function", "to HTTP POST
    http://sandbox.localdomain:4243/telemetry · buffering: maxItems 1000, maxBytes 256 KB, timeoutMs 100", and
    "Delivered 3 batches, 7 records, ... · 1 failed · 1 retry". The list, in order: 1 "init +30.0 ms" the batch the
    listener did not take (attempt 1, connection refused) in the error colour; 2 "init +50.0 ms" its retry (attempt
    2) with platform.initStart and platform.telemetrySubscription; 3 "invoke a1000000 +0.20 ms" INVOKE with the full
    request id; 4 "invoke a1000000 +104.0 ms" the batch of 4 records, opened: platform.start, function "handling one
    event", function "done", platform.runtimeDone; 5 "+210.0 ms" the platform.report batch.
    """
    assert snap_compare(telemetry_app(), press=["v", "down", "down", "down", "down", "enter"], terminal_size=LARGE,
                        run_before=settled)
