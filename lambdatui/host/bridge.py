"""The only trio <-> asyncio code: the trio host runs as a guest on Textual's asyncio loop.

Guest mode runs trio's scheduler in callbacks on the same thread as the UI, so nothing here needs a
lock, but trio functions (the host reads `trio.current_time()`) only work inside trio's own callbacks.
So the UI never calls into the host: commands go in through the trio token, and the host hands the UI
immutable snapshots and the new log lines, coalesced so that a burst of facts costs one repaint.

The UI shows one environment of the fleet at a time (its focus): the snapshots are that environment's, and of
the log lines only its own (and the fleet's) cross over, so a burst in another environment costs the UI nothing.
The focus follows the environment itself, not its number: one replaced by `NewEnvironment` gets a new number
and stays in focus; one that leaves the fleet hands the focus to the first one alive.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Awaitable, Callable, Optional, Sequence

import trio

from lambdatui import controller as c
from lambdatui.config import FunctionConfig
from lambdatui.host.debug_session import DebugSession
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.host.fleet_host import FleetHost, FleetOptions
from lambdatui.model import facts as f
from lambdatui.model.api_traffic import ParticipantTraffic
from lambdatui.model.boundaries import EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.tmp_file import PART_BYTES, TmpFileView
from lambdatui.runner import LOOPBACK, StopNow, open_environment

REFRESH_S = 0.03  # at most ~30 snapshots a second, however fast facts arrive
# In a burst (a function printing thousands of lines) each update re-renders the screen, which costs the UI's
# thread more than the lines themselves: after a batch this big, updates come at most ~6 times a second, so the
# keys the user presses meanwhile are answered and the burst ends sooner. Counted in facts and lines: a pipe's read
# is one fact (`LogLines`) of up to ~1,000 lines.
BURST_SIZE = 1000
BURST_REFRESH_S = 0.15
# An invoke's REPORT follows its result by a few milliseconds (its runtime's next /next): a step that follows an
# update whose step came after a quiet spell (no step for REFRESH_S; lines may have come) is handed over a frame of
# Textual's (MAX_FPS 60) after it, not REFRESH_S (the end of a 100,000-line burst showed up to 30 ms late: 1.47x its
# headless time, ~1.35x with this). Only then: a frame's pace for every step made a storm of invokes through --port
# draw ~50 updates a second, and cost the debugger's invokes two fifths of their rate (benchmarks/tui_storm.py).
STEP_REFRESH_S = 1 / 60
_LEAVING = (EnvState.SHUTTING_DOWN, EnvState.SHUT_DOWN)
_INVOKE_PATH = "/2015-03-31/functions/function/invocations"  # any function name reaches the debugger's function

_LINES = (f.LogLine, f.LogLines)


def batch_size(batch: list[f.Fact]) -> int:
    """How much a batch of facts carries: each fact one, a read's lines one each."""
    return sum(len(fact) if type(fact) is f.LogLines else 1 for fact in batch)  # type: ignore[arg-type]


# What the UI is handed: (snapshot of the focused environment, facts since the last update).
Update = Callable[[DebuggerSnapshot, list[f.Fact]], None]


class BridgedController:
    """A `Controller` for the UI side: commands cross into trio, snapshots come back."""

    def __init__(self, session: DebugSession, token: trio.lowlevel.TrioToken, first: DebuggerSnapshot) -> None:
        self._session = session
        self._token = token
        self._latest = first

    def submit(self, command: c.Command) -> None:
        try:
            self._token.run_sync_soon(self._session.submit, command)
        except trio.RunFinishedError:
            pass  # the host is gone (quitting): nothing left to command

    def subscribe(self, listener: c.FactListener) -> Callable[[], None]:
        """Every fact of every environment, as it happens. Guest mode runs the host on the UI's own thread, and
        subscribing only adds to a tuple, so this needs no hop into trio (the listener runs in trio's context)."""
        return self._session.subscribe(listener)

    def snapshot(self, focus: Optional[int] = None, as_of: Optional[int] = None) -> DebuggerSnapshot:
        """The latest snapshot delivered: the focused environment's (`HostGuest.focus` chooses it; a snapshot of
        another cannot be made outside trio's context, since the host reads trio's clock). With `as_of`, its panels
        as of that bar's end (the history is plain data: no trio needed)."""
        return self._session.past(self._latest, as_of)

    def read_tmp_file(self, focus: Optional[int], path: str, offset: int = 0,
                      limit: int = PART_BYTES) -> TmpFileView:
        """Straight to the session, on the caller's thread (a UI worker): reading a file needs no trio context."""
        return self._session.read_tmp_file(focus, path, offset, limit)

    def api_traffic(self, focus: Optional[int] = None) -> tuple[ParticipantTraffic, ...]:
        """Read on the UI's thread, which is the host's too (guest mode): a pure reducer's state, no trio needed."""
        return self._session.api_traffic(focus)

    def deliver(self, snapshot: DebuggerSnapshot) -> None:
        """The host side hands over a new snapshot (trio context, same thread)."""
        self._latest = snapshot


class HostGuest:
    """Runs the fleet's host inside the asyncio loop the UI runs on, for the UI's lifetime."""

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
        url_port: Optional[int] = None,
        notes: Sequence[str] = (),
    ) -> None:
        """`notes`: lambdatui's lines about the function's configuration (a template's value left out...), said
        before the screen opened: the log shows them first."""
        self.config = config
        self.notes = tuple(notes)
        self.fleet = fleet
        self.url_port = url_port  # the function URL's, on loopback
        self.invoke_port = invoke_port
        self.invoke_host = invoke_host
        self._on_ready = on_ready
        self._on_update = on_update
        self._on_error = on_error
        self._start_held = start_held
        self._setup = setup
        self._body = trio.CancelScope()
        self._stop_now = StopNow()  # a second quit: the shutdown stops waiting, every process is killed at once
        self._token: Optional[trio.lowlevel.TrioToken] = None
        self._done: Optional[asyncio.Future[None]] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.controller: Optional[BridgedController] = None
        # Trio-side state, touched only in trio's context (the run's tasks and run_sync_soon callbacks):
        self._fleet: Optional[FleetHost] = None
        self._focus: Optional[EnvironmentHost] = None  # the environment the snapshots show
        self._wake: Optional[trio.Event] = None  # set when there is something to deliver
        self._coalescing: Optional[trio.CancelScope] = None  # the pause that gathers a burst into one update
        self._urgent = False  # the focus changed: deliver without that pause, and none of the earlier lines
        self._delivered_at = float("-inf")  # trio's clock at the last update handed to the UI
        # When the first step of the lifecycle not yet delivered happened (None: only lines wait, if anything).
        self._first_step_at: Optional[float] = None
        self._step_delivered_at = float("-inf")  # trio's clock at the last update that carried a step
        self._after_quiet = False  # the last update carried a step that came after a quiet spell (`_step_due`)
        # What the shutdown at quit said of Event invokes it could not run: the screen is closing, so run_tui says
        # it on the terminal after (Lambda never drops an event it accepted without a word).
        self.events_not_run: list[str] = []

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._done = loop.create_future()
        trio.lowlevel.start_guest_run(
            self._main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=self._finished,
            host_uses_signal_set_wakeup_fd=True,  # asyncio owns the wakeup fd, so its signal handlers keep working
        )

    def stop(self) -> None:
        """Shut the environments down as Lambda does (SHUTDOWN to extensions), then end the guest run."""
        if self._token is None:
            return
        try:
            self._token.run_sync_soon(self._body.cancel)
        except trio.RunFinishedError:
            pass

    def stop_now(self) -> None:
        """As `stop`, without waiting for extensions: every process is SIGKILLed, and the run still removes its
        cgroups and folders (a second quit; abandoning the run instead left its folder to the next start)."""
        if self._token is None:
            return
        try:
            self._token.run_sync_soon(self._stop_now.event.set)
            self._token.run_sync_soon(self._body.cancel)
        except trio.RunFinishedError:
            pass

    def suspend(self, suspended: bool, then: Callable[[], None]) -> None:
        """Ctrl-Z (`suspended`) and `fg`: every environment is held (frozen, its deadlines stopped) before the debugger
        stops, and goes on once it is back, so that the stop costs the function no time; `then` runs on the loop
        once the host has done so (at once where there is no host)."""
        def carry_out() -> None:
            if self._fleet is not None:
                self._fleet.suspend(suspended)
            if self._loop is not None:
                self._loop.call_soon(then)

        if self._token is None:
            then()
            return
        try:
            self._token.run_sync_soon(carry_out)
        except trio.RunFinishedError:
            then()

    def focus(self, number: int) -> None:
        """Show environment `number` from now on: its snapshot arrives at once, with no log lines (the UI takes
        that environment's log from the snapshot). An environment no longer in the fleet changes nothing."""
        if self._token is None:
            return
        try:
            self._token.run_sync_soon(self._refocus, number)
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

    # ------------------------------------------------------------------ trio side

    def _refocus(self, number: int) -> None:
        assert self._fleet is not None and self._wake is not None
        host = self._fleet.member(number)
        if host is None or host is self._focus:
            return  # gone meanwhile, or shown already: the updates go on as they were
        self._focus = host
        self._urgent = True
        self._wake.set()
        if self._coalescing is not None:
            self._coalescing.cancel()

    def _on_snapshot(self) -> bool:
        """The focus is SnapStart's snapshot environment."""
        fleet = self._fleet
        return fleet is not None and fleet.options.snapstart and self._focus is not None and self._focus is fleet.first

    def _focused_number(self) -> Optional[int]:
        """The focused environment's number now; one that left the fleet hands the focus to the first alive (or,
        with none alive, to the last one removed, which shows SHUT DOWN)."""
        assert self._fleet is not None
        if self._focus is None or self._focus not in self._fleet.hosts():
            self._focus = self._fleet.member(None)
        return self._focus.sandbox_count if self._focus is not None else None

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._wake = trio.Event()
        async with open_environment(
            self.config, invoke_host=self.invoke_host, invoke_port=self.invoke_port, inspect=True, fleet=self.fleet,
            url_port=self.url_port, stop_now=self._stop_now, start_held=self._start_held,
        ) as running:
            session = running.session
            for note in self.notes:
                session.fleet.note(note)
            # Said in the log, where it stays: with --port 0 the log is where the user learns the port to call.
            if running.invoke_api is not None:
                session.fleet.note(f"Invoke API on http://{running.invoke_api}{_INVOKE_PATH}")
            if running.function_url is not None:
                session.fleet.note(f"function URL: http://{running.function_url}/")
            self._fleet = session.fleet
            self._focus = session.fleet.member(None)
            pending: list[f.Fact] = []

            def collect(number: int, fact: f.Fact) -> None:
                if type(fact) is f.EventNotRun and self._body.cancel_called:
                    self.events_not_run.append(fact.text)  # type: ignore[attr-defined]
                # Another environment's log lines never reach the UI: the log view shows the focused one's. Lines
                # said before a focus change are in that environment's snapshot (`logs`), which the UI then takes.
                if number and type(fact) in _LINES and (self._focus is None or number != self._focus.sandbox_count):
                    return
                if type(fact) is f.ApiExchanged:
                    return  # the traffic view asks for it (`api_traffic`): no snapshot is due for it
                pending.append(fact)
                assert self._wake is not None
                self._wake.set()
                if type(fact) is f.InvocationQueued and number and self._on_snapshot():
                    # SnapStart's snapshot takes no invoke: the debugger follows the invoke into the environment
                    # restored for it, where its result, its restore (failed or not) and its log are.
                    self._refocus(number)
                if type(fact) not in _LINES:
                    # A burst's slower pace is for its lines: a step of the lifecycle (the invoke's result, a hold)
                    # is what the user waits for, and is handed over as soon as the ceiling allows (`_step_due`).
                    if self._first_step_at is None:
                        self._first_step_at = trio.current_time()
                    if self._coalescing is not None:
                        self._coalescing.deadline = min(self._coalescing.deadline, self._step_due())

            session.fleet.subscribe_numbered(collect)
            # The lines said as the host started (why /tmp is not private...) are in the first snapshot's `logs`,
            # which the UI shows first.
            controller = BridgedController(session, self._token, session.snapshot(self._focused_number()))
            self.controller = controller
            if self._setup is not None:
                # The trio-side controller: a listener there hears every fact as it happens, also the last ones
                # before a quit, which the coalesced updates to the UI may never carry.
                self._setup(session)
            self._on_ready(controller, running.invoke_api)
            running.host.start_environment()
            with self._body:
                await self._deliver(session, controller, pending)

    async def _deliver(self, session: DebugSession, controller: BridgedController, pending: list[f.Fact]) -> None:
        """Hand the UI the focused environment's snapshot and the facts gathered, coalesced, until cancelled."""
        leaving = False  # an environment is on its way out of the fleet, or has just left it
        alive = seen = 0
        refresh_s = REFRESH_S
        while True:
            await self._news(leaving, seen)
            if not self._urgent:
                due = self._step_due() if self._first_step_at is not None else trio.current_time() + refresh_s
                with trio.move_on_at(due) as self._coalescing:
                    await trio.sleep_forever()  # coalesce a burst of facts into one update
                self._coalescing = None
            self._wake = trio.Event()
            urgent, self._urgent = self._urgent, False
            batch = pending[:]
            pending.clear()
            if urgent:
                # A new focus: lines gathered so far may be the previous environment's; the UI shows the new one's
                # from the snapshot.
                batch = [fact for fact in batch if type(fact) not in _LINES]
            refresh_s = BURST_REFRESH_S if batch_size(batch) >= BURST_SIZE else REFRESH_S
            seen = session.fleet.fleet_changes
            snapshot = session.snapshot(self._focused_number())
            first_step, self._first_step_at = self._first_step_at, None
            # Quiet: no step for REFRESH_S before this one (a burst's lines may have been handed over meanwhile).
            self._after_quiet = first_step is not None and first_step - self._step_delivered_at >= REFRESH_S
            self._delivered_at = trio.current_time()
            if first_step is not None:
                self._step_delivered_at = self._delivered_at
            controller.deliver(snapshot)
            self._on_update(snapshot, batch)
            # One more round once it has left: the fleet counts an idle shutdown only after the removal.
            leaving = len(snapshot.environments) < alive or any(line.state in _LEAVING for line in snapshot.environments)
            alive = len(snapshot.environments)

    def _step_due(self) -> float:
        """When an update carrying a step of the lifecycle (an invoke's result, a hold) is due: at once when the
        last update is REFRESH_S old, else REFRESH_S after it, or only a frame (STEP_REFRESH_S) after it when that
        one carried a step that came after a quiet spell (an invoke's result: its REPORT is due next). Lines gather
        for a pace from the first of them; a step is what the user waits for, and a pause to gather more after it
        only showed it later (the result of a 100,000-line burst, 30 ms after it came)."""
        return max(trio.current_time(), self._delivered_at + (STEP_REFRESH_S if self._after_quiet else REFRESH_S))

    async def _news(self, leaving: bool, seen: int) -> None:
        """Until there is something to deliver: a fact, a new focus, or (while an environment is on its way out) a
        change of the fleet itself. An environment leaves the fleet after its last fact: only the fleet can say so.
        The fleet is watched only then, because its waiters cost it a new trio.Event per log line; a change made
        since the last snapshot (`seen`), before this watch began, is news at once (its wake-up found no waiter)."""
        assert self._wake is not None and self._fleet is not None
        if not leaving:
            await self._wake.wait()
            return
        async with trio.open_nursery() as nursery:
            async def first_of(wait: Callable[[], Awaitable[object]]) -> None:
                await wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(first_of, self._wake.wait)
            nursery.start_soon(first_of, partial(self._fleet.wait_changed, seen))
