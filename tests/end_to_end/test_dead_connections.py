"""A connection whose peer has gone is closed at once (issue 8: dead runtimes' connections lingered ~75 s).

Each crash reset leaves the dead runtime's keep-alive connection behind, and each caller that got its answer and
hung up leaves its own: hypercorn kept every one open until its keep-alive timer fired, one file descriptor
each (forever on the sandbox side, where Lambda never times a connection out). With a tight descriptor limit
every invoke failed after a few dozen resets.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from e2e_support import ServeProcess, open_sockets, write_file

CRASHY = """\
import os

def handler(event, context):
    if event.get("crash"):
        os._exit(1)
    return {"ok": True}
"""

SETTLE_S = 5.0  # a closed socket shows in /proc at once; this only bounds the wait


def test_crashed_runtimes_and_gone_callers_leave_no_open_socket(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", CRASHY)
    with ServeProcess(code_dir / "handler.py") as served:
        pid = served.proc.pid
        with httpx.Client(timeout=30) as client:  # one warm-up: the runtime's own connection is open from now on
            assert client.post(served.invoke_url(), content=b"{}").json() == {"ok": True}
        baseline = open_sockets(pid)
        for _ in range(10):
            with httpx.Client(timeout=30) as client:  # a new caller each time, gone once answered
                answer = client.post(served.invoke_url(), content=b'{"crash": true}')
                assert answer.headers["x-amz-function-error"] == "Unhandled"
        with httpx.Client(timeout=30) as client:
            assert client.post(served.invoke_url(), content=b"{}").json() == {"ok": True}
        deadline = time.monotonic() + SETTLE_S
        while (now := open_sockets(pid)) > baseline and time.monotonic() < deadline:
            time.sleep(0.05)  # polling /proc, bounded: the kernel is what we wait on
        assert now <= baseline, f"{now - baseline} sockets left open by 10 crashes and 11 callers"
