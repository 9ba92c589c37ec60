"""`--record` writes the event as its caller sent it, so that a replay sends the function the same bytes.

Lambda hands the runtime the payload unchanged. A recording that re-serialises the event through Python's json
sends another text: `1e400` becomes `Infinity` (no JSON parser but Python's reads it), `0.1e1` becomes `1.0`, a
repeated key loses its first value. A runtime that reads the text (any custom runtime) then sees another event on
replay. Only whitespace, which no parser sees, may go: a pretty-printed event file is still written on one line.
Real processes: a custom runtime that answers with the very text it received, recorded and replayed by the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdatui.scenario.model import InvokeAction
from lambdatui.scenario.parse import parse_scenario
from scenario_support import run_cli

pytestmark = pytest.mark.timeout(120)

# Answers every invoke with the event's text, as received, inside a JSON string.
RAW_ECHO = '''#!/usr/bin/env python3
import json, os, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        raw = r.read().decode()
    body = json.dumps({"raw": raw}).encode()
    urllib.request.urlopen(urllib.request.Request(f"http://{api}/2018-06-01/runtime/invocation/{rid}/response",
                                                  data=body, method="POST")).read()
'''


@pytest.mark.parametrize("event", ['{"big": 1e400}', '{"n": 0.1e1, "m": 1E2}', '{"a": 1, "a": 2}'],
                         ids=["overflowing-number", "exponents", "repeated-key"])
def test_the_recorded_event_is_the_text_the_caller_sent(code_dir: Path, event: str) -> None:
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(RAW_ECHO)
    bootstrap.chmod(0o755)
    recording = code_dir / "recorded.toml"
    done = run_cli("invoke", str(bootstrap), "-e", event, "--record", str(recording))
    assert done.returncode == 0, done.stderr
    text = recording.read_text()
    (step,) = parse_scenario(text, recording).steps
    assert isinstance(step.action, InvokeAction) and step.action.event == event.encode(), text
    replayed = run_cli("replay", str(bootstrap), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr


def test_a_pretty_printed_event_is_written_on_one_line_with_its_line_breaks(code_dir: Path) -> None:
    """Its bytes as sent, line breaks escaped: a runtime that reads the body as bytes gets in the replay what it got
    (it was compacted once, and a recording of an event file failed its own replay)."""
    handler = code_dir / "handler.py"
    handler.write_text("def handler(event, context):\n    return event\n")
    event = code_dir / "event.json"
    sent = json.dumps({"a": [1, 2], "b": {"c": "x y"}}, indent=2)
    event.write_text(sent)
    recording = code_dir / "recorded.toml"
    done = run_cli("invoke", str(handler), "-e", str(event), "--record", str(recording))
    assert done.returncode == 0, done.stderr
    text = recording.read_text()
    line = next(line for line in text.splitlines() if line.startswith("invoke = "))
    (step,) = parse_scenario(text, recording).steps
    assert isinstance(step.action, InvokeAction) and step.action.event == sent.encode(), line
    assert "\\n" in line, line  # one line of the file