"""What the function wrote never reaches the terminal as control sequences: an exception message or a /tmp file name
with an escape in it (an ANSI colour, an OSC that retitles the terminal, a CSI that clears it) is shown with its
control characters made visible, in the whole-value views too. Real processes, the debugger as `lambdatui PATH`
composes it; every wait is bounded."""

from __future__ import annotations

from pathlib import Path

import pytest
from _host import screen_text
from test_app_keys import continued, invoked, running_app, until, until_true
from test_detail_views import open_file

from lambdatui.config import resolve_function
from lambdatui.tui import build_debugger
from lambdatui.ui.screens.compare_invokes import CompareInvokesScreen
from lambdatui.ui.screens.detail import DetailScreen
from lambdatui.ui.screens.pick_target import PickTargetScreen
from lambdatui.ui.widgets import ResultView

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

ESCAPES = "\\x1b]0;PWNED\\x07\\x1b[2J"  # as Python source: set the terminal's title, clear the screen
HANDLER = f"""\
def handler(event, context):
    globals()["G{ESCAPES}"] = context.aws_request_id  # another object each invoke: a row in the comparison
    with open("/tmp/odd{ESCAPES}name", "w") as fh:
        fh.write("x")
    raise Exception("boom {ESCAPES} end")
"""


def drawn(pilot) -> str:
    """Every character the screen would send, styles aside."""
    return screen_text(pilot)


async def test_an_error_message_and_a_file_name_with_escapes_are_drawn_not_obeyed(private_tmp: Path) -> None:
    (private_tmp / "handler.py").write_text(HANDLER)
    app = build_debugger(resolve_function(str(private_tmp / "handler.py"), timeout_s=3))
    async with running_app(app) as pilot:
        await continued(pilot)
        await pilot.press("i")
        snapshot = await until(pilot, invoked(1), "the invoke's error")
        assert snapshot.last_result is not None and snapshot.last_result.error_type == "Exception"

        app.query_one(ResultView).focus()
        await pilot.press("d")
        await until_true(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail view")
        await until_true(pilot, lambda: "boom ␛]0;PWNED␇␛[2J end" in drawn(pilot), "the message, escapes shown")
        assert "\x1b" not in drawn(pilot) and "\x07" not in drawn(pilot)
        await pilot.press("escape")
        await until_true(pilot, lambda: not isinstance(app.screen, DetailScreen), "escape to close it")

        await open_file(pilot, "odd\x1b]0;PWNED\x07\x1b[2Jname")
        await until_true(pilot, lambda: "/tmp/odd␛]0;PWNED␇␛[2Jname" in drawn(pilot), "the name, escapes shown")
        assert "\x1b" not in drawn(pilot) and "\x07" not in drawn(pilot)
        await pilot.press("escape")
        await until_true(pilot, lambda: app.screen is app.screen_stack[0], "the viewer closed")

        await pilot.press("i")
        await until(pilot, invoked(2), "the second invoke's error")
        await pilot.press("C")  # invoke 1 against invoke 2: the global replaced, the file rewritten
        await until_true(pilot, lambda: isinstance(app.screen, CompareInvokesScreen), "the comparison")
        await until_true(pilot, lambda: "G]0;PWNED[2J" in drawn(pilot) and "/tmp/odd]0;PWNED[2Jname" in drawn(pilot),
                         "the global and the file, in one line each")
        assert "\x1b" not in drawn(pilot) and "\x07" not in drawn(pilot)


MARKUP = """\
def handler(event, context):
    print("[INFO] starting [/]")
    return {"s": "[/]"}
"""


async def test_y_on_a_result_that_looks_like_markup_copies_it_instead_of_ending_the_debugger(code_dir: Path) -> None:
    (code_dir / "handler.py").write_text(MARKUP)
    app = build_debugger(resolve_function(str(code_dir / "handler.py"), timeout_s=3))
    async with running_app(app) as pilot:
        await continued(pilot)
        await pilot.press("i")
        await until(pilot, invoked(1), "the invoke's result")
        await pilot.press("y")
        await until_true(pilot, lambda: isinstance(app.screen, PickTargetScreen), "the copy choices")
        assert '"[/]"' in drawn(pilot)
        await pilot.press("enter")  # the first choice: the result
        await until_true(pilot, lambda: app.screen is app.screen_stack[0], "the choice made")
        await until_true(pilot, lambda: "Copied the result" in drawn(pilot), "the notification")
        assert app.return_code is None  # still running
