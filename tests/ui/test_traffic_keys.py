"""The API traffic view's keys and clicks, on the real app over the warm session and the traffic of
`traffic_session.py` (the replay controller answers `api_traffic` with it), with the view's clock stopped.

Every wait is bounded and on what it means (a screen on top, a table's rows); nothing sleeps.
"""

from __future__ import annotations

from typing import Optional

import pytest
import traffic_session as ts
from _host import screen_text
from palette import run_palette_command
from replay_backend import ReplayBackend, load_session, replay
from test_app_keys import until_true
from test_snapshots import SAMPLES
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens import api_traffic
from lambdatui.ui.screens.api_traffic import ApiTrafficScreen, ExchangeScreen
from lambdatui.ui.screens.help import KEYS, HelpScreen
from lambdatui.ui.themes import DEFAULT_THEME

pytestmark = pytest.mark.anyio
SIZE = (160, 45)


@pytest.fixture(autouse=True)
def stopped_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_traffic, "wall_clock", lambda: ts.NOW)


def traffic_app(made: Optional[list[ReplayBackend]] = None, upto: Optional[int] = None) -> LambdaTuiApp:
    app = LambdaTuiApp(replay(load_session("warm"), made, traffic=ts.traffic(upto)), code_dir=SAMPLES / "counter",
                       theme=DEFAULT_THEME)
    app.event_source = "--event"
    return app


async def opened(pilot: Pilot) -> ApiTrafficScreen:
    app = pilot.app
    await until_true(pilot, lambda: app.controller is not None, "the replayed session")
    await pilot.press("a")
    await until_true(pilot, lambda: isinstance(app.screen, ApiTrafficScreen) and bool(app.screen.participants),
                     "the API traffic view with its participants")
    screen = app.screen
    assert isinstance(screen, ApiTrafficScreen)
    # The table takes the focus once mounted, a refresh after the rows are in (on a loaded machine, visibly later).
    await until_true(pilot, lambda: screen._table(screen.active_participant).has_focus, "the active table focused")
    return screen


def table(screen: ApiTrafficScreen, participant: str) -> DataTable[str]:
    return screen._table(participant)


def column(grid: DataTable[str], name: str) -> list[str]:
    return [str(cell) for cell in grid.get_column(name)]


async def test_a_opens_every_exchange_per_participant_in_order_and_arrows_and_a_tab_click_switch_participants() -> None:
    """`a`: every exchange, per participant, in order; the table takes the height the view has (it once shared its id
    with the main screen's participants panel, whose rules capped it at 14 rows); the arrows switch participants and
    a click on a tab does too. (One session for what three tests checked apart: each opened the view as it opens.)"""
    async with traffic_app().run_test(size=SIZE) as pilot:
        screen = await opened(pilot)

        assert screen.participants == ["runtime", "audit"]  # the runtime first, though audit called first
        assert screen.active_participant == "runtime"
        runtime = table(screen, "runtime")
        assert column(runtime, "method") == ["GET", "POST", "POST", "POST", "GET"]
        assert column(runtime, "status") == ["200", "202", "202", "400", "parked"]
        assert column(runtime, "parked") == ["2.0 s", "", "", "", "1.2 s…"]
        assert column(runtime, "path")[1] == "/2018-06-01/runtime/invocation/a1000000…/response"
        assert column(runtime, "time")[0] == "+0.062 s"
        headers = column(runtime, "headers")
        assert headers[0].startswith("rid a1000000 · deadline +3.0 s")
        assert headers[3] == "error InvalidRequestID"
        assert column(runtime, "body")[1] == '{"invocations": 1, "cold": true}'
        assert runtime.has_focus

        dialog = screen.query_one("#dialog").region
        assert runtime.region.height >= dialog.height - 6, (runtime.region, dialog)

        await pilot.press("right")
        await until_true(pilot, lambda: screen.active_participant == "audit", "the audit tab")
        audit = table(screen, "audit")
        assert audit.has_focus
        assert column(audit, "path") == ["/2020-01-01/extension/register", ts.EVENT_NEXT, ts.EVENT_NEXT]
        assert column(audit, "parked") == ["", "2.0 s", "3.0 s…"]
        assert column(audit, "headers")[0] == "name audit · ext-id e0000000"
        await pilot.press("right")  # round again
        await until_true(pilot, lambda: screen.active_participant == "runtime", "back to the runtime")
        await pilot.press("left")
        await until_true(pilot, lambda: screen.active_participant == "audit", "audit again, backwards")
        await pilot.click("#--content-tab-participant-0")
        await until_true(pilot, lambda: screen.active_participant == "runtime", "the runtime's tab clicked")


async def test_enter_opens_the_whole_exchange_escape_closes_each_screen_and_a_click_on_a_row_opens_it_too() -> None:
    """enter on the refused /response: its whole exchange; escape closes each screen. Then, the view opened again, a
    click highlights a row and a click on the highlighted row opens it. (One session for what two tests checked
    apart.)"""
    async with traffic_app().run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("down", "down", "down", "enter")  # the refused /response
        app = pilot.app
        await until_true(pilot, lambda: isinstance(app.screen, ExchangeScreen), "the exchange's own view")
        text = str(app.screen.query_one("#exchange", Static).render())
        assert f"POST /2018-06-01/runtime/invocation/{ts.BOGUS_ID}/response" in text
        assert "status 400" in text and "error type: InvalidRequestID" in text
        assert "  content-length: 8" in text and "  Content-Type: application/json" in text
        assert '{"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}' in text
        await pilot.press("escape")
        await until_true(pilot, lambda: app.screen is screen, "back to the traffic")
        await pilot.press("escape")
        await until_true(pilot, lambda: not isinstance(app.screen, ApiTrafficScreen), "the traffic view closed")

        screen = await opened(pilot)
        grid = table(screen, "runtime")
        await pilot.click(grid, offset=(4, 2))  # below the header row and the first exchange: the second, highlighted
        await until_true(pilot, lambda: grid.cursor_row == 1, "the second row highlighted")
        assert not isinstance(app.screen, ExchangeScreen), "a click on a row not highlighted opened it"
        await pilot.click(grid, offset=(4, 2))  # a click on the highlighted row opens it
        await until_true(pilot, lambda: isinstance(app.screen, ExchangeScreen), "the exchange's own view")
        assert isinstance(app.screen, ExchangeScreen)
        assert app.screen.exchange.path == f"/2018-06-01/runtime/invocation/{ts.REQUEST_ID}/response"


async def test_new_exchanges_and_an_answered_next_arrive_while_open() -> None:
    made: list[ReplayBackend] = []
    async with traffic_app(made, upto=3).run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        runtime = table(screen, "runtime")
        assert column(runtime, "status") == ["parked"] and column(runtime, "parked") == ["4.9 s…"]
        controller = made[0].controller
        assert controller is not None
        controller.traffic = ts.traffic()  # the host answered that /next, and more followed
        await until_true(pilot, lambda: runtime.row_count == 5, "the new exchanges in the table")
        assert column(runtime, "status")[0] == "200" and column(runtime, "parked")[0] == "2.0 s"


async def test_nothing_yet_says_so() -> None:
    async with traffic_app(upto=0).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until_true(pilot, lambda: app.controller is not None, "the replayed session")
        await pilot.press("a")
        await until_true(pilot, lambda: "No exchange yet" in screen_text(pilot), "the empty view's line")


async def test_the_palette_and_the_help_name_it() -> None:
    async with traffic_app().run_test(size=SIZE) as pilot:
        app = pilot.app
        await until_true(pilot, lambda: app.controller is not None, "the replayed session")
        await run_palette_command(pilot, "API traffic (every Runtime, Extensions and Telemetry API exchange)")
        await until_true(pilot, lambda: isinstance(app.screen, ApiTrafficScreen), "the view, from the palette")
        await pilot.press("a")  # `a` closes it again
        await until_true(pilot, lambda: not isinstance(app.screen, ApiTrafficScreen), "the view closed by a")
        await pilot.press("question_mark")
        await until_true(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        assert ("`a`", "API traffic") in [(keys, command) for keys, command, _ in KEYS]
