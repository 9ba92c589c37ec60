"""Spinning the environment down through the controller (SHUTDOWN spindown to extensions)."""

from __future__ import annotations

import json

import pytest
import trio

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState

from controller_support import SAMPLES, debugger, payload, proc_state


@pytest.mark.trio
async def test_shutdown_sends_spindown_to_the_extension_and_later_invokes_fail():
    async with debugger(SAMPLES / "extension" / "handler.py") as dbg:
        result, _ = await dbg.invoke()
        runtime_pid, audit_pid = dbg.pid("runtime"), dbg.pid("extension:audit")
        tmp_dir = dbg.running.host.sandbox.tmp_dir
        mark = dbg.facts.mark()
        dbg.submit(c.Shutdown())
        await dbg.settled()

        env = dbg.env
        assert env.state is EnvState.SHUT_DOWN and env.participants == () and not env.frozen
        assert [(p.phase, p.detail) for p in dbg.facts.since(mark, f.PhaseStarted)] == [("shutdown", "spindown")]
        assert [(p.phase, p.status) for p in dbg.facts.since(mark, f.PhaseEnded)] == [("shutdown", "success")]
        sent = dbg.facts.since(mark, f.ShutdownSent)
        assert [(s.extension, s.reason) for s in sent] == [("audit", "spindown")]
        assert dbg.log_lines("extension:audit", mark) == ["[audit] SHUTDOWN reason=spindown"]
        exits = {x.participant: x for x in dbg.facts.since(mark, f.ProcessExitedFact)}
        assert exits["extension:audit"] == f.ProcessExitedFact("extension:audit", "exit status 0", expected=True)
        assert exits["runtime"].expected
        assert proc_state(runtime_pid) in (None, "Z") and proc_state(audit_pid) in (None, "Z")

        # What the extension wrote to its /tmp: the INVOKE with the function's request id, then SHUTDOWN.
        events = [json.loads(line) for line in (tmp_dir / "audit.log").read_text().splitlines()]
        assert [e["eventType"] for e in events] == ["INVOKE", "SHUTDOWN"]
        assert events[0]["requestId"] == result.request_id
        assert events[1]["shutdownReason"] == "spindown" and events[1]["deadlineMs"] == sent[0].deadline_ms

        mark = dbg.facts.mark()
        request_id = dbg.start_invoke()
        late = await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        await dbg.settled()
        assert late.function_error and late.error_type == "Sandbox.Failure"
        assert payload(late)["errorType"] == "Sandbox.Failure"
        assert dbg.env.state is EnvState.SHUT_DOWN
        assert dbg.facts.since(mark, f.PhaseStarted) == []  # nothing was started for it
        assert dbg.facts.report(request_id) is None


@pytest.mark.trio
async def test_shutdown_while_held_releases_the_hold_and_still_spins_down():
    async with debugger(SAMPLES / "extension" / "handler.py") as dbg:
        await dbg.invoke()
        dbg.submit(c.Step())  # hold at the next boundary: the next invoke's start
        request_id = dbg.start_invoke()
        await dbg.settled()
        assert dbg.env.held_at is not None and dbg.env.frozen
        mark = dbg.facts.mark()
        dbg.submit(c.Shutdown())
        await dbg.settled()
        assert dbg.env.state is EnvState.SHUT_DOWN and dbg.env.held_at is None
        # The held invoke's caller still gets an answer, and the extension still gets its SHUTDOWN.
        result = dbg.facts.completed(request_id)
        assert result is not None and result.error_type == "Sandbox.Failure"
        assert [(s.extension, s.reason) for s in dbg.facts.since(mark, f.ShutdownSent)] == [("audit", "spindown")]
        assert "[audit] SHUTDOWN reason=spindown" in dbg.log_lines("extension:audit", mark)


@pytest.mark.trio
async def test_a_shutdown_while_an_environment_starts_for_an_event_invoke_drops_that_event_and_says_so():
    """The fleet's queue is emptied by the shutdown while an environment is being started for its first Event (env
    #1 busy, held with an invoke): the dispatcher must not take an event that is no longer there."""
    async with debugger(SAMPLES / "hello" / "handler.py") as dbg:
        await dbg.invoke()
        dbg.submit(c.Step())  # hold env #1 at the next invoke's start: busy, so an Event needs a new environment
        dbg.start_invoke()
        await dbg.settled()
        fleet = dbg.session.fleet
        result, _ = await fleet.invoke(b"{}", asynchronous=True, request_id="event-1")
        assert result.payload == b""  # 202: in the fleet's queue
        with trio.fail_after(10):
            while not fleet._starting:  # the dispatcher is starting env #2 for it
                await trio.sleep(0)
        dbg.submit(c.Shutdown())
        await dbg.settled()
        notes = [x.text for x in dbg.facts.all if isinstance(x, f.LogLine) and "event-1" in x.text]
        assert notes == ["Event invoke event-1 was not run: lambdatui shut down while it was queued"], notes
        assert [x for x in dbg.facts.all if isinstance(x, f.EventNotRun)] == [f.EventNotRun("event-1", notes[0])]
        assert dbg.facts.report("event-1") is None
