"""Helpers for the test_fleet_* modules (issue 12: a fleet of environments behind `lambdatui serve`).

It holds no tests; it is named test_fleet_* only so that it sits with the modules it serves.

The function every fleet test runs (FLEET_HANDLER) says which runtime process served each invoke: a token drawn
at import (one per process, so one per environment), how many invokes that process has served (1: this invoke
met a cold environment), its AWS_LAMBDA_INITIALIZATION_TYPE, its start time as the host's /proc shows it, and
when the handler ran (wall clock). On demand it holds the invoke until a file appears (`release`), which is how
a test keeps environments busy for exactly as long as it means to: the test creates the file, never sleeps.

`serve` prints each environment's lines as `#N [source] text`; the helpers here read those, and wait for them
with a bound.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import httpx
import pytest

from e2e_support import SAMPLES, ServeProcess, descendants, is_alive, proc_cmdline, write_file

AUDIT = SAMPLES / "extension" / "extensions" / "audit"
HTTP_TIMEOUT = 60.0
LINE_TIMEOUT = 30.0

FLEET_HANDLER = '''import os
import tempfile
import time
import uuid

TOKEN = uuid.uuid4().hex  # one per runtime process, so one per environment
INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
PROC_START = open("/proc/self/stat").read().rpartition(")")[2].split()[19]  # the host sees the same start time
served = 0


def handler(event, context):
    global served
    served += 1
    started = time.time()
    tag = event.get("tag", "-")
    # Something of this environment's own in its /tmp (tempfile: the environment's /tmp in every sandbox mode).
    with open(os.path.join(tempfile.gettempdir(), "marker-" + TOKEN), "w") as fh:
        fh.write(tag)
    print(f"ready tag={tag} token={TOKEN} n={served}", flush=True)
    release = event.get("release")
    if release:
        while not os.path.exists(release):  # the test creates it when this invoke may end
            time.sleep(0.005)
    time.sleep(event.get("sleep", 0))
    print(f"ran tag={tag}", flush=True)
    return {"tag": tag, "token": TOKEN, "n": served, "init_type": INIT_TYPE, "proc_start": PROC_START,
            "started": started, "ended": time.time(), "request_id": context.aws_request_id}
'''

# An extension that works after each INVOKE before asking for its next event, as an observability extension that
# flushes does: LAG_S seconds after each (default none; "0.01,0.2": after each in turn), and after its HOLD_AT-th until
# the file RELEASE exists (so what "still working" means does not depend on timing). Its name is its file's.
WORKING_EXTENSION = '''#!/usr/bin/env python3
import http.client, json, os, sys, time

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)


def call(method, path, headers, body=None):
    api.request(method, "/2020-01-01/extension" + path, body=body, headers=headers)
    response = api.getresponse()
    payload = response.read()
    if response.status != 200:
        sys.exit(f"{path}: {response.status}")
    return response, payload


response, _ = call("POST", "/register", {"Lambda-Extension-Name": os.path.basename(sys.argv[0])},
                   json.dumps({"events": ["INVOKE", "SHUTDOWN"]}))
ident = response.getheader("Lambda-Extension-Identifier")
invokes = 0
while True:
    _, payload = call("GET", "/event/next", {"Lambda-Extension-Identifier": ident})
    if json.loads(payload)["eventType"] == "SHUTDOWN":
        sys.exit(0)
    lags = os.environ.get("LAG_S", "0").split(",")
    time.sleep(float(lags[invokes % len(lags)]))
    invokes += 1
    if invokes == int(os.environ.get("HOLD_AT", "0")):
        while not os.path.exists(os.environ["RELEASE"]):
            time.sleep(0.005)
'''

READY = r"#(\d+) \[function\]\s+ready tag=(\S+) token=(\w+) n=(\d+)"
INIT_START = r"#(\d+) \[platform\]\s+INIT_START "
INIT_REPORT = r"#(\d+) \[platform\]\s+INIT_REPORT Init Duration: [\d.]+ ms\s+Phase: init\s+Status: success"
START = r"#(\d+) \[platform\]\s+START RequestId: ([0-9a-f-]+)"
REPORT = r"#(\d+) \[platform\]\s+REPORT RequestId: ([0-9a-f-]+)\s.*"
SPINDOWN = r"#(\d+) \[audit\]\s+\[audit\] SHUTDOWN reason=(\w+)"


def write_function(code_dir: Path, *, extension: bool = False) -> Path:
    """FLEET_HANDLER in code_dir (outside /tmp: the sandboxes see it), with the audit extension beside it."""
    handler = write_file(code_dir / "handler.py", FLEET_HANDLER)
    if extension:
        write_file(code_dir / "extensions" / "audit", AUDIT.read_text(), executable=True)
    return handler


@pytest.fixture
def state_home(code_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """lambdatui's state folder for this test (XDG_STATE_HOME, inherited by the served process): each
    environment's /tmp is under it, so a test can see it appear and go."""
    from lambdatui.processes.tree_removal import remove_tree

    path = code_dir / "state"
    path.mkdir()
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    yield path
    remove_tree(path)


def env_tmp_dirs(state: Path) -> list[Path]:
    """Every environment /tmp folder under the state folder now."""
    return sorted((state / "lambdatui").glob("run-*/member-*/environment-*/tmp"))


# ---------------------------------------------------------------------- the served process's lines


def matches(served: ServeProcess, pattern: str, lines: Optional[Sequence[str]] = None) -> list[re.Match[str]]:
    regex = re.compile(pattern)
    found = []
    for line in served.output().splitlines() if lines is None else lines:
        match = regex.search(line)
        if match:
            found.append(match)
    return found


def wait_for_count(served: ServeProcess, pattern: str, count: int, timeout: float = LINE_TIMEOUT) -> list[re.Match[str]]:
    """Until `count` lines match `pattern` (returns every match); a bounded wait on the lines themselves."""
    return served.wait_for_lines(pattern, count, timeout)


def line_index(served: ServeProcess, pattern: str) -> int:
    """The index of the first line matching `pattern` (fails when none does)."""
    regex = re.compile(pattern)
    lines = served.output().splitlines()
    for index, line in enumerate(lines):
        if regex.search(line):
            return index
    raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(lines))


def ready_env(served: ServeProcess, tag: str) -> int:
    """The number of the environment whose runtime printed `ready tag=TAG` (each tag is used once)."""
    found = [m for m in matches(served, READY) if m.group(2) == tag]
    assert len(found) == 1, f"tag {tag}: {[m.group(0) for m in found]}\n{served.output()}"
    return int(found[0].group(1))


def env_of_request(served: ServeProcess, request_id: str) -> int:
    """The environment whose START line names `request_id` (the caller may have its answer before the line is
    read: waited for, bounded)."""
    served.wait_for_line(rf"START RequestId: {request_id}\b", timeout=LINE_TIMEOUT)
    found = [int(m.group(1)) for m in matches(served, START) if m.group(2) == request_id]
    assert len(found) == 1, f"START lines for {request_id}: {found}\n{served.output()}"
    return found[0]


def report_line(served: ServeProcess, request_id: str) -> str:
    """The REPORT line of `request_id` (it follows the answer: waited for, bounded)."""
    served.wait_for_line(rf"REPORT RequestId: {request_id}\b", timeout=LINE_TIMEOUT)
    found = [m.group(0) for m in matches(served, REPORT) if m.group(2) == request_id]
    assert len(found) == 1, f"REPORT lines for {request_id}: {found}\n{served.output()}"
    return found[0]


# ---------------------------------------------------------------------- invokes


def invoke(served: ServeProcess, event: dict, *, invocation_type: str = "RequestResponse",
           client: Optional[httpx.Client] = None) -> httpx.Response:
    headers = {"X-Amz-Invocation-Type": invocation_type}
    body = json.dumps(event).encode()
    if client is not None:
        return client.post(served.invoke_url(), content=body, headers=headers)
    return httpx.post(served.invoke_url(), content=body, headers=headers, timeout=HTTP_TIMEOUT)


class InFlight:
    """One synchronous invoke sent on a thread of its own; `response()` waits (bounded) for its answer."""

    def __init__(self, served: ServeProcess, event: dict, *, barrier: Optional[threading.Barrier] = None) -> None:
        self._served, self._event, self._barrier = served, event, barrier
        self._response: Optional[httpx.Response] = None
        self._error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT) as client:
                if self._barrier is not None:
                    self._barrier.wait(30)  # the connections are made; the requests leave together
                self._response = invoke(self._served, self._event, client=client)
        except BaseException as exc:  # noqa: BLE001 - reported by response()
            self._error = exc

    def response(self, timeout: float = HTTP_TIMEOUT) -> httpx.Response:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"no answer to {self._event} within {timeout} s"
        if self._error is not None:
            raise AssertionError(f"{self._event}: {self._error!r}") from self._error
        assert self._response is not None
        return self._response

    def done(self) -> Optional[BaseException]:
        """Waits for the thread after the server went away (errors expected); returns what it raised."""
        self.thread.join(HTTP_TIMEOUT)
        return self._error


def together(served: ServeProcess, events: Sequence[dict]) -> list[InFlight]:
    """Every event sent at once, one connection each (a barrier lets them go together)."""
    barrier = threading.Barrier(len(events))
    return [InFlight(served, event, barrier=barrier) for event in events]


# ---------------------------------------------------------------------- processes


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """A bounded wait for a state that no line announces (a folder removed): checked every 10 ms."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.01)


def tree(pid: int) -> dict[int, int]:
    """Every live descendant of `pid` as {pid: starttime}."""
    return descendants(pid)


def commands(pids: dict[int, int]) -> dict[int, str]:
    return {pid: proc_cmdline(pid) for pid in pids}


def runtimes_and_extensions(pids: dict[int, int]) -> tuple[list[int], list[int]]:
    """The runtime processes (lambdatui's bootstrap) and the audit extensions among `pids`."""
    cmds = commands(pids)
    runtimes = [pid for pid, cmd in cmds.items() if "lambdatui/bootstrap" in cmd]
    audits = [pid for pid, cmd in cmds.items() if "extensions/audit" in cmd]
    return runtimes, audits


def kill_survivors(pids: dict[int, int]) -> None:
    """Never leak a process from a failed assertion (each pid checked against its start time first)."""
    import os
    import signal

    for pid, start in pids.items():
        if is_alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
