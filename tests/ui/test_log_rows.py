"""How one log line becomes the log pane's rows, and how wide they are (the burst's per-line cost lives here)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from lambdatui.ui.widgets._log_lines import MAX_ROW_CHARS, split_rows, text_width


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
