"""replay's "where the handler was" and refused faults: what the printer shows, from facts alone (no processes)."""

from __future__ import annotations

import io

from lambdatui.model import facts as f
from lambdatui.scenario.report import TimelinePrinter

CODE = "/work/app"
BOOTSTRAP = "/site/lambdatui/bootstrap/loop.py"


def frame(file: str, line: int, function: str) -> f.StackFrame:
    return f.StackFrame(file, line, function)


# The SIGUSR1 dump ran on the ticker thread (marked current); the handler's thread is the one in our bootstrap's
# loop, and the deepest own frame there is handler.py, under a library in the project's virtualenv.
STACKS = f.StacksCaptured("req-1", "", (
    f.ThreadStack("Current thread 0x2 (most recent call first)", (
        frame(f"{CODE}/ticker.py", 7, "tick"),
    )),
    f.ThreadStack("Thread 0x1 (most recent call first)", (
        frame("/usr/lib/python3.11/threading.py", 320, "wait"),
        frame(f"{CODE}/.venv/lib/python3.11/site-packages/slowlib.py", 5, "fetch"),
        frame(f"{CODE}/handler.py", 12, "handler"),
        frame(BOOTSTRAP, 100, "handle_invocation"),
    )),
))


def printed(*facts: f.Fact) -> list[str]:
    out = io.StringIO()
    printer = TimelinePrinter(out, io.StringIO(), code_dir=CODE)
    for fact in facts:
        printer(fact)
    return [line.strip() for line in out.getvalue().splitlines()]


def test_the_stack_shown_is_the_handlers_thread_and_its_own_code_not_a_library_or_another_thread():
    lines = printed(STACKS)
    assert lines[0].startswith("stack") and "Thread 0x1" in lines[0]
    assert lines[1:] == ["handler.py:12 in handler"]


def test_library_frames_under_the_code_count_only_when_no_own_frame_exists():
    only_library = f.StacksCaptured("req-1", "", (
        f.ThreadStack("Thread 0x1 (most recent call first)", (
            frame(f"{CODE}/.venv/lib/python3.11/site-packages/slowlib.py", 5, "fetch"),
            frame(BOOTSTRAP, 100, "handle_invocation"),
        )),
    ))
    assert printed(only_library)[1:] == [".venv/lib/python3.11/site-packages/slowlib.py:5 in fetch"]


def test_a_refused_fault_is_printed_as_refused_with_its_reason():
    lines = printed(f.FaultRefused("force the current deadline", "No deadline is running at this point."))
    assert lines == ["refused    force the current deadline: No deadline is running at this point."]


def test_a_global_whose_repr_carries_escapes_prints_them_escaped_on_one_line():
    entry = f.GlobalEntry("banner", "Banner", "\x1b[31mred\x1b[0m\nnext\x00", 1, "state", "new")
    lines = printed(f.GlobalsReported("invoke", "req-1", 1, (entry,), (), ()))
    assert lines == ["global     banner = \\x1b[31mred\\x1b[0m\\nnext\\x00  (new)"]
