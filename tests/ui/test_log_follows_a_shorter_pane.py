"""The log keeps following its end when its pane gets shorter: a panel above it growing by a row (the environments
strip as the fleet grows, a result with one more line) must not leave the newest lines below the pane's bottom edge.

Before the explain bar kept two rows, the bar's shrinking to one row at the next invoke happened to re-pin the log;
now nothing does, and the log stayed scrolled back for good.
"""

from __future__ import annotations

import pytest
from _host import Host, until_true
from textual.app import ComposeResult
from textual.widgets import Static

from lambdatui.model.facts import FUNCTION, read_lines
from lambdatui.ui.widgets.log_view import LogView

pytestmark = pytest.mark.anyio


class _Above(Host):
    """A panel whose height the test changes, above the log (which takes the rest)."""

    def compose(self) -> ComposeResult:
        yield Static("above", id="above")
        yield self.widget


async def test_the_log_follows_its_end_after_its_pane_got_shorter() -> None:
    log = LogView(max_lines=5000)
    app = _Above(log)
    async with app.run_test(size=(100, 30)) as pilot:
        log.styles.height = "1fr"
        above = app.query_one("#above", Static)
        above.styles.height = 2
        log.add_lines(list(read_lines(FUNCTION, [f"line {i}" for i in range(100)], None, "stdout")))
        lines = log.query_one("#log-lines")
        await until_true(pilot, lambda: lines.max_scroll_y > 0 and lines.scroll_y == lines.max_scroll_y,
                         "the log pinned to its end")
        before = lines.size.height
        above.styles.height = 5  # the pane gets three rows shorter
        await until_true(pilot, lambda: lines.size.height == before - 3, "the pane three rows shorter")
        await pilot.pause()
        log.add_lines(list(read_lines(FUNCTION, ["the newest line"], None, "stdout")))
        await pilot.pause()
        await pilot.pause()
        assert lines.scroll_y == lines.max_scroll_y, (lines.scroll_y, lines.max_scroll_y)
