"""The log's search, wrap and pause against a burst (issue 9's 100,000 lines), on the LogView alone: the kept rows
are searched once per query and each new row once as it comes, so matches stay right and the work stays
proportional to the lines that arrive."""

from __future__ import annotations

import time

import pytest
from _host import SMALL, hosted, screen_text

from lambdatui.model.facts import FUNCTION, PLATFORM, LogLine
from lambdatui.model.log_search import SearchIndex
from lambdatui.ui.widgets import LogView

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def flood(start: int, count: int) -> list[LogLine]:
    return [LogLine(FUNCTION if i % 2 else PLATFORM, f"line {i}" + (" ERROR here" if i % 100 == 0 else ""))
            for i in range(start, start + count)]


async def test_a_search_stays_right_and_incremental_through_a_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    searched: list[int] = []
    original = SearchIndex.matches
    monkeypatch.setattr(SearchIndex, "matches", lambda self, text: searched.append(1) or original(self, text))
    async with hosted(LogView(max_lines=5000), size=SMALL) as pilot:
        view: LogView = pilot.app.widget  # type: ignore[assignment]
        view.add_lines(flood(0, 5000))
        view.open_search()
        view._lines.set_query("error")
        assert view.search.count == 50 and len(searched) == 5000  # the kept rows, once
        searched.clear()
        began = time.perf_counter()
        for start in range(5000, 105_000, 1000):
            view.add_lines(flood(start, 1000))
        elapsed = time.perf_counter() - began
        assert len(searched) == 100_000  # each new row once, never the kept ones again
        assert view.search.count == 50 and view.search.seqs()[0] == view._lines._shown[view._lines._shown_head].seq
        # The current match was evicted: the oldest kept one is current now.
        assert view.search.label() == "1/50"
        assert elapsed < 10  # generous on a shared machine; ~1 s here


async def test_wrap_and_pause_through_a_burst() -> None:
    async with hosted(LogView(max_lines=1000), size=SMALL) as pilot:
        view: LogView = pilot.app.widget  # type: ignore[assignment]
        view.add_lines([LogLine(FUNCTION, "w" * 250) for _ in range(1000)])
        view.toggle_wrap()
        await pilot.pause()
        rows = view._lines.screen_lines
        assert rows > 1000  # each long line takes several screen lines
        view.toggle_pause()
        view.add_lines(flood(0, 3000))
        await pilot.pause()
        assert view.pending == 3000 and view.line_count == 1000
        assert view._lines.screen_lines == 1000  # the long lines are gone, their pieces too
        view.toggle_pause()
        await pilot.pause()
        assert "line 2999" in screen_text(pilot)


async def test_a_mixed_batch_makes_the_rows_each_line_makes_alone() -> None:
    """A burst's plain lines are made into rows in bulk; lines that need splitting or measuring (a CR, a tab, an
    escape code, wide characters) and other sources between them come out exactly as one at a time."""
    from lambdatui.ui.widgets._log_rows import TAG_WIDTH, split_rows, text_width

    texts = ["plain one", "tab\there", "two\rrows", "\x1b[31mred\x1b[0m", "wide 日本語", "", "plain two"]
    lines = [LogLine(FUNCTION if i % 3 else PLATFORM, text, "r-1" if i < 4 else "r-2") for i, text in enumerate(texts)]
    lines += [LogLine(FUNCTION, f"bulk {i}", "r-2") for i in range(500)]
    expected = [(line.source, text, TAG_WIDTH + 1 + text_width(text), line.request_id)
                for line in lines for text in split_rows(line.text)]
    one_by_one, bulk = LogView(max_lines=5000), LogView(max_lines=5000)
    async with hosted(bulk, size=SMALL):
        bulk.add_lines(lines)
        made = [(row.source, row.text, row.width, row.request_id) for row in bulk._lines._rows]
    async with hosted(one_by_one, size=SMALL):
        for line in lines:
            one_by_one.add_lines([line])
        alone = [(row.source, row.text, row.width, row.request_id) for row in one_by_one._lines._rows]
    assert made == alone == expected
    assert [row.seq for row in bulk._lines._rows] == list(range(1, len(expected) + 1))


async def test_reads_of_a_burst_count_and_show_as_their_lines_and_only_the_kept_are_made() -> None:
    """A burst reaches the log as reads (`LogLines`): those pushed out at once are counted as lines are (dropped,
    and new while paused), and never made into `LogLine` objects; what is shown is what their lines show."""
    from lambdatui.model.facts import LogLines, read_lines

    texts = [tuple(f"read {r} line {i}" for i in range(700)) for r in range(10)]
    reads = [LogLines.read(FUNCTION, chunk, "r-1", "stdout") for chunk in texts]
    as_lines = [line for chunk in texts for line in read_lines(FUNCTION, chunk, "r-1", "stdout")]
    by_reads, by_lines = LogView(max_lines=1000), LogView(max_lines=1000)
    async with hosted(by_reads, size=SMALL):
        by_reads.toggle_pause()
        by_reads.add_lines(reads)
        shown_reads = [(row.source, row.text) for row in by_reads._lines._rows]
        counts_reads = (by_reads.pending, by_reads.line_count, by_reads._lines.dropped)
    async with hosted(by_lines, size=SMALL):
        by_lines.toggle_pause()
        by_lines.add_lines(as_lines)
        shown_lines = [(row.source, row.text) for row in by_lines._lines._rows]
        counts_lines = (by_lines.pending, by_lines.line_count, by_lines._lines.dropped)
    assert shown_reads == shown_lines and shown_reads[-1] == (FUNCTION, "read 9 line 699")
    assert counts_reads == counts_lines == (7000, 1000, 6000)
    assert [len(read.made()) for read in reads] == [0] * 8 + [300, 700]  # the newest 1,000 lines only
