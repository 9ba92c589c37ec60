"""The fleet: every execution environment of the function, each a whole `EnvironmentHost` with its own sandbox
API server, processes, extensions and /tmp, and the routing that gives each invoke one of them (lambda-spec §11).

Routing is decided by `core.fleet_rules` from each environment's own lifecycle state; this module carries it out:
it starts environments, sends an invoke to the chosen one, throttles, queues Event invokes until an environment
is free, and spins down idle ones.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Awaitable, Callable, Optional

import trio

from lambdatui.api import http11
from lambdatui.api.sandbox_routes import sandbox_router
from lambdatui.config import FunctionConfig
from lambdatui.config_error import ConfigError
from lambdatui.core import effects as fx
from lambdatui.core import inputs as ins
from lambdatui.core.common import JSON, error_body
from lambdatui.core.invoke_rules import SERVICE_ERROR, THROTTLED
from lambdatui.host.caller_environment import CallerEnvironments
from lambdatui.host.early_start import EarlyStart
from lambdatui.host.environment_host import EnvironmentHost, FactListener, HandedBack
from lambdatui.host.environment_numbers import EnvironmentNumbers, ReservedNumbers
from lambdatui.host.fleet_events import EnvironmentUnavailable, FleetEvents, QueuedEvent, os_error_in
from lambdatui.host.fleet_facts import FleetFacts, NumberedListener
from lambdatui.host.fleet_idle import FleetIdle
from lambdatui.host.fleet_retries import Attempts, FleetRetries
from lambdatui.host.fleet_routing import FleetRouting
from lambdatui.host.fleet_snapstart import FleetSnapStart, SnapshotUnavailable
from lambdatui.host.fleet_stopping import FleetStopping
from lambdatui.host.sandbox_access import SandboxAccess
from lambdatui.ids import new_uuid
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.faults import Fault
from lambdatui.model.fleet import (LATEST_VERSION, ON_DEMAND, PROVISIONED, SNAP_START, THROTTLE_MESSAGE, THROTTLE_REASON,
                                   FleetOptions)
from lambdatui.processes.tree_removal import remove_tree_reporting
from lambdatui.run_folders import member_folder

LOOPBACK = "127.0.0.1"


class Throttled(Exception):
    """A synchronous invoke above the concurrency limit: Lambda answers 429 TooManyRequestsException."""

    def __init__(self, limit: int, request_id: Optional[str] = None) -> None:
        self.refusal = fx.EventRefusal(429, THROTTLED, THROTTLE_MESSAGE, THROTTLE_REASON)
        self.request_id = request_id  # the id the log's throttle line names: the caller's x-amzn-RequestId
        super().__init__(f"{THROTTLE_MESSAGE} All {limit} environments (--concurrency {limit}) are busy.")


@dataclass
class _Member:
    """One environment of the fleet: its host, the scope and event of the task that runs it, and what routing
    needs to know of it."""

    host: EnvironmentHost
    provisioned: bool
    idle_since: float
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    runtime_api: str = ""
    snapshot: bool = False  # SnapStart's snapshot environment: it takes no invoke, every restore copies it
    early: Optional[EarlyStart] = None  # env #1 started ahead of the trio run, until its host adopts it
    held_since: Optional[float] = None  # held at a boundary since then (the debugger's hold)

    @property
    def number(self) -> int:
        return self.host.sandbox_count


class FleetHost(FleetRouting, FleetFacts, FleetSnapStart, FleetEvents, FleetRetries, FleetIdle, FleetStopping):
    """Every environment of one function. Start it with `await nursery.start(fleet.run)`."""

    def __init__(self, config: FunctionConfig, state_dir: Path, *, inspect: bool = False,
                 options: Optional[FleetOptions] = None, early: Optional[EarlyStart] = None,
                 start_held: bool = False, first_ahead: bool = True) -> None:
        """`early`: env #1, started ahead of the trio run in `state_dir` (host/early_start.py), for env #1 to adopt.
        `start_held`: env #1 holds at its first boundary (the debugger's newcomer sees the cold start from there),
        asked before its Init can begin: a provisioned env #1 or SnapStart's snapshot starts as the fleet starts.
        `first_ahead`: an on-demand env #1 is started ahead of traffic by whoever opened the fleet (`serve`,
        `invoke`, the debugger: `EnvironmentHost.start_environment`), and is not idle until its Init has run. A
        replay's is not started (False): it stands for one that was, and is idle from the start."""
        self.config = config
        self._start_held = start_held
        self._first_ahead = first_ahead
        self._early = early
        self.state_dir = state_dir
        self.inspect = inspect
        self.options = options or FleetOptions()
        # Env #1 starts early only for an on-demand fleet (cli.py): its runtime was given $LATEST's version and stream.
        assert early is None or self.options.function_version == LATEST_VERSION, self.options
        self._numbers = EnvironmentNumbers()
        self._folders = itertools.count(1)
        self._members: list[_Member] = []
        self._listeners: tuple[FactListener, ...] = ()
        self._numbered: tuple[NumberedListener, ...] = ()
        self._nursery: Optional[trio.Nursery] = None
        self._breakpoints: frozenset[Boundary] = frozenset()
        self._armed_for: dict[int, list[Fault]] = {}  # env #N not started yet -> faults armed for it (arm_for_unstarted)
        self._events: deque[QueuedEvent] = deque()
        self._event_bytes = 0
        self._attempts: dict[str, Attempts] = {}  # accepted Event invokes until their last attempt, by request id
        self.retries_run = 0  # failed Event invokes the fleet has run again (a replay waits for the session's count)
        self._changed = trio.Event()
        self._waiters = 0
        self._events_arrived = trio.Event()  # the dispatcher's wake-up when the queue was empty
        self._said_queue_full = False  # a refusal at the full queue was said: the next ones are not, until room
        self._ending = False
        self._closed = False  # stopping: the Event invokes accepted run, no new invoke is taken
        self._starting = 0  # environments being started for an invoke: they count against the limit already
        self._waiting = 0  # invokes waiting for one of those to join (Managed Instances: it has room for them)
        self._awaiting_finish = 0  # invokes waiting for an environment to finish its answered invoke (its grace)
        self.cold_starts = self.warm_hits = self.throttled = self.spun_down = self.peak = 0
        self.fleet_changes = 0  # how often the fleet itself changed (members, counts): a missed wake-up shows here
        self.first: Optional[EnvironmentHost] = None  # env #1's host: what single-environment clients drive
        self._last_removed: Optional[EnvironmentHost] = None
        # SnapStart: the last environment discarded because its restore failed. It stays listed (SHUT DOWN) and
        # viewable, so that the debugger shows the failure where it happened (its invoke's error, its log with the
        # traceback and RESTORE_REPORT), as a failed Init stays in its environment; it takes no invoke and counts
        # nowhere. Replaced by the next environment restored.
        self.discarded: Optional[EnvironmentHost] = None
        self._callers = CallerEnvironments(self.hosts)  # whose call each metadata request is, among these

    # ------------------------------------------------------------------ lifetime

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start env #1 (and the provisioned ones), then own every environment until cancelled."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._add_first()
                nursery.start_soon(self._dispatch_events)
                if self.options.idle_shutdown_s is not None:
                    nursery.start_soon(self._spin_down_idle, self.options.idle_shutdown_s)
                task_status.started()
                await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                remove_tree_reporting(self.state_dir)

    async def _add_first(self) -> None:
        """Env #1 (the snapshot, or every provisioned one). One that cannot start ends the run with one line, as
        a usage error does (no folder, no descriptor left...): there is nothing to serve yet, and a traceback
        would hide why."""
        count = max(1, self.options.provisioned)
        try:
            if self.options.snapstart:
                self.first = (await self._add(SNAP_START)).host  # publishing the version: Init, then snapshot
                count = 0
            for _ in range(count):
                member = await self._add(PROVISIONED if self.options.provisioned else ON_DEMAND)
                if self.first is None:
                    self.first = member.host
        except EnvironmentUnavailable as exc:
            raise ConfigError(f"{exc}, in the runs' folder {self.state_dir.parent} (XDG_STATE_HOME chooses another)") from None

    async def _add(self, init_type: str, numbers: Optional[ReservedNumbers] = None) -> _Member:
        """A new environment: its folder, its sandbox API server, its host; provisioned ones start Init now, and
        with SnapStart, the snapshot environment; the others are restored from it."""
        assert self._nursery is not None
        managed = self.options.max_concurrency
        source = self.first if self.options.snapstart and init_type != SNAP_START else None
        numbers = numbers or self._numbers.reserved()
        host = EnvironmentHost(self.config, member_folder(self.state_dir, next(self._folders)), inspect=self.inspect,
                               init_type=init_type, numbers=numbers, announce=self.first is None,
                               max_concurrency=managed, restore_source=source, run_dir=self.state_dir,
                               function_version=self.options.function_version)
        member = _Member(host, init_type == PROVISIONED, trio.current_time(), snapshot=init_type == SNAP_START)
        if source is not None:
            self.discarded = None
        member.early, self._early = self._early, None
        host.subscribe(partial(self._forward, member))
        if managed or source is not None:
            def ended(fact: f.Fact) -> None:
                # Managed Instances never reset, and a failed restore discards its environment: one that ended by
                # itself (a process exited, Init or the restore failed) leaves the fleet, and the next invoke goes
                # to another one (lambda-spec §4.8, §11.3).
                if (type(fact) is f.StateChanged and fact.state is EnvState.SHUT_DOWN  # type: ignore[attr-defined]
                        and not self._ending and member.idle_since != float("inf")):
                    member.idle_since = float("inf")  # as _retire marks it: removed once
                    if member.host.restored_from is not None:
                        self.discarded = member.host
                    self.start_soon(self._remove, member, False)

            host.subscribe(ended)
        fed = self._breakpoints
        if fed:
            host.feed(ins.BreakpointsSet(fed))
        for fault in self._armed_for.pop(numbers.first, ()):
            host.feed(ins.FaultRequested(fault))
        if self._start_held and self.first is None:
            host.feed(ins.StepRequested())  # env #1: held at whatever boundary its start reaches first
        try:
            await self._nursery.start(self._run_member, member)
        except Exception as exc:
            error = os_error_in(exc)
            if error is None:
                raise
            # One environment that cannot start must not end the fleet (the task it fails in may be the Event
            # invokes' dispatcher): its invoke hears why, and every other environment goes on.
            raise EnvironmentUnavailable(f"no new environment could be started: {error.strerror or error}") from None
        self._members.append(member)
        if self._ending and not member.snapshot:  # started for an invoke as the fleet began to stop (request_shutdown)
            host.feed(ins.ShutdownRequested())
        if self._breakpoints != fed:  # changed while it started: `set_breakpoints` did not reach it yet
            host.feed(ins.BreakpointsSet(self._breakpoints))
        if member.provisioned or managed or member.snapshot:
            host.start_environment()  # Managed Instances initialise ahead of traffic, as provisioned ones do
        self._publish_fleet()
        return member

    async def _run_member(self, member: _Member, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        host = member.host
        try:
            with member.scope:
                async with trio.open_nursery() as nursery:
                    access = SandboxAccess(host.note, host.contained_pids, host.own_pids, host.cgroup_v2_id)
                    early = member.early
                    router = sandbox_router(host, partial(self._callers.environment_of, host))
                    serve = partial(http11.serve, router, LOOPBACK, 0, admit=access,
                                    stamp=host.inspect, connections=host.sandbox_connections)
                    if early is None:
                        member.runtime_api = await nursery.start(serve)
                        await nursery.start(partial(host.run, member.runtime_api))
                    else:
                        # Adopted before its API accepts: the runtime started ahead may have connected already, and
                        # the server traces each connection to the host's processes as it accepts it.
                        member.runtime_api = early.runtime_api
                        await nursery.start(partial(host.run, member.runtime_api, early=early))
                        await nursery.start(partial(serve, sock=early.listener))
                    task_status.started()
        finally:
            member.done.set()
            if member in self._members:
                self._members.remove(member)
                self._last_removed = host
                self._publish_fleet()

    def settled(self) -> bool:
        """Every environment waits for the user or for an invoke, and no invoke waits for an environment."""
        return (not self._events and not self._starting and not self._awaiting_finish
                and all(m.host.env.settled() for m in self._members))

    # ------------------------------------------------------------------ invokes

    async def invoke(self, payload: bytes, *, asynchronous: bool = False, request_id: Optional[str] = None,
                     on_placed: Optional[Callable[[], None]] = None, preferred: Optional[int] = None,
                     **kwargs: object) -> tuple[f.InvocationResult, Optional[str]]:
        """Route one invoke to an environment (EnvironmentHost.invoke's arguments); raises Throttled above the
        limit, or for an Event invoke, EventRefused when even the fleet's queue is full or lambdatui is ending.

        `on_placed` is called once the invoke has its environment (or its throttle), right before that
        environment's core takes it: until then the fleet may still be starting an environment for it.
        `preferred`: the environment to send it to when that one can take it now (`fleet_rules.route`; an Event
        invoke, once its turn in the fleet's queue comes); a replay's hint."""
        request_id = request_id or new_uuid()
        if self._closed or self._ending:
            if on_placed is not None:
                on_placed()
            return await self._answer_stopping(payload, request_id, asynchronous, kwargs)
        if asynchronous:
            if on_placed is not None:
                on_placed()  # the fleet's queue has it: not settled until an environment took it
            failed = self._snapshot_failed()
            if failed is not None:  # refused before the queue, as Lambda refuses invoking a Failed version
                return self._refuse_without_snapshot(request_id, payload, failed, asynchronous=True), None
            self._accept_event(payload, request_id, kwargs, preferred)
            return f.InvocationResult(request_id, b""), None
        def told() -> None:  # once: an offer handed back is placed again
            nonlocal on_placed
            tell, on_placed = on_placed, None
            if tell is not None:
                tell()

        while True:
            try:
                placed = await self._place(False, request_id, preferred)
            except SnapshotUnavailable as unavailable:
                told()
                if self._ending and self.first is not None:
                    # The snapshot went with the shutdown that began while the invoke waited for it: answered as the
                    # shut-down fleet answers (Sandbox.Failure), not as a version whose snapshot failed (409).
                    return await self.first.invoke(payload, request_id=request_id, **kwargs)  # type: ignore[arg-type]
                return self._refuse_without_snapshot(request_id, payload, str(unavailable)), None
            except EnvironmentUnavailable as unavailable:
                told()
                self.note(f"Invoke {request_id} failed: {unavailable}")
                body = error_body(SERVICE_ERROR, f"lambdatui: {unavailable}.")
                return f.InvocationResult(request_id, body, JSON, True, SERVICE_ERROR, api_status=500), None
            told()  # no checkpoint from here to the chosen environment's core taking the invoke (or its offer)
            if placed is not None and (self._closed or self._ending):  # stopping began while it was placed
                return await self._answer_stopping(payload, request_id, False, kwargs)
            if placed is None:
                self.throttled += 1
                limit = self.options.concurrency
                busy = "its one environment is busy" if limit == 1 else f"all {limit} environments are busy"
                self.note(f"Invoke {request_id} throttled: {busy} (--concurrency {limit}); 429 "
                          "TooManyRequestsException")
                context, qualifier = kwargs.get("client_context"), kwargs.get("qualifier", "")
                self._publish_own(f.InvocationThrottled(request_id, payload,
                                                        context if isinstance(context, str) else None,
                                                        qualifier if isinstance(qualifier, str) else ""))
                raise Throttled(self.options.concurrency, request_id)
            try:
                return await self._offer(*placed, payload, {**kwargs, "request_id": request_id})
            except HandedBack:  # the environment it was offered to is busy past its grace, or turned otherwise
                if self._closed or self._ending:  # (a shutdown began): answered as it would be arriving now
                    return await self._answer_stopping(payload, request_id, False, kwargs)

    # ------------------------------------------------------------------ commands on one environment

    def member(self, number: Optional[int]) -> Optional[EnvironmentHost]:
        """The environment numbered `number` (None: the first alive; when none is, the last one removed, which
        shows SHUT DOWN, else one not started yet)."""
        for m in self._members:
            if m.number == number or (number is None and not self._unstarted(m)):
                return m.host
        if number is not None and self.discarded is not None and self.discarded.sandbox_count == number:
            return self.discarded
        if number is not None:
            return None
        return self._last_removed or next((m.host for m in self._members), None)

    def hosts(self) -> list[EnvironmentHost]:
        """Every environment alive, and the last one discarded by a failed restore (it shows SHUT DOWN)."""
        alive = [m.host for m in self._members]
        return alive if self.discarded is None or self.discarded in alive else [*alive, self.discarded]

    def set_breakpoints(self, boundaries: frozenset[Boundary]) -> None:
        """Breakpoints apply to every environment, those started later too."""
        self._breakpoints = boundaries
        for m in self._members:
            m.host.feed(ins.BreakpointsSet(boundaries))

    def arm_for_unstarted(self, number: int, fault: Fault) -> bool:
        """A fault armed for a boundary (`at`) of env #`number`, which the fleet has not started yet: it is given to
        that environment as it starts, before anything runs there. A recording writes a fault given during an invoke
        before that invoke's step, which may be the burst that starts its environment. False: that number was given
        already (its environment has left)."""
        taken = number < self._numbers.next and number not in self._numbers.skipped
        if taken or fault.at is None:
            return False
        self._armed_for.setdefault(number, []).append(fault)
        return True

    def armed_for_unstarted(self) -> list[tuple[int, Fault]]:
        """The faults still waiting for an environment the fleet has not started, by its number."""
        return [(number, fault) for number, faults in sorted(self._armed_for.items()) for fault in faults]

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        assert self._nursery is not None, "the fleet is not running"
        self._nursery.start_soon(fn, *args)
