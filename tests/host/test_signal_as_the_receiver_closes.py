"""A stop signal that comes as a headless run's signal receiver closes (README: "a second signal stops at once ... with
no traceback"; "lambdatui then ends killed by that signal").

`timeout 60 lambdatui serve ...` stopped with one SIGINT gives lambdatui two at once (`timeout` passes it on to the
command and to its process group). When serve's shutdown was quick (no environment left), the second was still
unread as the receiver closed, trio re-raised it through its own SIGINT handler, and lambdatui ended on a
KeyboardInterrupt traceback through the nurseries, exit 1 (2 runs in 10 with `--idle-shutdown 1`).

The race is made certain here, in a process of its own with real signals: the second SIGINT is sent, and the run's
nursery cancelled, before the receiver has a chance to read it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOUND = 60  # seconds: the process takes well under one

RUN = """
import os, signal, trio
from lambdatui import runner

async def main():
    body, again = trio.CancelScope(), runner.StopNow()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.cancel_on_signals, body, again)
            os.kill(os.getpid(), signal.SIGINT)  # the first: the graceful stop begins
            while not body.cancel_called:
                await trio.testing.wait_all_tasks_blocked()
            os.kill(os.getpid(), signal.SIGINT)  # the second, as the run ends: the receiver closes unread
            nursery.cancel_scope.cancel()
        for _ in range(20):  # trio may re-raise it a scheduler tick after the receiver closed
            await trio.sleep(0)

import trio.testing
trio.run(main)
print("run ended", flush=True)
runner.die_of_second_signal()
print("lived on", flush=True)
"""


def test_a_second_signal_unread_as_the_receiver_closes_is_died_of_without_a_traceback() -> None:
    done = subprocess.run([sys.executable, "-c", RUN], cwd=ROOT, capture_output=True, text=True, timeout=BOUND)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout.splitlines() == ["run ended"], (done.stdout, done.stderr)
    assert done.returncode == -signal.SIGINT, (done.returncode, done.stderr)
