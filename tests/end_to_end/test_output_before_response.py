"""What the function printed before it responded comes before its response's facts, however the host's tasks run.

The function's output and its /response arrive on two descriptors at about the same moment (a pipe, a socket);
the host may read the socket first. Lambda's order is the function's: its log lines, then platform.runtimeDone
(and END, REPORT). Here the function makes its stdout pipe 1 MB and prints 900 KB in one write: the host
reads the pipe 64 KB a wakeup, so its /response always arrives with most of the output still unread.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.runner import open_environment

from e2e_support import write_file

BOUND = 30.0

HANDLER = '''import fcntl
import os
import sys

try:
    fcntl.fcntl(sys.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1024 * 1024)  # room for the whole burst: it never blocks
except OSError:
    pass  # above /proc/sys/fs/pipe-max-size: the burst then blocks, and the race is only likely


def handler(event, context):
    lines = [f"line {n:05d} " + "x" * 90 for n in range(event["lines"])] + ["last line before the response"]
    os.write(sys.stdout.fileno(), ("\\n".join(lines) + "\\n").encode())  # one write, then the response at once
    return {"printed": len(lines)}
'''


@pytest.mark.trio
async def test_every_line_printed_before_the_response_comes_before_runtime_done(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    order: list[str] = []

    def note(fact: object) -> None:
        if any(line.text == "last line before the response" for line in f.log_lines(fact)):
            order.append("last line")
        elif isinstance(fact, f.RuntimeDone):
            order.append("runtimeDone")

    async with open_environment(resolve_function(str(code_dir / "handler.py"))) as running:
        running.host.subscribe(note)
        with trio.fail_after(BOUND):
            for _ in range(8):
                result, _ = await running.host.invoke(json.dumps({"lines": 9000}).encode())
                assert json.loads(result.payload) == {"printed": 9001}
    assert order == ["last line", "runtimeDone"] * 8, order
