"""Held time is excluded from every Lambda deadline and duration (design.md: a debugger must not cause the
timeouts it is used to study).

Here time itself is what is measured, so the tests let real time pass while the lifecycle is held: each
hold lasts longer than the whole 1 s function timeout.
"""

from __future__ import annotations

import pytest
import trio

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary as B
from lambdatui.model.boundaries import EnvState
from lambdatui.model.faults import Crash

from controller_support import debugger, payload, write_handler

HOLD_S = 1.5  # longer than the function timeout below
TIMEOUT_S = 1

REMAINING = """\
    import time

    def handler(event, context):
        time.sleep(event.get("sleep", 0))
        return {"remaining": context.get_remaining_time_in_millis()}
    """


async def hold_then_continue(dbg, boundary: B, seconds: float = HOLD_S) -> None:
    await dbg.settled()
    assert dbg.env.held_at is boundary
    await trio.sleep(seconds)  # the measured quantity: time spent held
    dbg.submit(c.Continue())


@pytest.mark.trio
async def test_holds_during_init_and_at_invoke_start_and_response_do_not_count(code_dir):
    write_handler(code_dir, REMAINING)
    async with debugger(code_dir / "handler.py", timeout_s=TIMEOUT_S) as dbg:
        dbg.submit(c.SetBreakpoints(frozenset({B.INIT_RUNTIME, B.INVOKE_START, B.INVOKE_RESPONSE})))
        request_id = dbg.start_invoke({"sleep": 0.1})
        await hold_then_continue(dbg, B.INIT_RUNTIME)
        await hold_then_continue(dbg, B.INVOKE_START)
        await hold_then_continue(dbg, B.INVOKE_RESPONSE)
        await dbg.settled()
        assert dbg.env.state is EnvState.FROZEN

        result = dbg.facts.completed(request_id)
        assert not result.function_error, result.payload
        remaining = payload(result)["remaining"]
        # The handler slept 0.1 s of its 1 s before asking; the 1.5 s held before delivery are not gone.
        assert 700 < remaining <= 900, remaining
        report = dbg.facts.report(request_id)
        assert report.status == "success" and report.error_type is None
        # 4.5 s were spent held; Duration counts only the ~0.1 s the handler ran.
        assert 100 <= report.duration_ms < 600, report.duration_ms
        # The Init (held 1.5 s at init.runtime) reports only its own work, well under the hold.
        assert report.init_duration_ms is not None and report.init_duration_ms < 1000, report.init_duration_ms
        init_end = [p for p in dbg.facts.of(f.PhaseEnded) if p.phase == "init"]
        assert [(p.status, p.duration_ms < 1000) for p in init_end] == [("success", True)]
        assert not any("Task timed out" in line for line in dbg.log_lines(f.PLATFORM))


@pytest.mark.trio
async def test_a_hold_inside_a_suppressed_init_does_not_eat_the_function_timeout(code_dir):
    """After a reset, Init runs inside the invoke and counts against its 1 s timeout: holding there must not."""
    write_handler(code_dir, REMAINING)
    async with debugger(code_dir / "handler.py", timeout_s=TIMEOUT_S) as dbg:
        await dbg.invoke()
        dbg.submit(c.InjectFault(Crash()))
        await dbg.settled()
        assert dbg.env.state is EnvState.COLD

        dbg.submit(c.SetBreakpoints(frozenset({B.INIT_RUNTIME})))
        mark = dbg.facts.mark()
        request_id = dbg.start_invoke()
        await dbg.settled()
        assert dbg.env.held_at is B.INIT_RUNTIME and dbg.env.init_phase == "invoke"
        # The invoke (and its timer) began before the Init it contains.
        assert [p.detail for p in dbg.facts.since(mark, f.PhaseStarted)] == [request_id, "invoke"]
        await trio.sleep(HOLD_S)
        dbg.submit(c.Continue())
        await dbg.facts.until(lambda: dbg.facts.report(request_id))
        await dbg.settled()

        result = dbg.facts.completed(request_id)
        assert not result.function_error, result.payload
        # What is left is 1 s minus the Init's own work (tens of ms; hundreds on a busy machine), never minus the hold.
        remaining = payload(result)["remaining"]
        report = dbg.facts.report(request_id)
        # The invoke's Duration holds that work and no hold: what the handler saw left is 1 s minus at most that.
        assert 1000 - report.duration_ms - 50 < remaining <= 1000, (remaining, report.duration_ms)
        assert report.cold and report.status == "success"
        assert report.duration_ms < 1000, report.duration_ms


@pytest.mark.trio
async def test_a_hold_at_invoke_start_leaves_the_whole_budget_to_the_handler(code_dir):
    write_handler(code_dir, REMAINING)
    async with debugger(code_dir / "handler.py", timeout_s=TIMEOUT_S) as dbg:
        await dbg.invoke()
        dbg.submit(c.SetBreakpoints(frozenset({B.INVOKE_START})))
        request_id = dbg.start_invoke()
        await hold_then_continue(dbg, B.INVOKE_START)
        await dbg.facts.until(lambda: dbg.facts.report(request_id))
        await dbg.settled()
        result = dbg.facts.completed(request_id)
        assert not result.function_error, result.payload
        assert 800 < payload(result)["remaining"] <= 1000
        assert dbg.facts.report(request_id).duration_ms < 500
