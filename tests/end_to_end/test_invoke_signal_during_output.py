"""A signal (Ctrl-C, `kill`, a closed terminal) to `lambdatui invoke` while it writes a large answer to a pipe that
is read more slowly than it is written (`lambdatui invoke fn | jq ...`, a script reading stderr first).

The invoke was answered: its REPORT is out, and the answer's write(2) to stdout waits for the reader. Until session
53 the signal interrupted that write part-way (write(2) returns the bytes it moved), and the rest of the answer is never written:
the reader gets the first 64-128 KiB of the JSON and then end of file, with exit status 0 in some runs (the
others die of the signal, saying nothing). README ("`lambdatui invoke PATH`"): stopped by a signal mid-invoke, it
says so and prints nothing on stdout for that invoke; an answer already given is printed whole ("the last invoke,
answered above, was still finishing"). A truncated body, let alone with exit 0, is neither.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import time
from pathlib import Path

import pytest

from e2e_support import REPO, lambdatui_argv, stop, write_file

BOUND = 30.0
ANSWER = 1_000_000
FULL = b'"' + b"x" * ANSWER + b'"\n'
HANDLER = f"def handler(event, context):\n    return 'x' * {ANSWER}\n"
WRITE_SYSCALL = {"x86_64": 1, "aarch64": 64}.get(platform.machine())


def _blocked_writing_stdout(pid: int) -> bool:
    """A thread of the process is in write(1, ...) (Linux's /proc/PID/task/TID/syscall: number, then its arguments)."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as fh:
                fields = fh.read().split()
        except OSError:
            continue
        if len(fields) > 1 and fields[0] == str(WRITE_SYSCALL) and int(fields[1], 16) == 1:
            return True
    return False


@pytest.mark.skipif(WRITE_SYSCALL is None, reason="write(2)'s number on this machine is not known to the test")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_during_the_answers_write_never_truncates_it(code_dir: Path, name: str) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    proc = subprocess.Popen([*lambdatui_argv(), "invoke", str(handler), "-e", "{}"], cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + BOUND
        while not _blocked_writing_stdout(proc.pid):  # the pipe is full: the answer's write waits for the reader
            assert proc.poll() is None and time.monotonic() < deadline, "never blocked writing stdout"
            time.sleep(0.01)
        proc.send_signal(getattr(signal, name))
        out, err = proc.communicate(timeout=BOUND)  # the reader now reads everything there is
    finally:
        stop(proc)
    stderr = err.decode(errors="replace")

    assert "Traceback" not in stderr, stderr
    assert len(out) in (0, len(FULL)), (len(out), proc.returncode, stderr[-2000:])
    if proc.returncode == 0:
        assert out == FULL
