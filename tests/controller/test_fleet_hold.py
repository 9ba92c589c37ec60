"""Holding one environment of the fleet while another serves (issue 12), through the controller only.

The debugger holds env #1 at a boundary; what happens to the next invoke depends on the fleet's rules
(lambda-spec §11.1 and core/fleet_rules.py): under the concurrency limit a new environment, env #2, serves it
to its end while env #1 stays held, its processes stopped; at the limit it is throttled when the held
environment has an invoke, or waits for it when the held environment has none. Which environment served each
invoke is read from the facts with their environment number (`subscribe_numbered`), and again from the runtime
process that answered (a token drawn at import).
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncContextManager, AsyncIterator

import pytest
import trio

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.host.fleet_host import FleetOptions
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.runner import open_environment

from controller_support import Debugger, Facts, debugger, add_audit_extension, payload, wait_frozen, write_handler

B = Boundary

HANDLER = """\
    import os, uuid

    TOKEN = uuid.uuid4().hex  # one per runtime process, so one per environment
    served = 0

    def handler(event, context):
        global served
        served += 1
        return {"token": TOKEN, "n": served, "request_id": context.aws_request_id}
    """


class Numbered:
    """Which environment each request ran on, from the numbered facts (START is the invoke's own line)."""

    def __init__(self) -> None:
        self.env_of: dict[str, int] = {}

    def __call__(self, number: int, fact: f.Fact) -> None:
        if isinstance(fact, f.InvokeReported):
            self.env_of[fact.request_id] = number


@asynccontextmanager
async def fleet_debugger(code_dir: Path, **options: Any) -> AsyncIterator[tuple[Debugger, Numbered]]:
    add_audit_extension(code_dir)
    handler = write_handler(code_dir, HANDLER)
    config = resolve_function(str(handler), timeout_s=30)
    numbered = Numbered()
    async with open_environment(config, inspect=True, fleet=FleetOptions(**options),
                                numbered_listeners=[numbered]) as running:
        facts = Facts()
        unsubscribe = running.session.subscribe(facts)
        try:
            yield Debugger(running, facts), numbered
        finally:
            unsubscribe()


def line(dbg: Debugger, number: int):
    found = [e for e in dbg.snapshot().environments if e.number == number]
    assert len(found) == 1, dbg.snapshot().environments
    return found[0]


def pids_of(dbg: Debugger, number: int) -> dict[str, int]:
    """The pids of env #number's runtime and extension (the host's bookkeeping, read for the kernel's view)."""
    host = dbg.running.fleet.member(number)
    assert host is not None
    return {key: entry[1].pid for key, entry in host._processes.items()}


@pytest.mark.trio
async def test_env_1_held_at_a_boundary_while_env_2_serves_an_invoke_to_its_end(code_dir: Path) -> None:
    async with fleet_debugger(code_dir, concurrency=2) as (dbg, numbered):
        dbg.submit(c.SetBreakpoints(frozenset({B.INVOKE_START})))
        held_id = dbg.start_invoke({"which": "held"})
        await dbg.settled()
        assert line(dbg, 1).held_at is B.INVOKE_START and line(dbg, 1).busy
        assert dbg.session.snapshot(focus=1).environment.held_at is B.INVOKE_START
        held_pids = pids_of(dbg, 1)
        assert set(held_pids) == {"runtime", "extension:audit"}
        for pid in held_pids.values():
            assert await wait_frozen(pid)

        # No breakpoint from here on: env #2 runs the next invoke straight through; env #1 stays where it is.
        dbg.submit(c.SetBreakpoints(frozenset()))
        served_id = dbg.start_invoke({"which": "served"})
        await dbg.facts.until(lambda: dbg.facts.report(served_id))
        await dbg.settled()
        served = dbg.facts.completed(served_id)
        assert served is not None and not served.function_error, served
        assert numbered.env_of[served_id] == 2
        assert payload(served)["n"] == 1  # env #2's runtime, cold, its first invoke
        # Said before the invoke is queued there, with what the fleet met (the recorder tells a replay by it).
        order = [x for x in dbg.facts.all if isinstance(x, (f.EnvironmentStartedFor, f.InvocationQueued))]
        assert [type(x) for x in order] == [f.InvocationQueued, f.EnvironmentStartedFor, f.InvocationQueued]
        assert order[1] == f.EnvironmentStartedFor(served_id, busy=1, number=2)

        snap = dbg.snapshot()
        assert [e.number for e in snap.environments] == [1, 2]
        assert line(dbg, 1).held_at is B.INVOKE_START and line(dbg, 1).busy and line(dbg, 1).invocations == 0
        assert line(dbg, 1).request_id == held_id
        assert line(dbg, 2).held_at is None and not line(dbg, 2).busy and line(dbg, 2).invocations == 1
        assert line(dbg, 2).state is EnvState.FROZEN
        assert dbg.facts.completed(held_id) is None and held_id not in numbered.env_of
        for pid in held_pids.values():  # still stopped: env #2's work did not release env #1
            assert await wait_frozen(pid)
        assert pids_of(dbg, 2)["runtime"] != held_pids["runtime"]
        assert snap.fleet.environments == 2 and snap.fleet.concurrency == 1 and snap.fleet.cold_starts == 2
        assert snap.fleet.throttled == 0

        # Released, env #1 serves its own invoke, in its own runtime process.
        dbg.submit(c.Continue(env=1))
        await dbg.facts.until(lambda: dbg.facts.report(held_id))
        await dbg.settled()
        held = dbg.facts.completed(held_id)
        assert held is not None and not held.function_error, held
        assert numbered.env_of[held_id] == 1
        assert payload(held)["token"] != payload(served)["token"]
        assert line(dbg, 1).held_at is None and line(dbg, 1).invocations == 1


@pytest.mark.trio
async def test_at_the_limit_an_invoke_is_throttled_while_the_only_environment_is_held_with_one(code_dir: Path) -> None:
    async with fleet_debugger(code_dir, concurrency=1) as (dbg, numbered):
        dbg.submit(c.SetBreakpoints(frozenset({B.INVOKE_START})))
        held_id = dbg.start_invoke()
        await dbg.settled()
        assert line(dbg, 1).held_at is B.INVOKE_START and line(dbg, 1).busy

        refused_id = str(uuid.uuid4())
        dbg.submit(c.Invoke(b"{}", refused_id))
        await dbg.facts.until(lambda: any(isinstance(x, f.LogLine) and refused_id in x.text and "throttled" in x.text
                                          for x in dbg.facts.all))
        await dbg.settled()
        snap = dbg.snapshot()
        assert snap.fleet.throttled == 1 and snap.fleet.environments == 1
        assert [e.number for e in snap.environments] == [1]

        dbg.submit(c.Continue(env=1))
        await dbg.facts.until(lambda: dbg.facts.report(held_id))
        await dbg.settled()
        assert numbered.env_of == {held_id: 1}  # the throttled one never ran anywhere
        assert dbg.facts.completed(refused_id) is None


@pytest.mark.trio
async def test_at_the_limit_an_invoke_waits_for_the_environment_held_with_none(code_dir: Path) -> None:
    """Held at invoke.done, env #1 has answered and holds no invoke: at --concurrency 1 the next one is not
    throttled, it waits for env #1 and runs there once the user lets it go."""
    async with fleet_debugger(code_dir, concurrency=1) as (dbg, numbered):
        dbg.submit(c.SetBreakpoints(frozenset({B.INVOKE_DONE})))
        first_id = dbg.start_invoke()
        await dbg.facts.until(lambda: dbg.facts.completed(first_id))
        await dbg.settled()
        assert line(dbg, 1).held_at is B.INVOKE_DONE and not line(dbg, 1).busy

        second_id = dbg.start_invoke()
        await dbg.settled()
        snap = dbg.snapshot()
        assert snap.fleet.throttled == 0 and [e.number for e in snap.environments] == [1]
        assert line(dbg, 1).held_at is B.INVOKE_DONE
        assert dbg.facts.completed(second_id) is None  # waiting for the user, not refused

        dbg.submit(c.SetBreakpoints(frozenset()))
        dbg.submit(c.Continue(env=1))
        await dbg.facts.until(lambda: dbg.facts.report(second_id))
        await dbg.settled()
        second = dbg.facts.completed(second_id)
        assert second is not None and payload(second)["n"] == 2  # the same runtime process, warm
        assert numbered.env_of == {first_id: 1, second_id: 1}
        assert dbg.snapshot().fleet.throttled == 0


RELEASED_HANDLER = """\
    import os, time, uuid

    TOKEN = uuid.uuid4().hex

    def handler(event, context):
        print("ready", flush=True)
        while not os.path.exists(event["release"]):  # the test creates it once every invoke is running
            time.sleep(0.005)
        return {"token": TOKEN}
    """


async def burst(dbg: Debugger, code_dir: Path, name: str, n: int) -> DebuggerSnapshot:
    """n invokes at once, each held in its handler until all n run; returns the snapshot taken while they do,
    then lets them finish (to their REPORTs, the fleet settled)."""
    release = code_dir / f"release-{name}"

    def ready() -> int:
        return sum(1 for x in dbg.facts.of(f.LogLine) if x.source == f.FUNCTION and x.text.strip() == "ready")

    before = ready()
    ids = [dbg.start_invoke({"release": str(release)}) for _ in range(n)]
    await dbg.facts.until(lambda: ready() == before + n)
    during = dbg.snapshot()
    release.touch()
    await dbg.facts.until(lambda: all(dbg.facts.report(i) for i in ids))
    await dbg.settled()
    return during


def released_fleet(code_dir: Path, n: int) -> AsyncContextManager[Debugger]:
    write_handler(code_dir, RELEASED_HANDLER)
    return debugger(code_dir / "handler.py", fleet=FleetOptions(concurrency=n), timeout_s=30)


@pytest.mark.trio
async def test_the_fleet_counters_count_cold_starts_then_warm_hits_over_two_bursts(code_dir: Path) -> None:
    n = 3
    async with released_fleet(code_dir, n) as dbg:
        for round_ in (1, 2):
            during = (await burst(dbg, code_dir, f"round-{round_}", n)).fleet
            assert during.concurrency == n and during.environments == n, during
            after = dbg.snapshot().fleet
            assert after.concurrency == 0 and after.environments == n, after
            assert after.cold_starts == n and after.warm_hits == (round_ - 1) * n, after
            assert after.throttled == 0 and after.queued_events == 0, after
            assert sorted(e.number for e in dbg.snapshot().environments) == list(range(1, n + 1))


@pytest.mark.trio
async def test_peak_concurrency_stays_at_the_most_environments_that_were_busy_at_once(code_dir: Path) -> None:
    """The fleet line's `peak` (the environments strip shows it) is the most environments busy at once: after
    a burst that had 3 busy together, and the snapshot taken during it said so, it must still say 3."""
    n = 3
    async with released_fleet(code_dir, n) as dbg:
        during = (await burst(dbg, code_dir, "cold", n)).fleet
        assert during.concurrency == n and during.peak_concurrency == n, during
        after = dbg.snapshot().fleet
        assert after.concurrency == 0
        assert after.peak_concurrency == n, f"3 environments were busy at once, the peak now says {after.peak_concurrency}"


@pytest.mark.trio
async def test_breakpoints_cleared_while_an_environment_starts_reach_it(code_dir: Path) -> None:
    """The breakpoints changed while env #2 was being started for an invoke (the user's `b`, or a replay's parallel
    step releasing its hold): env #2 got the old ones, held its invoke at invoke.start, and nobody released it (a
    replay's Event invoke never completed)."""
    async with fleet_debugger(code_dir, concurrency=2) as (dbg, numbered):
        dbg.submit(c.SetBreakpoints(frozenset({B.INVOKE_START})))
        dbg.start_invoke({"which": "held"})  # env #1 holds it: the next invoke needs a new environment
        await dbg.settled()
        fleet = dbg.session.fleet
        served_id = dbg.start_invoke({"which": "served"})
        with trio.fail_after(10):
            while not fleet._starting:  # env #2 is being started for it
                await trio.sleep(0)
        fleet.set_breakpoints(frozenset())
        await dbg.facts.until(lambda: dbg.facts.report(served_id))
        assert numbered.env_of[served_id] == 2
        dbg.submit(c.Continue(env=1))
        await dbg.settled()


@pytest.mark.trio
async def test_a_stop_during_a_hold_is_not_idle_time_once_only(code_dir: Path) -> None:
    """Held at invoke.done, then lambdatui stopped (Ctrl-Z) and back: the hold's release counts the whole hold as not
    idle, the stop in it included; counted again at `fg`, the environment would be idle for less than no time and
    --idle-shutdown would spin it down that much later."""
    async with fleet_debugger(code_dir, concurrency=2) as (dbg, numbered):
        dbg.submit(c.SetBreakpoints(frozenset({B.INVOKE_DONE})))
        request_id = dbg.start_invoke()
        await dbg.settled()
        assert line(dbg, 1).held_at is B.INVOKE_DONE
        fleet = dbg.session.fleet
        fleet.suspend(True)
        await trio.sleep(1.0)  # the measured quantity: a stop of a second, inside the hold
        fleet.suspend(False)
        dbg.submit(c.SetBreakpoints(frozenset()))
        dbg.submit(c.Continue(env=1))
        await dbg.facts.until(lambda: dbg.facts.report(request_id))
        await dbg.settled()
        [member] = [m for m in fleet._members if m.number == 1]
        idle_for = trio.current_time() - member.idle_since
        assert -0.2 < idle_for < 1.0, f"idle for {idle_for:.2f} s right after the hold's release"
