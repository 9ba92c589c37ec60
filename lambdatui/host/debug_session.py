"""The controller over the fleet: commands in, facts out, and the snapshot the UI renders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional

import trio

from lambdatui import controller as c
from lambdatui.core import inputs as ins
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.host.fleet_host import FleetHost, Throttled
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import EnvState
from lambdatui.model.tmp_file import PART_BYTES, TmpFileView

# The debugger's views (timeline, snapshots, /tmp reads, API traffic) are imported where they are first needed:
# `invoke` and `serve` keep none (track=False) and read none, and their ~30 classes cost ~3 % of `invoke`'s start.
if TYPE_CHECKING:
    from lambdatui.model.api_traffic import ParticipantTraffic
    from lambdatui.model.debug_snapshot import DebuggerSnapshot
    from lambdatui.model.debug_state import DebugState


# The fleet's own lines kept to show an environment started later (start-up notes, throttles): bounded.
_FLEET_LINES_KEPT = 200


class DebugSession:
    """Implements `lambdatui.controller.Controller` for a `FleetHost`: one DebugState per environment."""

    def __init__(self, fleet: FleetHost, *, track: bool = True) -> None:
        """`track` keeps the views (timeline, logs, last result...) that snapshots show; headless serving skips
        it, since reducing every fact costs ~0.2 ms an invoke and nothing there reads a snapshot."""
        self.fleet = fleet
        self.states: dict[int, DebugState] = {}
        self._fleet_lines: list[f.Fact] = []
        self._unfed = 0  # submitted invokes whose task has not fed the core yet
        self._command_watchers: tuple[Callable[[c.Command], None], ...] = ()
        self._end_watchers: tuple[Callable[[], None], ...] = ()
        self.ending = False  # the session is ending: lambdatui quits or stops serving, and shuts the environment down
        self._literal_names: Optional[frozenset[str]] = None  # read from the handler's source once, when first needed
        self._shared_reports: tuple[f.GlobalsReported, ...] = ()  # what `_shared` was worked out from
        self._shared: Mapping[str, int] = {}
        if track:
            fleet.subscribe_numbered(self._track)

    def _track(self, number: int, fact: f.Fact) -> None:
        now = trio.current_time()
        if number == 0:
            self._fleet_lines = [*self._fleet_lines[-_FLEET_LINES_KEPT + 1:], fact]
            for state in self.states.values():
                state.apply(fact, now)
            return
        state = self.states.get(number)
        if state is None:
            state = self._new_state(number)
            for line in self._fleet_lines:
                state.apply(line, now)
        state.apply(fact, now)

    @property
    def host(self) -> EnvironmentHost:
        """env #1's host (or the first alive): what a single-environment client drives."""
        host = self.fleet.member(None)
        assert host is not None, "no environment is alive"
        return host

    @property
    def state(self) -> DebugState:
        """The views of env #1 (or the first alive)."""
        return self._state_of(self.host.sandbox_count)

    def _state_of(self, number: int) -> DebugState:
        state = self.states.get(number)
        return self._new_state(number) if state is None else state

    def _new_state(self, number: int) -> DebugState:
        from lambdatui.model.debug_state import DebugState

        state = self.states[number] = DebugState()
        return state

    def _target(self, number: Optional[int]) -> Optional[EnvironmentHost]:
        return self.fleet.member(number)

    # ------------------------------------------------------------------ Controller

    def submit(self, command: c.Command) -> None:
        # Watchers hear the command before the core does, so that a recorder places it before the facts it causes.
        for watcher in self._command_watchers:
            watcher(command)
        if isinstance(command, c.Invoke):
            self._unfed += 1
            self.fleet.start_soon(self._invoke, command)
        elif isinstance(command, c.SetBreakpoints):
            self.fleet.set_breakpoints(frozenset(command.boundaries))
        elif isinstance(command, c.Shutdown) and command.env is None:
            self.fleet.request_shutdown()
        elif isinstance(command, c.Shutdown):
            self.fleet.remove(command.env)
        else:
            host = self._target(command.env)
            if host is None and isinstance(command, c.NewEnvironment) and command.env is not None:
                self.fleet.not_replaced(command.env)
            elif (host is None and isinstance(command, c.InjectFault) and command.env is not None
                  and self.fleet.arm_for_unstarted(command.env, command.fault)):
                self.fleet.note(f"env #{command.env} is not started yet: {flt.describe(command.fault)} is armed for "
                                f"it, from its start.")
            elif host is None:
                self.fleet.note(f"No environment #{command.env}: the command was not carried out.")
            elif isinstance(command, c.Step):
                host.feed(ins.StepRequested())
            elif isinstance(command, c.Continue):
                host.feed(ins.ContinueRequested())
            elif isinstance(command, c.NewEnvironment):
                host.feed(ins.NewEnvironmentRequested())
            elif isinstance(command, c.InjectFault):
                host.feed(ins.FaultRequested(command.fault))
            else:  # pragma: no cover - the Command union is closed
                raise TypeError(f"unknown command {command!r}")

    def armed_faults(self) -> list[tuple[int, str]]:
        """Every fault armed and not fired yet, with its environment's number: each environment's, and those armed for
        an environment the fleet has not started (FleetHost.arm_for_unstarted)."""
        armed = [(host.sandbox_count, fault) for host in self.fleet.hosts()
                 for fault in host.env.armed_descriptions()]
        return armed + [(number, flt.describe(fault)) for number, fault in self.fleet.armed_for_unstarted()]

    def subscribe(self, listener: c.FactListener) -> Callable[[], None]:
        return self.fleet.subscribe(listener)

    def watch_commands(self, watcher: Callable[[c.Command], None]) -> Callable[[], None]:
        """Call `watcher` with every command submitted from now on, whoever submitted it; returns the unwatch."""
        self._command_watchers = (*self._command_watchers, watcher)

        def unwatch() -> None:
            self._command_watchers = tuple(w for w in self._command_watchers if w is not watcher)

        return unwatch

    def watch_end(self, watcher: Callable[[], None]) -> Callable[[], None]:
        """Call `watcher` once the session starts to end, before its final shutdown; returns the unwatch."""
        self._end_watchers = (*self._end_watchers, watcher)

        def unwatch() -> None:
            self._end_watchers = tuple(w for w in self._end_watchers if w is not watcher)

        return unwatch

    def end(self) -> None:
        """The session ends (the debugger quits, `serve` is stopped): its owner shuts the environment down next.

        Not a command, since no client asks for it: an invoke completed by that shutdown was not refused by
        anything the session did, and a recorder must tell the two apart.
        """
        if self.ending:
            return
        self.ending = True
        for watcher in self._end_watchers:
            watcher()

    def snapshot(self, focus: Optional[int] = None, as_of: Optional[int] = None) -> DebuggerSnapshot:
        from lambdatui.model.phase_history import snapshot_as_of

        host = self._target(focus) or self.host
        live = self._live_snapshot(host)
        return snapshot_as_of(live, self._state_of(host.sandbox_count), as_of)

    def past(self, live: DebuggerSnapshot, as_of: Optional[int]) -> DebuggerSnapshot:
        """`live` (a snapshot this session made) as of bar `as_of`'s end: needs no trio clock, unlike `snapshot`."""
        from lambdatui.model.phase_history import snapshot_as_of

        state = self.states.get(live.environment_number) if as_of is not None else None
        return live if state is None else snapshot_as_of(live, state, as_of)

    def _live_snapshot(self, host: EnvironmentHost) -> DebuggerSnapshot:
        from lambdatui.model.debug_snapshot import DebuggerSnapshot, FunctionInfo

        state = self._state_of(host.sandbox_count)
        config = host.config
        environment = host.snapshot()
        sandbox = host.sandbox
        return DebuggerSnapshot(
            function=FunctionInfo(
                name=config.name,
                handler=config.handler,
                code_dir=str(config.code_dir),
                runtime=config.runtime.description,
                timeout_s=config.timeout_s,
                memory_mb=config.memory_mb,
                extensions=config.extension_names,
                interpreter=config.runtime.interpreter,
                max_concurrency=host.env.config.max_concurrency or 0,
            ),
            environment=environment,
            environment_number=host.sandbox_count,
            sandbox_mode=sandbox.mode if sandbox else "tmpdir",
            sandbox_note=sandbox.panel_note if sandbox else None,
            globals=state.globals,
            tmp=state.tmp,
            timeline=state.timeline.bars(),
            marker=state.timeline.marker(),
            last_result=state.last_result,
            last_report=state.last_report,
            last_stacks=state.last_stacks,
            last_init_failure=state.last_init_failure,
            stream=state.stream,
            last_result_label=state.last_result_label,
            extensions=state.extensions.views(),
            memory=tuple(state.memory),
            armed_faults=environment.armed,
            logs=tuple(state.logs),
            invocations=host.env.invocations_done,
            environments=self.fleet.lines(),
            fleet=self.fleet.counters(),
            shared_init_values=self._shared_init_values(host),
        )

    def read_tmp_file(self, focus: Optional[int], path: str, offset: int = 0,
                      limit: int = PART_BYTES) -> TmpFileView:
        """Callable from any thread (the UI's worker): it only looks the environment up and reads files."""
        from lambdatui.host.tmp_reader import read_tmp_part

        host = self._target(focus)
        sandbox = host.sandbox if host is not None else None
        handle = sandbox.handle if sandbox is not None else None
        fd = handle.fd if handle is not None else None
        if fd is None:
            return TmpFileView(path, problem="that environment's /tmp is gone (it shut down)")
        try:
            # Our own copy of the handle: the environment may close its own while this thread still reads.
            own = os.dup(fd)
        except OSError:
            return TmpFileView(path, problem="that environment's /tmp is gone (it shut down)")
        try:
            return read_tmp_part(own, path, offset, limit)
        finally:
            os.close(own)

    def api_traffic(self, focus: Optional[int] = None) -> tuple[ParticipantTraffic, ...]:
        """Of the environment `snapshot` would show (none alive: the last one removed). Never an error: the traffic
        view asks a few times a second, whatever happens to the fleet meanwhile."""
        host = self._target(focus) or self.fleet.member(None)
        number = host.sandbox_count if host is not None else focus
        state = self.states.get(number) if number is not None else None
        return state.api_traffic.participants() if state is not None else ()

    # ------------------------------------------------------------------ the SnapStart uniqueness trap

    def _shared_init_values(self, host: EnvironmentHost) -> Mapping[str, int]:
        """For an environment restored from a snapshot: its globals that are the same in every live environment
        restored from that snapshot (the snapshot's own environment ran Init and is not one of them)."""
        from lambdatui.model.shared_init_values import shared_init_values

        source = host.restored_from
        if source is None:
            return {}
        focused = self._live_globals(host)
        if focused is None:
            return {}
        reports = [focused]
        for other in self.fleet.hosts():
            if other is not host and other.restored_from == source:
                report = self._live_globals(other)
                if report is not None:
                    reports.append(report)
        # Snapshots are taken far more often than globals are reported: work it out again only when a report is new.
        if len(reports) != len(self._shared_reports) or any(a is not b for a, b in zip(reports, self._shared_reports)):
            self._shared_reports = tuple(reports)
            self._shared = shared_init_values(reports, self._handler_literal_names(host))
        return self._shared

    def _live_globals(self, host: EnvironmentHost) -> Optional[f.GlobalsReported]:
        """The environment's latest globals report, if the process that made it still runs (a reset's are stale)."""
        state = self.states.get(host.sandbox_count)
        report = state.globals if state is not None else None
        env = host.env
        if report is None or report.generation != env.generation or env.state in (EnvState.COLD, EnvState.SHUT_DOWN):
            return None
        return report

    def _handler_literal_names(self, host: EnvironmentHost) -> frozenset[str]:
        """Names the handler module assigns from literals; read once per session (what Init ran is what the snapshot
        holds, even if the file is edited afterwards). Unreadable source excuses nothing."""
        from lambdatui.model.shared_init_values import handler_source_paths, literal_names

        if self._literal_names is None:
            self._literal_names = frozenset()
            for path in handler_source_paths(Path(host.config.code_dir), host.config.handler):
                try:
                    source = path.read_bytes()  # bytes: the parser honours a coding cookie, as the import did
                except OSError:
                    continue
                self._literal_names = literal_names(source)
                break
        return self._literal_names

    # ------------------------------------------------------------------ for headless clients (trio side)

    async def settled(self) -> None:
        """Until the lifecycle waits on the user or on an invoke, with every submitted command taken in."""
        while not (self._unfed == 0 and self.fleet.settled()):
            await self.fleet.wait_changed()

    async def invoke(self, event: bytes, request_id: Optional[str] = None) -> f.InvocationResult:
        """Run one invoke to its result (the environment may still be finishing it)."""
        result, _ = await self.fleet.invoke(event, request_id=request_id)
        return result

    async def _invoke(self, command: c.Invoke) -> None:
        def placed() -> None:
            self._unfed -= 1

        try:
            await self.fleet.invoke(command.event, request_id=command.request_id, on_placed=placed)
        except Throttled:
            pass  # the fleet said so in its own line; the fleet line counts it
