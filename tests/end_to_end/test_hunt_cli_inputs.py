"""Hunt: `lambdatui invoke` and `lambdatui replay` as a user types them: the event every way README allows, bad
input, exit codes, stdout against stderr, SIGINT, scenario errors and the `--record` -> `replay` round trip.

Real CLI processes only; every wait carries a bound.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from e2e_support import REPO, descendants, lambdatui_argv, platform_lines, read_until, run_cli, stop, wait_all_gone, \
    write_file

COUNTING = """N = 0


def handler(event, context):
    global N
    N += 1
    if isinstance(event, dict) and event.get("fail_on") == N:
        raise ValueError("call %d fails" % N)
    print("log line of call", N)
    return {"n": N, "event": event}
"""

SLOW = """import time


def handler(event, context):
    time.sleep(event.get("s", 20))
    return "done"
"""

CRASH = """import os


def handler(event, context):
    os._exit(3)
"""

# A custom runtime that answers the length in bytes of the event body it was given by the Runtime API.
BODY_LENGTH_BOOTSTRAP = r"""#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
H="${TMPDIR:-/tmp}/h"; B="${TMPDIR:-/tmp}/b"
while true; do
  curl -sS -D "$H" -o "$B" "$API/invocation/next" || exit 1
  ID=$(grep -i lambda-runtime-aws-request-id "$H" | tr -d '\r' | awk '{print $2}')
  N=$(wc -c < "$B" | tr -d ' ')
  curl -sS -X POST --data-binary "{\"len\": $N}" "$API/invocation/$ID/response" >/dev/null
done
"""


def _json_lines(stdout: str) -> list:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def counting(code_dir: Path) -> Path:
    return write_file(code_dir / "counting.py", COUNTING)


# ---------------------------------------------------------------------- the event, every way README allows


@pytest.mark.parametrize("how", ["text", "file", "stdin", "none"])
def test_event_every_way_reaches_the_function_and_stdout_is_only_the_answer(how: str, counting: Path,
                                                                            tmp_path: Path) -> None:
    event = {"k": "é ünïcode", "nested": [1, 2, {"x": None}]}
    args: list[str] = []
    stdin = None
    if how == "text":
        args = ["-e", json.dumps(event)]
    elif how == "file":
        path = tmp_path / "event.json"
        path.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
        args = ["--event", str(path)]
    elif how == "stdin":
        args, stdin = ["--event", "-"], json.dumps(event)
    result = run_cli("invoke", str(counting), *args, input=stdin, timeout=30)

    assert result.returncode == 0, result.stderr
    # stdout carries the answer alone: it parses as JSON whole, the function's print stays on stderr.
    assert json.loads(result.stdout) == {"n": 1, "event": event if how != "none" else {}}
    assert "log line of call 1" in result.stderr and "log line" not in result.stdout
    assert any(line.startswith("REPORT RequestId: ") for line in platform_lines(result.stderr)), result.stderr


@pytest.mark.parametrize(
    ("make_event", "expected"),
    [
        (lambda d: ["-e", "not json"], "--event: not valid JSON"),
        (lambda d: ["-e", str(d / "missing.json")], "no such file"),
        (lambda d: ["-e", str(_write_bytes(d / "u16.json", '{"a": 1}'.encode("utf-16")))], "not UTF-8"),
        (lambda d: ["-e", str(_write_bytes(d / "bin.json", bytes(range(256))))], "not UTF-8"),
        (lambda d: ["-e", '{"a": NaN}'], "NaN"),
        (lambda d: ["-e", '{"a": 1} trailing'], "not valid JSON"),
    ],
    ids=["not-json", "missing-file", "utf16-file", "binary-file", "nan", "trailing-data"],
)
def test_a_bad_event_is_one_line_and_exit_2_before_anything_starts(make_event, expected: str, counting: Path,
                                                                   tmp_path: Path) -> None:
    result = run_cli("invoke", str(counting), *make_event(tmp_path), timeout=30)

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lambdatui: ") and expected in lines[0], result.stderr


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_an_event_over_6_mib_on_stdin_is_refused_and_one_just_under_runs(counting: Path) -> None:
    over = json.dumps({"x": "a" * (6 * 1024 * 1024)})
    refused = run_cli("invoke", str(counting), "-e", "-", input=over, timeout=30)
    assert refused.returncode == 2 and refused.stdout == "", refused.stderr
    assert "over Lambda's limit" in refused.stderr and "6,291,456 bytes" in refused.stderr

    under = json.dumps({"x": "a" * (6 * 1024 * 1024 - 100)})
    ran = run_cli("invoke", str(counting), "-e", "-", input=under, timeout=60)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert len(json.loads(ran.stdout)["event"]["x"]) == 6 * 1024 * 1024 - 100


# ---------------------------------------------------------------------- exit codes


def test_repeat_with_a_function_error_on_the_third_call_runs_on_and_exits_1(counting: Path) -> None:
    result = run_cli("invoke", str(counting), "-e", '{"fail_on": 3}', "--repeat", "5", timeout=30)

    assert result.returncode == 1, result.stderr
    answers = _json_lines(result.stdout)
    assert [a.get("n") for a in answers] == [1, 2, None, 4, 5]
    assert answers[2]["errorType"] == "ValueError" and answers[2]["errorMessage"] == "call 3 fails"
    assert sum(line.startswith("REPORT ") for line in platform_lines(result.stderr)) == 5


@pytest.mark.parametrize(("source", "args", "error_type"), [
    (SLOW, ["--timeout", "1", "-e", '{"s": 10}'], "Sandbox.Timedout"),
    (CRASH, [], "Runtime.ExitError"),
])
def test_a_timeout_or_a_crash_exits_1_with_lambdas_error_on_stdout(source: str, args: list[str], error_type: str,
                                                                   code_dir: Path) -> None:
    handler = write_file(code_dir / "fn.py", source)
    result = run_cli("invoke", str(handler), *args, timeout=30)

    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["errorType"] == error_type
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["--timeout", "0"], ["--timeout", "901"], ["--memory", "127"],
                                  ["--memory", "10241"], ["--repeat", "0"]])
def test_out_of_range_limits_are_one_line_and_exit_2(args: list[str], counting: Path) -> None:
    result = run_cli("invoke", str(counting), *args, timeout=30)

    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lambdatui: {args[0]} "), result.stderr


@pytest.mark.parametrize("args", [["--timeout", "abc"], ["--timeout", "1.5"], ["--memory", "128.5"]])
def test_a_limit_that_is_not_a_number_is_one_line_and_exit_2(args: list[str], counting: Path) -> None:
    result = run_cli("invoke", str(counting), *args, timeout=30)

    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert args[0] in lines[0]


# ---------------------------------------------------------------------- SIGINT


@pytest.mark.parametrize("mode", ["invoke", "replay"])
def test_sigint_mid_invoke_exits_1_without_traceback_and_leaves_no_process(mode: str, code_dir: Path,
                                                                         tmp_path: Path) -> None:
    handler = write_file(code_dir / "slow.py", SLOW)
    if mode == "invoke":
        argv = ["invoke", str(handler), "--timeout", "30", "-e", '{"s": 20}']
        marker, stream = b"START RequestId", "stderr"
    else:
        scenario = write_file(tmp_path / "long.toml", '[[step]]\ninvoke = { s = 20 }\n')
        argv = ["replay", str(handler), str(scenario), "--timeout", "30"]
        marker, stream = b"boundary   invoke.start", "stdout"
    proc = subprocess.Popen([*lambdatui_argv(), *argv], cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        fd = (proc.stderr if stream == "stderr" else proc.stdout).fileno()
        seen = read_until(fd, marker, time.monotonic() + 20)
        family = descendants(proc.pid)
        assert family, "the environment's processes should be running"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        stop(proc)
    if stream == "stderr":
        err = seen + err
    else:
        out = seen + out
    stderr, stdout = err.decode(errors="replace"), out.decode(errors="replace")
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    if mode == "invoke":
        assert stdout == ""
        assert "Stopped by SIGINT" in stderr
    else:
        assert "INTERRUPTED after 0 of 1 steps" in stdout
    assert wait_all_gone(family, timeout=10) == {}


# ---------------------------------------------------------------------- replay: scenario errors, failed expectations


@pytest.mark.parametrize(("text", "expected"), [
    ('[[step]]\ninvoke = { a = 1 \n', ":2: TOML syntax"),
    ('[[step]]\ninvoke = { a = 1 }\nbogus = 3\n', "unknown key 'bogus'"),
    ('[function]\ntimeoutt = 3\n[[step]]\ninvoke = {}\n', "did you mean 'timeout'"),
    ('[[step]]\ninvoke = {}\nexpect = { respons = { n = 1 } }\n', "did you mean 'response'"),
    ('[[step]]\nevent_file = "missing.json"\n', "no such file"),
    ('[[step]]\nfault = "crash"\nat = "no.such"\n', "is not a boundary"),
    ('[[step]]\n', "nothing to do"),
], ids=["syntax", "unknown-step-key", "unknown-function-key", "unknown-expect-key", "missing-event-file",
        "unknown-boundary", "empty-step"])
def test_a_malformed_scenario_is_file_line_message_and_exit_2(text: str, expected: str, counting: Path,
                                                              tmp_path: Path) -> None:
    scenario = write_file(tmp_path / "bad.toml", text)
    result = run_cli("replay", str(counting), str(scenario), timeout=30)

    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(str(scenario) + ":") and expected in lines[0], result.stderr


def test_an_expectation_that_fails_exits_1_naming_it(counting: Path, tmp_path: Path) -> None:
    scenario = write_file(tmp_path / "s.toml", '[[step]]\ninvoke = {}\n[[step]]\ninvoke = {}\nexpect = { cold = true }\n')
    result = run_cli("replay", str(counting), str(scenario), timeout=30)

    assert result.returncode == 1, result.stderr
    assert result.stdout.rstrip().splitlines()[-1] == f"FAILED {scenario}:3: step 2 expect.cold failed"


# ---------------------------------------------------------------------- --record on invoke, then replay


def test_a_recorded_invoke_with_a_failing_call_replays_to_the_same_outcome(counting: Path, tmp_path: Path) -> None:
    recording = tmp_path / "run.toml"
    event = json.dumps({"fail_on": 3, "q": "it's \"quoted\" ''' \\ é 😀 \u0000 \n"})
    result = run_cli("invoke", str(counting), "-e", event, "--repeat", "4", "--record", str(recording), timeout=30)
    assert result.returncode == 1, result.stderr
    assert recording.is_file()

    again = run_cli("invoke", str(counting), "--record", str(recording), timeout=30)
    assert again.returncode == 2 and "already exists" in again.stderr  # never overwrites

    replay = run_cli("replay", str(counting), str(recording), timeout=30)
    assert replay.returncode == 0, replay.stdout[-3000:]
    assert "PASSED" in replay.stdout.rstrip().splitlines()[-1]


def test_a_recorded_event_file_replays_the_bytes_the_runtime_was_sent(code_dir: Path, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the custom runtime of this test uses curl")
    bootstrap = write_file(code_dir / "bootstrap", BODY_LENGTH_BOOTSTRAP,
                           executable=True)
    event_file = tmp_path / "event.json"
    event_file.write_text('{\n  "multi": "line",\n  "k": [1,\n 2]\n}\n')
    recording = tmp_path / "run.toml"

    result = run_cli("invoke", str(bootstrap), "-e", str(event_file), "--record", str(recording), timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"len": event_file.stat().st_size}

    replay = run_cli("replay", str(bootstrap), str(recording), timeout=30)
    assert replay.returncode == 0, (recording.read_text(), replay.stdout[-2000:])
