"""Turn a part of a /tmp file into the viewer's rows: pygments-highlighted text, or a hex dump for binary.

The lexer comes from the file's name first (`cache.json`, `notes.md`, `run.py`), then from its content (a JSON
or XML document, a `#!` line), else plain text. Everything here is plain computation, safe to run in a worker
thread (a 256 KB part takes a while to highlight; the UI must not wait on it).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Sequence, Union, overload

from pygments.lexers import get_lexer_for_filename, guess_lexer
from pygments.util import ClassNotFound
from textual.content import Content, Span
from textual.highlight import highlight

from lambdatui.model.tmp_file import HEX_WIDTH, TmpFileView, hex_rows, looks_binary

MAX_ROW_CHARS = 2000  # a minified 256 KB JSON is one line: keep each row drawable
PLAIN = "text"
HEX = "hex"
HEX_ROW_WIDTH = 8 + 2 + 23 + 2 + 23 + 2 + HEX_WIDTH  # offset, two groups of 8 bytes, the ASCII column


@dataclass(frozen=True)
class FileRows:
    """What the viewer draws: one row each, and how the part was read ("hex", "text", or a lexer's name).

    The rows' styles name theme variables ($text-primary...): a theme switch recolours them, on the viewer's own
    background."""

    rows: Sequence[Content]
    kind: str


class HexRows(Sequence[Content]):
    """A part's hex dump, each row made when it is first drawn: 16,384 rows for a 256 KB part cost nothing upfront."""

    _OFFSET_COLUMN = [Span(0, 8, "dim")]

    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.offset = offset

    def __len__(self) -> int:
        return -(-len(self.data) // HEX_WIDTH)

    @overload
    def __getitem__(self, index: int) -> Content: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Content]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[Content, Sequence[Content]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = index * HEX_WIDTH
        (row,) = hex_rows(self.data[start:start + HEX_WIDTH], self.offset + start)
        return Content(row, spans=self._OFFSET_COLUMN)


def choose_lexer(path: str, text: str) -> str:
    """A pygments lexer alias for this file: by its name, else by sniffing its start; "text" when nothing fits."""
    name = posixpath.basename(path)
    try:
        return get_lexer_for_filename(name, code=text[:4096]).aliases[0]
    except (ClassNotFound, IndexError):
        pass
    head = text.lstrip()[:4096]
    if head[:1] in ("{", "[") and _is_json(text, head):
        return "json"
    if head.startswith("<?xml"):
        return "xml"
    if head[:15].lower().startswith(("<!doctype html", "<html")):
        return "html"
    if head.startswith("#!"):
        try:  # the interpreter named on the first line (python, bash, node...)
            return guess_lexer(head.splitlines()[0]).aliases[0]
        except (ClassNotFound, IndexError):
            return PLAIN
    return PLAIN


def _is_json(text: str, head: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        # A part cut mid-document does not parse: an object's first key is enough of a sign.
        return head.startswith("[") or head[1:].lstrip().startswith('"')


def file_rows(view: TmpFileView) -> FileRows:
    """The part's rows: highlighted by pygments (Textual's theme-aware styles), or a hex dump."""
    if looks_binary(view.data):
        return FileRows(HexRows(view.data, view.offset), HEX)
    text = view.data.decode("utf-8", errors="replace").expandtabs(4)
    lexer = choose_lexer(view.path, text)
    rows = highlight(text, language=lexer).split("\n", allow_blank=True)
    if len(rows) > 1 and not rows[-1].plain:
        rows.pop()  # the newline that ends the last line starts no row
    return FileRows([row if len(row) <= MAX_ROW_CHARS else row.truncate(MAX_ROW_CHARS, ellipsis=True)
                     for row in rows], lexer)
