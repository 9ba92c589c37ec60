"""Provides the log's rows as data and text: how one log line becomes rows (split at CR/LF, escape codes and
controls made harmless, cut when huge), how wide a row is, the tag column it is shown under, and the colours of
the platform's own lines, and a batch's lines as runs of one source (`runs`). No widget state: `LogLines`
(_log_lines.py) keeps, indexes and draws these rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text

from lambdatui.model.facts import FUNCTION, LAMBDATUI, PLATFORM, LogLine

TAG_WIDTH = 10
MAX_ROW_CHARS = 4000  # a single printed megabyte stays one (cut) row instead of a megabyte-wide canvas
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = {i: None for i in (*range(32), 0x7f) if i != 9}  # C0 controls and DEL draw nothing a row should keep
_NEWLINES = re.compile(r"\r\n|\r|\n")
_needs_cleaning = re.compile(r"[\x00-\x1f\x7f]").search  # a line without these is one row as it is


def text_width(text: str) -> int:
    """Cells the row takes: its length for ASCII (control characters are gone by now), else rich's measure."""
    return len(text) if text.isascii() else cell_len(text)


@dataclass(slots=True)
class Row:
    """One log line as the widget keeps it, unrendered: its text, where it came from, and its width in cells."""

    seq: int
    source: str
    text: str
    stream: str
    width: int
    request_id: Optional[str] = None


RowMatch = Callable[[str, Optional[str]], bool]  # (source, request id) -> shown


def split_rows(text: str) -> list[str]:
    """One log line as terminal rows: split at CR/LF, escape codes and tabs made harmless."""
    if len(text) <= MAX_ROW_CHARS and _needs_cleaning(text) is None:
        return [text]  # nearly every line of a burst: nothing to split or clean
    pieces = _NEWLINES.split(text)
    if len(pieces) > 1 and pieces[-1] == "":
        pieces.pop()
    rows = []
    for piece in pieces:
        clean = _ANSI.sub("", piece).expandtabs(4).translate(_CONTROL)
        if len(clean) > MAX_ROW_CHARS:
            clean = clean[:MAX_ROW_CHARS] + f" … ({len(clean) - MAX_ROW_CHARS:,} more characters)"
        rows.append(clean)
    return rows


def tag_of(source: str) -> str:
    """The left column: "platform", "function", "lambdatui", or the extension's name."""
    return source.split(":", 1)[1] if source.startswith("extension:") else source


_PLATFORM_KEYWORDS = ("INIT_START", "INIT_REPORT", "INIT_RUNTIME_DONE", "EXTENSION", "START", "END", "REPORT",
                      "TELEMETRY", "RUNTIME")
_FAILURE = re.compile(r"timed out|Status: (error|timeout|failure)|Error Type:|Runtime\.\w+|Sandbox\.\w+")


def platform_text(line: str, styles: dict[str, Style]) -> Text:
    """START/END/REPORT in the invoke colour, INIT_* and EXTENSION in the init colour, failures in red."""
    text = Text(line)
    for keyword in _PLATFORM_KEYWORDS:
        if line.startswith(keyword) and (len(line) == len(keyword) or line[len(keyword)] in " \t"):
            key = "init" if keyword.startswith(("INIT", "EXTENSION", "RUNTIME")) else "invoke"
            text.stylize(styles.get(key, Style()) + Style(bold=True), 0, len(keyword))
            break
    for match in _FAILURE.finditer(line):
        text.stylize(styles.get("error", Style()), match.start(), match.end())
    return text


def runs(lines: Iterable[LogLine]) -> Iterator[tuple[str, Optional[str], str, list[str]]]:
    """The lines as runs of one source, invoke and stream: (source, request id, stream, their texts)."""
    run: list[str] = []
    source: Optional[str] = None
    request_id: Optional[str] = None
    stream = ""
    for line in lines:
        if line.source != source or line.request_id != request_id or line.stream != stream:
            if source is not None:
                yield source, request_id, stream, run
            source, request_id, stream, run = line.source, line.request_id, line.stream, []
        run.append(line.text)
    if source is not None:
        yield source, request_id, stream, run


def plain(texts: list[str]) -> bool:
    """Every text is one row as it is, as wide as it is long: ASCII, no control character, not huge."""
    joined = "".join(texts)  # printable ASCII: no control character (a tab, CR or escape needs split_rows)
    return joined.isascii() and joined.isprintable() and max(map(len, texts)) <= MAX_ROW_CHARS


def row_styles(color: Callable[..., Style]) -> dict[str, Style]:
    """How each kind of row (and a match, the chosen row) is drawn, from the theme's colours: `color(name)`."""
    return {
        PLATFORM: color("accent"),
        FUNCTION: color("text-primary"),
        LAMBDATUI: color("text-warning") + Style(italic=True),
        "extension": color("phase-init"),
        "lambdatui-text": Style(italic=True, dim=True),
        "init": color("phase-init"),
        "invoke": color("phase-invoke"),
        "error": color("phase-error") + Style(bold=True),
        "stderr": color("text-warning"),
        # A match is marked by more than colour (reverse, bold) for the high-contrast theme.
        "match": Style(reverse=True),
        "match-current": color("warning") + Style(reverse=True, bold=True, underline=True),
        "selected": Style(bold=True, underline=True),
    }
