"""Every fault the controller injects, and what Lambda's own rules make of it (design.md, Faults)."""

from __future__ import annotations

import os

import pytest
import trio

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary as B
from lambdatui.model.boundaries import EnvState
from lambdatui.model.faults import Crash, ExtensionInitError, ForceTimeout, Freeze, RaiseInHandler, Thaw
from lambdatui.model.stacks import hung_frame

from controller_support import (
    SAMPLES,
    add_audit_extension,
    debugger,
    payload,
    proc_state,
    wait_frozen,
    write_handler,
)

# Counts invokes per process (globals) and across resets (/tmp); sleeps when asked. The environment's /tmp
# is gettempdir(), which follows TMPDIR where lambdatui cannot make /tmp private: never the host's /tmp.
COUNTER = """\
    import os
    import tempfile
    import time

    COUNT = 0
    MARKS = os.path.join(tempfile.gettempdir(), "count.txt")

    def handler(event, context):
        global COUNT
        COUNT += 1
        with open(MARKS, "a") as fh:
            fh.write("x")
        time.sleep(event.get("sleep", 0))
        return {"count": COUNT, "tmp": os.path.getsize(MARKS), "started": STARTED}

    # Which process ran it, as the host can check too: os.getpid() numbers it inside the environment's PID
    # namespace, but the start time (in clock ticks since boot) is the same seen from inside or out.
    STARTED = int(open("/proc/self/stat").read().rpartition(")")[2].split()[19])
    """


def started_at(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rpartition(")")[2].split()[19])


def running_runtime(fact: f.Fact) -> bool:
    return isinstance(fact, f.ParticipantChanged) and fact.participant == "runtime" and fact.state == "Running"


async def until_runtime_running(dbg, mark: int) -> None:
    await dbg.facts.until(lambda: any(running_runtime(x) for x in dbg.facts.all[mark:]))


async def slow_invoke_running(dbg) -> tuple[str, float, int]:
    """An invoke whose handler sleeps 5 s, once the runtime is running it: (request id, start time, facts mark)."""
    mark = dbg.facts.mark()
    started = trio.current_time()
    request_id = dbg.start_invoke({"sleep": 5})
    await until_runtime_running(dbg, mark)
    return request_id, started, mark


@pytest.mark.trio
async def test_crashing_the_idle_runtime_resets_the_environment_and_keeps_tmp(code_dir):
    write_handler(code_dir, COUNTER)
    async with debugger(code_dir / "handler.py") as dbg:
        first, report = await dbg.invoke()
        assert payload(first)["count"] == 1 and report.cold
        old_pid = dbg.pid()
        assert started_at(old_pid) == payload(first)["started"]
        mark = dbg.facts.mark()
        dbg.submit(c.InjectFault(Crash()))
        await dbg.settled()

        env = dbg.env
        assert env.state is EnvState.COLD and not env.frozen and env.held_at is None
        assert proc_state(old_pid) in (None, "Z")
        exits = dbg.facts.since(mark, f.ProcessExitedFact)
        assert exits == [f.ProcessExitedFact("runtime", "signal: killed", expected=False)]
        assert [(p.phase, p.detail) for p in dbg.facts.since(mark, f.PhaseStarted)] == [("reset", "failure")]
        assert [e.state for e in dbg.facts.since(mark, f.StateChanged)] == [EnvState.RESETTING, EnvState.COLD]
        assert dbg.facts.since(mark, f.InvocationCompleted) == []  # no invoke was in flight

        second, report = await dbg.invoke()
        body = payload(second)
        assert report.cold and report.status == "success"
        assert report.init_duration_ms is None  # a suppressed Init: inside the invoke's own Duration
        assert body["count"] == 1, "globals must restart in the new process"
        assert body["tmp"] == 2, "/tmp must survive the reset"
        assert body["started"] != payload(first)["started"]
        assert dbg.env.generation == 2

        third, report = await dbg.invoke()
        assert payload(third)["count"] == 2 and not report.cold


@pytest.mark.trio
async def test_a_crash_with_an_exit_code_fails_the_running_invoke_with_that_status(code_dir):
    write_handler(code_dir, COUNTER)
    async with debugger(code_dir / "handler.py", timeout_s=10) as dbg:
        await dbg.invoke()
        request_id, started, mark = await slow_invoke_running(dbg)
        dbg.submit(c.InjectFault(Crash(exit_code=3)))
        result = await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        assert trio.current_time() - started < 4, "the crash must end the invoke, not the 5 s sleep"
        body = payload(result)
        assert result.function_error and result.error_type == "Runtime.ExitError"
        assert body["errorType"] == "Runtime.ExitError"
        assert "exit status 3" in body["errorMessage"], body
        await dbg.settled()
        assert f.ProcessExitedFact("runtime", "exit status 3", expected=False) in dbg.facts.since(mark)
        report = dbg.facts.report(request_id)
        assert report.status == "error" and report.error_type == "Runtime.ExitError"
        assert dbg.env.state is EnvState.COLD  # reset
        again, report = await dbg.invoke()
        assert payload(again)["count"] == 1 and report.cold


@pytest.mark.parametrize(("fault", "described", "exit_text"), [
    (Crash(at=B.INVOKE_START), "crash runtime (SIGKILL) at invoke.start", "signal: killed"),
    (Crash(exit_code=3, at=B.INVOKE_START), "crash runtime (exit code 3) at invoke.start", "exit status 3"),
])
@pytest.mark.trio
async def test_a_crash_armed_at_invoke_start_fails_that_invoke(code_dir, fault, described, exit_text):
    write_handler(code_dir, COUNTER)
    async with debugger(code_dir / "handler.py") as dbg:
        await dbg.invoke()
        dbg.submit(c.InjectFault(fault))
        assert dbg.facts.of(f.FaultArmed)[-1].boundary is B.INVOKE_START
        assert dbg.snapshot().armed_faults == (described,)
        assert dbg.env.state is EnvState.FROZEN and dbg.env.generation == 1  # armed, not injected yet
        result, report = await dbg.invoke()
        assert result.function_error and result.error_type == "Runtime.ExitError"
        body = payload(result)
        assert body["errorType"] == "Runtime.ExitError"
        assert body["errorMessage"] == f"RequestId: {result.request_id} Error: Runtime exited with error: {exit_text}"
        assert report.status == "error" and report.error_type == "Runtime.ExitError"
        assert dbg.snapshot().armed_faults == ()
        # The handler never ran: the next invoke, in a fresh process, counts 1 with the second /tmp mark.
        again, report = await dbg.invoke()
        assert payload(again)["count"] == 1 and payload(again)["tmp"] == 2 and report.cold


@pytest.mark.trio
async def test_crashing_an_extension_during_an_invoke_fails_it_with_extension_crash(code_dir):
    write_handler(code_dir, COUNTER)
    add_audit_extension(code_dir)
    async with debugger(code_dir / "handler.py", timeout_s=10) as dbg:
        assert dbg.snapshot().function.extensions == ("audit",)
        await dbg.invoke()
        audit_pid = dbg.pid("extension:audit")
        request_id, started, mark = await slow_invoke_running(dbg)
        dbg.submit(c.InjectFault(Crash(target="audit")))
        result = await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        assert trio.current_time() - started < 4
        assert result.function_error and result.error_type == "Extension.Crash"
        assert payload(result)["errorType"] == "Extension.Crash"
        await dbg.settled()
        assert dbg.facts.report(request_id).error_type == "Extension.Crash"
        assert f.ProcessExitedFact("extension:audit", "signal: killed", expected=False) in dbg.facts.since(mark)
        assert dbg.env.state is EnvState.COLD
        # The next invoke re-initialises with a new audit process and succeeds.
        again, report = await dbg.invoke()
        assert not again.function_error and report.cold
        assert dbg.pid("extension:audit") != audit_pid


@pytest.mark.trio
async def test_a_frozen_runtime_runs_the_next_invoke_into_its_timeout_then_resets(code_dir):
    write_handler(code_dir, COUNTER)
    async with debugger(code_dir / "handler.py", timeout_s=1) as dbg:
        await dbg.invoke()
        runtime_pid = dbg.pid()
        dbg.submit(c.InjectFault(Freeze()))
        assert dbg.env.user_frozen == frozenset({"runtime"})
        mark = dbg.facts.mark()
        request_id = dbg.start_invoke()
        await until_runtime_running(dbg, mark)
        # The environment thawed for the invoke, but the user's freeze keeps the runtime stopped.
        assert await wait_frozen(runtime_pid)
        assert dbg.env.state is EnvState.RUNNING
        result = await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        assert result.function_error and result.error_type == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in payload(result)["errorMessage"]
        await dbg.settled()
        assert dbg.facts.report(request_id).status == "timeout"
        assert [(p.phase, p.detail) for p in dbg.facts.since(mark, f.PhaseStarted)][-1] == ("reset", "timeout")
        assert dbg.env.state is EnvState.COLD
        assert dbg.env.user_frozen == frozenset()  # its process is gone: frozen by nobody (was still "runtime")
        stacks = dbg.snapshot().last_stacks  # thawed just to take the stack signal: where it was when frozen
        assert stacks is not None and stacks.request_id == request_id and "Current thread" in stacks.text
        again, report = await dbg.invoke()
        assert payload(again)["count"] == 1 and report.cold


@pytest.mark.trio
async def test_thawing_a_frozen_runtime_lets_its_invoke_finish(code_dir):
    write_handler(code_dir, COUNTER)
    async with debugger(code_dir / "handler.py", timeout_s=5) as dbg:
        await dbg.invoke()
        runtime_pid = dbg.pid()
        dbg.submit(c.InjectFault(Freeze()))
        mark = dbg.facts.mark()
        request_id = dbg.start_invoke()
        await until_runtime_running(dbg, mark)
        assert await wait_frozen(runtime_pid)
        assert dbg.facts.completed(request_id) is None
        dbg.submit(c.InjectFault(Thaw()))
        assert dbg.env.user_frozen == frozenset()
        result = await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        assert not result.function_error, result.payload
        assert payload(result)["count"] == 2 and payload(result)["started"] == started_at(runtime_pid)
        await dbg.settled()
        assert dbg.facts.report(request_id).status == "success"
        assert dbg.env.state is EnvState.FROZEN and dbg.env.generation == 1


@pytest.mark.trio
async def test_force_timeout_ends_a_slow_invoke_at_once(code_dir):
    write_handler(code_dir, COUNTER)
    async with debugger(code_dir / "handler.py", timeout_s=10) as dbg:
        await dbg.invoke()
        request_id, started, mark = await slow_invoke_running(dbg)
        dbg.submit(c.InjectFault(ForceTimeout()))
        result = await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        assert trio.current_time() - started < 3, "ForceTimeout must not wait for the 5 s handler"
        assert result.function_error and result.error_type == "Sandbox.Timedout"
        assert "Task timed out after 10.00 seconds" in payload(result)["errorMessage"]
        await dbg.settled()
        assert dbg.facts.report(request_id).status == "timeout"
        assert dbg.env.state is EnvState.COLD
        again, report = await dbg.invoke()
        assert payload(again)["count"] == 1 and report.cold


@pytest.mark.trio
async def test_raise_in_handler_is_a_function_error_and_the_runtime_survives(code_dir):
    write_handler(code_dir, COUNTER)
    async with debugger(code_dir / "handler.py") as dbg:
        first, _ = await dbg.invoke()
        runtime_pid = dbg.pid()
        dbg.submit(c.InjectFault(RaiseInHandler("KeyError", "x")))
        result, report = await dbg.invoke()
        body = payload(result)
        assert result.function_error and result.error_type == "KeyError"
        assert body["errorType"] == "KeyError" and "x" in body["errorMessage"]
        # (REPORT's status for a handled function error is unconfirmed for the real service: not checked.)
        assert not report.cold
        assert dbg.env.state is EnvState.FROZEN and dbg.pid() == runtime_pid
        # Only the next entry raises, instead of the handler running: the count goes on from 1.
        again, report = await dbg.invoke()
        assert not again.function_error and not report.cold
        assert payload(again)["count"] == 2 and payload(again)["started"] == payload(first)["started"]


@pytest.mark.trio
async def test_an_extension_init_error_fails_init_and_the_invoke_retries_it():
    async with debugger(SAMPLES / "extension" / "handler.py") as dbg:
        dbg.submit(c.InjectFault(ExtensionInitError("audit")))
        request_id = dbg.start_invoke()
        await dbg.facts.until(lambda: dbg.facts.report(request_id))
        await dbg.settled()
        init_reports = [line for line in dbg.log_lines(f.PLATFORM) if line.startswith("INIT_REPORT")]
        assert len(init_reports) == 1 and "Status: error" in init_reports[0]
        assert "Extension.InitError" in init_reports[0]
        inits = [(p.status, p.error_type) for p in dbg.facts.of(f.PhaseEnded) if p.phase == "init"]
        assert inits == [("error", "Extension.InitError"), ("success", None)]
        assert dbg.facts.boundaries() == [(b, False) for b in (
            "init.extensions", "shutdown.start", "shutdown.done",
            "init.extensions", "init.runtime", "init.function", "init.done",
            "invoke.start", "invoke.response", "invoke.done")]
        result = dbg.facts.completed(request_id)
        assert payload(result) == {"requestId": request_id}
        report = dbg.facts.report(request_id)
        assert report.status == "success" and report.cold
        assert dbg.env.state is EnvState.FROZEN and dbg.env.generation == 2


@pytest.mark.trio
async def test_a_timeout_captures_the_stack_where_the_handler_hung():
    slow = SAMPLES / "slow"
    async with debugger(slow / "handler.py", timeout_s=1) as dbg:
        result, report = await dbg.invoke()
        assert result.error_type == "Sandbox.Timedout" and report.status == "timeout"
        stacks = dbg.snapshot().last_stacks
        assert stacks is not None and stacks.request_id == result.request_id
        frame = hung_frame(stacks, str(slow))
        assert frame is not None, stacks.text
        assert frame.function == "wait_for_downstream"
        assert os.path.realpath(frame.file) == os.path.realpath(slow / "handler.py")


@pytest.mark.trio
async def test_crashing_the_sample_extension_during_init_fails_init_with_extension_crash():
    async with debugger(SAMPLES / "extension" / "handler.py") as dbg:
        # At init.runtime the audit extension has registered and the runtime is not launched yet.
        dbg.submit(c.InjectFault(Crash(target="audit", at=B.INIT_RUNTIME)))
        request_id = dbg.start_invoke()
        await dbg.facts.until(lambda: dbg.facts.report(request_id))
        await dbg.settled()
        init_reports = [line for line in dbg.log_lines(f.PLATFORM) if line.startswith("INIT_REPORT")]
        assert len(init_reports) == 1
        assert "Status: error" in init_reports[0] and "Error Type: Extension.Crash" in init_reports[0]
        inits = [(p.status, p.error_type) for p in dbg.facts.of(f.PhaseEnded) if p.phase == "init"]
        assert inits == [("error", "Extension.Crash"), ("success", None)]
        assert f.ProcessExitedFact("extension:audit", "signal: killed", expected=False) in dbg.facts.all
        # The invoke retried Init with a new audit process, and succeeded.
        assert payload(dbg.facts.completed(request_id)) == {"requestId": request_id}
        assert dbg.facts.report(request_id).cold and dbg.env.generation == 2
        assert f"[audit] INVOKE {request_id}" in dbg.log_lines("extension:audit")


@pytest.mark.trio
async def test_crashing_the_runtime_while_held_fails_the_held_invoke(code_dir):
    write_handler(code_dir, COUNTER)
    async with debugger(code_dir / "handler.py") as dbg:
        request_id = await dbg.held_before_delivery()
        dbg.submit(c.SetBreakpoints(frozenset()))
        dbg.submit(c.InjectFault(Crash()))
        result = await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        assert result.error_type == "Runtime.ExitError"
        assert "signal: killed" in payload(result)["errorMessage"]
        await dbg.settled()
        assert dbg.env.held_at is None and dbg.env.state is EnvState.COLD
        again, report = await dbg.invoke()
        assert payload(again)["count"] == 1 and report.cold


@pytest.mark.trio
async def test_settled_waits_for_a_crash_injected_while_held(code_dir):
    write_handler(code_dir, COUNTER)
    async with debugger(code_dir / "handler.py") as dbg:
        request_id = await dbg.held_before_delivery()
        dbg.submit(c.SetBreakpoints(frozenset()))
        dbg.submit(c.InjectFault(Crash()))
        await dbg.settled()
        env = dbg.env
        assert (env.held_at, env.state) == (None, EnvState.COLD)
        assert dbg.facts.completed(request_id).error_type == "Runtime.ExitError"


@pytest.mark.trio
async def test_force_timeout_while_held_before_delivery_times_out_the_invoke_once_delivered(code_dir):
    write_handler(code_dir, COUNTER)
    async with debugger(code_dir / "handler.py", timeout_s=10) as dbg:
        request_id = await dbg.held_before_delivery()
        dbg.submit(c.InjectFault(ForceTimeout()))
        await dbg.settled()
        assert dbg.env.held_at is B.INVOKE_START  # no deadline runs before delivery: it waits for one
        assert dbg.facts.completed(request_id) is None
        started = trio.current_time()
        dbg.submit(c.Continue())
        result = await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        assert trio.current_time() - started < 3
        assert result.error_type == "Sandbox.Timedout"
        await dbg.settled()
        assert dbg.facts.report(request_id).status == "timeout" and dbg.env.state is EnvState.COLD


# A graceful-shutdown handler that logs SIGTERM and carries on: a "crash" with that signal ends nothing.
SURVIVES_SIGTERM = """\
    import signal

    signal.signal(signal.SIGTERM, lambda *_: print("SIGTERM received, carrying on", flush=True))
    COUNT = 0

    def handler(event, context):
        global COUNT
        COUNT += 1
        return {"count": COUNT}
    """


@pytest.mark.trio
async def test_a_crash_signal_the_runtime_survives_gives_the_environment_back(code_dir):
    write_handler(code_dir, SURVIVES_SIGTERM)
    async with debugger(code_dir / "handler.py") as dbg:
        await dbg.invoke()
        runtime_pid = dbg.pid()
        mark = dbg.facts.mark()
        dbg.submit(c.InjectFault(Crash(signal=15)))
        # Not waiting forever for an exit that never comes: the environment settles, frozen again, same process.
        await dbg.settled()
        assert dbg.facts.since(mark, f.ProcessExitedFact) == []
        assert dbg.env.state is EnvState.FROZEN
        assert await wait_frozen(runtime_pid), "idle again, so frozen again"
        said = " ".join(line.text for line in dbg.facts.since(mark, f.LogLine) if line.source == f.LAMBDATUI)
        assert "still running" in said and "nothing crashed" in said, said
        again, report = await dbg.invoke()
        assert payload(again)["count"] == 2 and not report.cold
