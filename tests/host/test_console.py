"""The headless console and its one helper for user text: shown, never obeyed, one line each (issue 8)."""

from __future__ import annotations

import io

import pytest

from lambdatui.host.console import ConsoleReporter, format_line, printable
from lambdatui.model import facts as f


@pytest.mark.parametrize("raw,shown", [
    ("plain text, accents é, CJK 漢字, emoji 🙂", "plain text, accents é, CJK 漢字, emoji 🙂"),
    ("tab\tstays", "tab\tstays"),
    ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
    ("fake\n  PASSED all good", "fake\\n  PASSED all good"),
    ("cr\rlf", "cr\\rlf"),
    ("nul\x00 bell\x07 del\x7f", "nul\\x00 bell\\x07 del\\x7f"),
    ("c1 csi\x9b31m", "c1 csi\\x9b31m"),
    ("line\u2028sep\u2029para", "line\\u2028sep\\u2029para"),
    ("bidi \u202eevil\u202c", "bidi \\u202eevil\\u202c"),
    ("undecodable \udcff", "undecodable \\udcff"),
    ("non-breaking\u00a0space", "non-breaking\u00a0space"),
])
def test_printable_escapes_what_would_drive_a_terminal(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert printable(shown) == shown  # escaping twice changes nothing
    assert "\n" not in printable(raw) and "\x1b" not in printable(raw)


def test_a_console_line_is_escaped_and_tagged() -> None:
    line = f.LogLine(f.FUNCTION, "clear:\x1b[2J")
    assert format_line(line) == "[function]   clear:\\x1b[2J"


def test_a_record_of_several_lines_is_one_tagged_row_per_line() -> None:
    """A log record the runtime framed on its log fd keeps its newlines (a traceback, a message of two lines): each
    row carries the record's tag, so none can pass for another source's line."""
    line = f.LogLine(f.FUNCTION, "[ERROR]\tt\tid\tcaught\nfake [platform] line\r\n\x1b[2Jlast")
    assert format_line(line).splitlines() == [
        "[function]   [ERROR]\tt\tid\tcaught",
        "[function]   fake [platform] line",
        "[function]   \\x1b[2Jlast",
    ]


def test_a_traceback_joined_with_cr_is_one_tagged_row_per_part() -> None:
    line = f.LogLine("extension:audit", "[ERROR] boom\rTraceback (most recent call last):\r  File \"h.py\"\x1b[0m\r")
    assert format_line(line).splitlines() == [
        "[audit]      [ERROR] boom",
        "[audit]      Traceback (most recent call last):",
        '[audit]        File "h.py"\\x1b[0m',
    ]


def test_no_row_of_the_console_escapes_its_tag() -> None:
    stream = io.StringIO()
    reporter = ConsoleReporter(stream)
    for text in ("a\rPASSED all good", "\r\r", "\x1b]0;title\x07", "x\u2028[platform] END RequestId: y"):
        reporter(f.LogLine(f.FUNCTION, text))
    rows = stream.getvalue().splitlines()
    assert rows and all(row.startswith("[function]") for row in rows), rows
    assert "\x1b" not in stream.getvalue() and "\x07" not in stream.getvalue()


def test_serve_reporter_starts_every_row_with_its_environment_and_none_for_the_fleet() -> None:
    from lambdatui.host.console import FleetConsoleReporter

    out = io.StringIO()
    report = FleetConsoleReporter(out)
    report(2, f.LogLine(f.FUNCTION, "Traceback\rline two"))  # awslambdaric's \r-joined traceback: two rows
    report(0, f.LogLine(f.LAMBDATUI, "serving"))
    report(2, f.InvocationQueued("r", 1))  # not a line: nothing printed
    rows = out.getvalue().splitlines()
    assert len(rows) == 3, rows
    assert rows[0].startswith("#2 [function]") and rows[1].startswith("#2 [function]") and "line two" in rows[1]
    assert rows[2].startswith("[lambdatui]")


class _CountedWrites(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_a_reads_lines_are_printed_as_each_line_would_be_in_one_write() -> None:
    from lambdatui.host.console import FleetConsoleReporter

    lines = (f.LogLine(f.FUNCTION, "first"), f.LogLine(f.FUNCTION, "Traceback\rframe"),
             f.LogLine(f.extension_source("ext"), "\x1b[31mred"))
    one_by_one, batched = io.StringIO(), _CountedWrites()
    for line in lines:
        FleetConsoleReporter(one_by_one)(3, line)
    FleetConsoleReporter(batched)(3, f.LogLines(lines))
    assert batched.getvalue() == one_by_one.getvalue()
    assert batched.writes == 1
    assert [row[:15] for row in batched.getvalue().splitlines()] == ["#3 [function]  ", "#3 [function]  ",
                                                                     "#3 [function]  ", "#3 [ext]       "]
    plain, plain_batched = io.StringIO(), io.StringIO()
    for line in lines:
        ConsoleReporter(plain)(line)
    ConsoleReporter(plain_batched)(f.LogLines(lines))
    assert plain_batched.getvalue() == plain.getvalue() and "\\x1b[31mred" in plain.getvalue()


def test_a_read_given_as_texts_prints_as_its_lines_without_making_them() -> None:
    """A burst's read is printed from its texts: the same rows as its lines one at a time, and no `LogLine`
    object made for any of them (100,000 of them cost ~40 ms)."""
    from lambdatui.host.console import FleetConsoleReporter

    texts = ("first", "Traceback\rframe", "\x1b[31mred")
    read = f.LogLines.read(f.FUNCTION, texts, "r-1", "stdout")
    one_by_one, batched = io.StringIO(), _CountedWrites()
    for line in f.read_lines(f.FUNCTION, texts, "r-1", "stdout"):
        FleetConsoleReporter(one_by_one)(2, line)
    FleetConsoleReporter(batched)(2, read)
    plain = io.StringIO()
    ConsoleReporter(plain)(read)
    assert batched.getvalue() == one_by_one.getvalue() and batched.writes == 1
    assert plain.getvalue().count("[function]") == 4
    assert read.made() == ()
