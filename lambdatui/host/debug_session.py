"""The controller over one environment host: commands in, facts out, and the snapshot the UI renders."""

from __future__ import annotations

from typing import Callable, Optional

import trio

from lambdatui import controller as c
from lambdatui.core import inputs as ins
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import facts as f
from lambdatui.model.debug_snapshot import DebuggerSnapshot, FunctionInfo
from lambdatui.model.debug_state import DebugState


class DebugSession:
    """Implements `lambdatui.controller.Controller` for an `EnvironmentHost`."""

    def __init__(self, host: EnvironmentHost, *, track: bool = True) -> None:
        """`track` keeps the views (timeline, logs, last result...) that snapshots show; headless serving skips
        it, since reducing every fact costs ~0.2 ms an invoke and nothing there reads a snapshot."""
        self.host = host
        self.state = DebugState()
        self._unfed = 0  # submitted invokes whose task has not fed the core yet
        self._command_watchers: tuple[Callable[[c.Command], None], ...] = ()
        self._end_watchers: tuple[Callable[[], None], ...] = ()
        self.ending = False  # the session is ending: lambdatui quits or stops serving, and shuts the environment down
        if track:
            host.subscribe(lambda fact: self.state.apply(fact, trio.current_time()))

    # ------------------------------------------------------------------ Controller

    def submit(self, command: c.Command) -> None:
        # Watchers hear the command before the core does, so that a recorder places it before the facts it causes.
        for watcher in self._command_watchers:
            watcher(command)
        if isinstance(command, c.Invoke):
            self._unfed += 1
            self.host.start_soon(self._invoke, command)
        elif isinstance(command, c.Step):
            self.host.feed(ins.StepRequested())
        elif isinstance(command, c.Continue):
            self.host.feed(ins.ContinueRequested())
        elif isinstance(command, c.SetBreakpoints):
            self.host.feed(ins.BreakpointsSet(frozenset(command.boundaries)))
        elif isinstance(command, c.NewEnvironment):
            self.host.feed(ins.NewEnvironmentRequested())
        elif isinstance(command, c.Shutdown):
            self.host.feed(ins.ShutdownRequested())
        elif isinstance(command, c.InjectFault):
            self.host.feed(ins.FaultRequested(command.fault))
        else:  # pragma: no cover - the Command union is closed
            raise TypeError(f"unknown command {command!r}")

    def subscribe(self, listener: c.FactListener) -> Callable[[], None]:
        return self.host.subscribe(listener)

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

    def snapshot(self) -> DebuggerSnapshot:
        host = self.host
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
            ),
            environment=environment,
            environment_number=host.sandbox_count,
            sandbox_mode=sandbox.mode if sandbox else "tmpdir",
            sandbox_note=sandbox.note if sandbox else None,
            globals=self.state.globals,
            tmp=self.state.tmp,
            timeline=self.state.timeline.bars(),
            marker=self.state.timeline.marker(),
            last_result=self.state.last_result,
            last_report=self.state.last_report,
            last_stacks=self.state.last_stacks,
            last_init_failure=self.state.last_init_failure,
            extensions=self.state.extensions.views(),
            memory=tuple(self.state.memory),
            armed_faults=environment.armed,
            logs=tuple(self.state.logs),
            invocations=host.env.invocations_done,
        )

    # ------------------------------------------------------------------ for headless clients (trio side)

    async def settled(self) -> None:
        """Until the lifecycle waits on the user or on an invoke, with every submitted command taken in."""
        while not (self._unfed == 0 and self.host.env.settled()):
            await self.host.wait_changed()

    async def invoke(self, event: bytes, request_id: Optional[str] = None) -> f.InvocationResult:
        """Run one invoke to its result (the environment may still be finishing it)."""
        result, _ = await self.host.invoke(event, request_id=request_id)
        return result

    async def _invoke(self, command: c.Invoke) -> None:
        self._unfed -= 1  # host.invoke feeds the core before its first checkpoint
        await self.host.invoke(command.event, request_id=command.request_id)
