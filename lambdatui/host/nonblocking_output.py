"""The headless modes' stderr, written without ever blocking the host.

A reader that stops reading (a test's `Popen(stderr=PIPE)` it never reads, a paused terminal, a slow log
shipper) fills the pipe's buffer, 64 KB on Linux; a blocking write then stops the whole trio run, and every
invoke with it. So each line is written without blocking. What the reader cannot take yet waits in a buffer
(bounded: `BUFFER_LIMIT_BYTES`) flushed as soon as the descriptor is writable again; a line that does not fit
is dropped and counted, and one line says how many, where the gap is, once the reader catches up (or at
exit): "lambdatui: N log lines dropped: stderr was not being read".

A line is what one `write` ends with a newline (a console log line, even one spanning several terminal lines,
or one `print`): it is kept or dropped whole.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import stat
import sys
import time
from collections import deque
from typing import Callable, Iterator, Optional, TextIO, Union

import trio

from lambdatui.model.facts import LAMBDATUI

BUFFER_LIMIT_BYTES = 1 << 20
_WRITE_AT_ONCE = 1 << 16
# At exit the host has nothing left to do, but still must not hang on a reader that never reads.
EXIT_IDLE_S = 2.0  # give up when the reader has taken nothing for this long
EXIT_MAX_S = 10.0
_GIVE_UP_POLL_S = 0.05


def dropped_notice(count: int) -> str:
    return f"{LAMBDATUI}: {count} log line{'s' * (count != 1)} dropped: stderr was not being read"


def _own_nonblocking_fd(fd: int) -> tuple[int, Optional[bool]]:
    """A descriptor of our own for `fd`'s file, non-blocking where a reader can stall it.

    Returns it and the blocking mode to restore at close (None: nothing to restore). O_NONBLOCK belongs to
    the open file description, which a `dup` shares with fd 2 itself, with our children and with whoever
    opened it (a shell's terminal would be left non-blocking): a pipe or a terminal is opened afresh through
    /proc instead, which gives a description of our own. A regular file never waits for a reader. A socket (a
    systemd unit's journal stream, often stdout's too), which /proc cannot open again, stays as it is: each send
    says MSG_DONTWAIT instead (NonBlockingOutput._write).
    """
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode) or stat.S_ISSOCK(mode):
        return os.dup(fd), None
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        try:
            flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
            return os.open(f"/proc/self/fd/{fd}", flags), None
        except OSError:
            pass  # no /proc, or a pipe whose reader has gone: share the description, and restore it at close
    own = os.dup(fd)
    was_blocking = os.get_blocking(own)
    os.set_blocking(own, False)
    return own, was_blocking


class NonBlockingOutput:
    """A text stream (`write`, `flush`) on a file descriptor that never blocks; run `pump` in the trio run.
    `limit`: what may wait for the reader, beyond which lines are dropped; None: nothing is ever dropped (a result)."""

    def __init__(self, fd: int, limit: Optional[int] = BUFFER_LIMIT_BYTES) -> None:
        self.limit = limit
        self.dropped = 0  # lines dropped since the last notice
        self.dropped_total = 0
        self.failure: Optional[str] = None  # why the file took no more, other than its reader's going
        self._fd: Optional[int]
        self._fd, self._restore = _own_nonblocking_fd(fd)
        self._socket: Optional[socket.socket] = None
        if stat.S_ISSOCK(os.fstat(self._fd).st_mode):
            self._socket = socket.socket(fileno=self._fd)  # sends with MSG_DONTWAIT; closes the descriptor with it
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._partial = ""
        self._stalled = False  # the reader is behind: only the pump writes, when the descriptor is writable
        self._wake: Optional[trio.Event] = None

    # ------------------------------------------------------------------ TextIO, as far as print() needs it

    # Whole lines need no flush to go out: the pump writes them at the end of the scheduling round.
    writes_on_its_own = True

    def write(self, text: str) -> int:
        if "\n" in text:
            whole, _, self._partial = (self._partial + text).rpartition("\n")
            self._add(whole + "\n")
            self._push(deferred=True)
        else:
            self._partial += text
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._add(self._partial)
            self._partial = ""
        self._push()

    def fileno(self) -> int:
        """The descriptor our writes go to (faulthandler and the like write there directly)."""
        if self._fd is None:
            raise OSError("stderr is closed")
        return self._fd

    def isatty(self) -> bool:
        return self._fd is not None and os.isatty(self._fd)

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def encoding(self) -> str:
        return "utf-8"

    # ------------------------------------------------------------------ the buffer

    @property
    def buffered(self) -> int:
        return self._size

    def _add(self, text: str) -> None:
        if self._fd is None:
            return
        data = text.encode("utf-8", "backslashreplace")
        limit = self.limit
        if limit is not None and self._size + len(data) > limit:
            # What waits may only be this round's writes (a read of the function's output is one write of up to
            # ~1 MB), and a reader that reads all along may have made room since the pump last wrote: it takes what
            # it can now (a write that would wait is not made), and only what it cannot take is dropped.
            self._write_some()
            if not self._chunks:
                self._stalled = False
        if limit is not None and self._size + len(data) > limit:
            lines = data.count(b"\n") or 1  # a write may hold a whole read's lines: the notice counts lines
            self.dropped += lines
            self.dropped_total += lines
            return
        self._note_dropped()
        self._chunks.append(data)
        self._size += len(data)

    def _note_dropped(self) -> None:
        """The notice goes where the gap is; it may overrun the bound by its own few bytes."""
        if self.dropped:
            notice = (dropped_notice(self.dropped) + "\n").encode()
            self.dropped = 0
            self._chunks.append(notice)
            self._size += len(notice)

    def _push(self, deferred: bool = False) -> None:
        if self._stalled or self._fd is None:
            return  # the pump writes, in order, when the reader makes room
        if deferred and self._wake is not None:
            # The pump is idle in this trio run: it writes at the end of this scheduling round, so a burst of
            # lines (a read of the function's output is a thousand of them) costs one write, not one each.
            self._wake.set()
            return
        self._write_some()
        if self._chunks:
            self._stalled = True
            if self._wake is not None:
                self._wake.set()

    def _write_some(self) -> None:
        """Write what the descriptor takes now; the dropped-lines notice once everything else is out."""
        while self._fd is not None:
            if not self._chunks:
                if not self.dropped:
                    return
                self._note_dropped()  # the reader has caught up
            parts = [self._chunks.popleft()]
            size = len(parts[0])
            while self._chunks and size < _WRITE_AT_ONCE:
                parts.append(self._chunks.popleft())
                size += len(parts[-1])
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            try:
                written = self._write(data)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                # The reader has gone (EPIPE): nobody is left to tell, as `cat` tells nobody. Anything else (a full
                # disk, an I/O error) is kept for whoever wrote a result here to say (`failure`).
                if not isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                    self.failure = exc.strerror or str(exc)
                self._chunks.clear()
                self._size = 0
                self._close_fd()
                return
            self._size -= written
            if written < len(data):
                self._chunks.appendleft(data[written:])
                return

    def _write(self, data: bytes) -> int:
        if self._socket is not None:
            return self._socket.send(data, socket.MSG_DONTWAIT)
        assert self._fd is not None
        return os.write(self._fd, data)

    async def pump(self) -> None:
        """Flush what waits as soon as the descriptor can take it; run it for as long as the host runs."""
        while True:
            if not self._stalled or self._fd is None:
                self._wake = trio.Event()
                try:
                    await self._wake.wait()
                finally:
                    self._wake = None
                self._write_some()
                if self._chunks:
                    self._stalled = True
                continue
            await trio.lowlevel.wait_writable(self._fd)
            self._write_some()
            if not self._chunks:
                self._stalled = False

    # ------------------------------------------------------------------ the end

    def close(self, max_s: float = EXIT_MAX_S, idle_s: float = EXIT_IDLE_S,
              give_up: Optional[Callable[[], bool]] = None) -> None:
        """Write what waits (and the notice) while the reader keeps taking it, within bounds (`give_up`, looked at
        every `_GIVE_UP_POLL_S`: a reason to stop waiting that comes while it waits, a second signal)."""
        self.flush()
        self._note_dropped()
        now = time.monotonic()
        deadline, progress_at = now + max_s, now
        poller = select.poll()
        if self._fd is not None:
            poller.register(self._fd, select.POLLOUT)
        while self._fd is not None and self._chunks:
            before = self._size
            self._write_some()
            now = time.monotonic()
            if self._size < before:
                progress_at = now
            left = min(deadline, progress_at + idle_s) - now
            if not self._chunks or left <= 0 or (give_up is not None and give_up()):
                break
            poller.poll(min(left, _GIVE_UP_POLL_S) * 1000 if give_up is not None else left * 1000)
        self._close_fd()

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._socket is not None:
            self._socket.close()
            return
        if self._restore is not None:
            with contextlib.suppress(OSError):
                os.set_blocking(fd, self._restore)
        with contextlib.suppress(OSError):
            os.close(fd)


@contextlib.contextmanager
def nonblocking_stderr() -> Iterator[Union[NonBlockingOutput, TextIO]]:
    """sys.stderr as a NonBlockingOutput for the block (stray writers too: logging's last resort, warnings).

    Yields the stream to write to; start its `pump` in the trio run. A stderr without a descriptor (already
    replaced by a test harness) is used as it is. Where the caller closed it (`2>&-`, a service detached with
    `>&- 2>&-`), Python has none: the lines go nowhere, as the caller chose, and lambdatui runs on.
    """
    if sys.stderr is None:
        with open(os.devnull, "w") as nowhere:
            yield nowhere
        return
    saved = sys.stderr
    try:
        fd = saved.fileno()
        saved.flush()
        out = NonBlockingOutput(fd)
    except (AttributeError, OSError, ValueError):
        yield saved
        return
    sys.stderr = out  # type: ignore[assignment]
    try:
        yield out
    finally:
        sys.stderr = saved
        out.close()


@contextlib.contextmanager
def nonblocking_stdout(give_up: Callable[[], bool]) -> Iterator[Union[NonBlockingOutput, TextIO]]:
    """A stream on stdout for a result written as it comes (`replay`'s timeline): never blocking the host, whose
    Durations and timeouts a reader slow to read must not change, and never dropping a line. At the block's end it
    waits for the reader however long it takes, until `give_up` (the command's second signal). A stdout without a
    descriptor (a test harness's) is used as it is; a closed one (`>&-`) takes nothing."""
    if sys.stdout is None:
        with open(os.devnull, "w") as nowhere:
            yield nowhere
        return
    try:
        fd = sys.stdout.fileno()
        sys.stdout.flush()
        out = NonBlockingOutput(fd, limit=None)
    except (AttributeError, OSError, ValueError):
        yield sys.stdout
        return
    try:
        yield out
    finally:
        out.close(max_s=float("inf"), idle_s=float("inf"), give_up=give_up)


async def pump(stream: Union[NonBlockingOutput, TextIO]) -> None:
    """The stream's pump, or nothing to do for a plain stream."""
    if isinstance(stream, NonBlockingOutput):
        await stream.pump()
