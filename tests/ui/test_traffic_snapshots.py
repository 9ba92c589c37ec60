"""SVG snapshot of the API traffic view (issue 15), over the traffic of `traffic_session.py` with its clock stopped.

Update with `pytest tests/ui/test_traffic_snapshots.py --snapshot-update`, then look at the SVG in
`__snapshots__/test_traffic_snapshots/` before accepting it (as for `test_snapshots.py`).
"""

from __future__ import annotations

import pytest
import traffic_session as ts
from replay_backend import load_session, replay
from test_snapshots import LARGE, SAMPLES, settled  # noqa: F401 - its autouse fixtures are imported below
from test_snapshots import no_cursor_blink, plain_terminal_environment, stopped_clock  # noqa: F401

from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens import api_traffic
from lambdatui.ui.themes import DEFAULT_THEME


@pytest.fixture(autouse=True)
def stopped_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_traffic, "wall_clock", lambda: ts.NOW)


def test_api_traffic_of_the_runtime(snap_compare) -> None:
    """`a` over the warm session: the API traffic view, env #1, the runtime's tab open (audit's beside it).

    The runtime's rows, in order: +0.062 s GET /2018-06-01/runtime/invocation/next 200, parked 2.0 s, "rid a1000000 ·
    deadline +3.0 s", body {"n": 1}; +2.024 s POST .../a1000000-.../response 202 with its body; +2.024 s POST
    /lambdatui/v1/globals 202 (dimmed: our bootstrap's own call); +2.500 s POST .../b0600000-.../response 400 in red,
    "error InvalidRequestID"; +3.800 s GET .../next "…" and "parked 1.2 s…" highlighted: it still waits.
    """
    app = LambdaTuiApp(replay(load_session("warm"), traffic=ts.traffic()), code_dir=SAMPLES / "counter",
                       theme=DEFAULT_THEME)
    app.event_source = "--event"
    assert snap_compare(app, press=["a"], terminal_size=LARGE, run_before=settled)
