"""A scenario's JSON text (`invoke = '...'`, `event_file`, `parallel` items) is read as `invoke` and `serve` read an
event: Lambda's JSON. From a helper's bug hunt writing scenarios by hand from the README.

The scenario parser read it with plain `json.loads`, which differs from Lambda's (and lambdatui's own `check_json`,
which `invoke` and `serve` use) three ways:
- it takes `NaN` / `Infinity`, which `invoke` refuses (exit 2) and serve refuses (400): the same event ran under
  `replay` and not under `invoke` ("invoke, replay and the TUI reach the same outcome for the same input");
- it refuses an integer of more than 4,300 digits, and a document nested deeper than its json follows (~1,000 levels
  to 3.11, ~1,500 on 3.12, ~10,000 on 3.13), which Lambda's front end (and `invoke` / `serve`) take, the Python
  runtime then failing the invoke with Runtime.UnmarshalError: a recording of such a session (README: "writes what
  happened as a scenario that replays to the same outcome") is refused by `replay` as a malformed scenario (exit 2).

The deep events below are nested 10,000 levels: the deepest Lambda takes, past the json of every Python from 3.10 to
3.13, so that the function's runtime fails them whichever Python runs the tests.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from e2e_support import ServeProcess, run_cli, write_file

from lambdatui.json_text import MAX_DEPTH

HANDLER = '''def handler(event, context):
    return {"got": type(event).__name__}
'''


def test_nan_in_an_invoke_step_is_refused_as_invoke_refuses_it(code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    invoked = run_cli("invoke", str(handler), "-e", '{"n": NaN}')
    assert invoked.returncode == 2 and "NaN" in invoked.stderr, invoked.stderr  # invoke: not JSON, as Lambda says
    scenario = write_file(tmp_path / "nan.toml", "[[step]]\ninvoke = '{\"n\": NaN}'\n")
    replayed = run_cli("replay", str(handler), str(scenario))
    assert replayed.returncode == 2, replayed.stdout + replayed.stderr  # was 0: the invoke ran with n = nan
    assert replayed.stderr.startswith(f"{scenario}:") and "NaN" in replayed.stderr, replayed.stderr
    assert "Traceback" not in replayed.stderr


def test_infinity_in_an_event_file_is_refused(code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    write_file(tmp_path / "event.json", '{"n": -Infinity}')
    scenario = write_file(tmp_path / "inf.toml", '[[step]]\nevent_file = "event.json"\n')
    replayed = run_cli("replay", str(handler), str(scenario))
    assert replayed.returncode == 2, replayed.stdout + replayed.stderr
    assert replayed.stderr.startswith(f"{scenario}:") and "Infinity" in replayed.stderr, replayed.stderr


def test_an_invoke_recorded_with_a_very_long_integer_replays(code_dir: Path, tmp_path: Path) -> None:
    """invoke takes the event (Lambda's front end does); the Python runtime fails it with Runtime.UnmarshalError.
    The recording of that run must replay to that outcome, not be refused as a malformed scenario."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    event = write_file(tmp_path / "event.json", '{"big": ' + "9" * 5000 + "}")
    recording = tmp_path / "recorded.toml"
    invoked = run_cli("invoke", str(handler), "--event", str(event), "--record", str(recording))
    assert invoked.returncode == 1 and "Runtime.UnmarshalError" in invoked.stdout, invoked.stdout + invoked.stderr
    text = recording.read_text()
    assert "Runtime.UnmarshalError" in text, text[-500:]
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]  # was 2: "not valid JSON"


def test_a_served_deeply_nested_event_recorded_replays(code_dir: Path, tmp_path: Path) -> None:
    """serve takes a body nested up to 10,000 levels (README), the Python runtime failing it with
    Runtime.UnmarshalError past what its json follows; `serve --record` writes it, and the replay must reach that
    outcome too."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = tmp_path / "served.toml"
    body = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    with ServeProcess(handler, "--record", str(recording)) as served:
        with httpx.Client(timeout=30) as client:
            answer = client.post(served.invoke_url(), content=body.encode())
            assert answer.status_code == 200 and answer.json()["errorType"] == "Runtime.UnmarshalError", answer.text
            assert client.post(served.invoke_url(), content=b"{}").json() == {"got": "dict"}
        served.signal(signal.SIGINT)
        assert served.wait(timeout=30) == 0, served.output()
    text = recording.read_text()
    assert text.count("[[step]]") == 2 and "Runtime.UnmarshalError" in text, text[-800:]
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]  # was 2: "nested too deeply"
    assert json.dumps({"got": "dict"}) in replayed.stdout


def test_an_invoke_of_a_deeply_nested_event_recorded_replays(code_dir: Path, tmp_path: Path) -> None:
    """`invoke` takes what `serve` takes (it refused the event up front, exit 2, where the host's own json gave up):
    the function's runtime fails it, the recording says so, and its replay reaches that outcome."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    event = write_file(tmp_path / "deep.json", "[" * MAX_DEPTH + "]" * MAX_DEPTH)
    recording = tmp_path / "invoked.toml"
    invoked = run_cli("invoke", str(handler), "--event", str(event), "--record", str(recording))
    assert invoked.returncode == 1 and "Runtime.UnmarshalError" in invoked.stdout, invoked.stdout + invoked.stderr
    text = recording.read_text()
    assert "Runtime.UnmarshalError" in text, text[-500:]
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]


def test_a_response_nested_deeper_than_a_scenario_compares_is_recorded_uncompared_and_replays(
        code_dir: Path, tmp_path: Path) -> None:
    """A scenario holds an expected response nested at most 200 levels, on every host (a replay compares it level by
    level, which Python's recursion limit cut short past ~320 levels on 3.11, ~490 on 3.13): the recorder writes a
    deeper one as not compared, and the recording replays."""
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    value = 1\n"
                                                  "    for _ in range(250):\n        value = [value]\n    return value\n")
    recording = tmp_path / "deep-response.toml"
    invoked = run_cli("invoke", str(handler), "--record", str(recording))
    assert invoked.returncode == 0, invoked.stdout[-500:] + invoked.stderr[-2000:]
    text = recording.read_text()
    assert "# response not compared: nested deeper than 200 levels" in text and "response = " not in text, text
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]


def test_a_response_deeper_than_a_scenario_reads_fails_its_step_alike_on_every_host(code_dir: Path,
                                                                                    tmp_path: Path) -> None:
    """A subset expectation (`response = { a = 1 }`) against a response with a sibling nested deeper than a
    scenario's values may be: the replay read the response with its host's json, so such a step passed or failed
    by the host's Python (a 1,500-level sibling, which a 3.13 function returns, passed on a 3.13 host, whose json
    follows ~10,000 levels, and failed on 3.11: "nested too deeply to read"). A scenario reads no response past its
    own bound (200 levels, as its values), on every host: the step fails, saying why. 500 levels here: what a Python
    3.11 function can still marshal."""
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    deep = 1\n"
                                                  "    for _ in range(500):\n        deep = [deep]\n"
                                                  "    return {'a': 1, 'deep': deep}\n")
    scenario = write_file(tmp_path / "deep-sibling.toml", "[[step]]\ninvoke = {}\nexpect.response = { a = 1 }\n")
    replayed = run_cli("replay", str(handler), str(scenario))
    said = replayed.stdout + replayed.stderr
    assert replayed.returncode == 1, said[-2000:]
    assert "a response nested more than 200 levels deep, which a scenario does not read" in said, said[-2000:]
