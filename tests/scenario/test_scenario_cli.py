"""`lambdatui replay` and `lambdatui invoke --record` as a user runs them: exit status, stdout, stderr."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from lambdatui.scenario.parse import parse_scenario
from scenario_support import PROBE, REPO, SAMPLES, run_cli, write_probe, write_scenario

SAMPLE_SCENARIOS = sorted(SAMPLES.glob("*/scenarios/*.toml"))


def responses(stdout: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"^  response   (.*)$", stdout, re.MULTILINE)]


# ---------------------------------------------------------------------- the sample scenarios


def test_every_sample_has_the_scenarios_it_promises() -> None:
    names = {f"{p.parent.parent.name}/{p.name}" for p in SAMPLE_SCENARIOS}
    assert {"counter/reuse.toml", "counter/crash_and_reset.toml", "slow/timeout.toml",
            "background/freeze.toml", "extension/init_retry.toml", "burst/burst.toml", "burst/provisioned.toml",
            "burst/throttle.toml"} <= names


# What a sample's own scenario shows beyond passing, read from the run test_sample_scenarios_pass makes of it: one
# replay of each sample serves both (a test of its own ran the same command again).


def _counter_reuse_counts_up_in_one_process(done: subprocess.CompletedProcess[str]) -> None:
    assert [r["invocations"] for r in responses(done.stdout)] == [1, 2, 3]
    assert done.stdout.count("INIT_START") == 1


def _counter_crash_resets_globals_but_keeps_tmp(done: subprocess.CompletedProcess[str]) -> None:
    got = [(r["invocations"], r["tmp_lines"]) for r in responses(done.stdout)]
    assert got == [(1, 1), (1, 2), (2, 3)]
    assert "  reset      reason: failure" in done.stdout


def _slow_timeout_shows_the_stack_in_wait_for_downstream(done: subprocess.CompletedProcess[str]) -> None:
    assert re.search(r"^  stack      where the handler was at the timeout .*\n\s+handler\.py:\d+ in wait_for_downstream$",
                     done.stdout, re.MULTILINE), done.stdout
    assert "Status: timeout" in done.stdout and "  error      Sandbox.Timedout" in done.stdout


def _background_ticks_barely_move_across_the_pause(done: subprocess.CompletedProcess[str]) -> None:
    first, second = (r["ticks"] for r in responses(done.stdout))
    assert second - first < 50, done.stdout  # ~100 a second if the ticker had run during the 1 s pause
    assert "  idle       1 s passed; the environment is FROZEN" in done.stdout


def _extension_init_error_is_retried_and_spindown_reaches_audit(done: subprocess.CompletedProcess[str]) -> None:
    assert re.search(r"INIT_REPORT .*Status: error  Error Type: Extension\.InitError", done.stdout)
    assert "  SHUTDOWN   spindown -> extension audit" in done.stdout
    assert "[audit]" in done.stderr  # the extension's own output, tagged, on stderr


def _memory_four_invokes_then_out_of_memory_then_a_cold_start(done: subprocess.CompletedProcess[str]) -> None:
    # Moved here from test_memory_limit.py (its own test ran this same command again).
    assert done.stdout.splitlines()[-1].startswith(
        f"PASSED {SAMPLES / 'memory' / 'scenarios' / 'out_of_memory.toml'}: 6 steps (5 invokes succeeded, 1 failed)")
    report_lines = [line for line in done.stdout.splitlines() if "platform   REPORT" in line]
    assert "Max Memory Used: 128 MB  Status: error  Error Type: Runtime.OutOfMemory" in report_lines[4]


SAMPLE_CHECKS: dict[str, Callable[[subprocess.CompletedProcess[str]], None]] = {
    "counter/reuse": _counter_reuse_counts_up_in_one_process,
    "counter/crash_and_reset": _counter_crash_resets_globals_but_keeps_tmp,
    "slow/timeout": _slow_timeout_shows_the_stack_in_wait_for_downstream,
    "background/freeze": _background_ticks_barely_move_across_the_pause,
    "extension/init_retry": _extension_init_error_is_retried_and_spindown_reaches_audit,
    "memory/out_of_memory": _memory_four_invokes_then_out_of_memory_then_a_cold_start,
}

# Samples whose scenario another test already replays with every check made here (passes, its PASSED line):
# test_snapstart_scenario.py::test_the_sample_scenarios_pass_from_another_directory[shared...] runs snapstart/shared
# (from another directory, with relative paths), and asserts its exit status 0, its comparisons and its PASSED line.
REPLAYED_ELSEWHERE = {"snapstart/shared"}


def _sample_id(scenario: Path) -> str:
    return f"{scenario.parent.parent.name}/{scenario.stem}"


def test_every_sample_check_names_a_sample_scenario() -> None:
    assert set(SAMPLE_CHECKS) | REPLAYED_ELSEWHERE <= {_sample_id(p) for p in SAMPLE_SCENARIOS}
    assert not set(SAMPLE_CHECKS) & REPLAYED_ELSEWHERE


@pytest.mark.parametrize("scenario", [p for p in SAMPLE_SCENARIOS if _sample_id(p) not in REPLAYED_ELSEWHERE],
                         ids=_sample_id)
def test_sample_scenarios_pass(scenario: Path) -> None:
    """Each sample's scenario passes, and shows what SAMPLE_CHECKS says it does."""
    handler = scenario.parent.parent / "handler.py"
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"PASSED {scenario}")
    check = SAMPLE_CHECKS.get(_sample_id(scenario))
    if check is not None:
        check(done)


# ---------------------------------------------------------------------- exit statuses


def test_a_failing_expectation_exits_1_with_the_diff(code_dir: Path) -> None:
    scenario = write_scenario(code_dir, """
        [[step]]
        invoke = {}
        expect.response = { invocations = 1, tmp_lines = 1, cold = false }
    """)
    done = run_cli("replay", str(SAMPLES / "counter" / "handler.py"), str(scenario))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"  FAILED     expect.response at step 1 ({scenario}:2)" in done.stdout
    assert "    --- expected\n    +++ actual\n" in done.stdout
    assert '    -  "cold": false,' in done.stdout and '    +  "cold": true,' in done.stdout
    assert done.stdout.splitlines()[-1] == f"FAILED {scenario}:2: step 1 expect.response failed"


@pytest.mark.parametrize("text, line, message", [
    ("[[step]]\ninvoke = {}\n\n[[step]]\ninvoke = {}\nshutdown = true\n", 4,
     "step 2: a step does exactly one thing, this one has invoke and shutdown"),
    ("[[step]]\ninvoke = {\n", 2, "TOML syntax"),
    ("[[step]]\nfault = 'crash'\ntarget = 'audit'\n", 1, "target = 'audit' is not a participant"),
])
def test_a_malformed_scenario_exits_2_with_file_and_line(code_dir: Path, text: str, line: int, message: str) -> None:
    scenario = code_dir / "bad.toml"
    scenario.write_text(text)
    done = run_cli("replay", str(SAMPLES / "counter" / "handler.py"), str(scenario))
    assert done.returncode == 2
    assert done.stderr.startswith(f"{scenario}:{line}: ") and message in done.stderr, done.stderr
    assert done.stdout == ""  # nothing ran


def test_a_missing_scenario_file_exits_2() -> None:
    done = run_cli("replay", str(SAMPLES / "counter" / "handler.py"), "no/such/scenario.toml")
    assert done.returncode == 2 and "no/such/scenario.toml: cannot read the scenario" in done.stderr


def test_replay_help_documents_the_format_and_the_output() -> None:
    done = run_cli("replay", "--help")
    assert done.returncode == 0
    for text in ("SCENARIO.toml", "--verbose", "stderr", "[[step]]", "expect", "exit status", "override"):
        assert text in done.stdout


# ---------------------------------------------------------------------- command line versus [function]


ENV_PROBE = '''import os


def handler(event, context):
    return {"greeting": os.environ.get("GREETING"), "other": os.environ.get("OTHER"),
            "remaining_s": round(context.get_remaining_time_in_millis() / 1000)}


def alternate(event, context):
    return {"alternate": True, **handler(event, context)}
'''


def test_command_line_options_override_the_function_table(code_dir: Path) -> None:
    """The [function] table's timeout, env and handler apply unless the command line gives them; given, each wins
    (env variable by variable). One scenario for the three: a run without options, then one with all three."""
    handler = write_probe(code_dir, ENV_PROBE)
    scenario = write_scenario(code_dir, """
        [function]
        timeout = 1
        env = { GREETING = "from scenario", OTHER = "kept" }
        handler = "handler.alternate"

        [[step]]
        invoke = {}
        expect.response = { alternate = true, greeting = "from scenario", other = "kept", remaining_s = 1 }
    """)
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 0, done.stdout + done.stderr  # the table's handler, timeout and env
    assert "timeout 1 s" in done.stdout.splitlines()[0]

    done = run_cli("replay", str(handler), str(scenario), "--timeout", "9", "--env", "GREETING=from cli",
                   "--handler", "handler.handler")
    assert done.returncode == 1 and "expect.response" in done.stdout, done.stdout + done.stderr
    # handler.handler ran (no "alternate"), with the command line's timeout and GREETING, and the table's OTHER.
    assert responses(done.stdout) == [{"greeting": "from cli", "other": "kept", "remaining_s": 9}]


def test_replay_runs_the_fleet_the_function_table_asks_for_unless_given(code_dir: Path) -> None:
    handler = write_probe(code_dir)
    scenario = write_scenario(code_dir, """
        [function]
        concurrency = 1

        [[step]]
        parallel = [{ sleep = 0.5 }, { sleep = 0.5 }]
        expect.each = [{ cold = true }, { error_type = "TooManyRequestsException" }]
        expect.throttled = 1
    """)
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 0, done.stdout + done.stderr
    done = run_cli("replay", "--concurrency", "2", str(handler), str(scenario))
    assert done.returncode == 1, done.stdout + done.stderr  # the command line's limit: nothing throttled
    assert "expect.each[1].error_type failed" in done.stdout.splitlines()[-1]


def test_verbose_shows_the_functions_output_on_stdout(code_dir: Path) -> None:
    handler = write_probe(code_dir, PROBE)
    scenario = write_scenario(code_dir, "[[step]]\ninvoke = {}\n")
    quiet = run_cli("replay", str(handler), str(scenario))
    assert "[function]   probe: invocation 1" in quiet.stderr and "probe: invocation" not in quiet.stdout
    verbose = run_cli("replay", str(handler), str(scenario), "--verbose")
    assert "  function   probe: invocation 1" in verbose.stdout and "probe: invocation" not in verbose.stderr


# ---------------------------------------------------------------------- how each invoke's outcome reads


OUTCOMES = '''import os
import time


def handler(event, context):
    mode = event.get("mode")
    if mode == "raise":
        raise ValueError("boom")
    if mode == "sleep":
        time.sleep(5)
    if mode == "exit":
        os._exit(3)
    return {"ok": True}
'''


def test_replay_marks_each_invoke_as_success_or_error(code_dir: Path) -> None:
    """A handler that raises (the runtime's /error) reads as an error, as a timeout and a crash do: never success."""
    handler = str(write_probe(code_dir, OUTCOMES))
    scenario = write_scenario(code_dir, """
        [[step]]
        invoke = {}

        [[step]]
        invoke = { mode = "raise" }
        expect.error_type = "ValueError"

        [[step]]
        invoke = { mode = "sleep" }

        [[step]]
        invoke = { mode = "exit" }
    """)
    done = run_cli("replay", handler, str(scenario), "--timeout", "1")
    assert done.returncode == 0, done.stdout + done.stderr  # every expectation held: errors were expected
    outcomes = re.findall(r"^  outcome    (.*)$", done.stdout, re.MULTILINE)
    assert len(outcomes) == 4, done.stdout
    success, raised, timed_out, crashed = outcomes
    assert success == "success"
    assert raised.startswith("ERROR ValueError: the function returned an error"), raised
    assert "success" not in raised
    assert timed_out.startswith("TIMEOUT Sandbox.Timedout"), timed_out
    assert crashed.startswith("ERROR Runtime.ExitError"), crashed
    assert "(1 invoke succeeded, 3 failed)" in done.stdout.splitlines()[-1], done.stdout


LATE_EXTENSION = """#!/usr/bin/env python3
import http.client, json, os, time
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
def call(method, path, headers, body=None):
    api.request(method, "/2020-01-01/extension" + path, body=body, headers=headers)
    response = api.getresponse()
    return response, response.read()
response, _ = call("POST", "/register", {"Lambda-Extension-Name": "late"}, json.dumps({"events": ["INVOKE"]}))
identifier = response.getheader("Lambda-Extension-Identifier")
while True:
    _, body = call("GET", "/event/next", {"Lambda-Extension-Identifier": identifier})
    if json.loads(body)["eventType"] == "INVOKE":
        time.sleep(1.5)  # past the function's 1 s timeout, after the function's response
"""


def test_a_response_followed_by_an_extensions_overrun_reads_as_success_then_timeout(code_dir: Path) -> None:
    """The caller has its response, but the invoke timed out and the environment was reset: the outcome says both."""
    handler = str(write_probe(code_dir, "def handler(event, context):\n    return {'ok': True}\n"))
    extension = code_dir / "extensions" / "late"
    extension.parent.mkdir()
    extension.write_text(LATE_EXTENSION)
    extension.chmod(0o755)
    scenario = write_scenario(code_dir, """
        [[step]]
        invoke = {}
        expect.response = { ok = true }
    """)
    done = run_cli("replay", handler, str(scenario), "--timeout", "1")
    assert done.returncode == 0, done.stdout + done.stderr  # the caller's response is what was expected
    outcomes = re.findall(r"^  outcome    (.*)$", done.stdout, re.MULTILINE)
    assert len(outcomes) == 1, done.stdout
    assert outcomes[0].startswith("success, then TIMEOUT: the caller had its response"), outcomes[0]
    assert outcomes[0].endswith("the environment was reset"), outcomes[0]


# ---------------------------------------------------------------------- record, then replay


def test_record_then_replay_reproduces_the_outcome(code_dir: Path) -> None:
    recording = code_dir / "recorded.toml"
    handler = str(SAMPLES / "counter" / "handler.py")
    done = run_cli("invoke", handler, "-e", '{"note": "it\'s \\"quoted\\""}', "--repeat", "2", "--timeout", "4",
                   "--env", "AA=1", "--record", str(recording))
    assert done.returncode == 0, done.stderr
    text = recording.read_text()
    assert "timeout = 4" in text and "AA = '1'" in text
    assert text.count("[[step]]") == 2
    assert 'cold = true' in text and 'cold = false' in text
    assert re.search(r"RequestId|[0-9a-f]{8}-[0-9a-f]{4}-", text) is None  # nothing volatile

    replayed = run_cli("replay", handler, str(recording))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "4 expectations held" in replayed.stdout.splitlines()[-1]


def test_record_of_function_errors_expects_the_error_type(code_dir: Path) -> None:
    recording = code_dir / "errors.toml"
    handler = str(SAMPLES / "crash" / "handler.py")
    done = run_cli("invoke", handler, "-e", '{"mode": "exit"}', "--repeat", "2", "--record", str(recording))
    assert done.returncode == 1  # the invokes failed, as they should
    assert recording.read_text().count("error_type = 'Runtime.ExitError'") == 2
    replayed = run_cli("replay", handler, str(recording))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


def test_the_recording_names_the_function_path_in_a_replay_command_that_runs(code_dir: Path) -> None:
    """The header's command, run as written from where the recording was made, replays it (no placeholder)."""
    folder = code_dir / "my function"
    folder.mkdir()
    handler = os.path.relpath(write_probe(folder), REPO)  # relative and with a space, as a user might type it
    recording = os.path.relpath(code_dir / "recorded.toml", REPO)
    done = run_cli("invoke", handler, "--record", recording)
    assert done.returncode == 0, done.stderr
    text = (REPO / recording).read_text()
    assert "FUNCTION_PATH" not in text and "THIS_FILE" not in text
    # Without --snapstart the recording says nothing of SnapStart (moved here from test_snapstart_scenario.py's
    # test_invoke_without_snapstart_records_no_snapstart, which ran this same `invoke PROBE --record` again).
    assert parse_scenario(text, REPO / recording).function.snapstart is None, text
    assert "snapstart =" not in text, text
    command = next(line[1:].strip() for line in text.splitlines() if "lambdatui replay" in line)
    assert command == f"lambdatui replay '{handler}' {recording}"
    assert command in done.stderr  # the closing message shows the same command
    words = shlex.split(command)
    replayed = run_cli(*words[1:])
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


def test_the_recording_carries_the_options_its_table_cannot(code_dir: Path) -> None:
    extensions = SAMPLES / "extension" / "extensions"
    handler = str(write_probe(code_dir))
    recording = code_dir / "recorded.toml"
    done = run_cli("invoke", handler, "--extensions", str(extensions), "--record", str(recording))
    assert done.returncode == 0, done.stderr
    assert f"#   lambdatui replay --extensions {extensions} {handler} {recording}\n" in recording.read_text()


WITH_REQUEST_ID = '''def handler(event, context):
    return {"requestId": context.aws_request_id, "n": event["n"]}
'''


def test_a_recorded_response_with_its_request_id_is_checked_by_the_rest(code_dir: Path) -> None:
    handler = str(write_probe(code_dir, WITH_REQUEST_ID))
    recording = code_dir / "recorded.toml"
    done = run_cli("invoke", handler, "-e", '{"n": 7}', "--record", str(recording))
    assert done.returncode == 0, done.stderr
    assert """response = '{"n": 7}'""" in recording.read_text()
    replayed = run_cli("replay", handler, str(recording))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "ok         expect response, cold" in replayed.stdout


def test_record_into_a_missing_directory_is_a_usage_error(code_dir: Path) -> None:
    done = run_cli("invoke", str(SAMPLES / "hello" / "handler.py"), "--record", str(code_dir / "nope" / "x.toml"))
    assert done.returncode == 2 and "no such directory" in done.stderr
