"""lambdatui's standard streams as a shell user leaves them, in every headless mode, and what the function prints into
them (bug hunt, session 59).

README ("`lambdatui invoke PATH`", "`lambdatui serve PATH`", "`lambdatui replay PATH SCENARIO.toml`"): each answer goes
to stdout whole, as the function answered it; stdout that cannot take an answer (closed, a full disk) is said in one
line and exits 1; a reader that has gone ends the writing quietly; log lines never block the host; the replay's
timeline never holds the replay up and none of it is dropped; whatever user code writes reaches a terminal only
escaped (lambdatui/host/console.py `printable`).

What the hunt found wrong, each fixed since and pinned here:
* `invoke` whose stdout and stderr are one socket (`2>&1` onto a socket: a systemd unit's journal stream, a test
  harness's socketpair) lost its answer: making stderr non-blocking made the shared socket non-blocking, and the
  answer's write failed with EAGAIN ("Resource temporarily unavailable"), exit 1, the answer cut short.
* `replay > /dev/full` exited 0 and said nothing: the timeline, PASSED line included, was lost without a word, where
  `invoke > /dev/full` says "the answer could not be written: No space left on device" and exits 1.
* `replay` dropped the function's lines on a stderr read all along, saying it was not being read.

Function code lives in `code_dir` (never under /tmp); scenarios and captured output in `tmp_path`.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import termios
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from e2e_support import REPO, ServeProcess, descendants, lambdatui_argv, platform_lines, write_file

BOUND = 60.0
POLL_S = 0.05
PIPE_FULL_BYTES = 60_000  # a pipe holds 64 KiB; pages partly filled by line-sized writes hold a little less


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text
    assert "ExceptionGroup" not in text, text


def _report_statuses(stderr: str) -> list[str]:
    """Each REPORT's status part (`Status: error  Error Type: X`), or '' for a success."""
    found = []
    for line in platform_lines(stderr):
        if line.startswith("REPORT "):
            match = re.search(r"Status: (\w+)\s+Error Type: ([\w.]+)", line)
            found.append(f"{match.group(1)} {match.group(2)}" if match else "")
    return found


def _unread(fd: int) -> int:
    """Bytes waiting in the pipe for its reader (FIONREAD on the test's end)."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def _wait(condition, what: str, bound: float = BOUND) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound} s: {what}")
        time.sleep(POLL_S)


# ---------------------------------------------------------------------- stdout and stderr one socket


BIG_ANSWER = 2_000_000  # characters: far more than a socket's send buffer (~200 KB)


def test_invoke_answer_is_whole_when_stdout_and_stderr_are_one_socket(code_dir: Path) -> None:
    """`lambdatui invoke fn` as a systemd unit's ExecStart (stdout and stderr one stream socket to the journal) or
    under a harness that hands it one socketpair end for both: the reader reads all the time, yet the answer was cut
    after ~200 KB, `[lambdatui]  the answer could not be written: Resource temporarily unavailable`, exit 1.

    nonblocking_stderr cannot reopen a socket through /proc (ENXIO), so it dups fd 2 and sets O_NONBLOCK on the shared
    open file description, which is also fd 1's; StdoutAnswers writes the answer with plain os.write and takes the
    EAGAIN for a failure."""
    handler = write_file(code_dir / "handler.py", f"def handler(event, context):\n    return 'x' * {BIG_ANSWER}\n")
    ours, theirs = socket.socketpair()
    received = bytearray()

    def read_all() -> None:
        while chunk := ours.recv(1 << 20):
            received.extend(chunk)

    reader = threading.Thread(target=read_all, daemon=True)
    shared = os.dup(theirs.fileno())  # the same open socket as lambdatui's fds 1 and 2: its flags are theirs
    try:
        proc = subprocess.Popen([*lambdatui_argv(), "invoke", str(handler), "-e", "{}"], cwd=REPO,
                                stdin=subprocess.DEVNULL, stdout=theirs, stderr=theirs)
        theirs.close()
        while b"START RequestId" not in received:  # lambdatui's log is set up, the function invoked
            chunk = ours.recv(1 << 20)
            assert chunk, received.decode("utf-8", "replace")
            received.extend(chunk)
        # Its writes never wait, yet the socket stays as its owner made it (MSG_DONTWAIT, not O_NONBLOCK).
        assert os.get_blocking(shared)
        os.close(shared)  # (the reader's end of file comes once every other holder has closed it)
        shared = -1
        reader.start()  # a reader that keeps up
        try:
            code = proc.wait(timeout=BOUND)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(BOUND)
    finally:
        theirs.close()
        ours.close()
        if shared >= 0:
            os.close(shared)
    text = received.decode("utf-8", "replace")
    _no_traceback(text)
    assert "could not be written" not in text, text[-2000:]
    assert code == 0, text[-2000:]
    # The answer whole, in the one stream. Two writers share it: the log's lines (END, REPORT) may fall inside the
    # answer's bytes, as any program's two streams mix on one socket or pipe.
    assert received.count(b"x") >= BIG_ANSWER, (received.count(b"x"), text[-2000:])  # (the log has a few too)


# ---------------------------------------------------------------------- stdout on a full disk


HANDLER_OK = "def handler(event, context):\n    return {'ok': True}\n"


@pytest.fixture
def recorded(code_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A one-invoke scenario recorded by `invoke --record`: the handler and the scenario."""
    handler = write_file(code_dir / "handler.py", HANDLER_OK)
    scenario = tmp_path / "ok.toml"
    done = subprocess.run([*lambdatui_argv(), "invoke", str(handler), "-e", "{}", "--record", str(scenario)],
                          cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, timeout=BOUND)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    return handler, scenario


def test_invoke_on_a_full_disk_says_so_and_exits_1(recorded: tuple[Path, Path]) -> None:
    """README: stdout that cannot take an answer (a full disk) exits 1, one line says so. The pin for the
    comparison below (test_invoke_stdout_errors.py checks only that there is no traceback)."""
    handler, _ = recorded
    with open("/dev/full", "wb") as full:
        done = subprocess.run([*lambdatui_argv(), "invoke", str(handler), "-e", "{}"], cwd=REPO,
                              stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE, timeout=BOUND)
    stderr = done.stderr.decode("utf-8", "replace")
    _no_traceback(stderr)
    assert done.returncode == 1, stderr
    assert "the answer could not be written: No space left on device" in stderr, stderr


def test_replay_on_a_full_disk_says_so_and_does_not_pass(recorded: tuple[Path, Path]) -> None:
    """The timeline is the replay's result. It was: NonBlockingOutput._write_some took every OSError for a reader that
    has gone (EPIPE, quiet by design) and closed stdout: ENOSPC, EIO, EFBIG were dropped the same way, and the command
    exited 0 as if it had printed PASSED."""
    handler, scenario = recorded
    with open("/dev/full", "wb") as full:
        done = subprocess.run([*lambdatui_argv(), "replay", str(handler), str(scenario)], cwd=REPO,
                              stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE, timeout=BOUND)
    stderr = done.stderr.decode("utf-8", "replace")
    _no_traceback(stderr)
    assert done.returncode == 1, f"exit {done.returncode}, stderr: {stderr!r}"
    assert "the timeline could not be written: No space left on device" in stderr, stderr


# ---------------------------------------------------------------------- the replay's timeline read late


LOUD = """import sys
def handler(event, context):
    line = "L" * 100 + "\\n"
    for i in range(event["lines"]):
        sys.stdout.write(f"{event['n']}:{i:07d}" + line)
    return {"n": event["n"]}
"""
LOUD_LINES = 60_000  # per invoke: ~7 MB of stderr each
# Per invoke of the timeline read late: ~2.2 MB of timeline each with -v, 4.4 MB in all: the 64 KiB pipe is full at
# once, and what waits for its reader is four times the 1 MB that would bound a buffer that drops
# (nonblocking_output.BUFFER_LIMIT_BYTES, stderr's), so a timeline dropped or held up past it still shows.
LATE_LINES = 20_000


def test_replay_timeline_into_a_pipe_read_late_loses_nothing_and_holds_nothing_up(code_dir: Path,
                                                                                   tmp_path: Path) -> None:
    """Commit 2b654bb: `replay -v | less`: a pipe nobody reads fills at once, the run goes on to its end (two invokes
    each printing ~2 MB, a 3 s timeout neither reaches; 1 s was reached on a loaded machine by the printing alone), the command then waits for the reader, and the reader gets
    every line and PASSED."""
    handler = write_file(code_dir / "handler.py", LOUD)
    scenario = write_file(tmp_path / "loud.toml", "".join(
        f"[[step]]\ninvoke = {{ n = {n}, lines = {LATE_LINES} }}\nexpect = {{ response = {{ n = {n} }} }}\n\n"
        for n in (1, 2)))
    proc = subprocess.Popen([*lambdatui_argv(), "replay", "-v", "--timeout", "3", str(handler), str(scenario)],
                            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=(tmp_path / "stderr.txt").open("wb"))
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        _wait(lambda: _unread(fd) > PIPE_FULL_BYTES, "the timeline fills the pipe nobody reads")
        session = os.getsid(proc.pid)

        def environment_gone() -> bool:
            # lambdatui's own watchdog has a session of its own and outlives the run; the sandbox shares lambdatui's
            for pid in descendants(proc.pid):
                try:
                    if os.getsid(pid) == session:
                        return False
                except OSError:
                    continue
            return True

        _wait(environment_gone, "the scenario runs to its end and shuts its environment down, the pipe still full")
        assert proc.poll() is None, "it ended before its reader had the timeline"
        out = proc.stdout.read()
        code = proc.wait(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    text = out.decode("utf-8", "replace")
    stderr = (tmp_path / "stderr.txt").read_text(errors="replace")
    _no_traceback(stderr)
    assert code == 0, text[-3000:] + stderr
    assert re.search(r"^PASSED .*2 steps", text, re.M), text[-3000:]
    for n in (1, 2):
        assert len(re.findall(rf"^  function   {n}:\d{{7}}L{{100}}$", text, re.M)) == LATE_LINES, n
    reports = re.findall(r"^  platform   REPORT .*$", text, re.M)
    assert len(reports) == 2, reports
    for report in reports:
        assert "Status:" not in report, report
        assert float(re.search(r"Duration: ([\d.]+) ms", report).group(1)) < 1000, report


# ---------------------------------------------------------------------- a reader that goes away early


CHATTY = """import sys
def handler(event, context):
    for i in range(event.get("lines", 0)):
        print(f"line {i:06d} " + "y" * 100)
    return "z" * event.get("answer", 10)
"""


@pytest.mark.parametrize("mode", ["invoke-repeat", "replay-verbose"])
def test_a_reader_that_takes_100_bytes_and_goes_ends_the_command_quietly_with_0(code_dir: Path, tmp_path: Path,
                                                                                mode: str) -> None:
    """`lambdatui invoke ... --repeat 3 | head -c 100` and `lambdatui replay -v ... | head -c 100`: README says a
    reader that has gone ends the writing quietly; the run is not cut short, nothing is said, exit 0."""
    handler = write_file(code_dir / "handler.py", CHATTY)
    if mode == "invoke-repeat":
        argv = ["invoke", str(handler), "-e", '{"answer": 2000000}', "--repeat", "3"]
    else:
        scenario = write_file(tmp_path / "chatty.toml", '[[step]]\ninvoke = { lines = 20000 }\n\n'
                                                         '[[step]]\ninvoke = { lines = 20000 }\n')
        argv = ["replay", "-v", str(handler), str(scenario)]
    proc = subprocess.Popen([*lambdatui_argv(), *argv], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        head = proc.stdout.read(100)
        proc.stdout.close()  # the reader goes
        _, err = proc.communicate(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = err.decode("utf-8", "replace")
    assert len(head) == 100
    _no_traceback(stderr)
    assert proc.returncode == 0, stderr
    assert "could not be written" not in stderr, stderr
    if mode == "invoke-repeat":
        assert _report_statuses(stderr) == ["", "", ""], stderr  # all three ran, each a success


# ---------------------------------------------------------------------- the last write before os._exit


LAST_WORDS = """import os
def handler(event, context):
    os.write(1, b"LAST-WORDS " + context.aws_request_id.encode() + b"\\n")
    os._exit(3)
"""


def test_a_write_just_before_os_exit_is_shown_alike_by_invoke_serve_and_replay(code_dir: Path,
                                                                              tmp_path: Path) -> None:
    """The same function and event in the three modes: the line written at the last moment is shown each time, the
    answer bytes of invoke and serve are the same (but for the request id), and REPORT says Runtime.ExitError."""
    handler = write_file(code_dir / "handler.py", LAST_WORDS)
    scenario = tmp_path / "exit.toml"
    invoked = subprocess.run([*lambdatui_argv(), "invoke", str(handler), "-e", "{}", "--record", str(scenario)],
                             cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, timeout=BOUND)
    said = invoked.stderr.decode("utf-8", "replace")
    _no_traceback(said)
    assert invoked.returncode == 1, said
    assert re.search(r"^\[function\]   LAST-WORDS [0-9a-f-]{36}$", said, re.M), said
    assert _report_statuses(said) == ["error Runtime.ExitError"], said

    with ServeProcess(handler) as served:
        answer = httpx.post(served.invoke_url(), content=b"{}", timeout=BOUND)
        served.wait_for_line(r"^#1 \[platform\]   REPORT ", timeout=BOUND)
        served.wait_for_line(r"LAST-WORDS", timeout=BOUND)
        served_out = served.output()
    assert answer.headers.get("X-Amz-Function-Error") == "Unhandled"
    request_id = answer.headers["X-Amzn-RequestId"]
    assert answer.content + b"\n" == invoked.stdout.replace(
        re.search(rb"RequestId: ([0-9a-f-]{36})", invoked.stdout).group(1), request_id.encode())
    assert f"LAST-WORDS {request_id}" in served_out, served_out
    assert "Error Type: Runtime.ExitError" in served_out, served_out

    replayed = subprocess.run([*lambdatui_argv(), "replay", str(handler), str(scenario)], cwd=REPO,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=BOUND)
    timeline = replayed.stdout.decode("utf-8", "replace")
    assert replayed.returncode == 0, timeline + replayed.stderr.decode("utf-8", "replace")
    # Without -v the function's output goes to stderr, tagged as invoke tags it (replay --help).
    replay_err = replayed.stderr.decode("utf-8", "replace")
    assert re.search(r"^\[function\]   LAST-WORDS [0-9a-f-]{36}$", replay_err, re.M), replay_err
    assert re.search(r"^  platform   REPORT .*Status: error\s+Error Type: Runtime\.ExitError", timeline, re.M), timeline


# ---------------------------------------------------------------------- a terminal


NASTY = r'''import os, subprocess, sys
def handler(event, context):
    print("A\x1b]0;PWNED-TITLE\x07B\x1b[2J\x1b[HC\rD\x00E\x9bF\u202eG\x1bc")
    sys.stdout.flush()
    os.write(1, b"raw\xff\x1b[?1049h\x1b[31mred\n")
    os.write(2, b"err\x1b]2;PWNED-TITLE\x07\x1b[1A\n")
    subprocess.run(["/bin/sh", "-c", "printf 'child\\033[2J\\033]0;PWNED-TITLE\\007\\n' >&2"])
    os.write(1, b"no-newline\x1b[K")
    return {"ok": True}
'''

TMUX = shutil.which("tmux")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_control_codes_from_the_function_and_its_child_never_reach_the_terminal(code_dir: Path,
                                                                                tmp_path: Path) -> None:
    """`lambdatui invoke fn` in a terminal (a tmux pane), then `--event -` read from the terminal: what the function
    and a process it forks write is shown escaped, never obeyed: the title is not changed, the screen not cleared,
    no alternate screen; and an event typed at the terminal (ended by Ctrl-D) is the one the function gets."""
    handler = write_file(code_dir / "handler.py", NASTY)
    echo = write_file(code_dir / "echo.py", "def handler(event, context):\n    return event\n")
    cli = " ".join(map(shlex.quote, lambdatui_argv()))
    command = (f"printf 'BEFORE-MARK\\n\\033]2;BEFORE-TITLE\\007'; {cli} invoke {shlex.quote(str(handler))} -e '{{}}'; "
               f"echo EXIT1=$?; {cli} invoke {shlex.quote(str(echo))} --event - 2>/dev/null; echo EXIT2=$?")
    sock = str(tmp_path / "tmux")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    session = f"streams-{uuid.uuid4().hex[:8]}"

    def tmux(*args: str) -> str:
        return subprocess.run([TMUX, "-S", sock, *args], capture_output=True, text=True, timeout=10, env=env,
                              check=True).stdout

    def screen() -> str:
        return tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", session)

    try:
        tmux("new-session", "-d", "-x", "160", "-y", "48", "-s", session, "-c", str(REPO), command, ";",
             "set-option", "-t", session, "remain-on-exit", "on")
        _wait(lambda: "EXIT1=" in screen(), "the first invoke ends", 30)
        first = screen()
        title = tmux("display-message", "-p", "-t", session, "#{pane_title}|#{alternate_on}").strip()
        tmux("send-keys", "-t", session, '{"typed": 1}', "Enter", "C-d")
        _wait(lambda: "EXIT2=" in screen(), "the event read from the terminal is invoked", 30)
        second = screen()
    finally:
        subprocess.run([TMUX, "-S", sock, "kill-server"], capture_output=True, timeout=10, env=env)
    assert title == "BEFORE-TITLE|0", title
    assert "BEFORE-MARK" in first, first  # the screen was not cleared
    assert "EXIT1=0" in first, first
    assert r"[function]   A\x1b]0;PWNED-TITLE\x07B\x1b[2J\x1b[HC" in first, first
    assert r"child\x1b[2J\x1b]0;PWNED-TITLE\x07" in first, first
    assert r"no-newline\x1b[K" in first, first
    assert "EXIT2=0" in second, second
    assert second.count('{"typed": 1}') >= 2, second  # the echo of the typing, then the answer


# ---------------------------------------------------------------------- stderr read as fast as it comes


def _stderr_read_as_it_comes(argv: list[str], saved: Path) -> tuple[int, str]:
    """`lambdatui ... 2>&1 >/dev/null | cat > FILE`: a reader that reads stderr all the time, from the start (cat: a
    reader in Python, on a machine whose cores the suite keeps busy, could fall a megabyte behind, past which
    lambdatui drops lines by design)."""
    read_end, write_end = os.pipe()
    # A pipe of a megabyte (a shell's is 64 KiB): what a reader the suite's busy cores hold back a moment still has
    # room to wait in, so that only a reader that does not read would lose lines.
    fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    with open(saved, "wb") as into:
        try:
            proc = subprocess.Popen([*lambdatui_argv(), *argv], cwd=REPO, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=write_end)
            cat = subprocess.Popen(["cat"], stdin=read_end, stdout=into)
        finally:
            os.close(read_end)
            os.close(write_end)
        try:
            proc.wait(timeout=BOUND)
            cat.wait(timeout=BOUND)
        finally:
            for started in (proc, cat):
                if started.poll() is None:
                    started.kill()
                    started.wait()
    return proc.returncode, saved.read_text("utf-8", "replace")


@pytest.mark.parametrize("mode", [
    "invoke",
    "replay",
])
def test_a_stderr_read_all_along_gets_every_line_of_the_function(code_dir: Path, tmp_path: Path, mode: str) -> None:
    """README: lines are dropped (and counted) "when nobody reads stderr". Here a reader reads all along (`| cat`,
    `| grep`, a log shipper): `invoke` hands it all 120,000 lines; `replay` (without -v the function's output goes to
    stderr, "as invoke prints it") dropped tens of thousands of them, with dozens of "lambdatui: N log lines
    dropped: stderr was not being read" lines, though stderr was being read the whole time. (Its causes are pinned
    where no machine's load decides: tests/host/test_nonblocking_output.py, tests/scenario/test_report_stream_order.py;
    here the reader's pipe holds a megabyte, so that only a reader that stops reading would lose lines.)"""
    handler = write_file(code_dir / "handler.py", LOUD)
    if mode == "invoke":
        argv = ["invoke", str(handler), "-e", f'{{"n": 1, "lines": {2 * LOUD_LINES}}}']
        wanted = {1: 2 * LOUD_LINES}
    else:
        scenario = write_file(tmp_path / "loud.toml", "".join(
            f"[[step]]\ninvoke = {{ n = {n}, lines = {LOUD_LINES} }}\n\n" for n in (1, 2)))
        argv = ["replay", str(handler), str(scenario)]
        wanted = {1: LOUD_LINES, 2: LOUD_LINES}
    code, stderr = _stderr_read_as_it_comes(argv, tmp_path / "stderr.txt")
    _no_traceback(stderr)
    assert code == 0, stderr[-3000:]
    dropped = [line for line in stderr.splitlines() if "log lines dropped" in line or "log line dropped" in line]
    assert dropped == [], f"{len(dropped)} notices, the first: {dropped[:3]}"
    for n, count in wanted.items():
        assert len(re.findall(rf"^\[function\]   {n}:\d{{7}}L{{100}}$", stderr, re.M)) == count, n
