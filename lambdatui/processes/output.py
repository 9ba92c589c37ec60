"""Capture a child's stdout or stderr pipe as text lines, and the runtime's telemetry log pipe as its records."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from typing import Literal

from .linux import pipe_bytes_available

Stream = Literal["stdout", "stderr"]

# A printed line is one log event up to CloudWatch's 256 KB, as in Lambda, where a longer one is split there; a
# function printing without newlines must not grow our memory without bound.
MAX_LINE_BYTES = 256 * 1024

# A child that prints waits whenever its pipe is full until the host has read it. Linux's default pipe holds
# 64 KiB, about a millisecond of a burst; the debugger reads between repaints on its UI's thread, and a function
# printing 100,000 lines spent 40-100 ms of its time waiting on it (the debugger must cost the function no time).
# As large as an unprivileged process may make a pipe by default. Every user has an allowance for pipe buffers
# (fs.pipe-user-pages-soft, 64 MiB by default) past which each new pipe of theirs gets two pages: lambdatui's
# enlarged pipes stay within an eighth of it (four environments' stdout and stderr), the rest keep the default.
PIPE_SIZE = 1024 * 1024
ENLARGED_PIPES_BUDGET = 8 * 1024 * 1024
_READ_SIZE = 64 * 1024  # a read's lines are printed in one write: reads as large as before, in a larger pipe
# After a read of more than a print (and less than a whole read: the host is behind, it reads on at once), the next
# waits a moment, so that the pipe fills (~100 KB a millisecond at most, of its 1 MiB) and reads are few and large.
# Read as it came, a burst of 100,000 lines took ~1,100 reads of ~6 KB, each a wakeup, a fact and a console write of
# the host's, and a host waiting on the pipe is woken by every write of the function (the Python runtime's stdout is
# unbuffered, as in Lambda), which slows the function itself.
_BURST_READ = 1024
_BURST_PAUSE_S = 0.001
_DEFAULT_PIPE_SIZE = 64 * 1024
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux's numbers (fcntl names them from Python 3.10)
_enlarged: dict[int, int] = {}  # read end -> what enlarging its pipe took from the budget, while it is open


def output_pipe() -> tuple[int, int]:
    """(read, write) ends of a pipe for a child's stdout or stderr: PIPE_SIZE while the budget allows (else, or
    where the system refuses, the default size), the read end non-blocking. `close_read_end` gives its size back."""
    read_fd, write_fd = os.pipe()
    if sum(_enlarged.values()) + PIPE_SIZE <= ENLARGED_PIPES_BUDGET:
        try:
            _enlarged[read_fd] = fcntl.fcntl(write_fd, _F_SETPIPE_SZ, PIPE_SIZE) - _DEFAULT_PIPE_SIZE
        except OSError:
            pass  # the default size works too, only waits more often in a burst
    os.set_blocking(read_fd, False)
    return read_fd, write_fd


def close_read_end(read_fd: int) -> None:
    """Close the read end of an `output_pipe`: what enlarging it took goes back to the budget (what it took, not
    the pipe's size now: the child holding the write end may have resized it)."""
    _enlarged.pop(read_fd, None)
    os.close(read_fd)


def _decode(raw: bytes | bytearray) -> str:
    return bytes(raw).decode("utf-8", "replace")


def _char_boundary(buf: bytearray, cut: int, start: int) -> int:
    """Move a forced cut back to the start of a UTF-8 character, so splitting a
    long line does not turn one character into two replacement marks."""
    pos = cut
    while pos > start and cut - pos < 4 and 0x80 <= buf[pos] < 0xC0:
        pos -= 1
    return pos if pos > start else cut


class LineSplitter:
    """Bytes in, complete lines out (without the newline); keeps the unterminated tail."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self._limit = limit
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[str]:
        buf = self._buf
        buf += data
        limit = self._limit
        end = buf.rfind(b"\n")
        if end < 0:
            return self._split(buf)
        # One decode and one split for all the complete lines (a newline is never part of a UTF-8 sequence, so
        # this is what decoding each line alone gives), when no line can be past the limit: a character takes
        # at most 4 bytes (a replacement mark stands for at most 3). A burst's reads take this way.
        lines = buf[:end].decode("utf-8", "replace").split("\n")
        if end > limit and max(map(len, lines)) * 4 > limit:
            return self._split(buf)
        del buf[:end + 1]
        if len(buf) > limit:
            lines += self._split(buf)  # an unterminated tail already past the limit: cut now, as below
        return lines

    def _split(self, buf: bytearray) -> list[str]:
        """Line by line, cutting a line longer than the limit (at a character boundary)."""
        limit = self._limit
        lines: list[str] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start, start + limit + 1)
            if nl != -1:
                lines.append(_decode(buf[start:nl]))
                start = nl + 1
            elif len(buf) - start > limit:
                cut = _char_boundary(buf, start + limit, start)
                lines.append(_decode(buf[start:cut]))
                start = cut
            else:
                break
        # One deletion per feed keeps a burst of many short lines linear.
        del buf[:start]
        return lines

    def flush(self) -> list[str]:
        """The partial last line, at end of stream."""
        if not self._buf:
            return []
        line = _decode(self._buf)
        self._buf.clear()
        return [line]

    finish = flush  # at end of stream: nothing else is held


# A frame's type is 0xA55A00 then one of these (lambda-spec §6.6: text or JSON, with or without the record's level).
# 0xA5 begins no UTF-8 character, but it ends one (¥ is C2 A5): a frame is taken only where its whole header holds,
# its type one of these, its length at most a record's and its timestamp a time this century (or 0: a runtime that
# does not stamp), twelve fixed bytes and two bounded ones that printed text does not hold.
_FRAME_MAGIC = b"\xa5\x5a\x00"
_FRAME_TYPES = frozenset(b"\x02\x03\x0a\x0b\x0e\x0f\x12\x13\x16\x17\x1a\x1b")
_FRAME_HEADER = 16
_FRAME_LENGTH_MAX = 1 << 30
_FRAME_TIME_US = (946_684_800_000_000, 4_102_444_800_000_000)  # 2000-01-01 .. 2100-01-01
# Lambda keeps a log event up to 256 KB (CloudWatch's limit): a record past it is cut there, and says so.
MAX_RECORD_BYTES = 256 * 1024


class FramedLineSplitter:
    """A runtime's stdout that its telemetry log fd writes to too (`_LAMBDA_TELEMETRY_LOG_FD`: spawning.py): lines,
    and the framed records of that fd among them, in the order the function wrote them. A frame is what
    awslambdaric's FramedTelemetryLogSink writes (lambda-spec §6.6): a 4-byte type (0xA55A then the format and
    level), a 4-byte length and an 8-byte timestamp (µs), all big-endian, then the UTF-8 message; one `logging`
    record is one frame, however many lines it holds, so a Telemetry API subscriber gets it as one `function`
    record, as in Lambda.

    Lambda reads the two from separate pipes; one pipe here keeps their order, which two pipes read as the host
    wakes lose (every print of an invoke before its records). A line a record interrupts (a print without its
    newline yet) goes on after it. A record's final newline (the text format ends with one) ends it as a line's
    does; one over MAX_RECORD_BYTES is cut there, marked, and the rest skipped as it comes, never held."""

    def __init__(self, limit: int = MAX_LINE_BYTES, record_limit: int = MAX_RECORD_BYTES) -> None:
        self._lines = LineSplitter(limit)
        self._record_limit = record_limit
        self._frame = bytearray()  # an unfinished frame (or what may begin one), held until it is whole
        self._skip = 0  # what is left of a record past the limit

    def feed(self, data: bytes) -> list[str]:
        if self._skip:
            skipped = min(self._skip, len(data))
            self._skip -= skipped
            data = data[skipped:]
        if self._frame:
            data = bytes(self._frame) + data
            self._frame.clear()
        out: list[str] = []
        start = 0  # where the next frame is looked for (text before it is the lines')
        while True:
            at = data.find(_FRAME_MAGIC, start)
            if at < 0:
                held = _magic_begun(data)  # the read ended inside a frame's type: its rest comes next
                out += self._lines.feed(data[:len(data) - held])
                self._frame += data[len(data) - held:]
                return out
            header = data[at:at + _FRAME_HEADER]
            if len(header) < _FRAME_HEADER:
                out += self._lines.feed(data[:at])
                self._frame += data[at:]  # its header is not all here yet
                return out
            length = int.from_bytes(header[4:8], "big")
            stamp = int.from_bytes(header[8:16], "big")
            if header[3] not in _FRAME_TYPES or length > _FRAME_LENGTH_MAX or not (
                    stamp == 0 or _FRAME_TIME_US[0] <= stamp <= _FRAME_TIME_US[1]):
                start = at + 1  # text that holds the type's first bytes
                continue
            out += self._lines.feed(data[:at])  # a line it interrupts stays unfinished in the splitter
            frame = data[at + _FRAME_HEADER:]
            kept = min(length, self._record_limit)
            needed = kept + (kept < length)  # a cut looks at the byte after it (a character's continuation?)
            if len(frame) < needed:
                self._frame += data[at:]  # not all here yet
                return out
            if kept < length:
                body = bytearray(frame[:needed])
                out.append(_record(body[:_char_boundary(body, kept, 0)]) +
                           f" … (cut: {length - kept:,} more bytes; Lambda keeps a log event up to 256 KB)")
            else:
                out.append(_record(frame[:length]))
            if length > len(frame):
                self._skip = length - len(frame)
                return out
            data, start = frame[length:], 0

    def flush(self) -> list[str]:
        """The partial last line, the bytes held as a frame's possible start with it when they are no more than
        that (a frame's whole type is written at once): a frame being written stays, whole or not there yet."""
        if self._frame and len(self._frame) < len(_FRAME_MAGIC):
            held, self._frame = bytes(self._frame), bytearray()
            return self._lines.feed(held) + self._lines.flush()
        return self._lines.flush()

    def finish(self) -> list[str]:
        """At end of stream: the partial line, then a frame cut short as far as it came (its writer died)."""
        rest, self._frame = bytes(self._frame), bytearray()
        self._skip = 0  # a record cut at the limit ends with its writer: what comes later (a daemon's) is new
        if len(rest) < _FRAME_HEADER:
            return self._lines.feed(rest) + self._lines.flush()
        return self._lines.flush() + ([_record(rest[_FRAME_HEADER:])] if rest[_FRAME_HEADER:] else [])


def _magic_begun(data: bytes) -> int:
    """How many bytes at the end of `data` may begin a frame's type (0, 1 or 2)."""
    for size in (2, 1):
        if data.endswith(_FRAME_MAGIC[:size]):
            return size
    return 0


def _record(raw: bytes | bytearray) -> str:
    text = _decode(raw)
    return text[:-1] if text.endswith("\n") else text


class OutputPipe:
    """The read end of one child pipe (O_NONBLOCK), dispatching the lines of each read to `emit`, together: a
    burst of 100,000 short lines crosses the host a read at a time, not a line at a time.

    Reads happen both in the `pump` task and synchronously in `drain`; trio runs
    one task at a time, so they never interleave mid-read.
    """

    def __init__(self, fd: int, stream: Stream, emit: Callable[[Stream, list[str]], None],
                 framed: bool = False) -> None:
        """`framed`: the runtime's stdout, where its telemetry log fd writes its records too (FramedLineSplitter)."""
        import trio  # imported where used: the early start (host/early_start.py) runs before trio is imported

        self.fd = fd
        self.stream: Stream = stream
        self._emit = emit
        self._splitter: LineSplitter | FramedLineSplitter = FramedLineSplitter() if framed else LineSplitter()
        self.eof = trio.Event()
        self._closed = False

    def _dispatch(self, lines: list[str]) -> None:
        if lines:
            self._emit(self.stream, lines)

    def _read_once(self, size: int = _READ_SIZE) -> int:
        """One read; returns how many bytes it read (0: nothing more is available right now, or end of file)."""
        try:
            data = os.read(self.fd, size)
        except BlockingIOError:
            return 0
        if not data:
            self._dispatch(self._splitter.finish())
            self.eof.set()
            return 0
        self._dispatch(self._splitter.feed(data))
        return len(data)

    async def pump(self) -> None:
        """Read until end of file (every writer, including grandchildren, closed it)."""
        import trio

        while not self.eof.is_set() and not self._closed:
            await trio.lowlevel.wait_readable(self.fd)
            # One read per wakeup, so a child that prints nonstop cannot starve trio.
            if _BURST_READ <= self._read_once() < _READ_SIZE:
                await trio.sleep(_BURST_PAUSE_S)

    def drain(self, partial: bool = False) -> None:
        """Read what the pipe holds at this instant (never more, so a child that
        keeps writing cannot keep the caller here). `partial`: a last line without its newline goes too."""
        if self._closed or self.eof.is_set():
            return
        self._read_available()
        if partial and not self.eof.is_set():
            self._dispatch(self._splitter.flush())

    def drain_exited(self) -> None:
        """Read what the pipe holds now as all its child wrote: the child has exited, so its writes are in the pipe
        (a write is copied into it before it returns). Its partial last line and a record it left cut short go too,
        now. What a process still holding the pipe (a daemon that left the group) writes later is read on, as new
        lines."""
        if self._closed or self.eof.is_set():
            return
        self._read_available()
        if not self.eof.is_set():
            self._dispatch(self._splitter.finish())

    def _read_available(self) -> None:
        remaining = pipe_bytes_available(self.fd)
        while remaining > 0:
            before = remaining
            try:
                data = os.read(self.fd, min(remaining, _READ_SIZE))
            except BlockingIOError:
                return
            if not data:
                self._dispatch(self._splitter.finish())
                self.eof.set()
                return
            self._dispatch(self._splitter.feed(data))
            remaining = before - len(data)

    def close(self) -> None:
        """Deliver what is left, the partial last line included, and release the fd."""
        if self._closed:
            return
        self.drain()
        if not self.eof.is_set():
            # A writer outside the group (setsid) still holds the pipe; its
            # unterminated tail is all we will ever get.
            self._dispatch(self._splitter.finish())
        self._closed = True
        import trio

        trio.lowlevel.notify_closing(self.fd)
        close_read_end(self.fd)
