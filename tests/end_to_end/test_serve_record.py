"""`lambdatui serve --record FILE`: what was served (RequestResponse and Event invokes, from any client) is written
as a scenario once serve is stopped, and `lambdatui replay` reproduces it."""

from __future__ import annotations

import base64
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


CONTEXT_HANDLER = '''def handler(event, context):
    client = context.client_context
    return {"custom": client.custom if client else None, "arn": context.invoked_function_arn}
'''


def test_a_recorded_invoke_keeps_its_client_context_and_qualifier(code_dir: Path) -> None:
    """What the caller sent besides the payload (X-Amz-Client-Context, a version or alias in the function name)
    reached the handler when served: the replay must send it too, or the recorded response is not reproduced."""
    handler = write_file(code_dir / "handler.py", CONTEXT_HANDLER)
    recording = code_dir / "served.toml"
    client_context = base64.b64encode(json.dumps({"custom": {"tenant": "a"}}).encode()).decode()
    with ServeProcess(handler, "--record", str(recording)) as served:
        with httpx.Client(timeout=30) as client:
            answer = client.post(served.invoke_url("function:prod"), content=b"{}",
                                 headers={"X-Amz-Client-Context": client_context}).json()
        assert answer["custom"] == {"tenant": "a"} and answer["arn"].endswith(":prod"), answer
        served.signal(signal.SIGINT)
        assert served.wait(timeout=30) == 0, served.output()
    text = recording.read_text()
    assert 'client_context = \'{"custom": {"tenant": "a"}}\'' in text and "qualifier = 'prod'" in text, text
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
