"""A `Backend` that replays a recorded session (tests/ui/sessions/<state>.json) into the real app.

No trio, no processes, no clock: the app gets a controller whose `snapshot()` is the recorded one and
whose `submit` only records the commands, then one update with the snapshot and the session's log
lines, exactly as `HostGuest` hands them over. The snapshot tests draw the same image on every run.

A fleet is replayed as one snapshot per environment (`others`, by number): `focus(N)` hands over env #N's at once,
with no log lines, as `HostGuest` does; the moves asked for are kept in `focused`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SESSIONS = HERE / "sessions"
if str(SESSIONS) not in sys.path:
    sys.path.insert(0, str(SESSIONS))

from codec import from_json_value  # noqa: E402
from lambdatui import controller as c  # noqa: E402
from lambdatui.model.api_traffic import ParticipantTraffic  # noqa: E402
from lambdatui.model.debug_snapshot import DebuggerSnapshot  # noqa: E402
from lambdatui.host.tmp_reader import read_tmp_part  # noqa: E402
from lambdatui.model.facts import LogLine  # noqa: E402
from lambdatui.model.tmp_file import PART_BYTES, TmpFileView  # noqa: E402
from lambdatui.ui.backend import BackendFactory, OnError, OnReady, OnUpdate  # noqa: E402

REPO_TOKEN = "$REPO"  # what the recorder wrote for the checkout (see sessions/record_sessions.py)


@dataclass(frozen=True)
class RecordedSession:
    name: str
    snapshot: DebuggerSnapshot
    logs: tuple[LogLine, ...]


def load_session(name: str) -> RecordedSession:
    """Read `sessions/<name>.json`, putting this checkout where the recorder wrote `$REPO`."""
    text = (SESSIONS / f"{name}.json").read_text(encoding="utf-8")
    text = text.replace(REPO_TOKEN, json.dumps(str(REPO))[1:-1])
    data = json.loads(text)
    snapshot = from_json_value(DebuggerSnapshot, data["snapshot"])
    logs = from_json_value(tuple[LogLine, ...], data["logs"])
    kept = logs[len(logs) - len(snapshot.logs):]
    if kept == snapshot.logs:
        # The host's snapshot keeps the very objects its facts carried (the log view skips a line object it has):
        # so does the replay.
        snapshot = dataclasses.replace(snapshot, logs=kept)
    return RecordedSession(name, snapshot, logs)


class ReplayController:
    """`lambdatui.controller.Controller` over a fixed snapshot; commands are kept for the test to read."""

    def __init__(self, snapshot: DebuggerSnapshot, tmp_root: Optional[Path] = None,
                 pasts: Mapping[int, DebuggerSnapshot] = {}) -> None:
        self._snapshot = snapshot
        self.tmp_root = tmp_root
        """A real directory standing for the environment's /tmp (a recording keeps no files); None: none."""
        self.tmp_reads: list[tuple[Optional[int], str, int, int]] = []
        self.pasts = pasts  # bar seq -> the snapshot as of its end (a test builds them); others: not kept
        self.commands: list[c.Command] = []
        self._listeners: list[c.FactListener] = []
        self.traffic: tuple[ParticipantTraffic, ...] = ()  # what `api_traffic` answers: a test sets it

    def submit(self, command: c.Command) -> None:
        self.commands.append(command)

    def subscribe(self, listener: c.FactListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def snapshot(self, focus: Optional[int] = None, as_of: Optional[int] = None) -> DebuggerSnapshot:
        past = self.pasts.get(as_of) if as_of is not None else None
        if past is None:  # live, or a bar whose state is not kept: the live snapshot, as the host answers
            return self._snapshot
        return dataclasses.replace(past, timeline=self._snapshot.timeline, selected_bar=as_of)

    def read_tmp_file(self, focus: Optional[int], path: str, offset: int = 0,
                      limit: int = PART_BYTES) -> TmpFileView:
        """Reads `tmp_root` as the host reads an environment's /tmp: by the same code, from a directory handle."""
        self.tmp_reads.append((focus, path, offset, limit))
        if self.tmp_root is None:
            return TmpFileView(path, problem="a replayed session keeps no /tmp files")
        fd = os.open(self.tmp_root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return read_tmp_part(fd, path, offset, limit)
        finally:
            os.close(fd)

    def api_traffic(self, focus: Optional[int] = None) -> tuple[ParticipantTraffic, ...]:
        return self.traffic


class ReplayBackend:
    """Implements `lambdatui.ui.backend.Backend`: ready at once, one update, nothing to stop."""

    def __init__(self, session: RecordedSession, on_ready: OnReady, on_update: OnUpdate, on_error: OnError,
                 others: Mapping[int, DebuggerSnapshot] = {}, tmp_root: Optional[Path] = None,
                 pasts: Mapping[int, DebuggerSnapshot] = {}, traffic: tuple[ParticipantTraffic, ...] = ()) -> None:
        self.session = session
        self.traffic = traffic
        self.others = others
        self.tmp_root = tmp_root
        self.pasts = pasts
        self.focused: list[int] = []
        self._on_ready = on_ready
        self._on_update = on_update
        self._on_error = on_error
        self.controller: Optional[ReplayController] = None
        self.stopped = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.controller = ReplayController(self.session.snapshot, self.tmp_root, self.pasts)
        self.controller.traffic = self.traffic
        self._on_ready(self.controller, None)
        self._on_update(self.session.snapshot, list(self.session.logs))

    def stop(self) -> None:
        self.stopped = True

    def stop_now(self) -> None:
        self.stopped = True

    def suspend(self, suspended: bool, then: Callable[[], None]) -> None:
        then()  # a recorded session has nothing running to hold

    def focus(self, number: int) -> None:
        self.focused.append(number)
        snapshot = self.others.get(number)
        if snapshot is None and number == self.session.snapshot.environment_number:
            snapshot = self.session.snapshot
        if snapshot is not None and self.controller is not None:
            self.controller._snapshot = snapshot
            self._on_update(snapshot, [])

    async def wait_stopped(self) -> None:
        return None


def replay(session: RecordedSession, made: Optional[list[ReplayBackend]] = None,
           others: Mapping[int, DebuggerSnapshot] = {}, tmp_root: Optional[Path] = None,
           pasts: Mapping[int, DebuggerSnapshot] = {},
           traffic: tuple[ParticipantTraffic, ...] = ()) -> BackendFactory:
    """A factory for `LambdaTuiApp`; `made` collects the backend it builds, for a test to inspect; `others` are the
    fleet's other environments' snapshots, by number; `tmp_root`, a directory the /tmp viewer reads as /tmp;
    `pasts` the focused one's snapshots as of some bars' ends, by seq; `traffic`, what its API traffic query answers."""

    def make(on_ready: OnReady, on_update: OnUpdate, on_error: OnError) -> ReplayBackend:
        backend = ReplayBackend(session, on_ready, on_update, on_error, others, tmp_root, pasts, traffic)
        if made is not None:
            made.append(backend)
        return backend

    return make
