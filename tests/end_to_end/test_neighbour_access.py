"""Only the environment's own processes reach its Runtime API (issue 8: a neighbour could steal an invoke).

Before, any local process that found the port could call `/next` during an in-flight invoke, receive the event
(the platform re-sends it to a runtime that asks again) and post a response that replaced the real caller's
result, or post fake globals. Here a neighbour (another user, and the same user outside lambdatui's process
tree) tries exactly that while the handler waits; it is refused, and the caller gets the real answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import httpx
import pytest

from e2e_support import ServeProcess, descendants, proc_cmdline, write_file
from test_fleet_support import env_tmp_dirs, state_home

__all__ = ["state_home"]  # the fixture, used by name

WAIT_S = 20.0

# The handler tells the test it is running, then waits for the test to let it finish: through its /tmp, the only
# place Lambda lets it write, which the test finds in lambdatui's state folder.
HANDLER = """\
import os, tempfile, time

def handler(event, context):
    marks = tempfile.gettempdir()
    open(os.path.join(marks, "started"), "w").close()
    deadline = time.monotonic() + 20
    while not os.path.exists(os.path.join(marks, "release")) and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"real": True}
"""

# The neighbour: what a curious local user would try, each answer printed as one JSON line.
NEIGHBOUR = """\
import http.client, json, sys
host, port = sys.argv[1].rsplit(":", 1)
def call(method, path, body=b""):
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return {"path": path, "status": response.status, "body": response.read().decode(errors="replace")}
    except (OSError, http.client.HTTPException) as exc:
        return {"path": path, "status": None, "body": repr(exc)}
    finally:
        conn.close()
for method, path, body in [
    ("GET", "/2018-06-01/runtime/invocation/next", b""),
    ("POST", "/2018-06-01/runtime/invocation/stolen/response", b'{"fake": true}'),
    ("POST", "/lambdatui/v1/globals", b'{"phase": "invoke", "requestId": null, "globals": [], "threads": []}'),
]:
    print(json.dumps(call(method, path, body)), flush=True)
"""


def wait_for_started(state: Path) -> Path:
    """The environment's /tmp (as the host sees it) once the handler has marked it."""
    deadline = time.monotonic() + WAIT_S
    while not (started := [d for d in env_tmp_dirs(state) if (d / "started").exists()]):
        assert time.monotonic() < deadline, "started never appeared"
        time.sleep(0.01)  # polling a file the handler writes: the handler is in another process
    return started[0]


def runtime_api_of(serve_pid: int) -> str:
    for pid in descendants(serve_pid):
        if "bootstrap" in proc_cmdline(pid):
            with open(f"/proc/{pid}/environ", "rb") as fh:
                for item in fh.read().split(b"\0"):
                    if item.startswith(b"AWS_LAMBDA_RUNTIME_API="):
                        return item.split(b"=", 1)[1].decode()
    raise AssertionError("no runtime process found under lambdatui serve")


@pytest.mark.parametrize("user", [None, 65534], ids=["same-user-outside-the-tree", "another-user"])
def test_a_neighbour_cannot_take_the_event_or_replace_the_answer(code_dir: Path, state_home: Path,
                                                                user: Optional[int]) -> None:
    interpreter = sys.executable
    if user is not None:
        if os.geteuid() != 0:
            pytest.skip("running the neighbour as another user needs root")
        # Our interpreter may live where another user cannot go (root's home): a system one will do, the
        # neighbour needs nothing but the standard library.
        interpreter = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.path.exists(p)), "")
        if not interpreter:
            pytest.skip("no system python3 that another user can run")
    write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(code_dir / "handler.py", "--timeout", "30") as served:
        address = ""
        answer: dict = {}
        marks: Optional[Path] = None

        def caller() -> None:
            with httpx.Client(timeout=WAIT_S + 10) as client:
                answer["response"] = client.post(served.invoke_url(), content=b"{}")

        thread = threading.Thread(target=caller)
        thread.start()
        try:
            marks = wait_for_started(state_home)
            address = runtime_api_of(served.proc.pid)
            tried = subprocess.run([interpreter, "-c", NEIGHBOUR, address], capture_output=True, text=True,
                                   timeout=WAIT_S, user=user, cwd="/")
        finally:
            if marks is not None:
                (marks / "release").touch()
            thread.join(WAIT_S)
        results = [json.loads(line) for line in tried.stdout.splitlines()]
        assert len(results) == 3, tried.stdout + tried.stderr
        for result in results:
            assert result["status"] in (403, None), result
            assert "fake" not in result["body"] and "real" not in result["body"], result
        assert answer["response"].json() == {"real": True}
    assert "Refused a connection to the Runtime API" in served.output()
