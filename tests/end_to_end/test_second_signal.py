"""A second signal while lambdatui shuts down (README: "a second signal stops at once"): no traceback, no process
and no folder left, and the exit of a command killed by that signal (130 in a shell for Ctrl-C).

The extension ignores SHUTDOWN (and SIGTERM), so the graceful shutdown would last its whole 2 s budget: the second
signal is sent once the extension has been told SHUTDOWN, while lambdatui waits for it. Before, the first signal
closed lambdatui's signal receiver: a second Ctrl-C raised KeyboardInterrupt through the shutdown (a traceback of
nested exception groups), and a second SIGTERM killed lambdatui before it removed its run folder.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import httpx
import pytest

from e2e_support import LambdatuiProcess, ServeProcess, descendants, wait_all_gone, write_file
from test_no_orphans import kill_survivors

HANDLER = '''import time


def handler(event, context):
    print("in handler", flush=True)
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
'''

STUBBORN = '''#!/usr/bin/env python3
import json, os, signal, time, urllib.request
signal.signal(signal.SIGTERM, signal.SIG_IGN)
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
request = urllib.request.Request(f"http://{api}/2020-01-01/extension/register", method="POST",
                                 data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
                                 headers={"Lambda-Extension-Name": "stubborn"})
ext_id = urllib.request.urlopen(request).headers["Lambda-Extension-Identifier"]
while True:
    reply = urllib.request.urlopen(urllib.request.Request(f"http://{api}/2020-01-01/extension/event/next",
                                                          headers={"Lambda-Extension-Identifier": ext_id}))
    event = json.loads(reply.read())
    print("got", event["eventType"], flush=True)
    if event["eventType"] == "SHUTDOWN":
        time.sleep(300)  # never calls /next again: lambdatui waits out the shutdown budget
'''


def stubborn_function(code_dir: Path) -> Path:
    handler = write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "stubborn", STUBBORN, executable=True)
    return handler


@pytest.mark.parametrize("command", ["invoke", "serve"])
@pytest.mark.parametrize("first,second", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGTERM),
                                          (signal.SIGHUP, signal.SIGINT)],
                         ids=["INT-INT", "TERM-TERM", "HUP-INT"])
def test_second_signal_during_shutdown_stops_at_once_and_leaves_nothing(
        code_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, first: int,
        second: int) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    handler = stubborn_function(code_dir)
    event = json.dumps({"sleep": 30})
    caller = None
    if command == "invoke":
        lambdatui = LambdatuiProcess("invoke", str(handler), "-e", event, "--timeout", "60")
    else:
        lambdatui = ServeProcess(handler, "--timeout", "60").start()
        caller = threading.Thread(target=lambda: httpx.post(lambdatui.invoke_url(), content=event.encode(),
                                                            timeout=60), daemon=True)
        caller.start()
    tree: dict[int, int] = {}
    try:
        lambdatui.wait_for_line(r"\[function\]\s+in handler", timeout=30)
        tree = descendants(lambdatui.proc.pid)
        lambdatui.signal(first)
        lambdatui.wait_for_line(r"\[stubborn\]\s+got SHUTDOWN", timeout=30)
        lambdatui.signal(second)
        code = lambdatui.wait(timeout=30)
        output = lambdatui.output()
        assert "Traceback" not in output, output
        assert code == -second, output
        assert wait_all_gone(tree, 10) == {}
        left = sorted(str(p.relative_to(state)) for p in state.rglob("*"))
        assert left in ([], ["lambdatui"]), left
    finally:
        lambdatui.close()
        if caller is not None:
            caller.join(30)
        kill_survivors(tree)
