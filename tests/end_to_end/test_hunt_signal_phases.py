"""Bug hunt (session 59): stop signals (SIGINT, SIGTERM, SIGHUP; one, two, one the caller ignores) delivered to the
headless modes (`invoke`, `serve`, `replay`) at each phase of a run, and what the user is left with.

README ("`lambdatui invoke PATH`", "`serve`", "`replay`", "`--record`"): stopped mid-invoke, `invoke` says so
(`Stopped by SIGINT: ...`) and exits 1; a signal during the shutdown stops it at once and lambdatui ends killed by it;
"a second signal stops at once"; a recording is "a scenario that replays to the same outcome", and a shutdown given
while an invoke ran "ended it, and a replay runs it to its end before that step, so its result is not compared".

Every phase is reached by waiting on what lambdatui prints (the function's and an extension's own lines), or on
/proc (a thread blocked in write(2) on stdout); never by sleeping. Where a phase must end later (an Init, an
extension's work), the function waits for a flag file the test writes.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Callable, Optional

import httpx
import pytest

from e2e_support import REPO, LambdatuiProcess, descendants, lambdatui_argv, wait_all_gone, write_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probe"))
from probe_support import LINGERING_EXTENSION, answered_busy_extension, busy_extension  # noqa: E402

from lambdatui.run_folders import state_root  # noqa: E402

BOUND = 30.0
# Linux's pipe as Popen makes it: 64 KiB, in pages; one that holds more than its last page takes no more lines.
PIPE_FULL_BYTES = 65536 - 4096

# Init waits (at import) until the test writes FLAG: the phase "before the runtime's Init ends".
WAITING_INIT = '''import os, time
print("INIT-BEGIN", flush=True)
while not os.path.exists({flag!r}):
    time.sleep(0.01)


def handler(event, context):
    print("HANDLER-BEGIN", flush=True)
    return {{"ok": True, "n": event.get("n")}}
'''

QUICK = '''def handler(event, context):
    print("HANDLER-BEGIN", flush=True)
    return {"ok": True, "n": event.get("n")}
'''

class Run(LambdatuiProcess):
    """`lambdatui ARGS...` (e2e_support.LambdatuiProcess); the processes it started and its run folders are noted once
    it is running, to be checked once it has ended."""

    def __init__(self, *args: str, read_stdout: bool = True, preexec: Optional[Callable[[], None]] = None) -> None:
        super().__init__(*args, read_stdout=read_stdout, preexec=preexec)
        self.tree: dict[int, int] = {}
        self.folders: list[Path] = []

    def stderr(self) -> str:
        return self.output()

    def wait_for(self, pattern: str) -> re.Match[str]:
        return self.wait_for_line(pattern, timeout=BOUND)

    def note_what_it_made(self) -> None:
        self.tree = descendants(self.proc.pid)
        self.folders = list(state_root().glob(f"run-{self.proc.pid}-*"))
        assert self.folders, "no run folder for this lambdatui"

    def stopped_at(self, pattern: str, number: int) -> int:
        """Once a line matches `pattern`, what it made is noted and it is sent `number`: its exit status (it is closed
        whatever happens)."""
        try:
            self.wait_for(pattern)
            self.note_what_it_made()
            self.proc.send_signal(number)
            return self.end()
        finally:
            self.close()

    def end(self, timeout: float = BOUND) -> int:
        return self.wait(timeout)

    def assert_left_nothing(self) -> None:
        assert wait_all_gone(self.tree, BOUND) == {}, "processes left behind"
        assert [folder for folder in self.folders if folder.exists()] == [], "run folder left behind"
        assert "Traceback" not in self.stderr(), self.stderr()

    def close(self) -> None:
        super().close()
        wait_all_gone(self.tree, BOUND)


def _ignoring(number: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(number, signal.SIG_IGN)  # as nohup (SIGHUP) or a script's background job (SIGINT) leaves it
    return preexec


def _replay(handler: Path, scenario: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*lambdatui_argv(), "replay", str(handler), str(scenario)], cwd=REPO,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------------- checked, and right


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_invoke_stopped_during_init_says_so_exits_1_and_leaves_nothing(code_dir: Path, name: str) -> None:
    handler = write_file(code_dir / "handler.py", WAITING_INIT.format(flag=str(code_dir / "never")))
    run = Run("invoke", str(handler), "-e", "{}")
    assert run.stopped_at(r"\[function\]\s+INIT-BEGIN", getattr(signal, name)) == 1, run.stderr()
    assert f"Stopped by {name}: the invoke in flight was answered as the environment shut down" in run.stderr()
    assert bytes(run.stdout) == b""
    run.assert_left_nothing()


def test_replay_stopped_during_its_final_shutdown_dies_of_the_signal_and_leaves_nothing(code_dir: Path) -> None:
    """README: a signal during the shutdown (in `invoke` and `replay` too) stops it at once; lambdatui then ends
    killed by that signal, the folders removed, no traceback."""
    handler = write_file(code_dir / "handler.py", QUICK)
    write_file(code_dir / "extensions" / "linger", LINGERING_EXTENSION, executable=True)
    scenario = write_file(code_dir / "one.toml", "[[step]]\ninvoke = { n = 1 }\nexpect = { response = { n = 1 } }\n")
    run = Run("replay", str(handler), str(scenario))
    try:
        run.wait_for(r"\[linger\] got SHUTDOWN")
        run.note_what_it_made()
        started = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        assert run.end() == -signal.SIGINT, run.stderr()
        assert time.monotonic() - started < 1.5  # not the shutdown's 2 s budget
    finally:
        run.close()
    assert b"PASSED" in run.stdout, bytes(run.stdout).decode(errors="replace")
    run.assert_left_nothing()


def test_an_ignored_sighup_during_invokes_shutdown_changes_nothing(code_dir: Path) -> None:
    """`nohup lambdatui invoke ...`: a SIGHUP during the shutdown does not cut it short (the lingering extension gets
    its whole budget, then is SIGKILLed), and the run succeeds."""
    handler = write_file(code_dir / "handler.py", QUICK)
    write_file(code_dir / "extensions" / "linger", LINGERING_EXTENSION, executable=True)
    run = Run("invoke", str(handler), "-e", '{"n": 1}', preexec=_ignoring(signal.SIGHUP))
    assert run.stopped_at(r"\[linger\] got SHUTDOWN", signal.SIGHUP) == 0, run.stderr()
    assert bytes(run.stdout) == b'{"ok": true, "n": 1}\n'
    assert "had not exited when the shutdown's 2,000 ms were up" in run.stderr(), run.stderr()
    assert "Stopped by" not in run.stderr()
    run.assert_left_nothing()


def test_serve_record_stopped_during_init_runs_the_queued_events_and_the_recording_replays(
        code_dir: Path, tmp_path: Path) -> None:
    """Event invokes accepted while env #1 is still in its Init, then SIGTERM: they run in the drain once the Init
    ends, and the recording written at the graceful stop replays to the same outcome."""
    flag = code_dir / "init-may-end"
    handler = write_file(code_dir / "handler.py", WAITING_INIT.format(flag=str(flag)))
    recording = tmp_path / "served.toml"
    run = Run("serve", str(handler), "--port", "0", "--record", str(recording), "--concurrency", "1")
    try:
        url = run.wait_for(r"serving .* at (http://\S+)").group(1)
        run.wait_for(r"\[function\]\s+INIT-BEGIN")
        ids = []
        for n in range(2):
            answer = httpx.post(url, content=b'{"n": %d}' % n, headers={"X-Amz-Invocation-Type": "Event"},
                                timeout=BOUND)
            assert answer.status_code == 202, answer.text
            ids.append(answer.headers["x-amzn-requestid"])
        run.note_what_it_made()
        run.proc.send_signal(signal.SIGTERM)
        run.wait_for(r"stopping: the Event invokes already accepted run first")
        flag.write_text("")
        assert run.end() == 0, run.stderr()
    finally:
        run.close()
    said = run.stderr()
    assert all(f"START RequestId: {request_id}" in said for request_id in ids), said
    assert "was not run" not in said, said
    run.assert_left_nothing()
    replayed = _replay(handler, recording)
    assert replayed.returncode == 0, recording.read_text() + replayed.stdout[-3000:]


# ---------------------------------------------------------------------- found wrong, fixed since


def test_invoke_record_stopped_during_init_replays(code_dir: Path, tmp_path: Path) -> None:
    flag = code_dir / "init-may-end"
    handler = write_file(code_dir / "handler.py", WAITING_INIT.format(flag=str(flag)))
    recording = tmp_path / "stopped.toml"
    run = Run("invoke", str(handler), "-e", '{"n": 1}', "--record", str(recording))
    assert run.stopped_at(r"\[function\]\s+INIT-BEGIN", signal.SIGINT) == 1, run.stderr()
    run.assert_left_nothing()
    assert recording.exists(), run.stderr()
    recorded = recording.read_text()
    assert "Sandbox.Failure" not in recorded and "never" in recorded, recorded  # written as never run, as serve does
    flag.write_text("")  # the replay's Init ends at once
    replayed = _replay(handler, recording)
    assert replayed.returncode == 0, recording.read_text() + replayed.stdout[-3000:]


@pytest.mark.parametrize("mode", ["invoke", "serve"])
def test_a_recording_stopped_while_an_extension_works_on_the_answered_invoke_replays(
        code_dir: Path, tmp_path: Path, mode: str) -> None:
    flag = code_dir / "extension-may-finish"
    handler = write_file(code_dir / "handler.py", QUICK)
    write_file(code_dir / "extensions" / "busy", busy_extension(str(flag)), executable=True)
    recording = tmp_path / "stopped.toml"
    if mode == "invoke":
        run = Run("invoke", str(handler), "-e", '{"n": 1}', "--record", str(recording))
    else:
        run = Run("serve", str(handler), "--port", "0", "--record", str(recording))
    try:
        if mode == "serve":
            url = run.wait_for(r"serving .* at (http://\S+)").group(1)
            answer = httpx.post(url, content=b'{"n": 1}', timeout=BOUND)
            assert answer.status_code == 200 and answer.json() == {"ok": True, "n": 1}, answer.text
        run.wait_for(r"\[busy\] got INVOKE")
        run.note_what_it_made()
        run.proc.send_signal(signal.SIGTERM)
        run.end()
    finally:
        run.close()
    run.assert_left_nothing()
    assert "Sandbox.Failure" in run.stderr(), run.stderr()  # the stop ended the invoke's extension work
    recorded = recording.read_text()
    # The stop came once the extension had its INVOKE: after the function's answer (what followed it is not compared)
    # or, the signal quicker, while the function still ran it (its result is not compared); never as a failure.
    assert "failed_after" not in recorded and "not compared" in recorded, recorded
    flag.write_text("")  # the replay's extension finishes its work at once
    replayed = _replay(handler, recording)
    assert replayed.returncode == 0, recording.read_text() + replayed.stdout[-3000:]


def test_invoke_stopped_while_an_extension_works_on_the_last_answer_exits_1(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", QUICK)
    write_file(code_dir / "extensions" / "busy", answered_busy_extension(str(code_dir / "never")),
               executable=True)
    run = Run("invoke", str(handler), "-e", '{"n": 1}')
    code = run.stopped_at(r"\[busy\] saw the answer", signal.SIGINT)
    run.assert_left_nothing()
    assert bytes(run.stdout) == b'{"ok": true, "n": 1}\n'  # the answer, given before, printed whole
    assert "Stopped by SIGINT" in run.stderr(), run.stderr()
    assert "Error Type: Sandbox.Failure" in run.stderr(), run.stderr()  # its REPORT: the invoke failed
    assert code == 1, (code, run.stderr()[-1500:])
    assert "the invoke answered above was still finishing" in run.stderr(), run.stderr()


def test_invoke_repeat_stopped_after_the_first_answer_does_not_say_nothing_was_printed(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", QUICK)
    write_file(code_dir / "extensions" / "busy", answered_busy_extension(str(code_dir / "never")),
               executable=True)
    run = Run("invoke", str(handler), "-e", '{"n": 1}', "--repeat", "2")
    assert run.stopped_at(r"\[busy\] saw the answer", signal.SIGINT) == 1, run.stderr()
    run.assert_left_nothing()
    said = run.stderr()
    assert bytes(run.stdout) == b'{"ok": true, "n": 1}\n'
    assert said.count("START RequestId:") == 1, said  # the second invoke never began
    stopped = [line for line in said.splitlines() if "Stopped by SIGINT" in line]
    assert stopped and "nothing was printed for it" not in stopped[0], stopped
    assert "answered above was still finishing" in stopped[0] and "the 1 invoke after it did not run" in stopped[0]


def _unread(pipe: object) -> int:
    """How many bytes wait in the pipe for this reader (FIONREAD on its end)."""
    return struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]  # type: ignore[attr-defined]


def test_a_second_signal_stops_a_replay_whose_stdout_is_not_read(code_dir: Path) -> None:
    """The timeline waits for its reader (README: nothing is dropped), the host never does; the command's second
    signal ends that wait, and lambdatui dies of it. It was: the timeline's write to a full pipe stopped the host,
    which then heard no signal at all, and the replay and its environment lived on until the reader read."""
    flag = code_dir / "never"
    handler = write_file(code_dir / "handler.py", f"""import os, sys, time
def handler(event, context):
    if event.get("last"):
        print("LAST-STEP-WAITS", file=sys.stderr, flush=True)
        while not os.path.exists({str(flag)!r}):
            time.sleep(0.01)
    return 'x' * 5000
""")
    # More timeline than a pipe holds (64 KiB), then a step that waits until the test is done with it: a warm step's
    # block is ~790 bytes (its response cut at ~250 characters), so 120 steps write ~95 KB, half again what fills it.
    scenario = write_file(code_dir / "many.toml", "".join(f"[[step]]\ninvoke = {{ n = {n} }}\n\n"
                                                           for n in range(120)) + "[[step]]\ninvoke = { last = 1 }\n")
    run = Run("replay", "--timeout", "60", str(handler), str(scenario), read_stdout=False)
    try:
        run.wait_for("LAST-STEP-WAITS")  # the run goes on, its timeline's write waiting for the reader
        assert _unread(run.proc.stdout) > PIPE_FULL_BYTES
        run.note_what_it_made()
        sandbox = {pid: start for pid, start in run.tree.items() if _session(pid) == _session(run.proc.pid)}
        run.proc.send_signal(signal.SIGTERM)
        assert wait_all_gone(sandbox, BOUND) == {}  # the first stopped the replay: its environment is gone
        run.proc.send_signal(signal.SIGTERM)
        try:
            code: Optional[int] = run.proc.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            code = None
    finally:
        assert run.proc.stdout is not None
        run.proc.stdout.close()  # the reader goes: the replay's writes end (EPIPE) and it can end
        run.close()
    assert code == -signal.SIGTERM, f"still running {BOUND} s after the second SIGTERM"
    run.assert_left_nothing()


def _session(pid: int) -> int:
    """Its session; lambdatui's watchdog has one of its own, and outlives the run to see lambdatui end."""
    try:
        return os.getsid(pid)
    except OSError:
        return -1
