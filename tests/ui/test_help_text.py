"""`?`'s help: every key of the table, in one widget that wraps each description under its own column at the
dialog's width (Markdown's table made a widget of every cell: ~300 ms to compose at the first `?`)."""

from __future__ import annotations

import pytest
from _host import hosted, screen_lines

from lambdatui.ui.screens.help import KEYS, HelpText, help_lines

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("width", [60, 100, 140])
def test_each_line_fits_and_a_description_wraps_under_its_column(width: int) -> None:
    lines = [line.plain for line in help_lines(width)]
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    header = next(line for line in lines if line.startswith("key"))
    column = header.index("what happens")
    rows = lines[lines.index(header) + 1:]
    starts = []
    for keys, command, what in KEYS:
        start = next(n for n, line in enumerate(rows) if line[:column].split() == (keys + " " + command).replace(
            "`", "").split())
        assert rows[start][column:].startswith(what.replace("`", "").split()[0])
        starts.append(start)
    assert starts == sorted(starts)  # in the table's order
    for start, end in zip(starts, starts[1:]):
        for continuation in rows[start + 1:end]:
            assert continuation[:column] == " " * column and continuation[column:column + 1] != " "


def test_code_and_bold_are_styled_without_their_marks() -> None:
    lines = help_lines(140)
    invoke = next(line for line in lines if line.plain.startswith("i "))
    assert "`" not in invoke.plain and "--concurrency" in invoke.plain
    assert any(span.style == "$accent" and invoke.plain[span.start:span.end] == "--concurrency"
               for span in invoke.spans)
    assert not any("**" in line.plain for line in lines)


async def test_the_widget_is_as_tall_as_its_lines_and_shows_them() -> None:
    async with hosted(HelpText(), size=(100, 120)) as pilot:
        widget = pilot.app.query_one(HelpText)
        expected = [line.plain.rstrip() for line in help_lines(widget.size.width)]
        assert widget.size.height == len(expected)
        assert screen_lines(pilot)[:len(expected)] == expected
