"""Failed Event invokes the fleet runs again (host/fleet_retries.py), in a replay: a step's `retries = N` (how often
the session's fleet ran its Event invokes again) and `after_retries = N` (how many such retries had ended when the
step's invoke came, in the environments it then met: parsed by scenario/values.py), and the replay's waits for
both."""

from __future__ import annotations

import trio

from lambdatui.host.debug_session import DebugSession
from lambdatui.scenario.report import TimelinePrinter


async def await_retries(session: DebugSession, printer: TimelinePrinter, attempt_s: float, expected: int, *,
                        before_step: bool = False) -> None:
    """The replay's end (or a step's start) waits for as many retries as the session's fleet ran, said once, bounded
    by their waits and an invoke's time each. One the session's end cut off is not waited for: it is named as not run
    at the replay's end too; nor are those an attempt that succeeds here makes needless (nothing is left to retry)."""
    fleet = session.fleet
    if not expected or fleet.retries_run >= expected and fleet.settled():
        return
    options = fleet.options
    when = " before this step" if before_step else ""
    printer.line("retries", f"waiting for the fleet to run failed Event invokes again {expected} "
                            f"time{'s' if expected > 1 else ''}{when}, as in the session (the first retry "
                            f"{options.retry_wait_s:g} s after its failure)")
    attempts = options.retry_attempts
    bound = options.retry_wait_s * attempts * (attempts + 1) / 2 + (expected + attempts + 1) * attempt_s
    with trio.move_on_after(bound) as waited:
        while (fleet.retries_run < expected and fleet.retries_pending()) or not fleet.settled():
            await fleet.wait_changed()
    if fleet.retries_run < expected:
        why = f"within {bound:g} s" if waited.cancelled_caught else "(an attempt succeeded, or its event grew too old)"
        printer.line("retries", f"{fleet.retries_run} of the {expected} ran {why}")
