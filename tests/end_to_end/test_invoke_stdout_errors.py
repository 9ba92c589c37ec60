"""`lambdatui invoke` whose stdout cannot take the result: a reader that has gone (`| true`, `| head`), stdout
closed (`>&-`), a full disk (`> /dev/full`). The function succeeded; only writing its answer failed. A shell
command then says so in one line (or, for a reader that has gone, ends quietly as `cat` and `python -c` do), and
never prints the internals' exception-group traceback (README, "`lambdatui invoke PATH`": errors are "one line,
no traceback").
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from e2e_support import REPO, lambdatui_argv, platform_lines, write_file

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
BOUND = 60


def _run_with_stdout(code_dir: Path, how: str) -> subprocess.CompletedProcess[bytes]:
    handler = write_file(code_dir / "handler.py", HANDLER)
    argv = [*lambdatui_argv(), "invoke", str(handler), "-e", "{}"]
    if how == "closed-pipe":  # `lambdatui invoke ... | true`: the reader is gone before the answer is written
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            return subprocess.run(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=write_end,
                                  stderr=subprocess.PIPE, timeout=BOUND)
        finally:
            os.close(write_end)
    if how == "closed-fd":  # `lambdatui invoke ... >&-`
        return subprocess.run(argv, cwd=REPO, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=BOUND,
                              preexec_fn=lambda: os.close(1))
    assert how == "full-disk"  # `lambdatui invoke ... > /dev/full`
    with open("/dev/full", "wb") as full:
        return subprocess.run(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE,
                              timeout=BOUND)


@pytest.mark.parametrize("how", ["closed-pipe", "closed-fd", "full-disk"])
def test_a_failing_stdout_is_no_traceback(code_dir: Path, how: str) -> None:
    done = _run_with_stdout(code_dir, how)
    stderr = done.stderr.decode(errors="replace")

    # The invoke itself ran and succeeded: its REPORT was printed, with no error status.
    report = next(line for line in platform_lines(stderr) if line.startswith("REPORT "))
    assert "Status:" not in report, stderr
    assert "Traceback" not in stderr, stderr
    assert "ExceptionGroup" not in stderr, stderr
