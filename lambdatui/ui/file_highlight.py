"""Turn a part of a /tmp file into the viewer's rows: pygments-highlighted text, or a hex dump for binary.

The lexer comes from the file's name first (`cache.json`, `notes.md`, `run.py`), then from its content (a JSON
or XML document, a `#!` line), else plain text. Everything here is plain computation, safe to run in a worker
thread (a 256 KB part takes a while to highlight; the UI must not wait on it).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass

from pygments.lexers import get_lexer_for_filename, guess_lexer
from pygments.util import ClassNotFound
from rich.syntax import Syntax
from rich.text import Text

from lambdatui.model.tmp_file import TmpFileView, hex_rows, looks_binary

MAX_ROW_CHARS = 2000  # a minified 256 KB JSON is one line: keep each row drawable
PLAIN = "text"
HEX = "hex"


@dataclass(frozen=True)
class FileRows:
    """What the viewer draws: one Text per row, and how the part was read ("hex", "text", or a lexer's name)."""

    rows: list[Text]
    kind: str


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


def file_rows(view: TmpFileView, theme: str) -> FileRows:
    """The part's rows, highlighted with the pygments style `theme`."""
    if looks_binary(view.data):
        return FileRows([Text(row, no_wrap=True, end="") for row in hex_rows(view.data, view.offset)], HEX)
    text = view.data.decode("utf-8", errors="replace").expandtabs(4)
    lexer = choose_lexer(view.path, text)
    if lexer == PLAIN:
        highlighted = Text(text)
    else:
        highlighted = Syntax(text, lexer, theme=theme, background_color="default").highlight(text)
    rows = highlighted.split("\n", allow_blank=True)
    if rows and not rows[-1].plain:
        rows.pop()  # the newline that ends the last line starts no row
    for row in rows:
        row.no_wrap, row.end = True, ""
        if len(row) > MAX_ROW_CHARS:
            row.truncate(MAX_ROW_CHARS)
            row.append(" …", "dim")
    return FileRows(rows, lexer)
