"""`serve --record`: an invoke throttled at the limit keeps what its caller sent besides the event.

A 429 is written with the invokes in flight that filled the limit (a `parallel` step), or, met while another ran, as
a step of its own that a replay runs. Either way a replay sends it again, and must send it as the caller did, with
its client context and qualifier: a replay whose timing lets it run (or a scenario edited to raise the limit) would
otherwise show the function another `context.client_context` and invoked function ARN. Real processes: serve records
over HTTP, the CLI replays.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, write_file
from lambdatui.scenario.model import Caller, InvokeAction, ParallelAction
from lambdatui.scenario.parse import parse_scenario

pytestmark = pytest.mark.timeout(180)

HANDLER = '''import os
import time


def handler(event, context):
    print("running", event.get("n"), flush=True)
    release = event.get("release")
    while release and not os.path.exists(release):  # the test creates it once the second caller had its 429
        time.sleep(0.005)
    return {"n": event.get("n")}
'''


def test_a_throttled_invoke_is_recorded_with_its_callers_context_and_qualifier(code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    release = tmp_path / "release"
    recording = tmp_path / "throttled.toml"
    context = json.dumps({"custom": {"tenant": "a"}})
    with ServeProcess(handler, "--concurrency", "1", "--record", str(recording)) as served:
        answers: list[httpx.Response] = []
        first = threading.Thread(target=lambda: answers.append(httpx.post(
            served.invoke_url(), json={"n": 1, "release": str(release)}, timeout=60)))
        first.start()
        try:
            served.wait_for_line(r"running 1")
            throttled = httpx.post(served.invoke_url() + "?Qualifier=prod", json={"n": 2}, timeout=60,
                                   headers={"X-Amz-Client-Context": base64.b64encode(context.encode()).decode()})
            assert throttled.status_code == 429, throttled.text
        finally:
            release.touch()
            first.join(60)
        assert answers and answers[0].status_code == 200, answers
        served.signal(signal.SIGINT)
        assert served.wait(60) == 0, served.output()
    text = recording.read_text()
    sent: list[tuple[bytes, Caller]] = []
    for step in parse_scenario(text, recording).steps:
        if isinstance(step.action, InvokeAction):
            sent.append((step.action.event, step.action.caller))
        elif isinstance(step.action, ParallelAction):
            sent += zip(step.action.events, step.action.callers or [Caller()] * len(step.action.events))
    assert [(json.loads(event)["n"], caller) for event, caller in sent] == [(1, Caller()), (2, Caller(context, "prod"))], text
    replayed = subprocess.run([sys.executable, "-m", "lambdatui", "replay", str(handler), str(recording)],
                              capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
