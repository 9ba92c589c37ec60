"""The API traffic view over real processes: the debugger on the extension sample, composed as `lambdatui PATH`
composes it. Held at init.function, `a` shows the runtime parked at lambdatui's init gate, the audit extension's register
answered and its first /event/next parked, counting; after Init and one invoke, the runtime's /next was parked and answered, its /response
202. Every wait is bounded and on what it means; nothing sleeps.
"""

from __future__ import annotations

import pytest
from test_app_keys import continued, held_at, invoked, running, until, until_true
from textual.pilot import Pilot
from textual.widgets import DataTable

from lambdatui.model.boundaries import Boundary
from lambdatui.ui.screens.api_traffic import ApiTrafficScreen

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def cells(grid: DataTable[str], name: str) -> list[str]:
    return [str(cell) for cell in grid.get_column(name)]


async def traffic_view(pilot: Pilot) -> ApiTrafficScreen:
    await pilot.press("a")
    await until_true(pilot, lambda: isinstance(pilot.app.screen, ApiTrafficScreen), "the API traffic view")
    screen = pilot.app.screen
    assert isinstance(screen, ApiTrafficScreen)
    return screen


async def test_the_traffic_of_a_cold_start_and_an_invoke() -> None:
    async with running("extension") as pilot:
        for boundary in (Boundary.INIT_RUNTIME, Boundary.INIT_FUNCTION):  # the runtime then waits at our init gate
            await pilot.press("n")
            await until(pilot, held_at(boundary), f"the hold at {boundary.value}")
        screen = await traffic_view(pilot)
        await until_true(pilot, lambda: screen.participants == ["runtime", "audit"], "the runtime's tab, then audit's")
        runtime = screen._table("runtime")
        await until_true(pilot, lambda: runtime.row_count == 1, "the runtime's call to the init gate")
        assert cells(runtime, "path") == ["/lambdatui/v1/function-init"] and cells(runtime, "status") == ["parked"]
        await pilot.press("right")
        audit = screen._table("audit")
        await until_true(pilot, lambda: audit.row_count == 2, "register and the parked /event/next")
        assert cells(audit, "method") == ["POST", "GET"] and cells(audit, "status") == ["200", "parked"]
        first = cells(audit, "parked")[1]
        await until_true(pilot, lambda: cells(audit, "parked")[1] != first, "the parked duration counting")
        await pilot.press("escape")
        await until_true(pilot, lambda: not isinstance(pilot.app.screen, ApiTrafficScreen), "the view closed")

        await continued(pilot)
        await pilot.press("i")
        await until(pilot, invoked(1), "the invoke's result")
        screen = await traffic_view(pilot)
        await until_true(pilot, lambda: screen.participants == ["runtime", "audit"], "the runtime's tab first")
        runtime = screen._table("runtime")
        await until_true(pilot, lambda: "202" in cells(runtime, "status"), "the runtime's /response, accepted")
        paths, statuses = cells(runtime, "path"), cells(runtime, "status")
        answered = paths.index("/2018-06-01/runtime/invocation/next")
        assert statuses[answered] == "200" and cells(runtime, "parked")[answered].endswith(("ms", " s"))
        response = statuses.index("202", answered)
        assert paths[response].endswith("…/response") and response > answered
        assert statuses[-1] == "parked" and paths[-1] == "/2018-06-01/runtime/invocation/next"
        await pilot.press("escape")
