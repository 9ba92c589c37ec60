"""The headless modes' stderr: a reader that stops reading can never block the host (issue 8)."""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from typing import Callable

import pytest
import trio

from lambdatui.host.nonblocking_output import NonBlockingOutput, dropped_notice

LINE = "x" * 999 + "\n"  # 1,000 bytes


def small_pipe() -> tuple[int, int]:
    r, w = os.pipe()
    fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
    return r, w


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_while(fd: int, closing: Callable[[], None]) -> bytes:
    """What the reader gets of `fd` while `closing()` writes what waits and closes the writing end."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(read_all(fd)))
    reader.start()
    closing()
    reader.join(10)
    return got[0]


@pytest.mark.trio
async def test_writes_never_block_on_a_stalled_reader_and_drops_are_counted() -> None:
    r, w = small_pipe()
    out = NonBlockingOutput(w, limit=20_000)
    os.close(w)  # only the stream's own descriptor is left: EOF comes when it closes
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(out.pump)
            started = time.monotonic()
            for _ in range(1000):  # 1 MB against a 4 KB pipe nobody reads
                out.write(LINE)
                out.flush()
            assert time.monotonic() - started < 2.0
            assert out.buffered <= 20_000 + 200
            assert out.dropped_total > 900
            nursery.cancel_scope.cancel()
        data = read_while(r, out.close)
    finally:
        os.close(r)
    text = data.decode()
    kept = text.count(LINE)
    assert 0 < kept < 1000
    assert text.endswith(dropped_notice(1000 - kept) + "\n")


@pytest.mark.trio
async def test_the_notice_goes_where_the_gap_is_once_the_reader_catches_up() -> None:
    r, w = small_pipe()
    out = NonBlockingOutput(w, limit=5_000)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(out.pump)
            for n in range(20):
                out.write(f"early {n} " + "y" * 990 + "\n")
            dropped = out.dropped_total
            assert dropped
            early = b""
            while b"dropped" not in early:  # the reader catches up: the pump writes the rest, then the notice
                with trio.fail_after(5):
                    await trio.lowlevel.wait_readable(r)
                early += os.read(r, 65536)
            out.write("late\n")
            out.flush()
            await trio.sleep(0)
            early += os.read(r, 65536)
            nursery.cancel_scope.cancel()
    finally:
        out.close()
        os.close(r)
        os.close(w)
    lines = early.decode().splitlines()
    assert lines[-2:] == [dropped_notice(dropped), "late"]
    assert all(re.match(r"early \d+ y+$", line) for line in lines[:-2])


def test_a_reader_that_never_reads_does_not_hang_the_exit() -> None:
    r, w = small_pipe()
    out = NonBlockingOutput(w, limit=100_000)
    try:
        for _ in range(50):
            out.write(LINE)
        started = time.monotonic()
        out.close(max_s=5, idle_s=0.3)
        assert time.monotonic() - started < 2
    finally:
        os.close(r)
        os.close(w)


def test_the_shared_descriptor_stays_blocking() -> None:
    """O_NONBLOCK is set on a description of our own: fd 2's (shared with a shell's terminal) is left alone."""
    r, w = os.pipe()
    out = NonBlockingOutput(w)
    try:
        assert os.get_blocking(w)
        assert not os.get_blocking(out.fileno())
        out.write("hello\n")
        assert os.read(r, 100) == b"hello\n"
    finally:
        out.close()
        os.close(r)
        os.close(w)


def test_a_reader_that_went_away_is_no_error() -> None:
    r, w = os.pipe()
    out = NonBlockingOutput(w)
    os.close(r)
    out.write("nobody\n")
    out.close()
    os.close(w)


def test_a_write_past_the_bound_first_gives_a_reader_that_made_room_what_it_takes() -> None:
    """The pump last found the pipe full; the reader has emptied it since. A write that would pass the bound hands
    over what waits first: a reader that reads all along loses nothing (it lost lines 'not being read')."""
    r, w = small_pipe()
    out = NonBlockingOutput(w, limit=20_000)
    os.close(w)
    try:
        for _ in range(20):  # 20 KB: the pipe (4 KB) takes what it can, the rest waits, at the bound
            out.write(LINE)
            out.flush()
        assert out.buffered > 10_000
        taken = os.read(r, 1 << 20)  # the reader catches up; no pump has run since
        out.write(LINE * 5)
        assert out.dropped_total == 0
        rest = read_while(r, out.close)
    finally:
        os.close(r)
    assert (taken + rest).decode() == LINE * 25


def test_a_result_stream_drops_nothing_and_says_why_it_could_not_write() -> None:
    """`limit=None` (replay's timeline): whatever waits is kept; a write error other than the reader's going is kept
    as `failure` (a full disk), where the reader's going (EPIPE) is none."""
    r, w = small_pipe()
    out = NonBlockingOutput(w, limit=None)
    os.close(w)
    try:
        for _ in range(100):  # 100 KB against a 4 KB pipe nobody reads yet
            out.write(LINE)
            out.flush()
        assert out.dropped_total == 0 and out.buffered > 90_000
        data = read_while(r, lambda: out.close(max_s=float("inf"), idle_s=float("inf"), give_up=lambda: False))
    finally:
        os.close(r)
    assert data.decode() == LINE * 100
    assert out.failure is None
    with open("/dev/full", "wb") as full:
        out = NonBlockingOutput(full.fileno(), limit=None)
        out.write(LINE)
        out.flush()
        assert out.failure == os.strerror(28)  # ENOSPC
        out.close()
