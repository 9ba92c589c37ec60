"""`serve --record`: after a step that ran beside others, each invoke names the environment that took it.

In the session, an invoke sent while another ran elsewhere (C) may end before it (A); the replay runs every step to
its end, so C ends after A there. Which environment has been idle longest (where the fleet routes the next invoke)
is then another: the next invoke (D) met env #2's state in the session, and env #1's on replay, and the recording
failed on the unchanged function. Real processes: serve records over HTTP, the CLI replays.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, write_file

pytestmark = pytest.mark.timeout(180)

HANDLER = '''import os
import time

count = 0  # this environment's invokes so far: which environment an invoke met


def handler(event, context):
    global count
    count += 1
    print("running", event["tag"], flush=True)
    release = event.get("release")
    while release and not os.path.exists(release):  # the test creates it when this invoke may end
        time.sleep(0.005)
    return {"tag": event["tag"], "count": count}
'''


def test_an_invoke_after_an_overlapped_step_replays_on_the_environment_it_met(code_dir: Path,
                                                                              tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    release = code_dir / "release"  # not under /tmp: the environment has a /tmp of its own
    recording = tmp_path / "routing.toml"
    with ServeProcess(handler, "--record", str(recording), "--timeout", "60") as served:  # A waits out B and C
        def invoke(event: dict) -> dict:
            answer = httpx.post(served.invoke_url(), json=event, timeout=60)
            assert answer.status_code == 200, answer.text
            return answer.json()

        held: list[dict] = []
        first = threading.Thread(target=lambda: held.append(invoke({"tag": "A", "release": str(release)})))
        first.start()
        try:
            served.wait_for_line(r"running A")
            assert invoke({"tag": "B"}) == {"tag": "B", "count": 1}  # a second environment, env #2
            assert invoke({"tag": "C"}) == {"tag": "C", "count": 2}  # env #2 again: env #1 still runs A
        finally:
            release.touch()
            first.join(60)
        assert held == [{"tag": "A", "count": 1}]
        assert invoke({"tag": "D"}) == {"tag": "D", "count": 3}  # env #2: idle longer than env #1, which ran A
        served.signal(signal.SIGINT)
        assert served.wait(60) == 0, served.output()
    text = recording.read_text()
    replayed = subprocess.run([sys.executable, "-m", "lambdatui", "replay", str(handler), str(recording)],
                              capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
