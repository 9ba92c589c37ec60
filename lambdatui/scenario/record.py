"""Write what happened as a scenario that `lambdatui replay` reproduces.

A `Recorder` listens at the controller, below every client: `attach(session)` hears every fact and every
command, whoever sent it. Invokes are recorded from the facts (`InvocationQueued` carries the event, as
`InvocationRefused` does for one turned away after a shutdown), so an invoke from the Invoke API (`--port`,
RequestResponse or Event) is recorded as surely as the UI's `i`; faults, new environments and shutdowns
from the commands.

Steps are written in the order they took effect, because a replay runs one step at a time: a command in
the order the controller took it, an invoke when its event went out (invoke.start passed, held or not),
or when it ended without getting that far. So a fault given while an invoke waited in the queue or was
held at invoke.start (make the handler raise, then continue) comes before that invoke, as it acted on it.
A fault that acts at once (crash, freeze, thaw, timeout) given while an invoke ran is written before that invoke,
armed for the point it acted at (record_faults.py). An invoke that never started by the end is written last.

Invokes in flight together in several environments (each sent while all the ones before it still ran elsewhere, as
a burst of callers sends them; one the fleet started a new environment for counts as sent when it was routed, since
the ones before may have ended while that environment started) are one `parallel` step, placed where the first of
them went out, its events in the order the fleet routed them: a replay fires them the same way (all in flight at
once, each routed once the one before has its environment), so it meets as many cold starts. What each returned
goes in `expect.each`, the fleet's counts (cold starts, warm hits) with it. One queued behind another in the same
environment waited for it: a step after it, as before the fleet. So facts that do not name their environment
(`fact`, as `invoke` subscribes) never make a parallel step. An invoke sent while others ran elsewhere that a replay
will have finished first (it came after one of a burst had completed) is a step of its own too, but the replay may
route it otherwise: its cold start and its step's counts are left out, with a comment saying why; so are the counts
of every burst after it (the replay may have started fewer environments by then).

Where several environments were alive, each invoke names the one that took it (`env = N`, a parallel step's
`envs`), which a replay sends it to when that one can take it (or starts, when it is the next to be numbered): a
replay's fleet would otherwise pick the longest idle, which depends on the order earlier invokes ended there, and
which warm environment an invoke meets decides what state it sees. Each invoke's cold start is then compared. On
Managed Instances every invoke names its environment and the worker that took it (`worker`, `workers`): each worker
has its own globals, and which one waits longest on /next is timing (core/managed_workers.py).

The end of the session itself (the debugger quits, `session.end()`) is no step: the shutdown it causes
turns away the invokes still waiting, with an error that only the quit caused. Those never reached the
function, so they are written as comments, not as steps a replay would run and expect to fail (one held at
invoke.start too: the end drops that hold without sending the event); an invoke the end cut off while the
function ran it is a step, with no expectation on its result. A session with
nothing else to replay is written as the shutdown it ended with, since a scenario runs at least one step.

The steps written out are record_output.py; what an invoke step expects, record_expectations.py (only what is
stable); the other steps' lines and the replay command, record_lines.py; the TOML text, toml_writer.py; which
invokes were in flight together, record_overlaps.py.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from lambdatui import controller as c
from lambdatui.config import FunctionConfig
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState, ShutdownReason
from lambdatui.model.fleet import FleetOptions
from lambdatui.scenario.model import failed_after
from lambdatui.scenario.record_expectations import RecordedInvoke
from lambdatui.scenario.record_faults import FaultPlacement
from lambdatui.scenario.record_fleet import STARTING, is_snapshot
from lambdatui.scenario.record_output import OtherStep, Overlap, PauseStep, RecordOutput
from lambdatui.scenario.record_overlaps import OverlapTracking
from lambdatui.scenario.session_values import callers_trace_header, metadata_tokens_now, runtime_apis_now
from lambdatui.scenario.snapshot_values import SnapshotValues
from lambdatui.scenario.telemetry_ledger import TelemetryLedger

if TYPE_CHECKING:
    from lambdatui.host.debug_session import DebugSession
    from lambdatui.host.fleet_host import FleetHost


class Recorder(FaultPlacement, OverlapTracking, RecordOutput):
    """Commands and facts in, a replayable scenario out (`to_toml`)."""

    def __init__(self, config: FunctionConfig, *, handler_given: bool = False, function_path: Optional[str] = None,
                 scenario_path: Optional[str] = None, options: Sequence[str] = ()) -> None:
        """`function_path` and `scenario_path` as the user gave them, and the command-line `options` a replay
        needs that the [function] table cannot hold (--extensions, --python...): they make the header's
        replay command one that runs as written, from where the recording was made."""
        self.config = config
        self.handler_given = handler_given
        self.function_path = function_path
        self.scenario_path = scenario_path
        self.options = tuple(options)
        self.steps: list[Any] = []
        self._began = time.time()  # before any Init: a reading Init made falls after it (clock_values.py)
        self._invokes: dict[str, RecordedInvoke] = {}  # every invoke heard of, by request id
        self._waiting: dict[str, RecordedInvoke] = {}  # queued, event not yet sent: placed among the steps when it is
        self._overlap_of: dict[str, Overlap] = {}
        # request id -> env #N, routed and not completed, in the order routed (STARTING: a new environment is being
        # started for it, `EnvironmentStartedFor`, where it is queued once that one has started)
        self._in_flight: dict[str, int] = {}
        # Managed Instances: request id -> env #N of a timed-out invoke whose handler runs on (until OverrunEnded)
        self._overrunning: dict[str, int] = {}
        self._routing = itertools.count()
        self._routed_as: dict[str, int] = {}  # request id -> its place in the order the fleet routed the invokes
        self._started_for: dict[int, int] = {}  # env #N -> the place in that order of the invoke it was started for
        self._fleet: Optional[FleetHost] = None  # known once attached: its options and its environments
        self._listened: Optional[FleetHost] = None  # the fleet `listen` hears (`invoke`): its environments' addresses
        self._runtime_apis: frozenset[str] = frozenset()  # every environment's so far (session_values.py)
        self._tokens: frozenset[str] = frozenset()  # every environment's metadata token so far, likewise
        self._options: Optional[FleetOptions] = None  # the fleet's options, once attached or listening
        # SnapStart: what the snapshot's Init made, which a replay's snapshot makes anew (snapshot_values.py)
        self._snapshot: Optional[SnapshotValues] = None
        self._held_start: Optional[str] = None  # the invoke held at invoke.start, before its event went out
        # env #N -> the invoke whose event is out there (or held at invoke.start) and the last of its boundaries
        # reached: a fault given now acts on that invoke, at that point of its lifecycle.
        self._invoke_at: dict[int, tuple[str, Boundary]] = {}
        # env #N -> the Init (or restore) boundary it last reached, while it initialises: a fault given then acts on
        # the cold start of the invoke waiting there, if one is (`_waiting_for_init`).
        self._init_at: dict[int, Boundary] = {}
        self._untimed: dict[int, tuple[OtherStep, str]] = {}  # fault steps waiting to hear how far in they acted
        self._ended = False  # the session is ending: what is refused or cut off now is the quit's doing
        # env #N (None: all) -> what its new_environment or shutdown step, recorded, does to an invoke it cuts off
        self._cut_off_why: dict[Optional[int], str] = {}
        self._not_run: list[RecordedInvoke] = []  # turned away by the end of the session, never delivered
        self._retried: set[str] = set()  # failed Event invokes the fleet runs again: their retries are no steps
        self._retries_ended = 0  # how many of those retries had ended: a later invoke's replay waits for as many
        # The telemetry each extension received, by invoke: an invoke's last records arrive after the freeze, often
        # at the next invoke or the final shutdown, so it listens to the end, the session's own end included.
        self.telemetry = TelemetryLedger()

    def session_ended(self) -> None:
        """The session ends and shuts its environment down next (`DebugSession.end`)."""
        self._ended = True

    def attach(self, session: DebugSession) -> Callable[[], None]:
        """Record everything that reaches this controller from now on; returns the detach function."""
        self._fleet = session.fleet
        self._options = session.fleet.options
        self._snapshot_kept()
        # Numbered: each environment has its own extensions, whose telemetry the ledger must keep apart.
        unsubscribe = session.fleet.subscribe_numbered(self._numbered)
        unwatch = session.watch_commands(self.command)
        unwatch_end = session.watch_end(self.session_ended)
        if session.ending:
            self.session_ended()

        def detach() -> None:
            unsubscribe()
            unwatch()
            unwatch_end()

        return detach

    # ------------------------------------------------------------------ input

    def command(self, command: c.Command) -> None:
        if isinstance(command, c.InjectFault) and self._arm_for_invoke(command):
            return
        if isinstance(command, (c.NewEnvironment, c.Shutdown)):
            self._ending_by(command)
        if isinstance(command, (c.InjectFault, c.NewEnvironment, c.Shutdown)):
            self.steps.append(OtherStep(command))
        # An Invoke is recorded from its InvocationQueued fact, which every invoke has, whatever sent it.
        # Step, Continue and SetBreakpoints hold and release the lifecycle: a replay runs straight through,
        # and a hold never changes an outcome (held time counts against no deadline).

    def _ending_by(self, command: c.NewEnvironment | c.Shutdown) -> None:
        """What a new environment or a shutdown will say of an invoke it cuts off (the core says which: InvokeCutOff):
        that invoke's step comes first, and a replay runs it to its end before this one, so its result is not
        compared."""
        if isinstance(command, c.Shutdown) and command.env is None:
            self._cut_off_why[None] = "lambdatui's environments were shut down (a shutdown step after it)"
            return
        replaced = isinstance(command, c.NewEnvironment)
        self._cut_off_why[self._target_number(command.env)] = (
            f"its environment was {'replaced' if replaced else 'shut down'} "
            f"(a {'new_environment' if replaced else 'shutdown'} step after it)")

    def _cut_off(self, number: int, fact: f.InvokeCutOff) -> None:
        step = self._by_id(fact.request_id)
        if step is None or step.result is not None or step.cut_off:
            return
        if self._ended:
            step.cut_off = "the session ended"  # the function ran it: the error is the quit's, not its own
        else:
            step.cut_off = self._cut_off_why.get(number) or self._cut_off_why.get(None) or "its environment ended"

    def _target_number(self, env: Optional[int]) -> int:
        """The environment a command for `env` acts on: None is the first alive (`FleetHost.member`)."""
        if env is not None:
            return env
        if self._fleet is None:
            return 0  # one environment, unnumbered (`invoke`)
        return next((line.number for line in self._fleet.lines() if line.state is not EnvState.SHUT_DOWN), 0)

    def listen(self, fleet: FleetHost) -> Callable[[], None]:
        """Record the facts of a fleet that runs one invoke at a time (`invoke`): unnumbered, as one environment's,
        with the fleet's options for the [function] table (SnapStart's restores are environments of their own)."""
        self._options = fleet.options
        self._listened = fleet
        self._snapshot_kept()
        return fleet.subscribe(self)

    def _snapshot_kept(self) -> None:
        if self._options is not None and self._options.snapstart and self._snapshot is None:
            self._snapshot = SnapshotValues(self.config)

    def _numbered(self, number: int, fact: f.Fact) -> None:
        self.telemetry.numbered(number, fact)
        self._heard(number, fact)

    def fact(self, fact: f.Fact) -> None:
        """A fact from an environment that is not named (one environment, as `invoke` runs)."""
        self.telemetry(fact)
        self._heard(0, fact)

    def _heard(self, number: int, fact: f.Fact) -> None:
        if self._retried and _request_id(fact) in self._retried:
            # A failed Event invoke's retry: the fleet makes it, a replay's fleet makes it again; how often it ran
            # is recorded (the replay's end waits for as many).
            step = self._by_id(fact.request_id) if type(fact) is f.InvocationQueued else None  # type: ignore[union-attr]
            if step is not None:
                step.retries = max(step.retries, fact.retry)  # type: ignore[union-attr]
            elif type(fact) is f.InvocationCompleted:
                self._retries_ended += 1
            return
        if isinstance(fact, f.EventRetrying):
            self._retried.add(fact.request_id)
        elif isinstance(fact, f.InvocationQueued):
            if self._by_id(fact.request_id) is None:
                self._queued(RecordedInvoke(fact.event, fact.request_id, asynchronous=fact.asynchronous,
                                            client_context=fact.client_context, qualifier=fact.qualifier,
                                            streamed=fact.streamed, after_retries=self._retries_ended), number)
        elif isinstance(fact, f.EnvironmentStartedFor):
            # Whether it runs beside the invokes in flight is decided now: they may have ended by the time it is queued
            # (its environment's start takes time), but a replay that fires them together meets them busy.
            self._routed(fact.request_id, STARTING, past_busy=fact.busy > 0)
            if fact.number:
                self._started_for[fact.number] = self._routed_as[fact.request_id]
        elif isinstance(fact, f.EnvironmentNotStarted):
            self._completed(fact.request_id)  # it never reached an environment: nothing of it to replay
        elif isinstance(fact, f.IdleSpunDown):
            self._spun_down(fact)
        elif isinstance(fact, f.GlobalsReported):
            if self._snapshot is not None:
                self._snapshot.heard(fact)
        elif isinstance(fact, f.EventNotRun):
            if self._by_id(fact.request_id) is None:  # it waited in the fleet's queue: no environment heard of it
                dropped = self._invokes[fact.request_id] = RecordedInvoke(fact.event, fact.request_id, asynchronous=True)
                self._not_run.append(dropped)
        elif isinstance(fact, f.InvocationThrottled):
            if self._by_id(fact.request_id) is None:
                self._throttled(fact)
        elif isinstance(fact, f.InvocationRefused):
            if self._by_id(fact.request_id) is None:
                refused = self._invokes[fact.request_id] = RecordedInvoke(fact.event, fact.request_id,
                                                                          asynchronous=fact.asynchronous)
                if self._ended:
                    self._not_run.append(refused)  # only the end of the session turned it away
                else:
                    self.steps.append(refused)  # it ends here: a replay meets the same refusal
        elif isinstance(fact, f.ResponseStreamCallerLeft):
            left = self._by_id(fact.request_id)
            if left is not None:
                left.hung_up_after = fact.taken  # its replay's caller leaves after as many, and the rest goes unpaced
        elif isinstance(fact, f.ResponseStreamCallerStalled):
            stalled = self._by_id(fact.request_id)
            if stalled is not None:
                stalled.stopped_reading_after = fact.taken  # its replay's caller stops reading after as many
        elif isinstance(fact, f.BoundaryReached):
            self._reached(number, fact)
        elif isinstance(fact, (f.FaultInjected, f.FaultRefused)):
            self._fault_heard(number, fact)
        elif isinstance(fact, f.HoldReleased) and fact.boundary is Boundary.INVOKE_START:
            # The end of the session drops the hold without delivering the event: that invoke never ran, and stays
            # waiting (a comment). Any other release sends the event out.
            if self._held_start is not None and not self._ended:
                self._place(self._held_start)
            self._held_start = None
        elif isinstance(fact, f.PhaseStarted) and fact.phase == "shutdown":
            if fact.detail == ShutdownReason.FAILURE.value and not self._ended:
                self._failed_under(number)  # Managed Instances: the environment ends, nothing resets it
        elif isinstance(fact, f.PhaseStarted) and fact.phase == "invoke":
            started = self._by_id(fact.detail)
            if started is not None:
                started.clock.started(time.time(), round(self.config.timeout_s * 1000), self._began)
                started.worker = fact.worker
                started.trace_header = callers_trace_header(fact.trace_id)  # the one its function gets
                started.snapshot = self._snapshot
                fleet = self._fleet or self._listened
                if fleet is not None:
                    started.runtime_apis = self._runtime_apis = runtime_apis_now(fleet, self._runtime_apis)
                    started.metadata_tokens = self._tokens = metadata_tokens_now(fleet, self._tokens)
        elif isinstance(fact, f.InvocationCompleted):
            request_id = fact.result.request_id
            # The end's shutdown answers what it stops with Sandbox.Failure; a result the function gave before
            # (held at invoke.response when the user quit) is still its own, and recorded as such.
            by_the_end = self._ended and fact.result.error_type == et.SANDBOX_FAILURE
            self._completed(request_id)
            if self._managed() and fact.result.error_type == et.SANDBOX_TIMEDOUT:
                self._overrunning[request_id] = number  # its handler runs on, in its worker (lambda-spec §11.3)
            if self._invoke_at.get(number, ("",))[0] == request_id:
                del self._invoke_at[number]  # it ended; a response now goes on to invoke.response (`_reached`)
            ended = self._by_id(request_id)
            if ended is not None:
                ended.clock.ended(time.time())
            if by_the_end and request_id in self._waiting:
                self._not_run.append(self._waiting.pop(request_id))  # it never reached the function
                return
            self._place(request_id)  # it ended before its event went out (a failed Init...)
            step = self._by_id(request_id)
            if step is not None and step.result is None and not step.cut_off:
                step.result = fact.result
        elif isinstance(fact, f.InvokeCutOff):
            self._cut_off(number, fact)
        elif isinstance(fact, f.OverrunEnded):
            self._overrunning.pop(fact.request_id, None)
        elif isinstance(fact, f.RuntimeDone):
            step = self._by_id(fact.request_id)
            if step is not None:
                step.clock.runtime_done(time.time())
        elif isinstance(fact, f.InvokeReported):
            step = self._by_id(fact.request_id)
            if step is not None:
                step.cold = fact.cold
                step.clock.duration_ms = fact.duration_ms
                step.failed_after = failed_after(step.result, fact)
                if self._ended and step.failed_after == et.SANDBOX_FAILURE:
                    # The end's shutdown stopped what still worked on the answered invoke (an extension): the quit's
                    # doing, which a replay, run to its end, does not repeat.
                    step.failed_after, step.cut_after = None, "the session ended"

    __call__ = fact  # so that `host.subscribe(recorder)` works

    def _reached(self, number: int, fact: f.BoundaryReached) -> None:
        boundary = fact.boundary
        if boundary in (Boundary.INVOKE_START, Boundary.INVOKE_RESPONSE):
            self._invoke_at[number] = (fact.detail, boundary)  # detail: the invoke's request id
        else:
            self._invoke_at.pop(number, None)  # invoke.done, a reset, an Init: no invoke of its own runs there
        if boundary in _INIT_BOUNDARIES:
            self._init_at[number] = boundary
        else:
            self._init_at.pop(number, None)
        if boundary is Boundary.INVOKE_START:
            if fact.held:
                self._held_start = fact.detail
            else:
                self._place(fact.detail)

    def _spun_down(self, fact: f.IdleSpunDown) -> None:
        """An environment idle for --idle-shutdown went: a replay, which runs each step as soon as the one before has
        settled, must let as much time pass here, or the next invoke finds it still warm. One pause covers several
        environments going between the same two steps (each was idle at least as long as the last to go). Where
        others stay alive, the replay would time them out too (they were used since, in the session): it shuts
        that one down instead (a bug hunt's replays found the environment the next step needed gone, 6 of 6)."""
        if self._ended:
            return
        others = self._fleet is not None and any(
            line.number != fact.number and line.state is not EnvState.SHUT_DOWN and not is_snapshot(line)
            for line in self._fleet.lines())
        last = self.steps[-1] if self.steps else None
        if not others and isinstance(last, PauseStep) and not last.others:
            return
        self.steps.append(PauseStep(fact.number, fact.idle_s, others))

    def _by_id(self, request_id: str) -> Optional[RecordedInvoke]:
        return self._invokes.get(request_id)


# Where an Init (a restore, for SnapStart) stands before its invoke's event goes out.
_INIT_BOUNDARIES = frozenset({Boundary.INIT_EXTENSIONS, Boundary.INIT_RUNTIME, Boundary.INIT_FUNCTION,
                              Boundary.INIT_DONE, Boundary.RESTORE_START, Boundary.RESTORE_HOOKS_DONE})


def _request_id(fact: f.Fact) -> object:
    """The invoke a fact is about, where it names one (a retry's facts are the fleet's, not the caller's)."""
    kind = type(fact)
    if kind is f.InvocationCompleted:
        return fact.result.request_id  # type: ignore[union-attr]
    if kind is f.PhaseStarted:
        return fact.detail if fact.phase == "invoke" else None  # type: ignore[union-attr]
    return getattr(fact, "request_id", None)
