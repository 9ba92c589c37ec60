"""`lambdatui invoke --record`: a response that reads the clock (time left, a timestamp) replays green.

Recorded verbatim, `expect.response.left_ms` fails every replay by a millisecond or two. The recording must leave the
clock's readings out, say so, and still compare the rest of the response. Real processes: the CLI records, the CLI
replays.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_support import run_cli

from lambdatui.scenario.parse import parse_scenario

pytestmark = pytest.mark.timeout(120)

CLOCK_READER = '''import time

count = 0


def handler(event, context):
    global count
    count += 1
    time.sleep(0.05)  # time passes in the handler: the time left is not the timeout
    return {"left_ms": context.get_remaining_time_in_millis(), "now": time.time(), "count": count,
            "event": event, "nested": {"now_ms": int(time.time() * 1000), "label": "kept"}}
'''


def test_a_response_that_reads_the_clock_replays_with_the_rest_of_it_compared(code_dir: Path,
                                                                               tmp_path: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(CLOCK_READER)
    recording = tmp_path / "clock.toml"
    done = run_cli("invoke", str(handler), "-e", '{"n": 1}', "--repeat", "2", "--timeout", "3",
                   "--record", str(recording))
    assert done.returncode == 0, done.stderr
    text = recording.read_text()
    responses = [step.expect.response for step in parse_scenario(text, recording).steps]
    assert responses == [{"count": 1, "event": {"n": 1}, "nested": {"label": "kept"}},
                         {"count": 2, "event": {"n": 1}, "nested": {"label": "kept"}}], text
    assert "left_ms, now, nested.now_ms" in text, text  # said, not silently dropped
    # A millisecond either way is still green. One replay shows it: `now` differs on every run and `left_ms` by a
    # millisecond or two (the handler's 50 ms sleep), so a reading left in would fail this replay.
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr



DEADLINE_ECHO = """import time


def handler(event, context):
    # The deadline, as the runtime got it (Lambda-Runtime-Deadline-Ms): after the invoke's end, another every run.
    return {"deadline_ms": round(time.time() * 1000 + context.get_remaining_time_in_millis()), "label": "kept"}
"""


def test_a_response_that_echoes_its_deadline_replays_green(code_dir: Path, tmp_path: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(DEADLINE_ECHO)
    recording = tmp_path / "deadline.toml"
    done = run_cli("invoke", str(handler), "-e", "{}", "--timeout", "30", "--record", str(recording))
    assert done.returncode == 0, done.stderr
    text = recording.read_text()
    assert [step.expect.response for step in parse_scenario(text, recording).steps] == [{"label": "kept"}], text
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr

INIT_CLOCK_READER = '''import datetime
import time

LOADED = time.time()  # read during Init: a warm invoke returns the cold start's reading
LOADED_TEXT = datetime.datetime.now(datetime.timezone.utc).isoformat()


def handler(event, context):
    if event.get("wait"):
        time.sleep(event["wait"])  # the warm invoke comes well after Init, as a caller's next one does
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"loaded": LOADED, "loaded_text": LOADED_TEXT, "line": f"{now} handled", "event": event}
'''


def test_readings_made_at_init_or_as_text_replay_green(code_dir: Path, tmp_path: Path) -> None:
    """A timestamp Init read (a warm invoke returns it, long after), and one written as ISO 8601 text, are clock
    readings too: a replay of the unchanged function gets others."""
    handler = code_dir / "handler.py"
    handler.write_text(INIT_CLOCK_READER)
    recording = tmp_path / "init_clock.toml"
    done = run_cli("invoke", str(handler), "-e", '{"wait": 1.5}', "--repeat", "2", "--timeout", "5",
                   "--record", str(recording))
    assert done.returncode == 0, done.stderr
    text = recording.read_text()
    responses = [step.expect.response for step in parse_scenario(text, recording).steps]
    assert responses == [{"event": {"wait": 1.5}}] * 2, text
    assert "loaded, loaded_text, line" in text, text
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr


HTTP_DATES = '''import email.utils
import time


def handler(event, context):
    time.sleep(event.get("wait", 0))  # so that the replay's second differs from the recording's
    return {"statusCode": 200, "headers": {"Date": email.utils.formatdate(usegmt=True),
                                           "Expires": "Thu, 01 Dec 1994 16:00:00 GMT"},
            "body": "since " + email.utils.formatdate()}
'''


def test_http_dates_the_function_wrote_replay_green_and_an_old_one_is_compared(code_dir: Path,
                                                                               tmp_path: Path) -> None:
    """An API Gateway response's `Date` header (RFC 9110's IMF-fixdate) is the clock read as text too; a date far
    outside the session (`Expires` in 1994) is a constant, compared as any."""
    handler = code_dir / "handler.py"
    handler.write_text(HTTP_DATES)
    recording = tmp_path / "dates.toml"
    done = run_cli("invoke", str(handler), "-e", '{"wait": 1.1}', "--record", str(recording))
    assert done.returncode == 0, done.stderr
    text = recording.read_text()
    [response] = [step.expect.response for step in parse_scenario(text, recording).steps]
    assert response == {"statusCode": 200, "headers": {"Expires": "Thu, 01 Dec 1994 16:00:00 GMT"}}, text
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr


# An extension that keeps each invoke open for a while after the function answered (flushing telemetry, say).
SLOW_EXTENSION = '''#!{python}
import http.client
import json
import os
import time

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["INVOKE"]}}),
            headers={{"Lambda-Extension-Name": "slow-flush"}})
response = api.getresponse()
response.read()
extension_id = response.getheader("Lambda-Extension-Identifier")
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": extension_id}})
    api.getresponse().read()
    time.sleep(1.2)  # after the runtime's response: the invoke lasts this long, the caller does not wait
'''

CONSTANT_AND_CLOCK = '''def handler(event, context):
    return {"left_ms": context.get_remaining_time_in_millis(), "retries": 2000}
'''


def test_an_extension_that_keeps_the_invoke_open_does_not_hide_the_functions_numbers(code_dir: Path,
                                                                                     tmp_path: Path) -> None:
    """The time left is read before the response: the 1.2 s the extension adds after it are not time the handler
    could have read, so 2000 (inside 3000 - 1200 ms) is a constant to compare, while left_ms is still left out."""
    import sys

    (code_dir / "handler.py").write_text(CONSTANT_AND_CLOCK)
    extension = code_dir / "extensions" / "slow-flush"
    extension.parent.mkdir()
    extension.write_text(SLOW_EXTENSION.format(python=sys.executable))
    extension.chmod(0o755)
    recording = tmp_path / "slow.toml"
    done = run_cli("invoke", str(code_dir / "handler.py"), "--timeout", "3", "--record", str(recording))
    assert done.returncode == 0, done.stderr
    text = recording.read_text()
    [step] = parse_scenario(text, recording).steps
    assert step.expect.response == {"retries": 2000}, text
    replayed = run_cli("replay", str(code_dir / "handler.py"), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
