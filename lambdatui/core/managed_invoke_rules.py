"""Invokes on Lambda Managed Instances (lambda-spec §11.3): one environment runs up to M of them at once.

The same `Environment` aggregate; these rules take over where the one-at-a-time ones would not do:
- in-flight invokes are keyed by request id (`runs`); the runtime's /next requests park side by side (`parked`),
  each taking the next event, and /response and /error find their invoke by its id (managed_runtime_rules.py);
- an invoke is done when the runtime answers it: no extension may subscribe to INVOKE here, so no extension's
  /next is awaited, and RAPID sends no platform.runtimeDone;
- nothing is frozen between invokes: the processes keep running while idle;
- every invoke has its own deadline; when it passes, the caller gets Lambda's timeout error and nothing is killed
  or reset: the handler runs on, its worker stays busy, and its late /response is refused (410 InvokeTimeout).

The state these rules run on is set up in `ManagedEnvironment.__init__` (core/managed_environment.py).
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Optional

from lambdatui.core import platform_lines as lines
from lambdatui.core.common import INIT_TIMER, JSON, SHUTDOWN_TIMER, error_body
from lambdatui.core.effects import RUNTIME
from lambdatui.core.inputs import Invocation, TimerFired, Token
from lambdatui.core.managed_workers import WORKER_TIMER_PREFIX, ManagedWorkers
from lambdatui.core.slots import InvokeRun
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary, EnvState, ShutdownReason

INVOKE_TIMER_PREFIX = "invoke:"  # one deadline per invoke: "invoke:<request id>"
# RAPID keeps the ids of recently timed-out invokes to answer their late /response with 410 (a bounded cache).
TIMED_OUT_KEPT = 1000


def invoke_timer(request_id: str) -> str:
    return INVOKE_TIMER_PREFIX + request_id


class ManagedInvokeRules(ManagedWorkers):
    """Part of `ManagedEnvironment`: it runs on the environment's state (see core/managed_environment.py)."""

    runs: dict[str, InvokeRun]
    parked: dict[Token, float]
    ready: deque[str]
    timed_out: dict[str, None]
    overrunning: set[str]
    orphaned: set[str]
    workers_lost: int
    returning: int
    boundary_backlog: deque[tuple[Boundary, str]]

    # ------------------------------------------------------------------ what routing asks (core/fleet_rules.py)

    def admitted(self) -> int:
        """Invokes that hold (or wait for) a worker: queued, running, and timed out but still running."""
        return len(self.queue) + len(self.runs) + len(self.overrunning)

    def capacity(self) -> int:
        """Workers the environment has: M, minus those our runtime reported gone (Lambda's own runtime does not
        replace a worker that died; a timed-out invoke whose worker died keeps its place in `overrunning`)."""
        return max(0, self.config.max_concurrency - self.workers_lost)

    def idle_workers(self) -> int:
        """Workers parked on /next that no invoke has been given yet: what an invoke routed here would start on at
        once (RAPID on Managed Instances refuses an invoke when no runtime waits on /next, lambda-spec §11.3)."""
        promised = len(self.queue) + len(self.ready) + sum(1 for run in self.runs.values() if not run.delivered)
        return max(0, len(self.parked) - promised)

    def events_pending(self) -> bool:
        return any(run.invocation.asynchronous for run in self.runs.values()) or any(
            inv.asynchronous for _, inv in self.queue)

    # ------------------------------------------------------------------ taking invokes

    def _try_start_next(self) -> None:
        """Give queued invokes to workers parked on /next, one INVOKE_START boundary each."""
        while self.queue and self.hold is None and self.shutdown is None and not self.expecting_exit:
            if self.state is EnvState.COLD and self.init is None:
                if self.renew_sandbox:
                    self._renew()
                # Managed Instances never re-initialise inside an invoke: every Init is a whole new start.
                self._begin_init("init")
                return
            if self.state is not EnvState.RUNNING or self.init is not None:
                return  # initialising: the invokes wait for it
            if not self.parked or self.ready:
                return  # every worker is busy: the invoke waits until one asks for work
            token, inv = self.queue.popleft()
            self.runs[inv.request_id] = InvokeRun(inv, token, self._now, self.held_total)
            self._reach(Boundary.INVOKE_START, inv.request_id)

    def _settle(self) -> None:
        """Idle or not, nothing is frozen on Managed Instances (lambda-spec §11.3): only queued invokes go on."""
        self._try_start_next()

    def _proceed(self, boundary: Boundary, detail: str = "") -> None:
        if boundary is Boundary.INIT_DONE:
            self._set_state(EnvState.RUNNING)  # and so it stays: serving, never frozen, until it ends
            self._settle()
        elif boundary is Boundary.INVOKE_START:
            run = self.runs.get(detail)
            if run is not None and not run.delivered:
                self._deliver_run(run)
            self._try_start_next()
        elif boundary is Boundary.INVOKE_RESPONSE:
            self._reach(Boundary.INVOKE_DONE, detail)  # nobody else is awaited: the invoke is done
        elif boundary is Boundary.INVOKE_DONE:
            self._settle()
        else:
            super()._proceed(boundary, detail)  # type: ignore[misc]

    def _at_boundary(self, boundary: Boundary, request_id: str) -> None:
        """Reach `boundary` for one invoke, or after the hold in place (another invoke's, or Init's) is released:
        a response racing the debugger's freeze is answered at once, its boundary comes in turn."""
        if self.hold is None:
            self._reach(boundary, request_id)
        else:
            self.boundary_backlog.append((boundary, request_id))

    def _check_invoke_done(self) -> None:
        """After a hold: the boundaries that waited for it, in order (each may hold in turn)."""
        while self.hold is None and self.boundary_backlog:
            boundary, request_id = self.boundary_backlog.popleft()
            self._reach(boundary, request_id)

    def _deliver_run(self, run: InvokeRun) -> None:
        token = self._asking_for(run)
        if token is not None:
            del self.parked[token]
            self._send_run(token, run)
        else:
            # Its worker hung up, or the one a replay names is busy: the next /next that may take it does.
            self.ready.append(run.invocation.request_id)

    def _send_run(self, token: Token, run: InvokeRun) -> None:
        """The event goes to one worker's /next; the invoke's own deadline starts (lambda-spec §4.4)."""
        inv = run.invocation
        self._thaw()  # only a debugger's hold freezes here, and it is over
        run.started = self._now
        run.held_before = self.held_total
        run.delivered = True
        run.delivered_at = self._mark()
        run.deadline_wall_ms = self._now.wall_ms + self.config.timeout_ms
        worker = self._worker_took(token, inv.request_id)
        self._line(lines.start(inv.request_id, self.config.function_version), request_id=inv.request_id)
        self._emit(f.PhaseStarted("invoke", inv.request_id, self._now.mono, inv.trace_id, inv.label, worker))
        self._start_timer(invoke_timer(inv.request_id), self.config.timeout_ms / 1000)
        self._send_event_to_runtime(token, run)
        self._participant_changed(RUNTIME, self.runtime.state, bool(self.parked))
        if self.timeout_on_delivery:  # forced while it was held before delivery: its own deadline, at once
            self.timeout_on_delivery = False
            self._force_deadline(invoke_timer(inv.request_id))

    # ------------------------------------------------------------------ ending invokes

    def _run_answered(self, run: InvokeRun, result: f.InvocationResult, status: str,
                      error_type: Optional[str]) -> None:
        """The runtime answered (/response or /error): the caller has it now, and the invoke is done."""
        run.result = result
        run.responded_at = self._mark()
        self.returning += 1  # its worker has its reply and asks for work again
        self._worker_answered(result.request_id)
        self._finish_run(run, status, error_type)
        self._at_boundary(Boundary.INVOKE_RESPONSE, result.request_id)

    def _finish_run(self, run: InvokeRun, status: str, error_type: Optional[str]) -> None:
        """END, REPORT, and the caller's answer. No Init Duration: these environments initialise ahead of traffic."""
        request_id = run.invocation.request_id
        self.runs.pop(request_id, None)
        self._cancel_timer(invoke_timer(request_id))
        duration = self._elapsed_ms(run.started, run.held_before) if run.delivered else 0.0
        self._line(lines.end(request_id), request_id=request_id)
        used = self.config.memory_mb if error_type == et.RUNTIME_OUT_OF_MEMORY else None
        self._emit(f.InvokeReported(request_id, duration, lines.billed_ms(duration), self.config.memory_mb, used, None,
                                    status, error_type, at=self._now.mono))
        self._emit(f.PhaseEnded("invoke", status, duration, error_type, at=self._now.mono, request_id=request_id))
        self.invocations_done += 1
        self._complete(run)

    def _on_TimerFired(self, event: TimerFired) -> None:
        if event.name.startswith(WORKER_TIMER_PREFIX):
            if self.timers.pop(event.name, None) is not None:
                self._worker_wait_over(event.name[len(WORKER_TIMER_PREFIX):])
            return
        if not event.name.startswith(INVOKE_TIMER_PREFIX):
            super()._on_TimerFired(event)  # type: ignore[misc]
            return
        if self.timers.pop(event.name, None) is None:
            return  # answered (or paused by a hold) after it fired
        run = self.runs.get(event.name[len(INVOKE_TIMER_PREFIX):])
        if run is not None and run.result is None:
            self._time_out(run)

    def _time_out(self, run: InvokeRun) -> None:
        """The caller gets Lambda's timeout error; the code is not stopped and the environment is not reset."""
        request_id = run.invocation.request_id
        self._line(lines.task_timed_out(self._now.wall_ms, request_id, self.config.timeout_ms / 1000),
                   request_id=request_id)
        run.result = f.InvocationResult(request_id, self._timeout_body(request_id), JSON, True, et.SANDBOX_TIMEDOUT)
        self.timed_out[request_id] = None
        while len(self.timed_out) > TIMED_OUT_KEPT:
            del self.timed_out[next(iter(self.timed_out))]
        orphaned = request_id in self.orphaned
        if orphaned:
            self.orphaned.discard(request_id)  # its worker is gone already: nothing runs on
            self._worker_gone(request_id=request_id)
        else:
            self.overrunning.add(request_id)  # its worker is still busy with it
            self._worker_overran(request_id)
        self._finish_run(run, "timeout", None)
        if orphaned:
            self._emit(f.OverrunEnded(request_id))  # nothing of it runs on: a recording and a replay wait for nothing
        if self.ready:
            self._place_ready()  # an invoke waiting for its worker now waits a bounded time (the handler may never end)
        if orphaned:
            self._line(f"Invoke {request_id} timed out: its caller has the timeout error; the worker that took it had "
                       "exited before answering, so nothing runs on (Lambda Managed Instances reset nothing).",
                       f.LAMBDATUI, request_id)
        else:
            self._line(f"Invoke {request_id} timed out: its caller has the timeout error, and the handler keeps "
                       "running (Lambda Managed Instances stop no code and reset nothing); its worker takes no other "
                       "invoke until it is done, and its late /response will be refused with 410 InvokeTimeout.",
                       f.LAMBDATUI, request_id)
        self._at_boundary(Boundary.INVOKE_DONE, request_id)

    def _force_timeout(self, fault: Optional[flt.Fault] = None) -> None:
        """The user forces a deadline: the oldest running invoke's, else Init's or the shutdown's."""
        names = [invoke_timer(rid) for rid, run in self.runs.items() if run.delivered and run.result is None]
        names = [name for name in names if self._deadline_running(name)]
        if not names:
            held = any(not run.delivered and run.result is None for run in self.runs.values())
            if held and not any(map(self._deadline_running, (INIT_TIMER, SHUTDOWN_TIMER))):  # type: ignore[attr-defined]
                # Held before delivery (at invoke.start): its deadline starts as the event goes out, and elapses then.
                if fault is not None:
                    self._injected(fault)  # type: ignore[attr-defined]  # FaultRules'
                self.timeout_on_delivery = True
                return
            super()._force_timeout(fault)  # type: ignore[misc]
            return
        if fault is not None:
            self._injected(fault)  # type: ignore[attr-defined]  # FaultRules'
        self._force_deadline(names[0])

    def _force_deadline(self, name: str) -> None:
        # A hold in place is another invoke's (a running one is never held: invoke.start is before its event, and
        # invoke.response after its answer), or Init's: it stays, and this invoke's invoke.done waits behind it.
        self.paused_timers.pop(name, None)
        self.timers[name] = self._now.mono
        self._on_TimerFired(TimerFired(name))

    def _fail_runs(self, error_type: str, detail: str, status: str = "error") -> None:
        """The environment ends under its invokes: each caller hears why (lambda-spec §4.5's error body)."""
        for run in list(self.runs.values()):
            request_id = run.invocation.request_id
            if not run.delivered:
                self._line(lines.start(request_id, self.config.function_version), request_id=request_id)
            self._line(lines.request_error(request_id, detail), request_id=request_id)
            run.result = f.InvocationResult(request_id, error_body(error_type, lines.request_error(request_id, detail)),
                                            JSON, True, error_type)
            if run.invocation.asynchronous and error_type == et.SANDBOX_FAILURE:
                self._event_not_run(run.invocation, "did not finish: its environment was shut down while it ran")
            self._finish_run(run, status, error_type)
        self.ready.clear()
        self.boundary_backlog.clear()

    def _begin_shutdown(self, reason: ShutdownReason, final: bool) -> None:
        if self.shutdown is None and self.runs:
            for run in self.runs.values():
                if run.result is None:
                    self._emit(f.InvokeCutOff(run.invocation.request_id))
            self._fail_runs(et.SANDBOX_FAILURE, "environment shut down", status="failure")
        super()._begin_shutdown(reason, final)  # type: ignore[misc]

    def _answer_queued(self, answer_for: Callable[[Invocation], tuple[bytes, str]], error_type: str) -> None:
        """Invokes that waited for an Init that failed: they hear its error, and run nowhere (none is retried)."""
        while self.queue:
            token, inv = self.queue.popleft()
            if inv.asynchronous:
                self._event_not_run(inv, "was not run: the environment it waited for failed to initialise")
            result = f.InvocationResult(inv.request_id, *answer_for(inv), True, error_type)
            self._complete(InvokeRun(inv, token, self._now, self.held_total, result=result))

