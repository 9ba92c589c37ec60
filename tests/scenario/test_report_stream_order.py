"""replay writes its timeline on stdout and the function's lines on stderr, which the headless modes write at the end
of the scheduling round: on a terminal (or both streams in one file) a line the function printed before it returned
must still come before its response."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
import trio.testing

from lambdatui.host.nonblocking_output import NonBlockingOutput
from lambdatui.model import facts as f
from lambdatui.scenario.report import TimelinePrinter


@pytest.mark.trio
async def test_the_functions_line_comes_before_the_response_it_printed_ahead_of(tmp_path: Path) -> None:
    both = tmp_path / "terminal.txt"
    fd = os.open(both, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    err = NonBlockingOutput(fd)
    try:
        with open(fd, "w", closefd=False) as out:
            printer = TimelinePrinter(out, err)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(err.pump)
                await trio.testing.wait_all_tasks_blocked()  # the pump idles: stderr's lines wait for the round's end
                printer(f.LogLine(f.FUNCTION, "printed before returning", "req-1"))
                printer(f.InvocationCompleted(f.InvocationResult("req-1", b'{"ok": true}')))
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
    finally:
        err.close()
        os.close(fd)
    lines = both.read_text().splitlines()
    printed = next(i for i, line in enumerate(lines) if "printed before returning" in line)
    response = next(i for i, line in enumerate(lines) if line.split()[:1] == ["response"])
    assert printed < response, lines


def test_a_reads_lines_of_the_function_reach_stderr_in_one_write(tmp_path: Path) -> None:
    """A burst crosses the host a read at a time: replay's stderr takes a read's lines in one write, as `invoke`'s
    does. A line at a time, a 100,000-line burst cost the host several times as much, and its stderr, read all along,
    fell a megabyte behind and dropped lines 'not being read'."""

    class Counted:
        writes = 0

        def write(self, text: str) -> int:
            Counted.writes += 1
            return len(text)

        def flush(self) -> None:
            pass

    with open(tmp_path / "stdout.txt", "w") as out:
        printer = TimelinePrinter(out, Counted())  # type: ignore[arg-type]
        printer(f.LogLines.read(f.FUNCTION, tuple(f"line {n}" for n in range(1000)), "req-1", "stdout"))
    assert Counted.writes == 1
