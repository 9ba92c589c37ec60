"""`serve --max-concurrency M --record FILE`: the recording replays as Managed Instances, as it was served.

A Managed Instances function sees AWS_LAMBDA_MAX_CONCURRENCY and an initialisation type of its own, and its
environments are not cold-started per invoke as on-demand ones are. A recording that leaves the mode out replays
on an on-demand fleet, where the same function answers otherwise: `lambdatui replay PATH FILE`, as the header says to
run it, must replay it in the mode it was recorded in. Real processes: serve records, the CLI replays.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, write_file
from lambdatui.scenario.parse import parse_scenario

pytestmark = pytest.mark.timeout(180)

HANDLER = '''import os


def handler(event, context):
    return {"max": os.environ.get("AWS_LAMBDA_MAX_CONCURRENCY"),
            "init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
'''


def test_a_managed_instances_recording_replays_as_managed_instances(code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = tmp_path / "managed.toml"
    with ServeProcess(handler, "--max-concurrency", "2", "--record", str(recording)) as served:
        answer = httpx.post(served.invoke_url(), content=b"{}", timeout=60)
        assert answer.json() == {"max": "2", "init": "lambda-managed-instances"}, answer.text
        served.signal(signal.SIGINT)
        assert served.wait(60) == 0, served.output()
    text = recording.read_text()
    assert parse_scenario(text, recording).function.max_concurrency == 2, text
    replayed = subprocess.run([sys.executable, "-m", "lambdatui", "replay", str(handler), str(recording)],
                              capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
