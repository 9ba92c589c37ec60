"""What a replay does for Managed Instances (lambda-spec §11.3): says which `worker = N` nothing can follow, and lets
the handlers of a step's timed-out invokes, which run on after their callers had the timeout error and write to the
/tmp the next invokes read, finish before the next step (unless a freeze stops them, which only a later step thaws).
"""

from __future__ import annotations

from typing import Optional

import trio

from lambdatui.host.debug_session import DebugSession
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.scenario.model import Action, InvokeAction, ParallelAction, Scenario
from lambdatui.scenario.report import TimelinePrinter
from lambdatui.scenario.step_facts import StepFacts


def say_unused_workers(scenario: Scenario, most: int, printer: TimelinePrinter) -> None:
    """`worker = N` that no environment can follow: without Managed Instances, or past its `max_concurrency`."""
    named = {worker for step in scenario.steps for worker in _workers(step.action) if worker}
    if named and not most:
        printer.line("note", "worker = N names a worker of a Managed Instances environment (max_concurrency): this "
                             "function's environments run one invoke at a time, in one runtime, so it is not used")
    elif any(worker > most for worker in named):
        printer.line("note", f"worker = {max(named)}: an environment here has {most} worker{'s' * (most != 1)} "
                             "(max_concurrency); an invoke that names one past them goes to any worker")


def _workers(action: Action) -> tuple[int, ...]:
    if isinstance(action, InvokeAction):
        return (action.worker,)
    return action.workers if isinstance(action, ParallelAction) else ()


async def await_overruns(session: DebugSession, facts: StepFacts, printer: TimelinePrinter, bound_s: float) -> None:
    """A step's timed-out invokes whose handlers run on (lambda-spec §11.3): the next step waits for them, as a
    session's next invoke that met them done did (one that came while they ran is recorded as sharing their workers,
    its response not compared). At most `bound_s`: a handler that runs on for ever must not stop the replay. Not for
    one a freeze of its runtime stops: only a later step can thaw it, so waiting here would only lose `bound_s`."""
    timed_out = {seen.request_id: seen.env for seen in facts.invokes
                 if seen.result is not None and seen.result.error_type == et.SANDBOX_TIMEDOUT and seen.request_id}
    for fact in facts.step.facts:
        if isinstance(fact, f.OverrunEnded):
            timed_out.pop(fact.request_id, None)
    stopped = sorted(request_id for request_id, number in timed_out.items() if _runtime_frozen(session, number))
    if stopped:
        # A freeze (a fault step) stops them, and only a later step can thaw them: as in the session, whose thaw came
        # while they were stopped, the next step goes on beside them.
        printer.line("overrun", f"the handler of {', '.join(stopped)} (timed out) is stopped by the freeze of its "
                                "runtime: the next step goes on beside it, as the session's did (only a thaw lets it "
                                "end)")
        for request_id in stopped:
            del timed_out[request_id]
    if not timed_out:
        return
    done = trio.Event()

    def heard(number: int, fact: f.Fact) -> None:
        if isinstance(fact, f.OverrunEnded):
            timed_out.pop(fact.request_id, None)
            if not timed_out:
                done.set()

    # No checkpoint since the step's own listener let go (run.py): none of the step's facts is missed between them.
    unsubscribe = session.fleet.subscribe_numbered(heard)
    try:
        printer.line("overrun", f"the handler of {', '.join(sorted(timed_out))} (timed out) runs on: the next step "
                                f"waits for it, at most {bound_s:g} s, as a session's next invoke met it done")
        with trio.move_on_after(bound_s):
            await done.wait()
        if timed_out:
            printer.line("overrun", f"{', '.join(sorted(timed_out))}: still running after {bound_s:g} s; the next "
                                    "step goes on beside it")
    finally:
        unsubscribe()


def _runtime_frozen(session: DebugSession, number: Optional[int]) -> bool:
    """Whether a freeze fault stopped env #N's runtime, and no thaw has let it go on yet."""
    host = session.fleet.member(number) if number else None
    return host is not None and flt.RUNTIME_TARGET in host.snapshot().user_frozen
