"""Probe (round 5): `serve` and `invoke` around env #1 started early, against the reference
(LAMBDATUI_EARLY_START=0): env #1 shut down for idleness before any invoke, a burst above `--concurrency 1`, and a
foreign process calling env #1's Runtime API while lambdatui is still coming up.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_probe5_support import BOUND, MODES, Live, TrioHold, write  # noqa: E402
from test_probe4_support import post  # noqa: E402
from e2e_support import descendants  # noqa: E402
from probe_support import cgroups_of  # noqa: E402

HANDLER = r'''
import os, time
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    time.sleep(event.get("sleep", 0))
    return {"count": COUNT, "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"], "event": event}
'''


def _no_cgroups_left(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while cgroups_of(pid):
        if time.monotonic() > deadline:
            return False
    return True


def test_idle_shutdown_of_env1_before_any_invoke(code_dir: Path) -> None:
    """`--idle-shutdown 1`, no invoke: env #1 (started early) goes after 1 s idle, with its cgroup; the next invoke
    cold-starts env #2, in both modes."""
    path = write(code_dir / "fn" / "handler.py", HANDLER)
    servers = {mode: Live(mode, "serve", str(path), "--port", "0", "--idle-shutdown", "1") for mode in MODES}
    try:
        outcome = {}
        for mode, live in servers.items():
            url = live.url()
            live.wait_for(r"env #1 has been idle for 1 s", 20)
            gone = _no_cgroups_left(live.proc.pid, 10)  # env #2 has none yet: no invoke since
            status, _, body = post(url, {"n": 1})
            live.wait_for(r"#2 \[platform\]\s+REPORT RequestId")
            outcome[mode] = (gone, status, json.loads(body)["count"], live.count(r"\[platform\]\s+INIT_START"),
                             live.count(r"^#2 \[platform\]\s+INIT_START"))
    finally:
        for live in servers.values():
            live.close()
    assert outcome["early"] == outcome["late"] == (True, 200, 1, 2, 1), outcome


def test_burst_above_concurrency_1_while_env1_starts(code_dir: Path) -> None:
    """Four invokes fired the moment it serves, `--concurrency 1`: one environment, one 200, three 429s."""
    path = write(code_dir / "fn" / "handler.py", HANDLER)
    servers = {mode: Live(mode, "serve", str(path), "--port", "0", "--concurrency", "1") for mode in MODES}
    try:
        urls = {mode: live.url() for mode, live in servers.items()}
        answers: dict[str, list] = {mode: [None] * 4 for mode in MODES}

        def fire(mode: str, i: int) -> None:
            status, _, body = post(urls[mode], {"sleep": 0.5, "n": i})
            answers[mode][i] = (status, json.loads(body).get("Reason") or json.loads(body).get("count"))

        threads = [threading.Thread(target=fire, args=(mode, i)) for mode in MODES for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BOUND)
        starts = {mode: live.count(r"\[platform\]\s+INIT_START") for mode, live in servers.items()}
    finally:
        for live in servers.values():
            live.close()
    for mode in MODES:
        assert sorted(map(str, answers[mode])) == sorted(map(str, [
            (200, 1)] + [(429, "ReservedFunctionConcurrentInvocationLimitExceeded")] * 3)), (mode, answers)
        assert starts[mode] == 1, (mode, starts)


def _runtime_api_of(pid: int) -> str:
    """AWS_LAMBDA_RUNTIME_API as lambdatui `pid`'s runtime sees it, once it runs."""
    deadline = time.monotonic() + BOUND / 2
    while time.monotonic() < deadline:
        for child in descendants(pid):
            try:
                with open(f"/proc/{child}/environ", "rb") as fh:
                    variables = fh.read().split(b"\0")
            except OSError:
                continue
            for item in variables:
                if item.startswith(b"AWS_LAMBDA_RUNTIME_API="):
                    return item.split(b"=", 1)[1].decode()
    raise AssertionError("no runtime with AWS_LAMBDA_RUNTIME_API appeared")


def test_a_foreign_next_queued_before_lambdatui_is_up_is_refused(code_dir: Path) -> None:
    """While lambdatui is held at `import trio`, a process outside the environment (this test) asks env #1's Runtime
    API for the next event: it waits in the same backlog as the runtime's calls, and must get 403 once lambdatui is
    up, never the event; the invoke goes to the function."""
    path = write(code_dir / "fn" / "handler.py", HANDLER)
    hold = TrioHold(code_dir / "hold")
    live = Live("early", "invoke", str(path), "-e", '{"mine": 1}', env=hold.env, pythonpath=[str(hold.folder)])
    try:
        hold.wait_held()
        host, port = _runtime_api_of(live.proc.pid).split(":")
        with socket.create_connection((host, int(port)), timeout=BOUND) as foreign:
            foreign.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            hold.release()
            answer = b""
            while b"\r\n\r\n" not in answer:
                more = foreign.recv(65536)
                if not more:
                    break
                answer += more
        code = live.wait()
    finally:
        hold.close()
        live.close()
    assert answer.startswith(b"HTTP/1.1 403"), answer
    assert code == 0 and json.loads(live.stdout)["event"] == {"mine": 1}, (live.stdout, live.stderr[-2000:])
    assert live.count(r"Refused a connection to the Runtime API") == 1, live.stderr


def _connected_to(port: int) -> bool:
    """Whether a connection to loopback `port` is established (accepted or still in the listener's backlog)."""
    with open("/proc/net/tcp") as fh:
        next(fh)
        for line in fh:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].split(":")[1], 16) == port:
                return True
    return False


def test_a_runtime_that_connected_before_lambdatui_is_up_is_let_in(code_dir: Path) -> None:
    """Env #1's runtime, started ahead, connects while lambdatui is held at `import trio`: once it is up, the
    connection is traced to env #1's processes (the host adopts them before its API accepts) and served, never
    refused. Six starts: the API's acceptor and the host's adoption run in one scheduler batch, whose order trio
    draws at random, so a race between them shows in about half of the starts."""
    path = write(code_dir / "fn" / "handler.py", HANDLER)
    for attempt in range(6):
        hold = TrioHold(code_dir / f"hold{attempt}")
        live = Live("early", "invoke", str(path), "-e", '{"mine": 1}', env=hold.env, pythonpath=[str(hold.folder)])
        try:
            hold.wait_held()
            port = int(_runtime_api_of(live.proc.pid).split(":")[1])
            deadline = time.monotonic() + BOUND
            while not _connected_to(port):
                assert time.monotonic() < deadline, "the runtime never connected"
                time.sleep(0.005)  # polling /proc/net/tcp for the connection is the wait itself
            hold.release()
            code = live.wait()
        finally:
            hold.close()
            live.close()
        assert code == 0 and json.loads(live.stdout)["event"] == {"mine": 1}, (attempt, live.stdout, live.stderr[-2000:])
        assert live.count(r"Refused a connection") == 0 and live.count(r"INIT_START") == 1, (attempt, live.stderr)
