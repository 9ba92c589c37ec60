"""Hunt: an invoke offered to a finishing environment when lambdatui shuts down (in process, real runtime)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from late_next_runtime import late_next_bootstrap
from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model.fleet import FleetOptions
from lambdatui.runner import open_environment

BOUND = 30


@pytest.mark.trio
async def test_a_sync_invoke_offered_when_the_fleet_shuts_down_starts_no_new_environment(code_dir: Path) -> None:
    facts: list[object] = []
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(late_next_bootstrap(code_dir))),
                                    fleet=FleetOptions(concurrency=3)) as running:
            fleet = running.fleet
            fleet.subscribe(facts.append)
            running.host.start_environment()
            await fleet.invoke(b"{}")
            results: list[f.InvocationResult] = []

            async def second() -> None:
                results.append((await fleet.invoke(b"{}"))[0])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(second)
                await trio.testing.wait_all_tasks_blocked()
                assert running.host.env.offered is not None
                await fleet.shutdown()
            hosts = len(fleet.hosts())
            started = [x for x in facts if type(x).__name__ == "EnvironmentStartedFor"]
    # Shut down: refused as a shut-down environment answers, with no environment started for it.
    assert not started, (started, hosts)
    assert results and results[0].function_error, results


@pytest.mark.trio
async def test_an_event_invoke_offered_to_a_finishing_environment_counts_as_pending(code_dir: Path) -> None:
    """`serve` drains the accepted Event invokes on SIGTERM only when the fleet says one is pending."""
    with trio.fail_after(BOUND):
        async with open_environment(resolve_function(str(late_next_bootstrap(code_dir))),
                                    fleet=FleetOptions(concurrency=1)) as running:
            fleet = running.fleet
            running.host.start_environment()
            await fleet.invoke(b"{}")
            await fleet.invoke(b'{"event": 1}', asynchronous=True)
            await trio.testing.wait_all_tasks_blocked()
            offered = running.host.env.offered is not None
            pending = fleet.events_pending()
            (code_dir / "go").touch()
    assert offered
    assert pending, "an accepted Event invoke, offered to env #1, is not pending: a SIGTERM now skips the drain"
