"""The recorded warm counter session (three invokes) with a past for each finished bar, as the host's history would
answer `snapshot(focus, as_of=seq)`: after invoke N, `invocations` is N (another int object each time), /tmp's
counter.txt holds N lines of 22 bytes, the result is invoke N's, and the log holds that invoke's own lines.
A bar before the first invoke shows Init's state: the module's counter at 0, no result."""

from __future__ import annotations

import dataclasses
from typing import Optional

from replay_backend import RecordedSession, ReplayBackend, load_session, replay

from lambdatui.model import facts as f
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.themes import DEFAULT_THEME

from replay_backend import REPO

COUNTER = REPO / "sample_functions" / "counter"


def _past(live: DebuggerSnapshot, seq: int, session: RecordedSession) -> DebuggerSnapshot:
    bar = next(b for b in live.timeline if b.seq == seq)
    invokes = [b for b in live.timeline if b.kind == "invoke" and b.end is not None and b.end <= (bar.end or 0)]
    n = len(invokes)
    assert live.globals is not None and live.tmp is not None and live.last_result is not None
    ids = list(dict.fromkeys(line.request_id for line in session.logs if line.request_id))  # in invoke order
    rid = ids[n - 1] if n else None
    entries = tuple(dataclasses.replace(e, repr=str(n), identity=1010 + n, change="replaced" if n else "new")
                    if e.name == "invocations" else dataclasses.replace(e, change="same" if n else "new")
                    for e in live.globals.entries)
    globals_ = dataclasses.replace(live.globals, phase="invoke" if n else "init", request_id=rid, entries=entries)
    tmp: Optional[f.TmpChanged] = None
    if n:
        (counter,) = live.tmp.entries
        tmp = dataclasses.replace(live.tmp, by=rid or "", entries=(dataclasses.replace(
            counter, size=22 * n, changed_by=rid or "", change="new" if n == 1 else "changed"),))
    else:
        tmp = dataclasses.replace(live.tmp, entries=(), by="init")
    result = (dataclasses.replace(live.last_result, request_id=rid,
                                  payload=f'{{"invocations": {n}, "tmp_lines": {n}, "cold": {str(n == 1).lower()}}}'
                                  .encode()) if n else None)
    report = dataclasses.replace(live.last_report, request_id=rid) if n and live.last_report else None
    if bar.kind == "invoke":
        logs = tuple(line for line in session.logs if line.request_id == rid)
    else:
        logs = () if n else tuple(line for line in session.logs if line.request_id is None)
    return dataclasses.replace(live, globals=globals_, tmp=tmp, last_result=result, last_report=report, logs=logs,
                               invocations=n, selected_bar=seq)


def warm_pasts(session: RecordedSession) -> dict[int, DebuggerSnapshot]:
    live = session.snapshot
    return {b.seq: _past(live, b.seq, session) for b in live.timeline if b.end is not None}


def travelling_app(made: Optional[list[ReplayBackend]] = None) -> LambdaTuiApp:
    session = load_session("warm")
    app = LambdaTuiApp(replay(session, made, pasts=warm_pasts(session)), code_dir=COUNTER, theme=DEFAULT_THEME)
    app.event_text = '{"n": 3}'
    app.event_source = "--event"
    return app
