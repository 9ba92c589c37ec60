"""Hunt: the debugger (controller, headless) and an invoke offered to an environment finishing its last one, with a
breakpoint at invoke.done; a runtime that asks for its next event once the test makes the file `go`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import trio
import trio.testing

from late_next_runtime import late_next_bootstrap
from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.host.fleet_host import FleetOptions
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary
from lambdatui.runner import open_environment

BOUND = 20.0

class Facts:
    def __init__(self) -> None:
        self.all: list[object] = []
        self._arrived = trio.Event()

    def __call__(self, fact: object) -> None:
        self.all.append(fact)
        self._arrived.set()
        self._arrived = trio.Event()

    async def until(self, condition, bound: float = BOUND):
        with trio.fail_after(bound):
            while not (value := condition()):
                await self._arrived.wait()
            return value

    def completed(self, rid: str) -> list[f.InvocationResult]:
        return [x.result for x in self.all if isinstance(x, f.InvocationCompleted) and x.result.request_id == rid]

    def held(self, boundary: Boundary) -> int:
        return sum(1 for x in self.all if isinstance(x, f.BoundaryReached) and x.boundary is boundary and x.held)


@pytest.mark.trio
@pytest.mark.parametrize("concurrency", [1, 2])
async def test_an_offered_invoke_meets_a_hold_at_invoke_done_and_runs_once(code_dir: Path, concurrency: int) -> None:
    path = late_next_bootstrap(code_dir)
    config = resolve_function(str(path), timeout_s=30)
    async with open_environment(config, inspect=True, fleet=FleetOptions(concurrency=concurrency)) as running:
        facts = Facts()
        session = running.session
        session.subscribe(facts)
        first = str(uuid.uuid4())
        session.submit(c.Invoke(b"{}", first))
        await facts.until(lambda: facts.completed(first))
        session.submit(c.SetBreakpoints(frozenset({Boundary.INVOKE_DONE})))
        second = str(uuid.uuid4())
        session.submit(c.Invoke(b"{}", second))
        await trio.testing.wait_all_tasks_blocked()
        offered = running.host.env.offered is not None
        (code_dir / "go").touch()
        await facts.until(lambda: facts.held(Boundary.INVOKE_DONE) >= 1)
        for _ in range(4):
            if facts.completed(second):
                break
            session.submit(c.Continue())
            with trio.move_on_after(2):
                await facts.until(lambda: facts.completed(second))
        with trio.fail_after(BOUND):
            await session.settled()
        results = facts.completed(second)
        fleet = running.fleet
        counts = (fleet.cold_starts, fleet.warm_hits, len(fleet.hosts()))
    assert offered
    assert len(results) == 1, results
    if concurrency == 1:
        assert json.loads(results[0].payload) == {"n": 2}
        assert counts == (1, 1, 1), counts
    else:
        assert counts[0] + counts[1] == 2, counts
