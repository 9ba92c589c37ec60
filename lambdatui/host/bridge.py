"""The only trio <-> asyncio code: the trio host runs as a guest on Textual's asyncio loop.

Guest mode runs trio's scheduler in callbacks on the same thread as the UI, so nothing here needs a
lock, but trio functions (the host reads `trio.current_time()`) only work inside trio's own callbacks.
So the UI never calls into the host: commands go in through the trio token, and the host hands the UI
immutable snapshots and the new log lines, coalesced so that a burst of facts costs one repaint.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Optional

import trio

from lambdatui import controller as c
from lambdatui.config import FunctionConfig
from lambdatui.host.debug_session import DebugSession
from lambdatui.host.fleet_host import FleetOptions
from lambdatui.model import facts as f
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.runner import LOOPBACK, open_environment

REFRESH_S = 0.03  # at most ~30 snapshots a second, however fast facts arrive

# What the UI is handed: (snapshot, facts since the last update).
Update = Callable[[DebuggerSnapshot, list[f.Fact]], None]


class BridgedController:
    """A `Controller` for the UI side: commands cross into trio, snapshots come back."""

    def __init__(self, session: DebugSession, token: trio.lowlevel.TrioToken, first: DebuggerSnapshot) -> None:
        self._session = session
        self._token = token
        self._latest = first
        self._listeners: list[c.FactListener] = []

    def submit(self, command: c.Command) -> None:
        try:
            self._token.run_sync_soon(self._session.submit, command)
        except trio.RunFinishedError:
            pass  # the host is gone (quitting): nothing left to command

    def subscribe(self, listener: c.FactListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def snapshot(self) -> DebuggerSnapshot:
        return self._latest

    def deliver(self, snapshot: DebuggerSnapshot, facts: list[f.Fact]) -> None:
        """The host side hands over a new snapshot and the facts that led to it (trio context, same thread)."""
        self._latest = snapshot
        for fact in facts:
            for listener in list(self._listeners):
                listener(fact)


class HostGuest:
    """Runs one environment's host inside the asyncio loop the UI runs on, for the UI's lifetime."""

    def __init__(
        self,
        config: FunctionConfig,
        *,
        invoke_port: Optional[int] = None,
        invoke_host: str = LOOPBACK,
        on_ready: Callable[[BridgedController, Optional[str]], None],
        on_update: Update,
        on_error: Callable[[BaseException], None],
        start_held: bool = True,
        setup: Optional[Callable[[DebugSession], None]] = None,
        fleet: Optional[FleetOptions] = None,
    ) -> None:
        self.config = config
        self.fleet = fleet
        self.invoke_port = invoke_port
        self.invoke_host = invoke_host
        self._on_ready = on_ready
        self._on_update = on_update
        self._on_error = on_error
        self._start_held = start_held
        self._setup = setup
        self._body = trio.CancelScope()
        self._token: Optional[trio.lowlevel.TrioToken] = None
        self._done: Optional[asyncio.Future[None]] = None
        self.controller: Optional[BridgedController] = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._done = loop.create_future()
        trio.lowlevel.start_guest_run(
            self._main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=self._finished,
            host_uses_signal_set_wakeup_fd=True,  # asyncio owns the wakeup fd, so its signal handlers keep working
        )

    def stop(self) -> None:
        """Shut the environment down as Lambda does (SHUTDOWN to extensions), then end the guest run."""
        if self._token is None:
            return
        try:
            self._token.run_sync_soon(self._body.cancel)
        except trio.RunFinishedError:
            pass

    async def wait_stopped(self) -> None:
        if self._done is not None:
            await asyncio.shield(self._done)

    def _finished(self, outcome: object) -> None:
        error: Optional[BaseException] = getattr(outcome, "error", None)
        if error is not None and not isinstance(error, trio.Cancelled):
            self._on_error(error)
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with open_environment(
            self.config, invoke_host=self.invoke_host, invoke_port=self.invoke_port, inspect=True, fleet=self.fleet
        ) as running:
            session = running.session
            pending: list[f.Fact] = []
            wake = trio.Event()

            def collect(fact: f.Fact) -> None:
                pending.append(fact)
                wake.set()

            session.subscribe(collect)
            # The host said why /tmp is not private as it started, before anyone could subscribe: the session
            # kept those lines, and the log view (fed only by facts) must show them too.
            early = session.snapshot().logs
            if early:
                pending.extend(early)
                wake.set()
            controller = BridgedController(session, self._token, session.snapshot())
            self.controller = controller
            if self._setup is not None:
                # The trio-side controller: a listener there hears every fact as it happens, also the last ones
                # before a quit, which the coalesced updates to the UI may never carry.
                self._setup(session)
            if self._start_held:
                session.submit(c.Step())  # a newcomer sees the cold start from its first boundary
            self._on_ready(controller, running.invoke_api)
            running.host.start_environment()
            with self._body:
                while True:
                    await wake.wait()
                    await trio.sleep(REFRESH_S)  # coalesce a burst of facts into one update
                    wake = trio.Event()
                    batch = pending[:]
                    pending.clear()
                    snapshot = session.snapshot()
                    controller.deliver(snapshot, batch)
                    self._on_update(snapshot, batch)
