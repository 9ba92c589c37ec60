"""`nohup lambdatui invoke ...` (SIGHUP ignored) and `lambdatui invoke ... &` in a script (a non-interactive shell
starts background commands with SIGINT ignored): a signal the caller set to be ignored must stay ignored.

README ("`lambdatui invoke PATH`") has SIGINT, SIGTERM and SIGHUP stop a run mid-invoke; but the shell idiom
(`nohup`, background jobs) hands the command these signals already ignored, and Python itself keeps an inherited
SIG_IGN for SIGINT (it installs KeyboardInterrupt only where SIGINT was SIG_DFL). lambdatui installs its own
handlers over them (trio's signal receiver; the early start's, in its first ~100 ms), so closing the terminal of
a `nohup`ed invoke stops it (Sandbox.Failure, exit 1; during the early start, death by SIGHUP, exit 129), and when
the signal comes decides whether it is ignored (before the handlers are in place) or not.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from e2e_support import REPO, lambdatui_argv, read_until, stop, write_file

BOUND = 30.0
HANDLER = ("import sys, time\n\n\ndef handler(event, context):\n"
           "    print('SLEEPING', file=sys.stderr, flush=True)\n    time.sleep(1.5)\n    return 'done'\n")


def _ignoring(number: int):
    def preexec() -> None:
        signal.signal(number, signal.SIG_IGN)  # as nohup (SIGHUP) or a shell's background job (SIGINT) leaves it
    return preexec


@pytest.mark.parametrize("name", ["SIGHUP", "SIGINT"])
def test_a_signal_ignored_by_the_caller_stays_ignored(code_dir: Path, name: str) -> None:
    number = getattr(signal, name)
    handler = write_file(code_dir / "handler.py", HANDLER)
    proc = subprocess.Popen([*lambdatui_argv(), "invoke", str(handler), "-e", "{}"], cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_ignoring(number))
    try:
        # The handler runs: lambdatui is long past its start.
        got = read_until(proc.stderr.fileno(), b"SLEEPING", time.monotonic() + BOUND)
        proc.send_signal(number)
        out, rest = proc.communicate(timeout=BOUND)
    finally:
        stop(proc)
    stderr = (got + rest).decode(errors="replace")

    assert "Stopped by" not in stderr, stderr
    assert proc.returncode == 0, stderr
    assert out == b'"done"\n', stderr
