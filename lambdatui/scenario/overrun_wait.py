"""Managed Instances: a replay's next step waits for the handlers of the step's timed-out invokes to finish.

There a timed-out invoke's caller has the timeout error at the deadline while its handler runs on (lambda-spec §11.3),
and writes to the /tmp the next invokes read. A session's next invoke that came while such a handler still ran is
recorded as sharing its workers (its response not compared); one that came after it was done is compared, so the
replay must let it finish first, as the session did. It waits no longer than a step may take (the function's
timeout and the replay's margin): a handler that runs on for ever must not stop the replay.
"""

from __future__ import annotations

import trio

from lambdatui.host.debug_session import DebugSession
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.scenario.report import TimelinePrinter
from lambdatui.scenario.step_facts import StepFacts


async def await_overruns(session: DebugSession, facts: StepFacts, printer: TimelinePrinter, bound_s: float) -> None:
    timed_out = {seen.request_id for seen in facts.invokes
                 if seen.result is not None and seen.result.error_type == et.SANDBOX_TIMEDOUT and seen.request_id}
    timed_out -= {fact.request_id for fact in facts.step.facts if isinstance(fact, f.OverrunEnded)}
    if not timed_out:
        return
    done = trio.Event()

    def heard(number: int, fact: f.Fact) -> None:
        if isinstance(fact, f.OverrunEnded):
            timed_out.discard(fact.request_id)
            if not timed_out:
                done.set()

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
