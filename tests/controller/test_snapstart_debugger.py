"""SnapStart and the fleet's counters in the debugger, through the controller with real processes: a failed restore
is shown in the environment it happened in (its invoke's error, its log), the snapshot environment never counts
as concurrency, and an Event invoke that waits in the fleet's queue is told (a fact) as it starts to wait."""

from __future__ import annotations

import pytest
import trio

from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.fleet import FleetOptions

from controller_support import debugger, write_handler

FAILING_RESTORE = """\
from snapshot_restore_py import register_after_restore


@register_after_restore
def reconnect():
    raise RuntimeError("restore hook broke")


def handler(event, context):
    return "ok"
"""


@pytest.mark.trio
async def test_a_failed_restore_stays_to_be_seen_and_the_snapshot_is_no_concurrency(code_dir):
    write_handler(code_dir, FAILING_RESTORE)
    async with debugger(code_dir / "handler.py", fleet=FleetOptions(snapstart=True, concurrency=1)) as dbg:
        fleet = dbg.session.fleet
        dbg.running.host.start_environment()  # `c`: Init, then the snapshot
        await dbg.settled()
        request_id = dbg.start_invoke()  # `i`
        await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        with trio.fail_after(10):
            while fleet.counters().environments:  # the failed environment is discarded
                await fleet.wait_changed()
        shown = dbg.session.snapshot(2)
        assert shown.environment_number == 2
        assert [(line.number, line.state) for line in shown.environments] == [(1, EnvState.SNAPSHOT),
                                                                               (2, EnvState.SHUT_DOWN)]
        assert not shown.environments[1].busy
        assert shown.last_result is not None and shown.last_result.error_type == "SnapStartException"
        texts = [line.text for line in shown.logs]
        assert any("RuntimeError: restore hook broke" in text for text in texts)
        assert any(text.startswith("RESTORE_REPORT") and "Runtime.AfterRestoreError" in text for text in texts)
        counters = shown.fleet
        assert counters is not None
        assert (counters.environments, counters.concurrency, counters.peak_concurrency) == (0, 0, 1)


@pytest.mark.trio
async def test_event_invokes_that_wait_for_an_environment_are_said_as_they_arrive(code_dir):
    write_handler(code_dir, "def handler(event, context):\n    return 'ok'\n")
    async with debugger(code_dir / "handler.py", fleet=FleetOptions(concurrency=1)) as dbg:
        dbg.running.host.start_environment()
        await dbg.settled()
        await dbg.held_before_delivery()  # env #1 busy: its invoke held before delivery
        fleet = dbg.session.fleet
        mark = dbg.facts.mark()
        for request_id in ("event-1", "event-2"):
            result, _ = await fleet.invoke(b"{}", asynchronous=True, request_id=request_id)
            assert result.payload == b""  # 202
        # Each is said once, as it starts to wait: the fact is what wakes the debugger's fleet line.
        await dbg.facts.until(lambda: len(dbg.facts.since(mark, f.EventWaiting)) == 2)
        counters = dbg.snapshot().fleet
        assert counters is not None and (counters.queued_events, counters.throttled) == (2, 0)
        assert len(dbg.facts.since(mark, f.EventWaiting)) == 2  # once each
