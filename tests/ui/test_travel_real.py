"""Travelling back over real processes: the debugger on the counter sample, composed as `lambdatui PATH` composes it
(the trio host as a guest, real runtime, real HTTP), invoked three times; `[` travels back to invoke 1, whose
globals say `invocations` is 1 while live says 3, and `C` compares invoke 1 with invoke 3 from the host's own
history. Every wait is bounded and on the state it means; nothing sleeps."""

from __future__ import annotations

import pytest
from _host import screen_text
from test_app_keys import continued, invoked, running, shows, until, until_true
from test_detail_views import detail_text, open_file

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.invoke_compare import REPLACED
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens.compare_invokes import CompareInvokesScreen
from lambdatui.ui.screens.detail import DetailScreen
from lambdatui.ui.widgets import ResultView
from lambdatui.ui.widgets.past_bar import PastBar

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def counter(snapshot: DebuggerSnapshot) -> str:
    assert snapshot.globals is not None
    return next(e.repr for e in snapshot.globals.entries if e.name == "invocations")


@pytest.mark.timeout(90)  # the work of four tests (file: 60 s each)
async def test_back_to_invoke_1_reads_its_globals_its_result_its_tmp_and_y_while_live_goes_on() -> None:
    """In invoke 1's past: its globals, result and /tmp; the whole result opened (d) is that phase's, not the live
    one; a /tmp file opened there says it is read as it is now; y copies that phase's result and request id. Then a
    fourth invoke while in the past, C against invoke 3, escape back to live. (One session for what four tests checked
    apart: each began with three invokes and `[` back to invoke 1.)"""
    async with running("counter") as pilot:
        app = pilot.app
        assert isinstance(app, LambdaTuiApp)
        await continued(pilot)
        for n in (1, 2, 3):
            await pilot.press("i")
            await until(pilot, invoked(n), f"invoke {n}")
        live = await until(pilot, lambda s: s.globals is not None and counter(s) == "3", "the third report")
        invokes = [b for b in live.timeline if b.kind == "invoke"]
        assert len(invokes) == 3

        # [ steps back bar by bar (frozen gaps between): until the first invoke's bar is selected.
        while app.selected_bar != invokes[0].seq:
            before = app.selected_bar
            await pilot.press("left_square_bracket")
            await until_true(pilot, lambda: app.selected_bar != before, "[ to select an earlier bar")
        shown = app.shown
        assert shown is not None and shown.selected_bar == invokes[0].seq
        assert counter(shown) == "1"
        assert shown.last_result is not None and shown.last_result.request_id.startswith(invokes[0].label[:8])
        assert b'"invocations": 1' in shown.last_result.payload
        assert shown.tmp is not None and any(e.path.endswith("counter.txt") for e in shown.tmp.entries)
        assert app.snapshot is not None and counter(app.snapshot) == "3"  # live goes on: 3
        await shows(pilot, f"PAST · invoke 1 · {invokes[0].label[:8]}")
        assert app.query_one(PastBar).display

        # y in the past copies that phase's result and request id.
        choices = app.copy_choices()
        assert '"invocations": 1' in choices["result"][1]
        assert choices["request"][1] == shown.last_result.request_id

        # The whole result opened in the past (d on the Result panel) is that phase's, not the live one.
        app.query_one(ResultView).focus()
        await pilot.press("d")
        await until_true(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail view")
        assert '"invocations": 1' in detail_text(app) and '"invocations": 3' not in detail_text(app)
        await pilot.press("escape")
        await until_true(pilot, lambda: not isinstance(app.screen, DetailScreen), "escape to close the detail view")

        # A /tmp file opened in the past: the host keeps no contents per phase, the file read is today's (three
        # lines), and the viewer must say so.
        viewer = await open_file(pilot, "counter.txt")
        await until_true(pilot, lambda: "as it is now, not as of invoke 1" in screen_text(pilot), "the past note")
        assert viewer.past is not None and viewer.past[0].startswith("invoke 1")
        await pilot.press("escape")
        await until_true(pilot, lambda: app.screen is not viewer, "escape to close the viewer")
        assert app.selected_bar == invokes[0].seq  # still in invoke 1's past

        # A fourth invoke while in the past: live moves on, the selection stays.
        await pilot.press("i")
        await until(pilot, invoked(4), "invoke 4 while travelling")
        assert app.selected_bar == invokes[0].seq and app.shown is not None and counter(app.shown) == "1"

        # C: invoke 1 against invoke 3, from the host's history.
        await pilot.press("C")
        await until_true(pilot, lambda: isinstance(app.screen, CompareInvokesScreen), "C to open the comparison")
        screen = app.screen
        assert isinstance(screen, CompareInvokesScreen)
        screen.choose(1, 3)
        comparison = screen.comparison
        assert comparison is not None and comparison.same_process
        rows = {g.name: (g.change, g.old, g.new) for g in comparison.globals}
        assert rows["invocations"] == (REPLACED, "1", "3")
        (tmp,) = [t for t in comparison.tmp if t.path.endswith("counter.txt")]
        assert tmp.new_size is not None and tmp.old_size is not None and tmp.new_size > tmp.old_size
        await pilot.press("escape")
        await until_true(pilot, lambda: not isinstance(app.screen, CompareInvokesScreen), "escape to close it")

        await pilot.press("escape")
        await until_true(pilot, lambda: app.selected_bar is None, "escape back to live")
        assert app.shown is not None and counter(app.shown) == "4"
