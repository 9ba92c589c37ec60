"""Holding the lifecycle at its boundaries through the controller: Step, Continue, breakpoints.

Every hold is checked from the outside: the snapshot says where it is held and that the environment is
frozen, the kernel says the processes are really stopped, and the pending Next calls say what each
participant will receive when released.
"""

from __future__ import annotations

import pytest

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.model.boundaries import ALL_BOUNDARIES, Boundary, EnvState

from controller_support import (
    SAMPLES,
    Debugger,
    debugger,
    payload,
    proc_state,
    wait_frozen,
    write_custom_bootstrap,
    write_handler,
)

B = Boundary
COLD_INVOKE = [B.INIT_EXTENSIONS, B.INIT_RUNTIME, B.INIT_FUNCTION, B.INIT_DONE,
               B.INVOKE_START, B.INVOKE_RESPONSE, B.INVOKE_DONE]
WARM_INVOKE = [B.INVOKE_START, B.INVOKE_RESPONSE, B.INVOKE_DONE]
RUNTIME = "runtime"
AUDIT = "extension:audit"


async def step_through(dbg: Debugger, expected: list[Boundary], check=None) -> None:
    """Settle, check the hold is at the next expected boundary, run `check`, Step; then expect idle."""
    for boundary in expected:
        await dbg.settled()
        env = dbg.env
        assert env.held_at is boundary, f"expected a hold at {boundary.value}, got {env.held_at}"
        last = dbg.facts.of(f.BoundaryReached)[-1]
        assert (last.boundary, last.held) == (boundary, True)
        if check is not None:
            await check(boundary, env)
        dbg.submit(c.Step())
    await dbg.settled()


@pytest.mark.trio
async def test_step_holds_at_every_boundary_in_order_with_everything_frozen_and_parked():
    async with debugger(SAMPLES / "extension" / "handler.py") as dbg:
        dbg.submit(c.SetBreakpoints(frozenset(ALL_BOUNDARIES)))
        assert dbg.env.breakpoints == frozenset(ALL_BOUNDARIES)
        request_id = dbg.start_invoke({"n": 1})
        seen_pids: dict[str, int] = {}

        async def check(boundary: Boundary, env) -> None:
            views = {p.key: p for p in env.participants}
            if boundary is B.INIT_EXTENSIONS:
                # Nothing launched yet: nothing to freeze, and no process anywhere.
                assert env.state is EnvState.INIT and env.init_phase == "init"
                assert not env.frozen
                assert not any(p.alive for p in env.participants)
                assert dbg.running.host._processes == {}
                return
            assert env.frozen, f"not frozen while held at {boundary.value}"
            audit_pid = dbg.pid(AUDIT)
            seen_pids.setdefault(AUDIT, audit_pid)
            assert audit_pid == seen_pids[AUDIT]  # one process for the whole environment
            assert await wait_frozen(audit_pid)
            if boundary is B.INIT_RUNTIME:
                assert env.init_sub_phase == "runtime"
                assert views[AUDIT].state == "Registered" and views[AUDIT].alive
                assert not views[RUNTIME].alive  # the runtime launches after this boundary
                assert RUNTIME not in dbg.running.host._processes
                return
            runtime_pid = dbg.pid(RUNTIME)
            seen_pids.setdefault(RUNTIME, runtime_pid)
            assert runtime_pid == seen_pids[RUNTIME]
            assert await wait_frozen(runtime_pid), f"runtime not stopped at {boundary.value}"
            if boundary in (B.INIT_DONE, B.INVOKE_START, B.INVOKE_DONE):
                # Init and Invoke end only once the extension is parked on /event/next again.
                assert views[AUDIT].state == "Ready"
                assert views[AUDIT].parked and views[AUDIT].next_delivery == "INVOKE"
            if boundary is B.INIT_FUNCTION:
                # Registered; it may or may not have asked for its first event yet.
                assert views[AUDIT].state in ("Registered", "Ready") and views[AUDIT].alive
                assert env.init_sub_phase == "function"
                assert views[RUNTIME].state == "Started" and not views[RUNTIME].parked
                # The handler module is not imported yet: no globals report has arrived.
                assert dbg.facts.of(f.GlobalsReported) == []
            elif boundary in (B.INIT_DONE, B.INVOKE_START):
                assert views[RUNTIME].parked and views[RUNTIME].state == "Ready"
                assert views[RUNTIME].next_delivery == f"event {request_id}"
                assert views[RUNTIME].parked_since is not None
                assert dbg.facts.completed(request_id) is None
                if boundary is B.INVOKE_START:
                    assert env.current_request_id == request_id
            elif boundary is B.INVOKE_RESPONSE:
                assert env.state is EnvState.RUNNING
                assert not views[RUNTIME].parked  # it has responded, but not asked for the next event yet
                # The extension may still be working on its INVOKE: that is what this boundary shows.
                assert (views[AUDIT].state, views[AUDIT].parked) in (("Running", False), ("Ready", True))
                # The caller already has its answer at this boundary.
                assert payload(dbg.facts.completed(request_id)) == {"requestId": request_id}
            elif boundary is B.INVOKE_DONE:
                assert views[RUNTIME].parked and views[RUNTIME].next_delivery == "the next invoke's event"
                assert dbg.facts.report(request_id) is not None

        await step_through(dbg, COLD_INVOKE, check)
        env = dbg.env
        assert env.state is EnvState.FROZEN and env.held_at is None and env.frozen
        assert await wait_frozen(dbg.pid(RUNTIME))  # idle between invokes: frozen too
        assert dbg.facts.boundaries() == [(b.value, True) for b in COLD_INVOKE]
        assert dbg.snapshot().last_report.cold is True

        # Stepping continues into the next invoke: a warm one passes only the invoke boundaries.
        mark = dbg.facts.mark()
        second = dbg.start_invoke()
        await step_through(dbg, WARM_INVOKE)
        assert dbg.facts.boundaries(mark) == [(b.value, True) for b in WARM_INVOKE]
        assert dbg.facts.report(second).cold is False
        assert dbg.pid(RUNTIME) == seen_pids[RUNTIME]

        # Shutdown passes shutdown.start then shutdown.done; it never holds (lambdatui may be exiting).
        mark = dbg.facts.mark()
        dbg.submit(c.Shutdown())
        await dbg.settled()
        assert dbg.facts.boundaries(mark) == [("shutdown.start", False), ("shutdown.done", False)]
        assert dbg.env.state is EnvState.SHUT_DOWN and dbg.env.held_at is None


@pytest.mark.trio
async def test_a_reset_holds_at_shutdown_start_and_shutdown_done(code_dir):
    write_handler(code_dir, "def handler(event, context):\n    return 'ok'\n")
    async with debugger(code_dir / "handler.py") as dbg:
        await dbg.invoke()
        runtime_pid = dbg.pid()
        dbg.submit(c.SetBreakpoints(frozenset(ALL_BOUNDARIES)))
        mark = dbg.facts.mark()
        dbg.submit(c.NewEnvironment())  # a reset of this environment, then a fresh one
        await dbg.settled()
        env = dbg.env
        assert env.held_at is B.SHUTDOWN_START
        assert env.frozen and await wait_frozen(runtime_pid)
        assert dbg.facts.since(mark, f.BoundaryReached)[-1].detail == "spindown"
        dbg.submit(c.Step())
        await dbg.settled()
        env = dbg.env
        assert env.held_at is B.SHUTDOWN_DONE and env.state is EnvState.RESETTING
        assert proc_state(runtime_pid) in (None, "Z")  # the runtime is gone by now
        dbg.submit(c.Step())
        await dbg.settled()
        assert dbg.env.held_at is None and dbg.env.state is EnvState.COLD
        assert dbg.facts.boundaries(mark) == [("shutdown.start", True), ("shutdown.done", True)]


@pytest.mark.trio
async def test_a_custom_runtime_has_no_function_init_boundary(code_dir):
    write_custom_bootstrap(code_dir)
    async with debugger(code_dir) as dbg:
        assert dbg.snapshot().function.runtime == "provided:al2023"
        dbg.submit(c.SetBreakpoints(frozenset(ALL_BOUNDARIES)))
        request_id = dbg.start_invoke()
        expected = [b for b in COLD_INVOKE if b is not B.INIT_FUNCTION]

        async def check(boundary: Boundary, env) -> None:
            if boundary is B.INIT_DONE:
                runtime = next(p for p in env.participants if p.key == RUNTIME)
                assert runtime.parked and runtime.next_delivery == f"event {request_id}"
                assert await wait_frozen(dbg.pid())

        await step_through(dbg, expected, check)
        assert dbg.facts.boundaries() == [(b.value, True) for b in expected]
        assert payload(dbg.facts.completed(request_id)) == {"custom": True}
        assert dbg.facts.of(f.GlobalsReported) == []  # only our bootstrap reports globals


@pytest.mark.trio
async def test_continue_runs_to_idle_without_holding_where_there_is_no_breakpoint(code_dir):
    write_handler(code_dir, "def handler(event, context):\n    return event\n")
    async with debugger(code_dir / "handler.py") as dbg:
        dbg.submit(c.SetBreakpoints(frozenset({B.INIT_EXTENSIONS})))
        request_id = dbg.start_invoke({"n": 1})
        await dbg.settled()
        assert dbg.env.held_at is B.INIT_EXTENSIONS
        mark = dbg.facts.mark()
        dbg.submit(c.Continue())
        await dbg.settled()
        env = dbg.env
        assert env.state is EnvState.FROZEN and env.held_at is None and env.frozen
        assert payload(dbg.facts.completed(request_id)) == {"n": 1}
        assert dbg.facts.boundaries(mark) == [(b.value, False) for b in COLD_INVOKE[1:]]
        assert dbg.facts.since(mark, f.HoldReleased) == [f.HoldReleased(B.INIT_EXTENSIONS)]


@pytest.mark.trio
async def test_step_from_idle_holds_at_the_next_boundary_where_continue_would_run_through(code_dir):
    write_handler(code_dir, "def handler(event, context):\n    return event\n")
    async with debugger(code_dir / "handler.py") as dbg:
        await dbg.invoke()
        # Step while idle: the next boundary (the next invoke's start) holds, with no breakpoint set.
        dbg.submit(c.Step())
        request_id = dbg.start_invoke({"n": 2})
        await dbg.settled()
        assert dbg.env.held_at is B.INVOKE_START
        dbg.submit(c.Step())  # stepping: invoke.response holds although it is no breakpoint
        await dbg.settled()
        assert dbg.env.held_at is B.INVOKE_RESPONSE
        mark = dbg.facts.mark()
        dbg.submit(c.Continue())  # and Continue runs through invoke.done
        await dbg.settled()
        assert dbg.env.held_at is None and dbg.env.state is EnvState.FROZEN
        assert dbg.facts.boundaries(mark) == [("invoke.done", False)]
        assert payload(dbg.facts.completed(request_id)) == {"n": 2}
        # Continue ended stepping: the next invoke runs without holding.
        mark = dbg.facts.mark()
        await dbg.invoke({"n": 3})
        assert dbg.facts.boundaries(mark) == [(b.value, False) for b in WARM_INVOKE]


@pytest.mark.trio
async def test_a_breakpoint_at_invoke_response_holds_there_only_until_cleared(code_dir):
    write_handler(code_dir, "def handler(event, context):\n    return event\n")
    async with debugger(code_dir / "handler.py") as dbg:
        dbg.submit(c.SetBreakpoints(frozenset({B.INVOKE_RESPONSE})))
        assert dbg.env.breakpoints == frozenset({B.INVOKE_RESPONSE})
        for n, expected in ((1, COLD_INVOKE), (2, WARM_INVOKE)):
            mark = dbg.facts.mark()
            request_id = dbg.start_invoke({"n": n})
            await dbg.settled()
            env = dbg.env
            assert env.held_at is B.INVOKE_RESPONSE and env.frozen
            assert await wait_frozen(dbg.pid())
            assert payload(dbg.facts.completed(request_id)) == {"n": n}  # the response went out already
            assert dbg.facts.report(request_id) is None  # but the invoke is not done
            dbg.submit(c.Continue())
            await dbg.settled()
            assert dbg.env.held_at is None and dbg.env.state is EnvState.FROZEN
            assert dbg.facts.boundaries(mark) == [(b.value, b is B.INVOKE_RESPONSE) for b in expected]
            assert dbg.facts.report(request_id).status == "success"

        dbg.submit(c.SetBreakpoints(frozenset()))
        assert dbg.env.breakpoints == frozenset()
        mark = dbg.facts.mark()
        result, _ = await dbg.invoke({"n": 3})
        assert payload(result) == {"n": 3}
        assert dbg.facts.boundaries(mark) == [(b.value, False) for b in WARM_INVOKE]
        assert dbg.facts.since(mark, f.HoldReleased) == []


@pytest.mark.trio
async def test_step_while_an_invoke_runs_holds_at_the_next_boundary(code_dir):
    write_handler(code_dir, "import time\n\ndef handler(event, context):\n    time.sleep(0.5)\n    return 'ok'\n")
    async with debugger(code_dir / "handler.py", timeout_s=5) as dbg:
        await dbg.invoke()
        mark = dbg.facts.mark()
        request_id = dbg.start_invoke()
        await dbg.facts.until(lambda: any(
            isinstance(x, f.ParticipantChanged) and x.participant == RUNTIME and x.state == "Running"
            for x in dbg.facts.all[mark:]))
        assert dbg.env.state is EnvState.RUNNING and dbg.env.held_at is None
        dbg.submit(c.Step())
        await dbg.settled()
        assert dbg.env.held_at is B.INVOKE_RESPONSE, dbg.facts.boundaries(mark)
        assert dbg.facts.completed(request_id) is not None
        dbg.submit(c.Continue())
        await dbg.settled()
        assert dbg.env.state is EnvState.FROZEN


@pytest.mark.trio
async def test_new_environment_while_held_abandons_the_hold_and_resets(code_dir):
    write_handler(code_dir, "def handler(event, context):\n    return 'ok'\n")
    async with debugger(code_dir / "handler.py") as dbg:
        request_id = await dbg.held_before_delivery()
        dbg.submit(c.SetBreakpoints(frozenset()))
        mark = dbg.facts.mark()
        dbg.submit(c.NewEnvironment())
        # The held invoke's caller is answered at once; the old runtime is then killed.
        held_result = await dbg.facts.until(lambda: dbg.facts.completed(request_id))
        assert held_result.error_type == "Sandbox.Failure"
        await dbg.facts.until(lambda: [x for x in dbg.facts.since(mark, f.ProcessExitedFact) if x.participant == RUNTIME])
        await dbg.settled()
        env = dbg.env
        assert (env.held_at, env.state) == (None, EnvState.COLD), dbg.facts.boundaries(mark)
        assert dbg.snapshot().environment_number == 2
        result, report = await dbg.invoke(bound=10)
        assert not result.function_error
        assert report.cold
