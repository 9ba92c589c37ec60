"""An invoke offered to an environment finishing its last one (core/offer_rules.py) is taken within the runtime's
/next: its event goes out in that batch, written by the /next's own task, with no freeze and thaw between and no
other task run first (issue 9: a runtime that asks for its next event only once its 202 is read, as awslambdaric
does, met a caller's next invoke waiting in the fleet's router, a scheduler pass and a batch later)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from late_next_runtime import late_next_bootstrap
from lambdatui.config import resolve_function
from lambdatui.core.fleet_rules import Fit, fit
from lambdatui.host.environment_host import HandedBack
from lambdatui.model import facts as f
from lambdatui.runner import open_environment

BOUND = 30  # seconds


@pytest.mark.trio
async def test_an_offered_invoke_is_taken_in_the_runtimes_next_by_its_task_with_no_freeze_between(
        code_dir: Path) -> None:
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(late_next_bootstrap(code_dir)))) as running:
            host = running.host
            host.start_environment()
            first, _ = await host.invoke(b"{}")  # answered; the runtime waits for `go` before its next /next
            assert first.payload == b'{"n": 1}' and fit(host.env) is Fit.FINISHING
            heard: list[tuple[str, object]] = []
            host.subscribe(lambda fact: heard.append((type(fact).__name__, trio.lowlevel.current_task())))
            results: list[f.InvocationResult] = []

            async def second() -> None:
                results.append((await host.invoke(b"{}", offer_s=BOUND))[0])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(second)
                await trio.testing.wait_all_tasks_blocked()
                assert host.env.offered is not None and heard == []  # offered, and nothing told of it yet
                (code_dir / "go").touch()
            assert results[0].payload == b'{"n": 2}'
            kinds = [kind for kind, _ in heard]
            reported, queued = kinds.index("InvokeReported"), kinds.index("InvocationQueued")
            assert reported < queued and heard[reported][1] is heard[queued][1]  # one batch: the /next's task
            assert "EnvironmentFrozen" not in kinds[reported:queued] and "EnvironmentThawed" not in kinds


@pytest.mark.trio
async def test_an_offer_not_taken_within_its_wait_is_handed_back(code_dir: Path) -> None:
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(late_next_bootstrap(code_dir)))) as running:
            host = running.host
            host.start_environment()
            await host.invoke(b"{}")
            heard: list[str] = []
            host.subscribe(lambda fact: heard.append(type(fact).__name__))
            with pytest.raises(HandedBack):
                await host.invoke(b"{}", offer_s=0.01)
            assert host.env.offered is None and "InvocationQueued" not in heard
            (code_dir / "go").touch()
            second, _ = await host.invoke(b"{}")  # the environment goes on as ever
            assert second.payload == b'{"n": 2}'


@pytest.mark.trio
async def test_a_callers_next_invoke_meets_the_finishing_environment_and_its_event_goes_out_in_the_next_batch(
        code_dir: Path) -> None:
    """Through the fleet, as the Invoke API sends it: not routed again once the environment is idle, a task later."""
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(late_next_bootstrap(code_dir)))) as running:
            running.host.start_environment()
            await running.fleet.invoke(b"{}")
            heard: list[tuple[str, object]] = []
            running.host.subscribe(lambda fact: heard.append((type(fact).__name__, trio.lowlevel.current_task())))
            results: list[f.InvocationResult] = []

            async def second() -> None:
                results.append((await running.fleet.invoke(b"{}"))[0])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(second)
                await trio.testing.wait_all_tasks_blocked()
                (code_dir / "go").touch()
            assert results[0].payload == b'{"n": 2}' and len(running.fleet.hosts()) == 1
            kinds = [kind for kind, _ in heard]
            reported, queued = kinds.index("InvokeReported"), kinds.index("InvocationQueued")
            assert reported < queued and heard[reported][1] is heard[queued][1]


@pytest.mark.trio
async def test_an_offer_whose_caller_is_cancelled_before_it_is_taken_counts_no_warm_hit(code_dir: Path) -> None:
    """The debugger's fleet line counts warm hits: an offered invoke dropped with its caller never ran."""
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(late_next_bootstrap(code_dir)))) as running:
            fleet = running.fleet
            running.host.start_environment()
            await fleet.invoke(b"{}")
            before = fleet.warm_hits
            async with trio.open_nursery() as nursery:
                nursery.start_soon(fleet.invoke, b"{}")
                await trio.testing.wait_all_tasks_blocked()
                assert running.host.env.offered is not None and fleet.warm_hits == before + 1
                nursery.cancel_scope.cancel()
            assert running.host.env.offered is None and fleet.warm_hits == before
            (code_dir / "go").touch()
            result, _ = await fleet.invoke(b"{}")  # taken by the same environment, warm
            assert result.payload == b'{"n": 2}' and fleet.warm_hits == before + 1
