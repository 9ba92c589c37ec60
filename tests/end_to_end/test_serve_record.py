"""`lambdatui serve --record FILE`: what was served (RequestResponse and Event invokes, from any client) is written
as a scenario once serve is stopped, and `lambdatui replay` reproduces it."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from e2e_support import ServeProcess, run_cli, write_file

HANDLER = '''calls = 0


def handler(event, context):
    global calls
    calls += 1
    return {"calls": calls, "n": event.get("n")}
'''


def test_what_serve_served_is_recorded_when_it_is_stopped_and_replays(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = code_dir / "served.toml"
    with ServeProcess(handler, "--record", str(recording)) as served:
        with httpx.Client(timeout=30) as client:
            for n in range(3):
                assert client.post(served.invoke_url(), content=json.dumps({"n": n})).json() == {"calls": n + 1,
                                                                                                "n": n}
            event = client.post(served.invoke_url(), content=b'{"n": 9}', headers={"X-Amz-Invocation-Type": "Event"})
            assert event.status_code == 202
        served.signal(signal.SIGINT)
        assert served.wait(timeout=30) == 0, served.output()
        output = served.output()
    assert f"[lambdatui] recorded {recording}: replay it with 'lambdatui replay" in output, output
    text = recording.read_text()
    assert text.count("[[step]]") == 4 and '"calls": 4, "n": 9' in text, text  # the Event invoke ran, and is there
    assert text.count("invocation_type = 'Event'") == 1, text  # and is replayed as one
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr


def test_serve_never_overwrites_a_recording(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    kept = write_file(code_dir / "served.toml", "# the only copy\n")
    done = run_cli("serve", str(handler), "--port", "0", "--record", str(kept))
    assert done.returncode == 2 and "already exists" in done.stderr, done.stderr
    assert kept.read_text() == "# the only copy\n"
