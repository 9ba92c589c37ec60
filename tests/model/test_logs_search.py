"""The log's search and filter rules (lambdatui.model.log_search) and the files the debugger saves
(lambdatui.file_saving): pure functions and one small class, tested without Textual."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from lambdatui.file_saving import default_log_name, event_file_name, save_event, write_log_file
from lambdatui.model.facts import FUNCTION, LAMBDATUI, PLATFORM
from lambdatui.model.log_search import LogFilter, SearchIndex, match_spans, short_id, source_matcher


def rows(*texts: str, start: int = 1) -> list[tuple[int, str]]:
    return [(start + i, text) for i, text in enumerate(texts)]


class TestMatchSpans:
    def test_every_occurrence_left_to_right_without_overlap(self) -> None:
        assert match_spans("aaaa", "aa") == [(0, 2), (2, 4)]
        assert match_spans("START RequestId: abc", "req") == [(6, 9)]

    def test_smart_case(self) -> None:
        assert match_spans("Error error ERROR", "error") == [(0, 5), (6, 11), (12, 17)]
        assert match_spans("Error error ERROR", "Error") == [(0, 5)]

    def test_no_query_no_match(self) -> None:
        assert match_spans("anything", "") == []


class TestSearchIndex:
    def test_a_query_searches_the_rows_and_the_newest_match_is_current(self) -> None:
        index = SearchIndex()
        index.search("end", rows("START", "END a", "x", "END b"))
        assert index.seqs() == [2, 4] and index.current == 4 and index.label() == "2/2"

    def test_next_and_previous_wrap_around(self) -> None:
        index = SearchIndex()
        index.search("e", rows("e1", "x", "e3", "e4"))
        assert index.step(True) == 1 and index.label() == "1/3"  # past the last: the first
        assert index.step(True) == 3
        assert index.step(False) == 1
        assert index.step(False) == 4 and index.position == 3

    def test_new_rows_are_searched_as_they_come_and_the_current_match_stays(self) -> None:
        index = SearchIndex()
        index.search("hit", rows("hit", "miss"))
        assert index.extend(rows("miss", "a hit", "hit again", start=3)) == 2
        assert index.seqs() == [1, 4, 5] and index.current == 1 and index.label() == "1/3"

    def test_evicted_rows_take_their_matches_with_them(self) -> None:
        index = SearchIndex()
        index.search("x", rows(*["x"] * 3000))
        index.step(True)  # current: the first, about to be evicted
        index.drop_before(2501)
        assert index.count == 500 and index.seqs()[0] == 2501
        assert index.current == 2501 and index.label() == "1/500"
        index.drop_before(4000)
        assert index.count == 0 and index.current is None and index.label() == "no match"

    def test_no_query_costs_nothing_and_says_nothing(self) -> None:
        index = SearchIndex()
        index.search("", rows("a", "b"))
        assert index.extend(rows("c", start=3)) == 0 and index.label() == "" and index.step(True) is None

    def test_nearest_match_to_a_row(self) -> None:
        index = SearchIndex()
        index.search("m", rows("m", "-", "m", "-", "m"))
        assert index.nearest(4) == 3 and index.nearest(0) == 1


class TestLogFilter:
    def test_by_source_and_by_request(self) -> None:
        both = LogFilter(frozenset({FUNCTION}), "r1").matcher()
        assert both(FUNCTION, "r1") and not both(FUNCTION, "r2") and not both(PLATFORM, "r1")
        anyone = LogFilter(None, "r1").matcher()
        assert anyone(PLATFORM, "r1") and not anyone(PLATFORM, None)
        assert LogFilter().matcher()(LAMBDATUI, None)

    def test_extensions_by_prefix(self) -> None:
        match = source_matcher(frozenset({"extensions"}))
        assert match("extension:logs-agent") and not match(FUNCTION)

    def test_what_the_title_says(self) -> None:
        assert LogFilter().describe() == ""
        assert LogFilter(frozenset({FUNCTION})).describe("function") == "function"
        described = LogFilter(frozenset({FUNCTION}), "a3000000-0000-4000").describe("function")
        assert described == "function · request a3000000…"
        assert short_id("abc") == "abc"


class TestSavingFiles:
    def test_log_lines_written_one_a_line(self, tmp_path: Path) -> None:
        path = write_log_file("out.txt", ["one", "two"], directory=tmp_path)
        assert path == tmp_path / "out.txt" and path.read_text() == "one\ntwo\n"

    def test_a_log_that_cannot_be_written_raises(self, tmp_path: Path) -> None:
        with pytest.raises(OSError):
            write_log_file("missing/dir/out.txt", ["x"], directory=tmp_path)

    def test_default_log_name(self) -> None:
        assert default_log_name(datetime(2026, 12, 1, 5, 15, 0)) == "lambdatui-logs-20261201-051500.txt"

    @pytest.mark.parametrize("name, file", [("order", "order.json"), ("order.json", "order.json"),
                                            ("big order_2", "big order_2.json")])
    def test_event_names(self, name: str, file: str) -> None:
        assert event_file_name(name) == file

    @pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "-flag", "what?", "x" * 200])
    def test_bad_event_names_are_refused(self, name: str) -> None:
        with pytest.raises(ValueError):
            event_file_name(name)

    def test_an_event_is_saved_and_not_overwritten_unless_asked(self, tmp_path: Path) -> None:
        path = save_event(tmp_path, "order", '{"n": 1}')
        assert path == tmp_path / "events" / "order.json" and path.read_text() == '{"n": 1}\n'
        with pytest.raises(FileExistsError):
            save_event(tmp_path, "order", '{"n": 2}')
        save_event(tmp_path, "order", '{"n": 2}', overwrite=True)
        assert path.read_text() == '{"n": 2}\n'
