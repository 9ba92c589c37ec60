"""How a replay sends a step's invokes: one after the other, each once the one before has its environment (or its
throttle), a parallel step's held at invoke.start until all are placed; each as its session's caller sent it (an
Event invoke, a stream taken as it came, where that caller hung up or stopped reading, its context and qualifier).
"""

from __future__ import annotations

from typing import Optional

import trio

from lambdatui import controller as c
from lambdatui.host.debug_session import DebugSession
from lambdatui.host.fleet_host import Throttled
from lambdatui.host.response_stream import ResponseStream
from lambdatui.ids import new_uuid
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary
from lambdatui.scenario.checks import Observed
from lambdatui.scenario.model import NO_CALLER, Caller, InvokeAction, ParallelAction
from lambdatui.scenario.report import TimelinePrinter
from lambdatui.scenario.step_facts import StepFacts
from lambdatui.scenario.telemetry_ledger import TelemetryLedger

# How long the next invoke of a parallel step waits for an Event invoke to be taken by an environment (as soon as the
# fleet's queue is served and the environment is up; a bound, so that a queue that waits on something else never
# stalls the step).
ROUTE_WAIT_S = 5


async def fire(action: InvokeAction | ParallelAction, session: DebugSession, facts: StepFacts,
                printer: TimelinePrinter, ledger: TelemetryLedger) -> None:
    """Send the step's invokes, each once the one before has its environment (or its throttle), so that the same
    scenario meets the same cold starts and throttles: routed in the order written.

    A parallel step's invokes wait at invoke.start until the last of them is placed, then run together: otherwise a
    quick one could finish while the next one's environment is still starting, and the next would reuse its
    environment instead of starting its own (held time counts against no deadline)."""
    parallel = isinstance(action, ParallelAction)
    events = action.events if isinstance(action, ParallelAction) else (action.event,)
    kinds = (action.asynchronous or (False,) * len(events)) if isinstance(action, ParallelAction) \
        else (action.asynchronous,)
    callers = (action.callers or (NO_CALLER,) * len(events)) if isinstance(action, ParallelAction) \
        else (action.caller,)
    if parallel:
        printer.line("parallel", f"{len(events)} invokes: each waits at invoke.start until all have an environment "
                                 "(or a throttle), then they run together")
        session.submit(c.SetBreakpoints(frozenset({Boundary.INVOKE_START})))
    released = not parallel
    try:
        async with trio.open_nursery() as nursery:
            for position, event in enumerate(events):
                since = len(facts.step.facts)
                seen = facts.fire(new_uuid(), own_facts=parallel)
                ledger.begin(seen.request_id or "")
                placed = trio.Event()
                preferred = action.env if isinstance(action, InvokeAction) else \
                    action.envs[position] or None if action.envs else None
                worker = action.worker if isinstance(action, InvokeAction) else \
                    action.workers[position] if action.workers else 0
                nursery.start_soon(_invoke, session, event, seen, placed, preferred, kinds[position],
                                   callers[position], worker)
                await placed.wait()
                if parallel and kinds[position]:
                    # An Event invoke is placed once the fleet's queue has it, and taken by an environment when its turn
                    # comes: the next one waits for that too, as it does for a RequestResponse one, or it takes the
                    # environment this one was to meet, or finds the one it names not startable yet (`envs`).
                    with trio.move_on_after(ROUTE_WAIT_S):
                        while not facts.routed(seen.request_id or "", since):
                            await facts.arrived.wait()
                if parallel:
                    printer.placed(position, event, seen)
                if not kinds[position]:  # an Event invoke is routed when its turn in the queue comes: said after
                    say_passed_over(facts, seen, printer, f"envs[{position}]" if parallel else "env")
            if not released:
                released = True
                _release(session, facts)
    finally:
        if not released:
            _release(session, facts)  # the step was cut short: no later step may meet the hold


def _release(session: DebugSession, facts: StepFacts) -> None:
    """No more holds at invoke.start; the invokes held there go on (one still in Init will not stop there)."""
    session.submit(c.SetBreakpoints(frozenset()))
    for number in sorted({seen.env for seen in facts.invokes if seen.env}):
        session.submit(c.Continue(env=number))


def event_invoke(action: object, position: int) -> bool:
    """Whether the step's invoke at `position` is an Event (asynchronous) one."""
    if isinstance(action, ParallelAction):
        return bool(action.asynchronous) and action.asynchronous[position]
    return isinstance(action, InvokeAction) and action.asynchronous


def say_passed_over(facts: StepFacts, seen: Observed, printer: TimelinePrinter, key: str) -> None:
    """The step's `env = N` (`key`: env, or a parallel step's envs[i]) could not be followed (the fleet says why)."""
    passed = next((fact for fact in facts.step.facts
                   if isinstance(fact, f.PreferredPassedOver) and fact.request_id == seen.request_id), None)
    if passed is not None:
        printer.passed_over(key, passed, seen)


async def _invoke(session: DebugSession, event: bytes, seen: Observed, placed: trio.Event,
                  preferred: Optional[int] = None, asynchronous: bool = False, caller: Caller = NO_CALLER,
                  worker: int = 0) -> None:
    # A caller that took the response as a stream is one again: a stream's limits (200 MB, not 6 MB) and errors.
    stream = ResponseStream() if caller.streamed and not asynchronous else None
    try:
        async with trio.open_nursery() as nursery:
            if stream is not None:
                # Taken as it comes, as its caller did, and let go (where that caller hung up: as it did).
                nursery.start_soon(_read_through, stream, caller)
            try:
                # The result also arrives as InvocationCompleted, which StepFacts keeps with the rest of the facts
                # (an Event invoke's too: the step settles once the fleet's queue is empty and it has run).
                await session.fleet.invoke(event, request_id=seen.request_id, on_placed=placed.set,
                                           preferred=preferred, asynchronous=asynchronous,
                                           client_context=caller.client_context, qualifier=caller.qualifier,
                                           trace_id=caller.trace_header or None, stream=stream, worker=worker)
            except Throttled:
                seen.throttled = True  # before `placed` wakes the runner: the fleet raises right after placing it
            finally:
                if stream is not None:
                    stream.abandon()  # ends the reading (a throttle never began the stream)
    finally:
        placed.set()  # in case it failed before it was placed


async def _read_through(stream: ResponseStream, caller: Caller) -> None:
    """A streamed response's pieces, read and dropped (how it ended is in the invoke's result); a caller that hung
    up mid-stream in the session hangs up once it has taken as many bytes, one that stopped reading stops there."""
    stop_at = caller.hung_up_after if caller.hung_up_after is not None else caller.stopped_reading_after
    while stop_at is None or stream.taken < stop_at:
        if not await stream.next_piece():
            return
    if caller.hung_up_after is not None:
        stream.abandon()
    else:
        await stream.done.wait()  # reads no more: the runtime waits for it until the invoke ends
