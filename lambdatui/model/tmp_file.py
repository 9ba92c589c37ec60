"""A part of a file in an environment's /tmp, as the host read it for the viewer (pure vocabulary, no I/O).

A /tmp file may be 2 GB: the viewer is handed one bounded part at a time (`offset`, `data`), with the file's size,
so it can say "the first 256 KB of 2.0 GB" and offer the next part. What could not be read is a `problem`, said
in words, never an exception crossing into the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

PART_BYTES = 256 * 1024  # one part: quick to read, highlight and draw, whatever the file's size
HEX_WIDTH = 16  # bytes per hex row
_TEXT_CONTROL = set(range(32)) - {9, 10, 12, 13, 27}  # tab, newline, form feed, carriage return, escape are text


@dataclass(frozen=True)
class TmpFileView:
    """`limit` bytes (at most) of the file at `path` ("/tmp/<relative>") from `offset`; `size` is the whole file's."""

    path: str
    size: int = 0
    offset: int = 0
    data: bytes = b""
    problem: Optional[str] = None
    """Why nothing could be read (gone, not a regular file, outside /tmp, unreadable), or None."""

    @property
    def end(self) -> int:
        """The offset just past this part."""
        return self.offset + len(self.data)

    @property
    def has_more(self) -> bool:
        return self.problem is None and self.end < self.size


def looks_binary(data: bytes) -> bool:
    """Sniffed as git does, roughly: a NUL byte, or many control bytes, or not UTF-8 (a cut multibyte character
    at the end of a part excused)."""
    if not data:
        return False
    if b"\0" in data:
        return True
    controls = sum(1 for byte in data[:8192] if byte in _TEXT_CONTROL)
    if controls * 10 > min(len(data), 8192):
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(data) - 3  # only a character cut by the part's end is forgiven
    return False


def hex_rows(data: bytes, offset: int = 0) -> list[str]:
    """`xxd`-style rows: the offset, 16 bytes in hex (two groups of 8), and the printable ASCII."""
    rows = []
    for start in range(0, len(data), HEX_WIDTH):
        chunk = data[start:start + HEX_WIDTH]
        left = " ".join(f"{b:02x}" for b in chunk[:8])
        right = " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        rows.append(f"{offset + start:08x}  {left:<23}  {right:<23}  {text}")
    return rows


def human_size(count: int) -> str:
    """1536 -> "1.5 KB", 262144 -> "256 KB", 2147483648 -> "2.0 GB" (powers of 1024)."""
    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            if unit == "bytes":
                return f"{count} bytes"
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"  # as `ls -h` rounds
        value /= 1024
    return f"{count} bytes"  # pragma: no cover - the loop always returns


def part_label(view: TmpFileView) -> str:
    """"the whole 12 bytes", or "bytes 0 to 256 KB of 2.0 GB" / "the first 256 KB of 2.0 GB"."""
    if view.offset == 0 and view.end >= view.size:
        return f"the whole {human_size(view.size)}"
    if view.offset == 0:
        return f"showing the first {human_size(len(view.data))} of {human_size(view.size)}"
    return f"showing {human_size(view.offset)} to {human_size(view.end)} of {human_size(view.size)}"
