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

import re
import subprocess
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
