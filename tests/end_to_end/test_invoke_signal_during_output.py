"""A signal (Ctrl-C, `kill`, a closed terminal) to `lambdatui invoke` while it writes a large answer to a pipe that
is read more slowly than it is written (`lambdatui invoke fn | jq ...`, a script reading stderr first).

The invoke was answered: its REPORT is out, and the answer's write(2) to stdout waits for the reader. Until session
53 the signal interrupted that write part-way (write(2) returns the bytes it moved), and the rest of the answer is never written:
the reader gets the first 64-128 KiB of the JSON and then end of file, with exit status 0 in some runs (the
others die of the signal, saying nothing). README ("`lambdatui invoke PATH`"): stopped by a signal mid-invoke, it
says so and prints nothing on stdout for that invoke; an answer already given is printed whole ("the invoke
answered above was still finishing"). A truncated body, let alone with exit 0, is neither.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e_support import REPO, descendants, lambdatui_argv, stop, wait_all_gone, write_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probe"))
from probe_support import EXTENSION_EVENTS_SOURCE, LINGERING_EXTENSION  # noqa: E402

BOUND = 30.0
READER_LATE_S = 1.0  # how long the reader leaves the answer unread once only its write is left
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


# Works on its INVOKE for a minute after the runtime's answer: the invoke is still finishing when a signal comes.
BUSY_EXTENSION = "#!/usr/bin/env python3\nimport json, os, time, urllib.request\n" + EXTENSION_EVENTS_SOURCE + """
for event in events("busy"):
    print("[busy] got", event["eventType"], flush=True)
    time.sleep(60)
"""


class _InvokeWithExtension:
    """`lambdatui invoke` of HANDLER beside an external extension, its stdout a pipe this test reads when it chooses,
    its stderr a file the test looks into."""

    def __init__(self, code_dir: Path, log: Path, name: str, source: str) -> None:
        handler = write_file(code_dir / "handler.py", HANDLER)
        write_file(code_dir / "extensions" / name, source, executable=True)
        self.log = log
        with open(log, "wb") as stderr:
            self.proc = subprocess.Popen([*lambdatui_argv(), "invoke", str(handler), "-e", "{}"], cwd=REPO,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        self.deadline = time.monotonic() + BOUND

    def said(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until(self, said: str, writing: bool = False) -> None:
        """Until stderr holds `said` (and, with `writing`, the answer's write waits for this reader)."""
        while not (said in self.said() and (not writing or _blocked_writing_stdout(self.proc.pid))):
            assert self.proc.poll() is None and time.monotonic() < self.deadline, self.said()
            time.sleep(0.01)


@pytest.mark.skipif(WRITE_SYSCALL is None, reason="write(2)'s number on this machine is not known to the test")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_the_first_signal_during_the_shutdown_stops_it_and_still_leaves_the_answer_whole(
        code_dir: Path, tmp_path: Path, name: str) -> None:
    """README: a signal during the shutdown stops it at once and lambdatui then ends killed by it; the answer, given
    before, is still written whole (only a second signal gives up on a slow reader). The first signal once the
    shutdown had begun counted as a second: lambdatui gave up the answer's write and died of it as soon as the
    shutdown was stopped, and a reader slower than that got the pipe's first 64 KiB."""
    run = _InvokeWithExtension(code_dir, tmp_path / "stderr.log", "linger", LINGERING_EXTENSION)
    proc = run.proc
    try:
        run.wait_until("got SHUTDOWN", writing=True)  # the shutdown has begun; the answer waits for its reader
        extension = {pid: start for pid, start in descendants(proc.pid).items() if "linger" in _cmdline(pid)}
        assert extension, run.said()
        proc.send_signal(getattr(signal, name))
        assert wait_all_gone(extension, BOUND) == {}  # the shutdown stopped at once: the extension is killed
        # What is left is the answer's write, which waits for this reader however long it takes.
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=READER_LATE_S)
        out, _ = proc.communicate(timeout=BOUND)
    finally:
        stop(proc)
    said = run.said()
    assert "Traceback" not in said, said
    assert out == FULL, (len(out), proc.returncode, said[-2000:])
    assert proc.returncode == -getattr(signal, name), (proc.returncode, said[-2000:])


@pytest.mark.skipif(WRITE_SYSCALL is None, reason="write(2)'s number on this machine is not known to the test")
def test_a_second_signal_gives_up_on_a_reader_that_never_reads(code_dir: Path, tmp_path: Path) -> None:
    """The wait for the reader is cut short by the command's second signal only: lambdatui then dies of it, its
    pipe unread (README: a second signal stops at once)."""
    run = _InvokeWithExtension(code_dir, tmp_path / "stderr.log", "busy", BUSY_EXTENSION)
    proc = run.proc
    try:
        run.wait_until("got INVOKE", writing=True)
        proc.send_signal(signal.SIGTERM)
        run.wait_until("Stopped by SIGTERM")  # two signals sent at once may be one: the second waits for the first
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=BOUND) == -signal.SIGTERM, run.said()  # its pipe never read
    finally:
        stop(proc)
        assert proc.stdout is not None
        proc.stdout.close()


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
