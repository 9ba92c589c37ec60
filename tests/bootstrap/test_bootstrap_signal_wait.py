"""A runtime parked on /next runs the function's signal handlers, whenever the signal lands.

The lost case in a real runtime is a race: SIGTERM's C-level handler runs just before the runtime blocks in
recv(), so Python's handler waits for an answer the host never sends at shutdown. Here it is made certain:
the main thread blocks SIGTERM, so the kernel hands it to another thread, and the thread waiting on /next is
never interrupted; only the signal's wakeup fd can tell it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

BOUND_S = 10.0

CHILD = r'''
import os, signal, sys, threading
from lambdatui.bootstrap.client import RuntimeClient

own = sys.argv[2] == "own-wakeup-fd"
own_read, own_write = os.pipe()
os.set_blocking(own_write, False)
if own:  # as asyncio or trio leave it while they run
    signal.set_wakeup_fd(own_write)

def on_term(signum, frame):
    print("handled", flush=True)
    if not own:
        sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
threading.Thread(target=threading.Event().wait, daemon=True).start()  # it gets the signal: it does not block it
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
print("event", RuntimeClient(sys.argv[1]).next_invocation().request_id, flush=True)
print("own fd back" if signal.set_wakeup_fd(-1) == own_write else "own fd lost", flush=True)
print("own fd got", list(os.read(own_read, 64)), flush=True)
'''


def _main_thread_asleep(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "S"


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {BOUND_S} s: {what}")
        time.sleep(0.002)


NEXT_OK = b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\nContent-Length: 2\r\n\r\n{}"


@pytest.mark.parametrize("wakeup_fd", ["no-wakeup-fd", "own-wakeup-fd"])
def test_sigterm_reaches_the_handler_of_a_runtime_parked_on_next(wakeup_fd: str) -> None:
    """Without a wakeup fd of its own, the function's handler ends the runtime (as at shutdown). With one, the
    handler runs too; once the event comes, the function's fd is back and got the signal's number."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    asked = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:  # takes the /next and answers it only when told to
        conn, _ = listener.accept()
        held.append(conn)
        if conn.recv(65536).startswith(b"GET /2018-06-01/runtime/invocation/next "):
            asked.set()

    threading.Thread(target=serve, daemon=True).start()
    address = "127.0.0.1:%d" % listener.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-c", CHILD, address, wakeup_fd], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    handled = threading.Event()
    lines: list[str] = []

    def read_lines() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line.rstrip("\n"))
            if line == "handled\n":
                handled.set()

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    try:
        assert asked.wait(BOUND_S), "the child never asked for /next"
        _until(lambda: _main_thread_asleep(child.pid), "the child's main thread waits on /next")
        os.kill(child.pid, signal.SIGTERM)
        assert handled.wait(BOUND_S), f"the SIGTERM handler did not run while the runtime waited on /next: {lines}"
        if wakeup_fd == "own-wakeup-fd":
            held[0].sendall(NEXT_OK)
        child.wait(BOUND_S)
    finally:
        child.kill()
        child.wait()
        reader.join(BOUND_S)
        assert child.stderr is not None
        err = child.stderr.read()
        child.stderr.close()
        listener.close()
        for conn in held:
            conn.close()
    assert child.returncode == 0, err
    if wakeup_fd == "no-wakeup-fd":
        assert lines == ["handled"]
    else:
        assert lines == ["handled", "event r1", "own fd back", f"own fd got [{int(signal.SIGTERM)}]"]
