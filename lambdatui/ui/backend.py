"""What the UI needs from whatever runs the lifecycle: a controller, updates, and a way to stop.

The real one (lambdatui.host.bridge.HostGuest) runs the trio host as a guest on Textual's loop; tests pass
a backend that replays recorded snapshots. The UI imports neither.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Optional, Protocol

from lambdatui.controller import Controller
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.facts import Fact

OnReady = Callable[[Controller, Optional[str]], None]  # the controller, and the Invoke API address if served
OnUpdate = Callable[[DebuggerSnapshot, list[Fact]], None]
OnError = Callable[[BaseException], None]


class Backend(Protocol):
    def start(self, loop: asyncio.AbstractEventLoop) -> None: ...

    def stop(self) -> None: ...

    def stop_now(self) -> None:
        """As `stop`, without the graceful shutdown (a second quit): every process is killed at once."""

    def suspend(self, suspended: bool, then: Callable[[], None]) -> None:
        """Ctrl-Z (`suspended`) or `fg`: every environment held (frozen, its deadlines stopped) while the debugger is
        stopped; `then` runs on the loop once that is done."""

    def focus(self, number: int) -> None:
        """Show environment `number` in the updates from now on; its snapshot comes at once. The updates show
        one environment (`DebuggerSnapshot.environment_number`) and carry only its log lines (and the fleet's)."""

    async def wait_stopped(self) -> None: ...


BackendFactory = Callable[[OnReady, OnUpdate, OnError], Backend]
