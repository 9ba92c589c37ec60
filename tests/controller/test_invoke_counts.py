"""What the debugger counts, through the controller with a real environment: the fleet's cold starts and warm hits
agree with each invoke's REPORT, and an environment's invoke count is its own.

env #1 is started ahead of any invoke, as the debugger (`c` from its opening hold) and `lambdatui serve` start it.
"""

from __future__ import annotations

import pytest

from lambdatui import controller as c
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.fleet import EnvironmentLine

from controller_support import Debugger, debugger, write_handler


def only_line(snapshot: DebuggerSnapshot) -> EnvironmentLine:
    (line,) = snapshot.environments
    return line


async def initialised_ahead(dbg: Debugger) -> None:
    dbg.running.host.start_environment()
    await dbg.settled()


@pytest.mark.trio
async def test_the_first_invoke_after_init_counts_cold_as_its_report_says(code_dir):
    write_handler(code_dir, "def handler(event, context):\n    return 'ok'\n")
    async with debugger(code_dir / "handler.py") as dbg:
        await initialised_ahead(dbg)
        _, first = await dbg.invoke()
        assert first.cold and first.init_duration_ms is not None
        fleet = dbg.snapshot().fleet
        assert fleet is not None and (fleet.cold_starts, fleet.warm_hits) == (1, 0)
        _, second = await dbg.invoke()
        assert not second.cold
        fleet = dbg.snapshot().fleet
        assert fleet is not None and (fleet.cold_starts, fleet.warm_hits) == (1, 1)


@pytest.mark.trio
async def test_a_new_environment_counts_its_own_invokes_from_zero(code_dir):
    write_handler(code_dir, "def handler(event, context):\n    return 'ok'\n")
    async with debugger(code_dir / "handler.py") as dbg:
        await initialised_ahead(dbg)
        for _ in range(3):
            await dbg.invoke()
        assert dbg.snapshot().invocations == only_line(dbg.snapshot()).invocations == 3
        dbg.submit(c.NewEnvironment())
        await dbg.settled()
        renewed = dbg.snapshot()
        assert renewed.environment_number == 2
        assert renewed.invocations == only_line(renewed).invocations == 0
        _, report = await dbg.invoke()
        assert report.cold
        served = dbg.snapshot()
        assert served.invocations == only_line(served).invocations == 1
        assert served.fleet is not None and (served.fleet.cold_starts, served.fleet.warm_hits) == (2, 2)
