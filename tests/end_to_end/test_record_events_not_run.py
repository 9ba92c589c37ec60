"""`serve --record`: Event invokes still in the fleet's queue when serve stops are in the recording, as comments.

They were accepted (202) and never ran: the README promises that an invoke still waiting at the end is written as
a comment, not a step, so that the recording says what its callers sent. Those that waited in the fleet's queue (at
the concurrency limit, no environment had taken them yet) were left out of it altogether. Real processes: serve
records over HTTP and is stopped by SIGINT with a short grace.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, write_file
from lambdatui.scenario.parse import parse_scenario

pytestmark = pytest.mark.timeout(180)

HANDLER = '''import os
import time


def handler(event, context):
    print("running", event["n"], flush=True)
    release = event.get("release")
    while release and not os.path.exists(release):  # never created: it runs until serve stops
        time.sleep(0.005)
    return {"n": event["n"]}
'''


def test_event_invokes_left_in_the_fleets_queue_are_written_as_not_run(code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = tmp_path / "events.toml"
    never = tmp_path / "never"
    with ServeProcess(handler, "--concurrency", "1", "--timeout", "30", "--shutdown-grace", "0.5",
                      "--record", str(recording)) as served:
        for n in (1, 2, 3):
            event = {"n": n, "release": str(never)} if n == 1 else {"n": n}
            answer = httpx.post(served.invoke_url(), content=json.dumps(event), timeout=60,
                                headers={"X-Amz-Invocation-Type": "Event"})
            assert answer.status_code == 202, answer.text
        served.wait_for_line(r"running 1")
        served.signal(signal.SIGINT)
        assert served.wait(60) == 0, served.output()
        assert served.output().count("was not run") == 2, served.output()
    text = recording.read_text()
    assert len(parse_scenario(text, recording).steps) == 1, text  # the one that ran, cut off by the end
    for n in (2, 3):  # as their caller sent them
        assert f"#   invoke = '{json.dumps({'n': n})}'" in text, text
