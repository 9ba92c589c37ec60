"""A burst of output in the debugger: how one log line becomes the log pane's rows and how wide they are (the
per-line cost lives here), and how often the debugger's process collects garbage meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len

from lambdatui.ui.widgets._log_rows import MAX_ROW_CHARS, split_rows, text_width

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text,rows", [
    ("line 000123 of the burst", ["line 000123 of the burst"]),
    ("", [""]),
    ("tab\there", ["tab here"]),
    ("\x1b[31mred\x1b[0m text", ["red text"]),
    ("Traceback\r  File x\r", ["Traceback", "  File x"]),
    ("a\r\nb", ["a", "b"]),
    ("bell\x07 del\x7f nul\x00", ["bell del nul"]),
    ("漢字 and emoji 🙂", ["漢字 and emoji 🙂"]),
])
def test_a_line_becomes_clean_rows(text: str, rows: list[str]) -> None:
    assert split_rows(text) == rows


def test_a_line_longer_than_a_row_is_cut_and_says_so() -> None:
    rows = split_rows("x" * (MAX_ROW_CHARS + 10))
    assert rows == ["x" * MAX_ROW_CHARS + " … (10 more characters)"]


@pytest.mark.parametrize("text", ["plain ascii", "", "漢字", "emoji 🙂 mixed", "é accents"])
def test_a_rows_width_is_its_cells(text: str) -> None:
    assert text_width(text) == cell_len(text)


def test_the_debuggers_process_collects_garbage_less_often_than_cpythons_default() -> None:
    # A burst of output in the debugger made CPython's default thresholds (700, 10, 10) run ~8 full collections of
    # ~80 ms each (benchmarks/tui_burst.py): the debugger's process raises the young generation's.
    import gc

    from lambdatui.config import resolve_function
    from lambdatui.tui import GC_THRESHOLDS, build_debugger

    before = gc.get_threshold()
    try:
        build_debugger(resolve_function(str(REPO / "sample_functions" / "hello" / "handler.py")))
        assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] >= 10 * 700
    finally:
        gc.set_threshold(*before)
