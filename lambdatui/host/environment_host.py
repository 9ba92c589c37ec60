"""The trio host: feeds inputs to the pure core and carries out the effects it returns.

It is the only place that awaits on the lifecycle's behalf: parked HTTP requests are reply slots the
core answers later, deadlines are tasks on trio's clock, processes go through the supervisor.
"""

from __future__ import annotations

import base64
import itertools
import signal
import time
from collections import deque
from pathlib import Path
from typing import Awaitable, Callable, Optional

import trio

from lambdatui.config import FunctionConfig
from lambdatui.core import effects as fx
from lambdatui.core import inputs as ins
from lambdatui.core.environment import environment_for
from lambdatui.host.deadlines import Deadlines, calls_unheard
from lambdatui.host.early_start import EarlyStart
from lambdatui.host.launch import core_config, function_files, log_stream_name
from lambdatui.host.log_tail import LogTail
from lambdatui.host.debug_views import DebugViews
from lambdatui.host.environment_processes import EnvironmentProcesses
from lambdatui.host.fact_publishing import FactListener, FactPublishing
from lambdatui.host.response_stream import ResponseStream, StreamRegistry
from lambdatui.host.core_requests import CoreRequests, Slot
from lambdatui.host.runtime_signals import RuntimeSignals
from lambdatui.host.snapshot_restore import SnapshotRestore
from lambdatui.host.telemetry_delivery import TelemetryDelivery, translator
from lambdatui.ids import new_token, new_trace_id, new_uuid
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.fleet import LATEST_VERSION, MANAGED_NOTE, ON_DEMAND
from lambdatui.model.snapshot import EnvironmentSnapshot
from lambdatui.processes.exit_status import ExitStatus
from lambdatui.processes.sandbox import Sandbox
from lambdatui.processes.sandbox_hosts import HOST_LOOPBACK
from lambdatui.processes.snapshot_template import SnapshotTemplate
from lambdatui.processes.tree_removal import remove_tree_reporting
from lambdatui.processes.supervisor import ProcessHandle, Supervisor


class EventRefused(Exception):
    """An Event invoke the environment would not queue (its queue is full, or lambdatui is ending)."""

    def __init__(self, refusal: fx.EventRefusal, request_id: Optional[str] = None) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal
        self.request_id = request_id  # the id the log names it by: the caller's x-amzn-RequestId


class HandedBack(Exception):
    """An invoke offered to an environment finishing its last one that it did not take (core/offer_rules.py): the
    fleet routes it again."""


class EnvironmentHost(FactPublishing, CoreRequests, EnvironmentProcesses, SnapshotRestore, RuntimeSignals,
                      DebugViews):
    """One execution environment, served to real processes. Start it with `await nursery.start(host.run)`."""

    def __init__(self, config: FunctionConfig, state_dir: Path, *, inspect: bool = False,
                 init_type: str = ON_DEMAND, numbers: Optional[Callable[[], int]] = None, announce: bool = True,
                 max_concurrency: int = 0, restore_source: Optional[EnvironmentHost] = None,
                 run_dir: Optional[Path] = None, function_version: str = LATEST_VERSION) -> None:
        """`run_dir` is the run's folder, which holds `state_dir` (the fleet's) and stays writable for the processes
        (their stack dumps; a SnapStart copy's /tmp: any member's); `numbers` gives each new sandbox (the first, and
        one per new environment) its fleet-wide number, env #N;
        `init_type` is ON_DEMAND or PROVISIONED (initialised at allocation, lambda-spec §11.2); `max_concurrency` M
        makes it a Lambda Managed Instances environment that runs up to M invokes at once (§11.3); `function_version`
        is the version it runs, the fleet's (FleetOptions.function_version)."""
        # The layers' extensions join the function's own; zip layers are extracted into the run's folder, once.
        config, self.files, self._files_notes = function_files(config, state_dir, run_dir)
        self.config = config
        # The debugger's views (globals, /tmp listings): headless modes skip what they cost per invoke.
        self.inspect = inspect
        # SnapStart (lambda-spec §4.8): SNAP_START makes this the snapshot environment; `restore_source` (that
        # environment's host) makes this one restored from its snapshot.
        self.restore_source = restore_source
        # AWS_LAMBDA_METADATA_TOKEN: the environment's, for all its Inits; a restored copy's processes carry the
        # snapshot's, in their environment as it was taken.
        self.metadata_token = restore_source.metadata_token if restore_source is not None else new_token()
        self.template: Optional[SnapshotTemplate] = None  # the snapshot environment's runtime, once it runs ours
        self.env = environment_for(core_config(config, init_type, max_concurrency, restore_source is not None,
                                                 function_version))
        self.init_type = self.env.config.initialization_type  # AWS_LAMBDA_INITIALIZATION_TYPE
        self._rerun_said = False  # a restore that re-ran a runtime whose process cannot be copied said so
        self._tmp_restored: Optional[trio.Event] = None  # set once this sandbox's /tmp is the snapshot's copy
        self.announce = announce  # say what contains the processes: the fleet's first environment does, for all
        self._next_number = numbers or itertools.count(1).__next__
        self.state_dir = state_dir
        self.run_dir = run_dir or state_dir
        self.runtime_api = ""
        self.sandbox: Optional[Sandbox] = None
        self.sandbox_count = 0
        self._supervisor: Optional[Supervisor] = None
        self._nursery: Optional[trio.Nursery] = None
        self._tokens = itertools.count(1)
        self._slots: dict[int, Slot] = {}
        # Its sandbox API's open connections; in the debugger, a deadline waits for a call unread there.
        self.sandbox_connections: set = set()
        self._deadlines = Deadlines(lambda name: self.feed(ins.TimerFired(name)),
                                    calls_unheard(self.sandbox_connections) if inspect else None)
        self._processes: dict[str, tuple[int, ProcessHandle]] = {}
        # Processes still being started (a restore's), by key: their generation, and a signal sent meanwhile (0: none)
        self._landing: dict[str, tuple[int, int]] = {}
        self._settling: Optional[list[fx.Spawn]] = None  # spawns waiting for a reset's next sandbox init, in order
        self._inbox: deque[ins.Input] = deque()
        self._feeding = False
        self._answers_now: list[tuple[Callable[[object], None], object]] = []  # _Slot.now's, until the batch's end
        self._listeners: tuple[FactListener, ...] = ()
        self._log_request_id: Optional[str] = None
        self._runtime_peak_mb: Optional[int] = None  # last VmHWM seen: a crashed runtime has no /proc left
        self._stream = log_stream_name(function_version)
        self.tail = LogTail()
        self._changed = trio.Event()  # set on a fact while someone waits in wait_changed()
        self._change_waiters = 0
        self._signals_after_stacks: Optional[list[int]] = None  # held back until a timed-out runtime's stacks are dumped
        self._stacks_generation: Optional[int] = None  # the Init generation whose runtime's stacks file is the live one
        self._stacks_reading: set[int] = set()  # generations whose stacks file is being read (runtime_signals.py)
        # Participants stopped by a signal (a user's freeze, the runtime's own stop after its stack dump), which the
        # cgroup's thaw does not resume (runtime_signals.py).
        self._stopped_by_signal: set[str] = set()
        self._last_globals: Optional[f.GlobalsReported] = None
        self._last_tmp: Optional[f.TmpChanged] = None
        self.streams = StreamRegistry()  # invokes whose caller takes a streamed response
        self._early: Optional[EarlyStart] = None  # its sandbox and runtime, started ahead, until its Init adopts them
        self._began_ahead = False  # its Init began with its run (its runtime was started ahead)

    # ------------------------------------------------------------------ lifetime

    async def run(self, runtime_api: str, *, early: Optional[EarlyStart] = None,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the processes until cancelled; `runtime_api` is the host:port the API server listens on. `early`: the
        sandbox and runtime started ahead of the trio run (host/early_start.py), which this host adopts."""
        self.runtime_api = runtime_api
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if early is not None:
                    self._stream, self._early, self.metadata_token = early.stream, early, early.metadata_token
                self.subscribe(TelemetryDelivery(translator(self.env.config, self.function_env(), self._stream),
                                                 self._publish, self.start_soon, self._sandbox_loopback))
                for text in self._files_notes if self.announce else ():
                    self.note(text)
                if self.announce and self.env.config.managed:
                    self.note(MANAGED_NOTE.format(m=self.env.config.max_concurrency))
                self._renew_sandbox(early.settled_sandbox() if early is not None else None)
                nursery.start_soon(self._deadlines.run)
                if early is not None:
                    self._supervisor = early.hand_over(self._on_lines, self._on_exit)  # type: ignore[arg-type]
                else:
                    supervisor = Supervisor(nursery, self.sandbox, self._on_lines, self._on_exit,  # type: ignore[arg-type]
                                            own_cgroup=True, memory_mb=self.config.memory_mb, oom_victim=fx.RUNTIME,
                                            wait_init=False)
                    self._supervisor = supervisor
                    await supervisor.finish_init_off_loop()
                if self.announce:
                    self.note(self._supervisor.containment())
                if early is not None and early.runtime is not None:
                    self.start_environment()  # its runtime runs already, and may call before anyone starts it
                    self._began_ahead = True
                task_status.started()
                await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                if self._supervisor is not None:
                    await self._supervisor.aclose()
                if self.sandbox is not None:
                    self.sandbox.close()
                # Iterative: a /tmp nested deeper than the recursion limit must not crash the exit. What cannot
                # go stays, and the next start removes it or says why in one line.
                remove_tree_reporting(self.state_dir)

    @property
    def restored_from(self) -> Optional[int]:
        """The number of the snapshot environment this one was restored from (None: not restored)."""
        return self.restore_source.sandbox_count if self.restore_source is not None else None

    def start_environment(self) -> None:
        if self._began_ahead:
            return  # its Init began with its run: a second one, after that one failed, would be one too many
        early = self._early
        if early is None or early.runtime is None:
            self.feed(ins.StartEnvironment())
            return
        # Its Init began when its runtime was started, ahead of this run: that instant on trio's clock.
        since = ins.Instant(trio.current_time() - (time.perf_counter() - early.started), early.started_wall_ms)
        self.feed(ins.StartEnvironment(since))

    def function_env(self) -> dict[str, str]:
        """The function's own variables, with what the mode imposes: Managed Instances log JSON (lambda-spec §11.3)."""
        if self.env.config.managed:
            return {**self.config.env, "AWS_LAMBDA_LOG_FORMAT": "JSON"}
        return dict(self.config.env)

    def _sandbox_loopback(self) -> str:
        """Where its sandbox names resolve now: a new environment (`N`) has a new sandbox, and a new address."""
        return self.sandbox.loopback if self.sandbox is not None else HOST_LOOPBACK

    def worker_exited(self, pid: int, code: Optional[int], signal_number: Optional[int],
                      request_id: Optional[str]) -> None:
        """Our runtime's parent says one of its workers ended (Managed Instances; api/private_routes.py)."""
        description = ExitStatus(code, signal_number).describe()
        self.feed(ins.WorkerExited(self.env.generation, pid, code, description, request_id))

    async def shutdown(self) -> None:
        """Spin down as Lambda does (SHUTDOWN to extensions within the budget) and wait until it is done."""
        self.feed(ins.ShutdownRequested())
        with trio.move_on_after(10):  # the longest budget is 2 s; never hang the exit
            await self.wait_for_state(EnvState.SHUT_DOWN)

    async def drain_events(self, grace_s: float) -> None:
        """Before a shutdown: take no more invokes, answer the synchronous ones still queued, and let the Event
        invokes already accepted run, for `grace_s` at most (the shutdown then names those left)."""
        self.feed(ins.DrainRequested())
        with trio.move_on_after(grace_s):
            while self.env.events_pending():
                await self.wait_changed()

    async def wait_for_state(self, *states: EnvState) -> None:
        while self.env.state not in states:
            await self.wait_changed()

    def snapshot(self) -> EnvironmentSnapshot:
        return self.env.snapshot(trio.current_time())

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        """Run a task for as long as the host runs (used by the controller for invokes it submits)."""
        assert self._nursery is not None, "the host is not running"
        self._nursery.start_soon(fn, *args)

    # ------------------------------------------------------------------ inputs

    def _instant(self) -> ins.Instant:
        return ins.Instant(trio.current_time(), int(time.time() * 1000))

    def feed(self, event: ins.Input) -> None:
        self._inbox.append(event)
        if self._feeding:
            return  # an effect fed an input back: it runs after the current batch, in order
        self._feeding = True
        holding = self.hold_tells()
        try:
            while self._inbox:
                for effect in self.env.handle(self._inbox.popleft(), self._instant()):
                    if type(effect) is fx.Emit:
                        self._publish(effect.fact)  # type: ignore[attr-defined]
                    else:
                        self._carry_out(effect)
        finally:
            self._feeding = False
            self._write_answers()
            if holding:
                self.tell_held()

    async def invoke(
        self, payload: bytes, *, client_context: Optional[str] = None, trace_id: Optional[str] = None,
        wants_log_tail: bool = False, asynchronous: bool = False, request_id: Optional[str] = None,
        stream: Optional[ResponseStream] = None, label: str = "", qualifier: str = "",
        on_result: Optional[Callable[[f.InvocationResult], None]] = None, worker: int = 0, offer_s: float = 0.0,
        retry: int = 0,
    ) -> tuple[f.InvocationResult, Optional[str]]:
        """Run one invoke; returns its result and, when asked, the base64 log tail.

        An asynchronous (Event) invoke returns once queued, with an empty result; raises EventRefused instead
        when it cannot be queued. With `stream`, a runtime's streamed response goes there as it arrives (the
        result then keeps none of it, only how it ended); `label` names the invoke in the debugger; `qualifier`: the
        version or alias its caller named; `worker`: on Managed Instances, the worker a replay gives it to. `on_result`
        (a synchronous invoke, no log tail) gets the result to answer at once (see _Slot), not after the runtime's next
        /next, read with its response, which this task would wait for. `offer_s` > 0: the environment is finishing
        its last invoke, and is offered this one for that long at most (ins.InvokeOffered); raises HandedBack if it
        does not take it. `retry`: an Event invoke's n-th retry after a function error (the fleet runs it again).
        """
        invocation = ins.Invocation(
            request_id=request_id or new_uuid(),
            payload=payload,
            client_context=client_context,
            trace_id=trace_id or new_trace_id(),
            wants_log_tail=wants_log_tail,
            asynchronous=asynchronous,
            streamed=stream is not None,
            label=label,
            qualifier=qualifier,
            worker=worker,
            retry=retry,
        )
        if stream is not None:
            self.streams.add(invocation.request_id, stream)
            try:
                return await self._invoke(invocation, wants_log_tail, offer_s=offer_s)
            except HandedBack:  # not run here: the environment that takes it streams to the caller
                self.streams.discard(invocation.request_id)
                raise
            finally:
                self.streams.remove(invocation.request_id)
        return await self._invoke(invocation, wants_log_tail, on_result, offer_s)

    async def _invoke(self, invocation: ins.Invocation, wants_log_tail: bool,
                      on_result: Optional[Callable[[f.InvocationResult], None]] = None, offer_s: float = 0.0,
                      ) -> tuple[f.InvocationResult, Optional[str]]:
        def arrived(token: int) -> ins.Input:
            if offer_s > 0:
                return ins.InvokeOffered(token, invocation, offer_s)
            return ins.InvokeRequested(token, invocation)

        asynchronous = invocation.asynchronous
        if asynchronous:
            answer = await self.request(arrived)
            if isinstance(answer, fx.HandBack):
                raise HandedBack(invocation.request_id)
            assert isinstance(answer, fx.AnswerEvent)
            if answer.refusal is not None:
                raise EventRefused(answer.refusal, invocation.request_id)
            return f.InvocationResult(invocation.request_id, b""), None
        if wants_log_tail:
            self.tail.expect(invocation.request_id)
        def hand_over(completion: object) -> None:
            if on_result is not None and isinstance(completion, fx.CompleteInvocation):  # not a HandBack
                on_result(completion.result)

        completion = await self.request(arrived, hand_over if on_result is not None and not wants_log_tail else None)
        if isinstance(completion, fx.HandBack):
            self.tail.forget(invocation.request_id)
            raise HandedBack(invocation.request_id)
        assert isinstance(completion, fx.CompleteInvocation)
        tail = None
        if completion.with_log_tail:
            tail = base64.b64encode(self.tail.tail(invocation.request_id)).decode()
        self.tail.forget(invocation.request_id)
        return completion.result, tail

    # ------------------------------------------------------------------ effects

    def _carry_out(self, effect: fx.Effect) -> None:
        """Every effect but `Emit`, which `feed` publishes itself (~20 of a warm invoke's ~23 effects)."""
        if isinstance(effect, (fx.Reply, fx.AnswerEvent)):
            self._answer(effect.token, effect)
        elif isinstance(effect, fx.HandBack):
            if effect.token is not None:
                self._answer(effect.token, effect)
        elif isinstance(effect, fx.CompleteInvocation):
            self._publish(f.InvocationCompleted(effect.result))
            if effect.token is not None:
                self._answer(effect.token, effect)
        elif isinstance(effect, fx.Spawn):
            self._spawn(effect)
        elif isinstance(effect, (fx.Freeze, fx.Thaw)):
            self._freeze_or_thaw(effect)
        elif isinstance(effect, fx.EndSandbox):
            # The invoke that crashed is answered first (in Lambda its error comes at once): its caller's next
            # request is read after this batch anyway, and the old life's end (~0.4 ms) need not delay it.
            self._write_answers()
            self._sup.end_everything_inside(prepare_next=not effect.final)
            self._sandbox_ended()
        elif isinstance(effect, fx.Terminate):
            self._signal(effect.participant, signal.SIGTERM)
        elif isinstance(effect, fx.Kill):
            self._signal(effect.participant, signal.SIGKILL)
        elif isinstance(effect, fx.SignalProcess):
            self._signal(effect.participant, effect.signal)
        elif isinstance(effect, fx.ExitProcess):
            self._exit_process(effect)
        elif isinstance(effect, fx.StartTimer):
            self._deadlines.start(effect.name, effect.at)
        elif isinstance(effect, fx.CancelTimer):
            self._deadlines.cancel(effect.name)
        elif isinstance(effect, fx.RenewSandbox):
            # The facts so far are the replaced environment's (its shutdown's end): told under its number, which
            # the listeners read as they hear them, before the new one takes its place.
            self._write_answers()
            self.tell_so_far()
            self._renew_sandbox()
        elif isinstance(effect, fx.CaptureStacks):
            self._capture_stacks(effect)

    def kill_now(self) -> None:
        """Stop at once (a second signal): SIGKILL the runtime and extensions before the APIs they call close, so
        that none of them reports a failed request on its way out."""
        if self._supervisor is not None:
            self._supervisor.kill_groups()

    @property
    def _sup(self) -> Supervisor:
        assert self._supervisor is not None
        return self._supervisor

    def _handle(self, key: str) -> Optional[ProcessHandle]:
        entry = self._processes.get(key)
        if entry is None or entry[0] != self.env.generation or entry[1].exited is not None:
            return None
        return entry[1]
