"""`invoke --record` with a custom runtime whose /error bodies (or responses, or events) are odd: the recording is
always UTF-8 TOML that `lambdatui replay` parses, and replaying it passes.

A runtime may post anything as an error: an errorType that is a number, an object, or a string holding a lone
surrogate (`"\\ud800"` is valid JSON, but no UTF-8 text and no TOML string can hold that character).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenario_support import run_cli

# Posts every invocation's event back: to /error as the given error body, or to /response when there is none. Its
# argument is a JSON list of error bodies (texts, posted as they are): the n-th invoke posts the n-th, so that one
# recording holds one step for each odd error (each step is recorded and replayed on its own).
RUNTIME = '''#!/usr/bin/env python3
import json, os, sys, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
errors = json.loads(sys.argv[1]) if len(sys.argv) > 1 else []
n = 0
while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = r.read()
    error = errors[n] if n < len(errors) else None
    n += 1
    kind, body = ("error", error.encode()) if error is not None else ("response", event)
    request = urllib.request.Request(f"http://{api}/2018-06-01/runtime/invocation/{rid}/{kind}", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()
'''


def _runtime(code_dir: Path) -> Path:
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(RUNTIME)
    bootstrap.chmod(0o755)
    return bootstrap


def _record_and_replay(code_dir: Path, *options: str, event: str = "{}", repeat: int = 1) -> str:
    bootstrap = _runtime(code_dir)
    recording = code_dir / "recorded.toml"
    done = run_cli("invoke", str(bootstrap), *options, "-e", event, "--repeat", str(repeat), "--record", str(recording))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr
    text = recording.read_bytes().decode("utf-8")  # UTF-8, whatever the runtime posted
    replayed = run_cli("replay", *options, str(bootstrap), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
    assert "Traceback" not in replayed.stderr, replayed.stderr
    return text


NOT_A_STRING = {"number": 42, "object": {"nested": [1]}, "null": None, "boolean": True}
LONE_SURROGATE = '{"errorType": "Bad\\ud800Type", "errorMessage": "x"}'


@pytest.fixture(scope="module")
def odd_errors_recorded(module_code_dir: Path) -> list[str]:
    """One recording of five invokes, each posting one odd error (the four types that are not a string, then the lone
    surrogate), replayed: each step's text, in that order."""
    errors = [json.dumps({"errorType": value, "errorMessage": "x"}) for value in NOT_A_STRING.values()]
    errors.append(LONE_SURROGATE)
    text = _record_and_replay(module_code_dir, "--bootstrap", f"{module_code_dir / 'bootstrap'} '{json.dumps(errors)}'",
                              repeat=len(errors))
    steps = text.split("[[step]]")[1:]
    assert len(steps) == len(errors), text
    return steps


def test_an_error_type_that_is_not_a_string_records_what_the_platform_reported(odd_errors_recorded) -> None:
    for name, step in zip(NOT_A_STRING, odd_errors_recorded):
        assert "error_type = 'Runtime.Unknown'" in step, (name, step)  # the platform's type for an unreadable one


def test_an_error_type_holding_a_lone_surrogate_is_left_out_with_a_comment(odd_errors_recorded) -> None:
    step = odd_errors_recorded[len(NOT_A_STRING)]
    assert "error_type" not in step.replace("# error_type", ""), step
    assert "# error_type not compared" in step, step


def test_an_event_and_response_holding_a_lone_surrogate_replay(code_dir: Path) -> None:
    # The runtime echoes the event: the response holds the same lone surrogate.
    text = _record_and_replay(code_dir, "--bootstrap", str(code_dir / "bootstrap"), event='{"s": "a\\ud800b"}')
    assert text.count("\\ud800") == 2, text  # event and response, as JSON escapes
