"""The debugger's function picker (`lambdatui template.yaml` with several functions and no --function)."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList

from lambdatui.sam_template.reader import FunctionChoice
from lambdatui.ui.screens.function_picker import FunctionPickerApp, FunctionPickerScreen

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

CHOICES = [FunctionChoice("OrdersFunction", "app.handler", "python3.12"),
           FunctionChoice("ReportsFunction", "report.main", "python3.11")]


async def test_enter_picks_the_highlighted_function() -> None:
    app = FunctionPickerApp("template.yaml", CHOICES)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FunctionPickerScreen)
        options = app.screen.query_one("#functions", OptionList)
        assert [str(options.get_option_at_index(i).prompt).split() for i in range(options.option_count)] == [
            ["OrdersFunction", "app.handler", "python3.12"], ["ReportsFunction", "report.main", "python3.11"]]
        await pilot.press("down", "enter")
    assert app.return_value == "ReportsFunction"


async def test_escape_chooses_none() -> None:
    app = FunctionPickerApp("template.yaml", CHOICES, theme="light")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
    assert app.return_value is None
