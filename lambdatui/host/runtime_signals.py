"""Signals to the environment's processes, and the two our Python runtime understands beyond Lambda's.

STACK_DUMP makes our bootstrap dump every thread's stack (where a timed-out handler or Init hung) before the
kill that follows; EXIT_NOW makes it exit with the code the user injected (real-time signals: bootstrap/
private_signals.py says why). Part of `EnvironmentHost`.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Optional

from lambdatui.bootstrap.private_signals import EXIT_NOW, STACK_DUMP
from lambdatui.core import effects as fx
from lambdatui.core import inputs as ins
from lambdatui.host.stack_dump import wait_for_stack_dump, write_exit_code
from lambdatui.processes.supervisor import ProcessHandle
from lambdatui.run_folders import exit_file, stack_file


class RuntimeSignals:
    """Part of `EnvironmentHost`: it runs on the host's state (see host/environment_host.py)."""

    def _signal(self, key: str, sig: int) -> None:
        if key == fx.RUNTIME and self._signals_after_stacks is not None:
            self._signals_after_stacks.append(sig)
            return
        handle = self._handle(key)
        if handle is not None:
            self._sup.send_signal(handle, sig)
            return
        landing = self._landing.get(key)
        if landing is not None and landing[0] == self.env.generation and landing[1] != signal.SIGKILL:
            self._landing[key] = (landing[0], sig)  # sent once it exists (`_landed`): a SIGKILL is the last word

    def _freeze_or_thaw(self, effect: fx.Freeze | fx.Thaw) -> None:
        freezing = isinstance(effect, fx.Freeze)
        if effect.whole and self._sup.freeze_whole(freezing):
            # Through the cgroup's freezer: no process inside is signalled, as in Lambda. Those a signal stopped (the
            # user's freeze, thawed by the user meanwhile; the runtime's own stop after its stack dump) are the ones a
            # thaw resumes by signal, as the core asks.
            if not freezing:
                for key in self._stopped_by_signal.intersection(effect.participants):
                    self._stopped_by_signal.discard(key)
                    self._signal_group(key, thaw=True)
            return
        for key in effect.participants:
            if not effect.whole:
                (self._stopped_by_signal.add if freezing else self._stopped_by_signal.discard)(key)
            self._signal_group(key, thaw=not freezing)
        if effect.whole:  # the environment's freeze stops what left the participants' groups too
            self._stopped_by_signal.difference_update(() if freezing else effect.participants)
            (self._sup.freeze_strays if freezing else self._sup.thaw_strays)()

    def _signal_group(self, key: str, thaw: bool) -> None:
        handle = self._handle(key)
        if handle is not None:
            (self._sup.thaw if thaw else self._sup.freeze)(handle)

    def _starting(self, key: str, generation: int) -> None:
        """Process `key` of `generation` is being started, by a task that lands it later (`_landed`); a start of an
        earlier generation that never landed is forgotten."""
        if self._landing.get(key, (None, 0))[0] != generation:
            self._landing[key] = (generation, 0)

    def _landed(self, key: str, generation: int, handle: Optional[ProcessHandle]) -> None:
        """Process `key` of `generation` exists now (`handle`), or could not be started (None): a signal the core
        sent it while it was being started (a shutdown's SIGKILL, which found no process to end) reaches it now. A
        start of an earlier generation landing late leaves the current one's entry alone."""
        if self._landing.get(key, (None, 0))[0] != generation:
            return
        _, sig = self._landing.pop(key)
        if handle is not None and sig and generation == self.env.generation:
            self._sup.send_signal(handle, sig)

    def _exit_process(self, effect: fx.ExitProcess) -> None:
        handle = self._handle(effect.participant)
        if handle is None:
            return
        if effect.participant != fx.RUNTIME or not self.config.runtime.ours:
            self.note(f"An exit code can only be injected into lambdatui's Python runtime; "
                      f"{effect.participant} gets SIGKILL instead.")
            self._sup.kill(handle)
            return
        path = self._exit_file(self.env.generation)
        if not write_exit_code(path, effect.code):
            self.note(f"Could not write the exit code to {path} (the function replaced it with something that is "
                      "not a file?): the runtime gets SIGKILL instead.")
            self._sup.kill(handle)
            return
        self._sup.send_signal(handle, EXIT_NOW)

    def _exit_file(self, generation: int) -> Path:
        return exit_file(self.state_dir, generation)

    def _stack_file(self, generation: int) -> Path:
        return stack_file(self.state_dir, generation)

    def _stack_file_spawned(self, generation: int) -> None:
        """The runtime of Init `generation` has started with its stacks file: the one before it is over (nothing writes
        it any more), and a file each reset left would pile up for the environment's whole life (a bug hunt). One still
        being read goes when its reading ends."""
        before, self._stacks_generation = self._stacks_generation, generation
        if before is not None and before != generation and before not in self._stacks_reading:
            self._stack_file(before).unlink(missing_ok=True)

    def _capture_stacks(self, effect: fx.CaptureStacks) -> None:
        handle = self._handle(fx.RUNTIME)
        if handle is None or not self.config.runtime.ours or self._signals_after_stacks is not None:
            return
        self._signals_after_stacks = []
        # Our bootstrap stops itself once it has written the dump (bootstrap/loop.py), so a handler that returns
        # just past its deadline neither posts its response nor asks for the next event: Lambda kills the runtime at
        # the timeout, which never makes those calls (their refusals would end in a traceback of its own).
        self._sup.send_signal(handle, STACK_DUMP)
        if effect.thaw_first:
            self._sup.thaw(handle)
        assert self._nursery is not None
        generation = self.env.generation
        self._stacks_reading.add(generation)
        self._nursery.start_soon(self._collect_stacks, handle, generation, effect.request_id)

    async def _collect_stacks(self, handle: ProcessHandle, generation: int, request_id: str) -> None:
        path = self._stack_file(generation)
        try:
            text = await wait_for_stack_dump(path, lambda: handle.exited is not None,
                                             lambda: self._sup.is_stopped(handle))
        finally:
            self._stacks_reading.discard(generation)
            if generation != self._stacks_generation:  # a later runtime has started: this one's file is over
                path.unlink(missing_ok=True)
            held, self._signals_after_stacks = self._signals_after_stacks or [], None
            for sig in held:
                if handle.exited is None:
                    self._sup.send_signal(handle, sig)
            if signal.SIGKILL not in held and handle.exited is None:
                # It stopped itself after the dump (the signals held meanwhile, SIGTERM, went first): the core says
                # whether it goes on.
                self._stopped_by_signal.add(fx.RUNTIME)
                self.feed(ins.StacksDumped())
        if text:
            # Imported here: its patterns are compiled as it loads, and most runs never dump a stack.
            from lambdatui.model.stacks import parse_faulthandler

            self._publish(parse_faulthandler(text, request_id, self.sandbox.paths if self.sandbox else None))
