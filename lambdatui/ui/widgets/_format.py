"""Provides the few number and id formats every widget shares, so a duration reads the same everywhere.

Pure functions (no Textual): the widgets and their tests agree on "1.2 s" without rendering anything.
"""

from __future__ import annotations

import json
from typing import Optional

from lambdatui.model.tmp_tree import WRITERS_SEPARATOR

SHORT_ID = 8  # characters of a request id, as the console and the timeline abbreviate them
_CONTROL = {i: None for i in range(32) if i not in (9, 10, 13)}  # C0 controls that would break cell widths
_CONTROL[127] = None


def duration(ms: Optional[float]) -> str:
    """Milliseconds as a person reads them: "0.02 ms", "13.8 ms", "1.2 s", "3 min 4 s"."""
    if ms is None:
        return "…"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def seconds(value: float) -> str:
    """Seconds (a difference of two trio clock readings) in the same units as `duration`."""
    return duration(max(value, 0.0) * 1000)


def size(count: int) -> str:
    """Bytes in human units: "66 B", "2.0 KB", "1.2 MB" (powers of 1024, as `ls -h` counts them)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns at GB


def short_id(request_id: Optional[str]) -> str:
    """A request id's first characters: enough to tell invokes apart, short enough for a column."""
    return (request_id or "")[:SHORT_ID]


def phase_name(by: str) -> str:
    """Who touched something: "init", "before" (there when lambdatui first looked), a short request id, or several
    ("a1b2c3d4 or e5f6a7b8": Managed Instances' invokes that ran side by side, any of which may have)."""
    if by in ("init", "before", ""):
        return by
    return WRITERS_SEPARATOR.join(short_id(one) for one in by.split(WRITERS_SEPARATOR))


def one_line(text: str) -> str:
    """Text safe for a single terminal row: newlines and tabs become spaces, control characters go."""
    return text.translate(_CONTROL).replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")


# Every C0 control but newline and tab, DEL and the C1 controls (0x9b is a one-byte CSI to some terminals): each
# as a visible mark, ESC as "␛". A terminal that received them would obey them (clear the screen, set its title).
_VISIBLE = {i: chr(0x2400 + i) for i in range(32) if i not in (9, 10)}
_VISIBLE[127] = "\u2421"
_VISIBLE.update({i: f"\\x{i:02x}" for i in range(0x80, 0xA0)})


def visible_controls(text: str) -> str:
    """Many-line text the function wrote (an error message, a file name) safe to draw: newlines and tabs stay, every
    other control character is shown, never sent to the terminal as it is."""
    return text.replace("\r\n", "\n").translate(_VISIBLE)


def clip(text: str, width: int) -> str:
    """At most `width` characters, with an ellipsis when something was cut (never wraps)."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def pretty_payload(payload: bytes, limit: Optional[int] = None) -> tuple[str, str]:
    """(text, lexer): JSON re-indented for reading, anything else shown as text, `limit` characters at most. A
    control byte (a binary response's) would draw as nothing: "\x00\x01raw" read "raw"; it shows as its mark. JSON
    nested deeper than this Python reads or re-indents (a 3.13 function's response on a 3.11 host) shows as sent."""
    text = payload.decode("utf-8", errors="replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)[:limit], "json"
    except (ValueError, RecursionError):
        return visible_controls(text[:limit]), "text"


# What a panel highlights of a long text (an event, a response): pygments and word wrapping run again at every
# layout, on the loop the host shares, and 15,000 lines of a pretty-printed 100 KB list took seconds.
HIGHLIGHTED_LINES = 400


def head_lines(text: str, where_the_rest_is: str = "") -> str:
    """`text`'s first HIGHLIGHTED_LINES lines, and a last one saying how many more there are (and where they are)."""
    lines = text.split("\n")
    if len(lines) <= HIGHLIGHTED_LINES:
        return text
    more = f"… {len(lines) - HIGHLIGHTED_LINES:,} more lines"
    return "\n".join(lines[:HIGHLIGHTED_LINES]) + "\n" + (f"{more}: {where_the_rest_is}" if where_the_rest_is else more)
