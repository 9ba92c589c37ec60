"""`lambdatui invoke` whose stdout is a pipe read late (`lambdatui invoke fn | slow-consumer`, a script that reads
stdout only after stderr): the answer is bigger than the pipe's buffer, so writing it waits for the reader.

That wait is the caller's, not the function's: in Lambda the response is taken from the runtime in full
(`/response`) and the invoke's Duration, its timeout and the next invoke on the warm environment do not depend on
how fast the client reads it. Written with a blocking write from inside the host's trio run (until session 53),
the answer stopped the whole host while the reader dawdled: the runtime's next `/next` was not answered, the
REPORT's Duration counted the wait (past the timeout, without "Status: timeout"), and with a longer wait the invoke
was declared timed out and the environment reset, so `--repeat`'s next invoke cold-starts (README: `--repeat N`
runs "warm after the first").
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import termios
import time
from pathlib import Path

from e2e_support import REPO, lambdatui_argv, platform_lines, read_until, stop, write_file

BOUND = 30.0
ANSWER = 1_000_000  # characters: far more than a pipe's 64 KiB buffer
READER_LATE_S = 2.5  # the slow reader: the stimulus, not a synchronisation (the timeout is 1 s)

HANDLER = f"def handler(event, context):\n    return 'x' * {ANSWER}\n"


def test_a_late_stdout_reader_does_not_change_the_invoke(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    proc = subprocess.Popen([*lambdatui_argv(), "invoke", str(handler), "-e", "{}", "--timeout", "1",
                             "--repeat", "2"], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + BOUND
        head = read_until(proc.stderr.fileno(), b"START RequestId", deadline)
        time.sleep(READER_LATE_S)  # the reader is slow to come to stdout
        out, rest = proc.communicate(timeout=BOUND)
    finally:
        stop(proc)
    stderr = (head + rest).decode(errors="replace")

    assert proc.returncode == 0, stderr
    assert out == (b'"' + b"x" * ANSWER + b'"\n') * 2  # nothing lost
    lines = platform_lines(stderr)
    reports = [line for line in lines if line.startswith("REPORT ")]
    assert len(reports) == 2, stderr
    for report in reports:
        assert "Status:" not in report, stderr
        duration = float(re.search(r"\tDuration: ([\d.]+) ms", report).group(1))
        assert duration < 1000, report  # the function answered in milliseconds, within its 1 s timeout
    # --repeat 2: one environment, warm for the second invoke.
    assert sum(line.startswith("INIT_START ") for line in lines) == 1, stderr


def test_a_stdout_its_caller_left_non_blocking_still_gets_the_whole_answer(code_dir: Path) -> None:
    """A caller may hand over a stdout whose file is non-blocking (O_NONBLOCK belongs to the file, which it shares
    with a process that wanted it so). A write to it that would wait fails with EAGAIN instead: the answer's writer
    took that for a failure ("the answer could not be written: Resource temporarily unavailable", exit 1) and the
    reader got the pipe's first 64 KiB. It waits for room as a blocking write does."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        proc = subprocess.Popen([*lambdatui_argv(), "invoke", str(handler), "-e", "{}"], cwd=REPO,
                                stdin=subprocess.DEVNULL, stdout=write_end, stderr=subprocess.DEVNULL)
        os.close(write_end)
        write_end = -1
        deadline = time.monotonic() + BOUND
        while _unread(read_end) <= PIPE_FULL_BYTES:  # the answer's write waits for this reader
            assert proc.poll() is None and time.monotonic() < deadline, proc.returncode
            time.sleep(0.01)
        with os.fdopen(read_end, "rb") as reader:
            read_end = -1
            out = reader.read()
        assert proc.wait(timeout=BOUND) == 0
    finally:
        stop(proc)
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    assert out == b'"' + b"x" * ANSWER + b'"\n', len(out)


PIPE_FULL_BYTES = 65536 - 4096  # a pipe (64 KiB, in pages) that holds more than its last page takes no more


def _unread(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
