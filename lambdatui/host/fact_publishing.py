"""The environment's facts, told to its listeners: what the core decided (its Emit effects) and what the host saw
(a child's lines, lambdatui's own notes, the debugger's record of the API), in the order they happened.

Part of `EnvironmentHost`: publishing also does what must happen as a fact is told (the function's buffered lines
before END, the runtime's memory for REPORT, the REPORT line itself, and the debugger's measurements).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Callable, Optional

import trio

from lambdatui.core import effects as fx
from lambdatui.core import platform_lines
from lambdatui.model import facts as f

FactListener = Callable[[f.Fact], None]


class FactPublishing:
    """Part of `EnvironmentHost`: it runs on the host's state (see host/environment_host.py).

    While a batch of inputs is carried out, what must happen as a fact is told happens at once (the function's
    lines drained, the runtime's memory read), but the listeners hear the batch's facts only once its answers are
    written (`hold_tells`): the runtime has its next event, and the caller its result, without waiting for the
    console, the telemetry, the fleet and the debugger to hear how the last invoke ended and the next began. They
    hear every fact, in order, before any other task runs."""

    _held: Optional[deque[tuple[f.Fact, bool]]] = None  # a batch's facts, and whether each wakes wait_changed()

    async def wait_changed(self) -> None:
        """Until the next fact."""
        self._change_waiters += 1
        try:
            await self._changed.wait()
        finally:
            self._change_waiters -= 1

    def subscribe(self, listener: FactListener) -> Callable[[], None]:
        # A tuple, replaced on change: publishing iterates it on every fact, and a listener may unsubscribe
        # while being called.
        self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            self._listeners = tuple(l for l in self._listeners if l is not listener)

        return unsubscribe

    def note(self, text: str) -> None:
        """A line of lambdatui's own in the log (something the host saw that no lifecycle rule decides)."""
        self._publish(f.LogLine(f.LAMBDATUI, text))

    def publish_own(self, fact: f.Fact) -> None:
        """A fact the host saw that no lifecycle rule decides (a streamed response's progress)."""
        self._publish(fact)

    def publish_exchange(self, fact: f.ApiExchanged) -> None:
        """The debugger's record of one API exchange: to the listeners only. Nothing waits on it, so no waiter is
        woken (a wake-up per exchange would cost the invoke more than the record itself)."""
        if self._held is not None:
            self._held.append((fact, False))
            return
        for listener in self._listeners:
            listener(fact)

    def _tell(self, fact: f.Fact) -> None:
        """To every listener, then wake whoever waits for a change (once the batch's answers are written, if one
        is being carried out)."""
        if self._held is not None:
            self._held.append((fact, True))
            return
        self._tell_now(fact, True)

    def _tell_now(self, fact: f.Fact, wakes: bool) -> None:
        for listener in self._listeners:
            listener(fact)
        if wakes and self._change_waiters:  # a fresh Event per fact would cost on every invoke, waited on or not
            self._changed.set()
            self._changed = trio.Event()

    def hold_tells(self) -> bool:
        """A batch of inputs begins: its facts are told by `tell_held`. False when facts are held already (a listener
        fed the batch while it heard the last one's): the batch's join them, in order, told by whoever holds them."""
        if self._held is not None:
            return False
        self._held = deque()
        return True

    def tell_held(self) -> None:
        try:
            self.tell_so_far()
        finally:
            self._held = None

    def tell_so_far(self) -> None:
        """The batch's facts held so far, told now (the caller writes the batch's answers first); the rest of the batch's
        are held as before (EnvironmentHost: a RenewSandbox, whose facts so far are the replaced environment's)."""
        held = self._held
        while held:
            self._tell_now(*held.popleft())

    def _publish_lines(self, read: f.LogLines, ended_life: bool = False) -> None:
        """A child's lines from one read, as one fact (never the platform's, which `_publish` looks into); an ended
        life's go in no invoke's log tail."""
        tail, default_id = self.tail, self._log_request_id
        if tail.wanted and not ended_life:  # a burst's 100,000 lines skip the tail when no caller asked for one
            for line in read.lines:
                tail.add(line.request_id or default_id, line)
        self._tell(read)

    def _publish(self, fact: f.Fact) -> None:
        kind = type(fact)  # one dispatch: this runs ~20 times an invoke
        if kind is f.LogLine:
            line: f.LogLine = fact  # type: ignore[assignment]
            if line.source == f.PLATFORM:
                if line.text.startswith("RESTORE_REPORT"):
                    self._drain_output()  # what the after-restore hooks printed is the restore's: it comes first
                elif line.text.startswith("END RequestId"):
                    # The function's own lines come before END, as in CloudWatch; one it left without its newline
                    # too, as this invoke's, not glued to the next invoke's first line. (Managed Instances run
                    # several invokes at once: an unfinished line there may be another's, still being written.)
                    self._drain_output(partial=not self.env.config.managed)
                elif line.request_id and line.text.startswith("START "):
                    # One invoke at a time, the lines that follow are its own, those read after its response too;
                    # side by side (Managed Instances), only while it runs alone (else each line says whose).
                    alone = not self.env.config.managed or len(self.env.runs) == 1  # type: ignore[attr-defined]
                    self._log_request_id = line.request_id if alone else None
            self.tail.add(line.request_id or self._log_request_id, line)
        elif kind is f.InvocationCompleted or kind is f.RuntimeDone:
            # What the function printed before it responded is in the pipe by now, maybe not read yet: it goes
            # first (before the result the caller gets, and its `function` records before platform.runtimeDone, as
            # in Lambda), whichever task runs first.
            self._drain_output()
        elif kind is f.InvokeReported:
            self._sample_runtime_memory()
            if fact.max_memory_used_mb is None:  # type: ignore[union-attr]  # (the core's own: out of memory)
                peak = self._runtime_peak_mb
                # The limit bounds what Lambda reports: a runtime's own peak beyond it counts pages the limit does
                # not (a shared library's, charged elsewhere), or it would not have lived.
                if peak is not None:
                    peak = min(peak, self.config.memory_mb)  # type: ignore[attr-defined]
                fact = dataclasses.replace(fact, max_memory_used_mb=peak)  # type: ignore[type-var]
        elif (kind is f.PhaseEnded and fact.phase == "init") or (  # type: ignore[union-attr]
            kind is f.ParticipantChanged and fact.participant == fx.RUNTIME and fact.state == "InitError"  # type: ignore[union-attr]
        ):
            # What Init printed is in the pipe by now, maybe not read yet: its lines come before its end
            # (platform.initRuntimeDone), not after the first invoke's platform.start; one it left without its newline
            # too, as END does for an invoke's.
            self._drain_output(partial=not self.env.config.managed)
            # While the runtime still lives: a failed Init's REPORT needs it, and the OOM kills counted so far are
            # settled (memory_limit.settle_ooms). After a good Init, the runtime's own high-water mark is left to
            # the first REPORT's read where its sandbox init tells each exit's peak (a runtime that dies in its first
            # invoke still reports Init's): ~30 µs of /proc off the event the runtime waits for, its caches cold.
            good = kind is f.PhaseEnded and fact.status == "success"  # type: ignore[union-attr]
            self._sample_runtime_memory(own_peak=not (good and self._sup.exits_tell_peaks()))  # type: ignore[attr-defined]
        self._tell(fact)
        if kind is f.InvokeReported:
            report: f.InvokeReported = fact  # type: ignore[assignment]
            self._publish(f.LogLine(f.PLATFORM, platform_lines.report(report), report.request_id))
            self._log_request_id = None
            if self.inspect:
                self._measure_memory("invoke", report.request_id)
                self._list_tmp(report.request_id, self._writers_with(report.request_id))
        elif self.inspect and kind is f.OverrunEnded:
            # A timed-out handler that ran on is done (Managed Instances): what it wrote meanwhile is listed as its own.
            overrun: str = fact.request_id  # type: ignore[attr-defined]
            self._list_tmp(overrun, self._writers_with(overrun))
        elif self.inspect and kind is f.PhaseEnded and fact.phase in ("init", "reset"):  # type: ignore[union-attr]
            if fact.phase == "init":  # type: ignore[union-attr]
                self._measure_memory("init", None)
            self._list_tmp(fact.phase)  # type: ignore[union-attr]

    def _writers_with(self, request_id: str) -> Optional[list[str]]:
        """Who may have written what changed in /tmp since the last listing, besides `request_id`'s handler: on Managed
        Instances, every invoke still running beside it (timed-out ones that run on too), which share /tmp (every
        invoke's end lists it, and every overrun's); None where `request_id` alone ran."""
        env = self.env
        if not env.config.managed:
            return None
        beside = [*env.runs, *sorted(env.overrunning - {request_id})]  # type: ignore[attr-defined]
        return [request_id, *beside] if beside else None
