"""Parsing faulthandler dumps (real ones, produced by a subprocess) and finding where the handler hung."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lambdatui.model.facts import StackFrame, StacksCaptured, ThreadStack
from lambdatui.model.stacks import (SHOWN_LINE_CHARS, hung_frame, is_current, parse_faulthandler, stack_summary,
                                    unparsed_text)

APP = '''\
import threading
import time

release = threading.Event()


def worker():
    release.wait()


def inner(dump):
    dump()


def handler(dump):
    threading.Thread(target=worker, daemon=True).start()
    time.sleep(0.05)  # the worker is parked in Event.wait
    inner(dump)
'''
WORKER_LINE = 8  # release.wait()
INNER_LINE = 12  # dump()

RUNNER_DIRECT = '''\
import faulthandler, sys
sys.path.insert(0, sys.argv[1])
import app
app.handler(lambda: faulthandler.dump_traceback(sys.stdout, all_threads=True))
'''

# As our bootstrap and host do it: faulthandler on SIGUSR1 into a file, the signal sent from outside the
# process while the handler blocks in C, then the process killed. (A signal sent by a thread of the process
# itself would make that thread's exit race the dump: faulthandler reads other threads' frames unlocked.)
RUNNER_SIGNAL = '''\
import faulthandler, signal, sys, time
sys.path.insert(0, sys.argv[1])
import app
dump_file = open(sys.argv[2], "w")
faulthandler.register(signal.SIGUSR1, file=dump_file, all_threads=True, chain=False)
def hang():
    print("ready", flush=True)
    time.sleep(30)  # blocked in C when the signal lands
app.handler(hang)
'''


def real_dump(tmp_path: Path, runner: str) -> tuple[str, str]:
    code, script = _write(tmp_path, runner)
    out = subprocess.run([sys.executable, str(script), str(code)], capture_output=True, text=True, timeout=30,
                         check=True)
    return out.stdout, str(code)


def real_signal_dump(tmp_path: Path) -> tuple[str, str]:
    code, script = _write(tmp_path, RUNNER_SIGNAL)
    dump = tmp_path / "stacks.txt"
    with subprocess.Popen([sys.executable, str(script), str(code), str(dump)], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 10
            # the main thread is listed last and its outermost frame is <module>: the dump is complete
            while "in <module>" not in dump.read_text() and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            proc.kill()
    return dump.read_text(), str(code)


def _write(tmp_path: Path, runner: str) -> tuple[Path, Path]:
    code = tmp_path / "task"
    code.mkdir()
    (code / "app.py").write_text(APP)
    script = tmp_path / "runner.py"
    script.write_text(runner)
    return code, script


def test_a_real_dump_parses_into_every_thread_innermost_first(tmp_path: Path):
    text, code = real_dump(tmp_path, RUNNER_DIRECT)
    stacks = parse_faulthandler(text, "req-1")
    assert stacks.request_id == "req-1" and stacks.text == text
    assert len(stacks.threads) == 2
    worker, main = stacks.threads  # newest thread first
    assert worker.thread.startswith("Thread 0x") and main.thread.startswith("Current thread 0x")
    assert [f.function for f in worker.frames][:2] == ["wait", "wait"]  # Condition.wait inside Event.wait
    assert StackFrame(f"{code}/app.py", WORKER_LINE, "worker") in worker.frames
    assert worker.frames[-1].function == "_bootstrap"
    assert [f.function for f in main.frames] == ["<lambda>", "inner", "handler", "<module>"]
    assert main.frames[1] == StackFrame(f"{code}/app.py", INNER_LINE, "inner")


def test_the_hung_frame_of_a_real_dump_is_the_innermost_user_frame_of_the_main_thread(tmp_path: Path):
    text, code = real_dump(tmp_path, RUNNER_DIRECT)
    # the runner's <lambda> is innermost but outside the code dir; the worker's user frame is not the main thread
    assert hung_frame(parse_faulthandler(text, "r"), code) == StackFrame(f"{code}/app.py", INNER_LINE, "inner")
    assert hung_frame(parse_faulthandler(text, "r"), code + "/") == StackFrame(f"{code}/app.py", INNER_LINE, "inner")


def test_a_real_signal_dump_marks_the_main_thread_current_and_finds_the_handler(tmp_path: Path):
    text, code = real_signal_dump(tmp_path)
    stacks = parse_faulthandler(text, "r")
    current = [t for t in stacks.threads if is_current(t)]
    assert len(current) == 1
    assert [f.function for f in current[0].frames] == ["hang", "inner", "handler", "<module>"]
    assert hung_frame(stacks, code) == StackFrame(f"{code}/app.py", INNER_LINE, "inner")


def test_a_dump_cut_short_by_the_kill_keeps_only_complete_frames(tmp_path: Path):
    text, _ = real_dump(tmp_path, RUNNER_DIRECT)
    cut = text[: text.index(", line", text.index("Current thread")) + len(", line 1")]  # mid-line
    stacks = parse_faulthandler(cut, "r")
    assert stacks.text == cut
    assert stacks.threads[-1].thread.startswith("Current thread")
    assert stacks.threads[-1].frames == ()  # the half-written frame is dropped, not misread
    assert len(stacks.threads[0].frames) == len(parse_faulthandler(text, "r").threads[0].frames)


SAMPLE = textwrap.dedent('''\
    Fatal Python error: Segmentation fault

    Thread 0x00007f0000000002 (most recent call first):
      <no Python frame>

    Thread 0x00007f0000000003 (most recent call first):
      File "/var/task/poller.py", line 9 in poll
      File ???, line ??? in ???
      ...

    Current thread 0x00007f0000000001 (most recent call first):
      File "/var/lang/lib/python3.11/socket.py", line 706 in readinto
      File "/var/task/caf\\xe9/\\u20ac.py", line 3 in fetch\\xfc
      File "/var/task/app.py", line 30 in handler
    ''')


def test_hand_written_edge_cases_parse():
    stacks = parse_faulthandler(SAMPLE, "r")
    assert stacks.threads == (
        ThreadStack("Thread 0x00007f0000000002", ()),
        ThreadStack("Thread 0x00007f0000000003", (StackFrame("/var/task/poller.py", 9, "poll"),
                                                   StackFrame("???", 0, "???"))),
        ThreadStack("Current thread 0x00007f0000000001", (
            StackFrame("/var/lang/lib/python3.11/socket.py", 706, "readinto"),
            StackFrame("/var/task/café/€.py", 3, "fetchü"),  # faulthandler's ASCII escapes undone
            StackFrame("/var/task/app.py", 30, "handler"),
        )),
    )


def test_a_single_thread_dump_counts_as_the_current_thread():
    text = 'Stack (most recent call first):\n  File "/var/task/app.py", line 4 in handler\n'
    stacks = parse_faulthandler(text, "r")
    assert stacks.threads == (ThreadStack("Stack", (StackFrame("/var/task/app.py", 4, "handler"),)),)
    assert hung_frame(stacks, "/var/task") == StackFrame("/var/task/app.py", 4, "handler")


def _frames(*files: str) -> tuple[StackFrame, ...]:
    return tuple(StackFrame(file, i + 1, f"f{i}") for i, file in enumerate(files))


LIB = "/usr/lib/python3.11/threading.py"
BOOT = "/opt/lambdatui/lambdatui/bootstrap/loop.py"
RIC = "/var/lang/lib/python3.12/site-packages/awslambdaric/bootstrap.py"
VENV_LIB = "/proj/.venv/lib/python3.11/site-packages/slowlib.py"
PREFERENCE = [
    # name, threads (as listed), code dir, expected (file, line) or None
    ("current thread wins over a thread listed first",
     [ThreadStack("Thread 0x2", _frames("/var/task/a.py")), ThreadStack("Current thread 0x1", _frames(LIB, "/var/task/b.py"))],
     "/var/task", ("/var/task/b.py", 2)),
    ("no current thread: the last listed (oldest, main) wins",
     [ThreadStack("Thread 0x3", _frames("/var/task/new.py")), ThreadStack("Thread 0x1", _frames("/var/task/main.py"))],
     "/var/task", ("/var/task/main.py", 1)),
    ("the main thread only in C: another thread's user frame",
     [ThreadStack("Thread 0x2", _frames(LIB, "/var/task/w.py")), ThreadStack("Current thread 0x1", ())],
     "/var/task", ("/var/task/w.py", 2)),
    ("a sibling directory with the same prefix is not the code dir",
     [ThreadStack("Current thread 0x1", _frames("/var/task2/x.py", "/var/task/y.py"))],
     "/var/task", ("/var/task/y.py", 2)),
    ("paths are normalised",
     [ThreadStack("Current thread 0x1", _frames("/var/task/lib/../app.py"))],
     "/var/task/./", ("/var/task/lib/../app.py", 1)),
    ("pseudo-files are never user code",
     [ThreadStack("Current thread 0x1", _frames("<string>", "???"))], "/var/task", None),
    ("nothing in the code dir", [ThreadStack("Current thread 0x1", _frames(LIB))], "/var/task", None),
    ("no threads at all", [], "/var/task", None),
    # The thread that runs the handler is the one whose stack passes through the runtime's own loop: SIGUSR1 may
    # land on any thread, so the "Current thread" mark says only which thread took the signal.
    ("the thread running the bootstrap wins over the current thread",
     [ThreadStack("Current thread 0x2", _frames("/var/task/ticker.py", LIB)),
      ThreadStack("Thread 0x1", _frames("/var/task/app.py", BOOT))],
     "/var/task", ("/var/task/app.py", 1)),
    ("awslambdaric's loop marks the handler's thread too",
     [ThreadStack("Current thread 0x2", _frames("/var/task/ticker.py")),
      ThreadStack("Thread 0x1", _frames("/var/task/app.py", RIC))],
     "/var/task", ("/var/task/app.py", 1)),
    ("a library in a virtualenv inside the project is not the user's code",
     [ThreadStack("Current thread 0x1", _frames(VENV_LIB, "/proj/handler.py", BOOT))],
     "/proj", ("/proj/handler.py", 2)),
    ("nor is a venv without site-packages in its path (lib/pythonX.Y)",
     [ThreadStack("Current thread 0x1", _frames("/proj/venv/lib/python3.11/json/decoder.py", "/proj/h.py"))],
     "/proj", ("/proj/h.py", 2)),
    ("nor our bootstrap when the project contains lambdatui",
     [ThreadStack("Current thread 0x1", _frames("/proj/lambdatui/bootstrap/loop.py", "/proj/app.py"))],
     "/proj", ("/proj/app.py", 2)),
    ("only library frames under the code dir: the innermost of them, rather than nothing",
     [ThreadStack("Current thread 0x1", _frames(VENV_LIB, BOOT))],
     "/proj", (VENV_LIB, 1)),
]


@pytest.mark.parametrize("threads,code_dir,expected", [p[1:] for p in PREFERENCE], ids=[p[0] for p in PREFERENCE])
def test_which_frame_is_where_it_hung(threads, code_dir, expected):
    frame = hung_frame(StacksCaptured("r", "", tuple(threads)), code_dir)
    assert (None if frame is None else (frame.file, frame.line)) == expected


@pytest.mark.parametrize("text", ["", "garbage\n", "  File \"/x.py\", line 1 in f\n", "Thread 0x1 (most recent"])
def test_text_without_a_complete_header_yields_no_threads(text):
    assert parse_faulthandler(text, "r") == StacksCaptured("r", text, ())


def test_a_dump_that_is_no_dump_is_summed_up_in_lines_of_bounded_length() -> None:
    """The function can write anything where its dump goes: 8 MB of NULs, one "line", took `invoke` seconds of CPU to
    escape and print whole. The summary shows each of its first lines up to SHOWN_LINE_CHARS and says how much more."""
    stacks = parse_faulthandler("\0" * (8 << 20) + "\nsecond\n", "r1")
    heading, first, second = stack_summary(stacks, "/var/task")
    assert heading.startswith("captured at the timeout, but no frame")
    assert first == "\0" * SHOWN_LINE_CHARS + f"... ({(8 << 20) - SHOWN_LINE_CHARS:,} more characters)"
    assert second == "second"
    assert len(stacks.text) == (8 << 20) + 8  # the dump itself is kept whole


def test_the_debugger_shows_an_unparsed_dump_bounded_and_says_what_it_left_out() -> None:
    stacks = parse_faulthandler("x" * 5000 + "\n" + "line\n" * 300, "r1")
    shown = unparsed_text(stacks, lines=3).splitlines()
    assert shown == ["x" * SHOWN_LINE_CHARS + "... (4,000 more characters)", "line", "line", "... (298 more lines)"]
    assert unparsed_text(parse_faulthandler("", "r1")) == "(the dump was empty)"
