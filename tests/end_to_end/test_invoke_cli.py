"""`lambdatui invoke`: the installed console script, real processes, results on stdout, the log on stderr."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import REPO, SAMPLES, lambdatui_argv, platform_lines, run_cli, write_file

from lambdatui.json_text import MAX_DEPTH

ENV_PROBE = '''import os


def handler(event, context):
    return {name: os.environ.get(name) for name in event["names"]}
'''


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_counter_repeat_reuses_one_warm_environment() -> None:
    result = run_cli("invoke", str(SAMPLES / "counter" / "handler.py"), "--repeat", "3")

    assert result.returncode == 0, result.stderr
    results = json_lines(result.stdout)
    assert [r["invocations"] for r in results] == [1, 2, 3]
    assert [r["cold"] for r in results] == [True, False, False]

    lines = platform_lines(result.stderr)
    assert sum(line.startswith("INIT_START ") for line in lines) == 1, result.stderr
    starts = [re.match(r"START RequestId: (\S+) Version: \$LATEST$", line) for line in lines]
    start_ids = [m.group(1) for m in starts if m]
    end_ids = [line.split()[-1] for line in lines if line.startswith("END RequestId: ")]
    reports = [line for line in lines if line.startswith("REPORT RequestId: ")]
    assert len(start_ids) == 3 and len(set(start_ids)) == 3, result.stderr
    assert end_ids == start_ids
    assert [r.split()[2] for r in reports] == start_ids

    # Only the cold invoke paid for Init.
    assert "Init Duration: " in reports[0]
    assert all("Init Duration" not in r for r in reports[1:]), reports
    for report in reports:
        used = re.search(r"Max Memory Used: (\d+) MB", report)
        assert used, report
        assert 0 < int(used.group(1)) < 128, report  # the runtime's real peak RSS, not the memory size
        assert "Memory Size: 128 MB" in report
        assert "Status:" not in report


def test_process_exit_is_runtime_exit_error() -> None:
    result = run_cli("invoke", str(SAMPLES / "crash" / "handler.py"), "-e", '{"mode": "exit"}')

    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 1" in body["errorMessage"]
    report = next(line for line in platform_lines(result.stderr) if line.startswith("REPORT "))
    assert "Status: error" in report and "Error Type: Runtime.ExitError" in report
    used = int(re.search(r"Max Memory Used: (\d+) MB", report).group(1))
    assert 0 < used < 128, report  # measured while the process lived, not the configured size


def test_init_failure_report_shows_measured_memory(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", "import no_such_module_for_lambdatui_tests\n\n\n"
                                                  "def handler(event, context):\n    return 1\n")

    result = run_cli("invoke", str(handler))

    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["errorType"] == "Runtime.ImportModuleError"
    report = next(line for line in platform_lines(result.stderr) if line.startswith("REPORT "))
    used = int(re.search(r"Max Memory Used: (\d+) MB", report).group(1))
    assert 0 < used < 128, report


def test_every_invoke_after_a_crash_reinitialises() -> None:
    result = run_cli("invoke", str(SAMPLES / "crash" / "handler.py"), "-e", '{"mode": "segfault"}', "--repeat", "2")

    assert result.returncode == 1, result.stderr
    bodies = json_lines(result.stdout)
    assert [b["errorType"] for b in bodies] == ["Runtime.ExitError"] * 2
    assert all(b["errorMessage"].endswith("Runtime exited with error: signal: segmentation fault") for b in bodies)
    assert "crash: invocation 1 in pid" in result.stderr and "crash: invocation 2" not in result.stderr
    lines = platform_lines(result.stderr)
    assert sum(line.startswith("INIT_START ") for line in lines) == 2
    reports = [line for line in lines if line.startswith("REPORT ")]
    # The second Init ran inside the invoke (suppressed): its time is in Duration, not Init Duration.
    assert "Init Duration" in reports[0] and "Init Duration" not in reports[1]


def test_timeout_is_sandbox_timedout() -> None:
    result = run_cli("invoke", str(SAMPLES / "slow" / "handler.py"), "--timeout", "1")

    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    report = next(line for line in platform_lines(result.stderr) if line.startswith("REPORT "))
    assert "Status: timeout" in report
    duration = float(re.search(r"\tDuration: ([\d.]+) ms", report).group(1))
    assert 1000 <= duration < 2000, report


def test_a_handler_that_returns_just_past_its_deadline_timed_out_and_made_no_more_calls(code_dir: Path) -> None:
    """The deadline wins over an answer 50 ms past it even for a long timeout (Linux would let a 10 s wait end 10 ms
    late: the millisecond is pinned by tests/host/test_deadlines.py, as a loaded CI host's scheduling alone can make
    this whole command's timer ~15 ms late), and the runtime is stopped while its stack is taken: it neither responds
    nor asks for the next event, as in Lambda, which kills it at the timeout (its refused calls used to end in the
    bootstrap's traceback)."""
    write_file(code_dir / "handler.py", "import time\n\n\ndef handler(event, context):\n"
                                        "    time.sleep(10.05)\n    return 'too late'\n")  # 50 ms: a loaded host's margin
    result = run_cli("invoke", str(code_dir / "handler.py"), "-e", "{}", "--timeout", "10")
    assert json.loads(result.stdout)["errorType"] == "Sandbox.Timedout", result.stdout + result.stderr
    report = next(line for line in platform_lines(result.stderr) if line.startswith("REPORT "))
    assert "Status: timeout" in report
    assert 10000 <= float(re.search(r"\tDuration: ([\d.]+) ms", report).group(1)) < 10050, report
    assert "lambdatui-bootstrap" not in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_5000_digit_number_is_an_event_the_python_runtime_cannot_unmarshal() -> None:
    # Valid JSON, which Lambda takes; Python's runtime cannot make an int of it, as awslambdaric cannot.
    result = run_cli("invoke", str(SAMPLES / "hello"), "-e", "1" * 5000)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["errorType"] == "Runtime.UnmarshalError"


def test_an_event_nested_deeper_than_the_functions_python_reads_fails_in_its_runtime() -> None:
    """Lambda's front end takes JSON nested up to 10,000 levels; a Python runtime whose json cannot follow it fails
    the invoke with Runtime.UnmarshalError (awslambdaric does). Whether the function reads it is its Python's
    business, not the host's: `invoke` refused it up front (exit 2) where the host's json gave up (~1,000 levels on
    3.11), which a function on Python 3.13 reads. 10,000 levels are past every Python's json from 3.10 to 3.13."""
    result = run_cli("invoke", str(SAMPLES / "hello"), "-e", "[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["errorType"] == "Runtime.UnmarshalError", result.stdout
    assert "nested too deeply" not in result.stderr, result.stderr
    assert not any(line.startswith("Traceback") for line in result.stderr.splitlines()), result.stderr  # the host's


def test_handler_exception_is_a_function_error() -> None:
    result = run_cli("invoke", str(SAMPLES / "crash" / "handler.py"), "-e", '{"mode": "raise"}')

    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "boom"
    assert body["stackTrace"], body
    # A raised exception is not a platform failure: the environment stays warm, REPORT has no Status.
    report = next(line for line in platform_lines(result.stderr) if line.startswith("REPORT "))
    assert "Status:" not in report


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["invoke", "no/such/handler.py"], "no/such/handler.py: no such file or directory", id="missing-path"),
        pytest.param(["invoke", str(SAMPLES)], "no handler found", id="folder-without-handler"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "-e", "{bad"], "not valid JSON", id="invalid-event-json"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "-e", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)],
                     "--event: not valid JSON: nested deeper than 10,000 levels", id="event-nested-too-deeply"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "--record", str(SAMPLES / "README.md")],
                     f"--record {SAMPLES / 'README.md'}: already exists; choose another file, or remove it first",
                     id="record-never-overwrites"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "-e", "../nope.json"],
                     "--event ../nope.json: no such file (nor is it JSON text)", id="event-file-missing"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "-e", "sample_functions/hello"],
                     "--event sample_functions/hello: a directory, not a JSON file", id="event-is-a-directory"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "--timeout", "0"], "--timeout 0", id="timeout-zero"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "--env", "NOVALUE"], "expected KEY=VALUE", id="env-without-value"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "--timeout", "901"], "--timeout 901", id="timeout-too-long"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "--memory", "64"], "--memory 64", id="memory-too-small"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "--repeat", "0"], "--repeat 0", id="repeat-zero"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "--handler", "nodot"], "expected module.function",
                     id="handler-without-module"),
        pytest.param(["invoke", str(SAMPLES / "hello" / "README.md")], "expected a Python handler file", id="not-python"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "--env-file", "no/such/env.json"], "--env-file no/such/env.json",
                     id="env-file-missing"),
        pytest.param(["invoke", str(SAMPLES / "hello"), "--extensions", "no/such/dir"], "not a directory",
                     id="extensions-missing"),
        pytest.param(["serve", str(SAMPLES / "hello"), "--timeout", "0"], "--timeout 0", id="serve-timeout-zero"),
        pytest.param(["invok", str(SAMPLES / "hello")],
                     "invok: no such file or directory, nor a mode: did you mean 'lambdatui invoke ...'?",
                     id="mode-mistyped"),
        pytest.param([str(SAMPLES / "hello"), "serve", "--port", "0"],
                     f"the mode comes first: lambdatui serve {SAMPLES / 'hello'} ...", id="mode-after-the-path"),
        pytest.param(["replay", str(SAMPLES / "counter" / "scenarios" / "crash_and_reset.toml"),
                      str(SAMPLES / "counter" / "handler.py")], "the function comes first, then its scenario",
                     id="replay-arguments-swapped"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    result = run_cli(*args)

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lambdatui: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv, to run lambdatui as root without its right to read everything")
@pytest.mark.parametrize("given", ["handler.py", ""], ids=["its-handler", "the-folder"])
def test_a_function_folder_this_user_may_not_enter_is_one_line(code_dir: Path, given: str) -> None:
    secret = code_dir / "secret"
    write_file(secret / "handler.py", "def handler(event, context):\n    return 1\n")
    os.chown(secret, 65534, 65534)  # another user's folder, closed to everyone else
    secret.chmod(0o700)
    without_override = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                        "--inh-caps=-dac_override,-dac_read_search"]
    result = subprocess.run([*without_override, *lambdatui_argv(), "invoke", str(secret / given), "-e", "{}"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    secret.chmod(0o755)  # the fixture removes it
    assert result.returncode == 2, result.stderr
    missing = "template.yaml" if not given else given  # a folder is first looked into for a SAM template
    assert result.stderr.strip().splitlines() == [f"lambdatui: cannot read {secret / missing}: Permission denied"]


def test_bootstrap_command_given_relative_to_the_working_directory_runs(code_dir: Path) -> None:
    """`--bootstrap ./runtime.sh` names the program from where the command runs, not from the code's folder."""
    write_file(code_dir / "code" / "handler.py", "def handler(event, context):\n    return 1\n")
    runtime = write_file(code_dir / "runtimes" / "runtime.sh", (SAMPLES / "stream" / "bootstrap").read_text(),
                         executable=True)
    relative = os.path.relpath(runtime, REPO)

    result = run_cli("invoke", str(code_dir / "code"), "--bootstrap", f"{relative} --quiet",
                     "-e", '{"chunks": 2, "pause_ms": 0}')  # run in REPO

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["chunk", "0", "chunk", "1"], result.stdout


def test_a_function_in_a_folder_whose_name_is_not_utf8_runs(code_dir: Path) -> None:
    """The folder names the function (its ARN, sent in a Runtime API header): a name the file system could not decode
    made the route that answers `/next` fail with a traceback, and the invoke time out. Now the name is one Lambda
    allows, made from the folder's, and said (the assertions quote with ascii(): pytest-xdist cannot send a report
    that holds a lone surrogate, and its worker dies with every test it had left)."""
    folder = code_dir / os.fsdecode(b"caf\xe9")  # Latin-1 bytes, as an old archive or a Windows copy leaves them
    handler = write_file(folder / "handler.py", "def handler(event, context):\n    return context.function_name\n")

    result = run_cli("invoke", str(handler))

    assert result.returncode == 0, ascii(result.stderr)
    assert json.loads(result.stdout) == "caf", ascii(result.stdout)
    assert "The function is named caf: its folder's name, 'caf\\udce9', is not one Lambda allows" in result.stderr, \
        ascii(result.stderr)
    assert "Traceback" not in result.stderr, ascii(result.stderr)


def test_custom_bootstrap_not_executable_is_one_line(code_dir: Path) -> None:
    bootstrap = write_file(code_dir / "bootstrap", "#!/bin/sh\nexit 0\n", executable=False)

    result = run_cli("invoke", str(bootstrap))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"lambdatui: {bootstrap}: a custom runtime's bootstrap must be executable (chmod +x)"
    ]


def test_invalid_json_in_event_file_names_the_file(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{bad")

    result = run_cli("invoke", str(SAMPLES / "hello"), "--event", str(event))

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lambdatui: --event {event}: not valid JSON"), result.stderr


def test_path_omitted_is_a_usage_error_without_traceback() -> None:
    result = run_cli("invoke")

    assert result.returncode == 2
    assert "the following arguments are required: path" in result.stderr
    assert "Traceback" not in result.stderr


def test_event_from_file(tmp_path: Path) -> None:
    event = tmp_path / "event.json"  # data, not code: tmp_path is fine
    event.write_text('{"name": "from-file"}')

    result = run_cli("invoke", str(SAMPLES / "hello" / "handler.py"), "--event", str(event))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"message": "hello", "event": {"name": "from-file"}}


def test_an_event_file_with_a_byte_order_mark_is_taken_as_lambda_takes_it(tmp_path: Path) -> None:
    # Editors on Windows write one; Lambda's front end (and serve) skip it. `invoke` said "Expecting value".
    event = tmp_path / "event.json"
    event.write_bytes(b'\xef\xbb\xbf{"name": "with-bom"}')

    result = run_cli("invoke", str(SAMPLES / "hello" / "handler.py"), "--event", str(event))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"message": "hello", "event": {"name": "with-bom"}}


def test_event_from_stdin() -> None:
    result = run_cli("invoke", str(SAMPLES / "hello" / "handler.py"), "--event", "-", input='{"name": "from-stdin"}')

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"message": "hello", "event": {"name": "from-stdin"}}
    # The function's own print reaches the log, tagged as the function's.
    assert "[function]   hello: received {'name': 'from-stdin'}" in result.stderr


def test_event_from_a_pipe_named_by_its_path() -> None:
    """`-e <(jq ...)` (process substitution), `-e /dev/stdin`: a path that is a pipe, not a regular file."""
    result = run_cli("invoke", str(SAMPLES / "hello" / "handler.py"), "--event", "/dev/stdin", input='{"name": "pipe"}')

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"message": "hello", "event": {"name": "pipe"}}


def test_env_pairs_reach_the_handler(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", ENV_PROBE)

    result = run_cli(
        "invoke", str(handler), "--env", "GREETING=hi there", "--env", "EMPTY=", "--env", "EQ=a=b",
        "-e", '{"names": ["GREETING", "EMPTY", "EQ", "AWS_LAMBDA_FUNCTION_NAME"]}',
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "GREETING": "hi there", "EMPTY": "", "EQ": "a=b", "AWS_LAMBDA_FUNCTION_NAME": code_dir.name,
    }


@pytest.mark.parametrize("shape", ["sam-function", "sam-parameters", "flat"])
def test_env_file_shapes(code_dir: Path, tmp_path: Path, shape: str) -> None:
    handler = write_file(code_dir / "handler.py", ENV_PROBE)
    variables = {"TABLE": "orders", "DEBUG": True, "RETRIES": 3}
    document = {
        # sam local invoke --env-vars: {"FunctionName": {...}}; the function's name is its folder's.
        "sam-function": {code_dir.name: variables, "OtherFunction": {"TABLE": "wrong"}},
        "sam-parameters": {"Parameters": variables},
        "flat": variables,
    }[shape]
    env_file = tmp_path / "env.json"
    env_file.write_text(json.dumps(document))

    result = run_cli(
        "invoke", str(handler), "--env-file", str(env_file), "--env", "RETRIES=5",
        "-e", '{"names": ["TABLE", "DEBUG", "RETRIES"]}',
    )

    assert result.returncode == 0, result.stderr
    # --env wins over --env-file; booleans become Lambda's lowercase strings.
    assert json.loads(result.stdout) == {"TABLE": "orders", "DEBUG": "true", "RETRIES": "5"}


def test_output_left_without_its_newline_is_the_invokes_own_line_before_its_end(code_dir: Path) -> None:
    """It used to wait in the pipe's reader for a newline: the next invoke's first line was glued to it, under
    the next request id (and in the next invoke's log tail)."""
    write_file(code_dir / "handler.py", "import sys\n\nn = 0\n\ndef handler(event, context):\n    global n\n"
                                        "    n += 1\n    sys.stdout.write(f'unfinished {n}')\n    sys.stdout.flush()\n"
                                        "    return n\n")
    result = run_cli("invoke", str(code_dir / "handler.py"), "--repeat", "2")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "unfinished" in line or "END RequestId" in line]
    assert [re.sub(r"RequestId: \S+", "RequestId: ID", line.split("]", 1)[1].strip()) for line in lines] == [
        "unfinished 1", "END RequestId: ID", "unfinished 2", "END RequestId: ID"], result.stderr


def test_max_memory_used_counts_what_the_functions_children_held(code_dir: Path) -> None:
    """Lambda's figure is the environment's (its limit counts the children too): it used to be the runtime
    process's own peak, ~14 MB, while a child held 80 MB."""
    write_file(code_dir / "handler.py", "import subprocess, sys\n\ndef handler(event, context):\n"
                                        "    code = 'b = bytearray(80 << 20); b[::4096] = b\"x\" * len(b[::4096])'\n"
                                        "    return subprocess.run([sys.executable, '-c', code]).returncode\n")
    result = run_cli("invoke", str(code_dir / "handler.py"), "--memory", "256")
    assert result.returncode == 0 and result.stdout.strip() == "0", result.stderr
    report = next(line for line in platform_lines(result.stderr) if line.startswith("REPORT "))
    used = int(re.search(r"Max Memory Used: (\d+) MB", report).group(1))
    if "cgroup" not in result.stderr and "watch" not in result.stderr:
        pytest.skip("no memory limit here: nothing measures the environment's processes together")
    if "sums the private memory" in result.stderr:
        pytest.skip("the memory watcher samples every 50 ms: a child this short-lived may fall between samples")
    assert 80 <= used < 256, report


def test_what_init_printed_comes_before_the_first_invokes_start(code_dir: Path) -> None:
    """Read a moment late, it used to come after START (and after platform.start in telemetry), as the first
    invoke's line: 2 runs in 7."""
    write_file(code_dir / "handler.py", "print('function initialization')\n\ndef handler(event, context):\n"
                                        "    return 1\n")
    for _ in range(3):
        result = run_cli("invoke", str(code_dir / "handler.py"))
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        printed = next(i for i, line in enumerate(lines) if "function initialization" in line)
        started = next(i for i, line in enumerate(lines) if "START RequestId" in line)
        assert printed < started, result.stderr


def test_an_interpreter_that_is_a_script_is_asked_once_which_python_it_starts(code_dir: Path) -> None:
    """A pyenv or asdf shim is a script that looks for the interpreter at every start: run as given, the runtime's
    Init Duration would count that search (~80 ms of pyenv's bash here, against ~47 ms of Init without it), which
    Lambda's never runs. lambdatui asks it once at start which Python it starts, and runs that one (the line says
    both); a script that cannot answer runs as given, and the line says its search counts in every Init. The
    interpreter itself is named as `--python .venv/bin/python` names it: from where the command runs, not from the
    code's folder (/var/task) the runtime starts in; it is no script, and the line says where the function runs."""
    shim = code_dir / "shims" / "python3"
    write_file(shim, f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    shim.chmod(0o755)
    mute = code_dir / "shims" / "python"
    write_file(mute, f'#!/bin/sh\n[ "$1" = -S ] && exit 3\nexec "{sys.executable}" "$@"\n')  # fails the question
    mute.chmod(0o755)
    counts = "is a script that looks for the interpreter before starting it"

    through_shim = run_cli("invoke", str(SAMPLES / "hello" / "handler.py"), "-e", "{}", "--python", str(shim))
    through_mute = run_cli("invoke", str(SAMPLES / "hello" / "handler.py"), "-e", "{}", "--python", str(mute))
    relative = os.path.relpath(sys.executable, REPO)
    assert not os.path.isabs(relative)
    direct = run_cli("invoke", str(SAMPLES / "hello" / "handler.py"), "-e", "{}", "--python", relative)  # run in REPO

    for run in (through_shim, through_mute, direct):
        assert run.returncode == 0 and json.loads(run.stdout)["message"] == "hello", run.stderr
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert (f"The function runs in {sys.executable} (--python; {shim} is a script, which starts this one, Python "
            f"{version}, in your shell and folder)." in through_shim.stderr), through_shim.stderr
    assert counts not in through_shim.stderr, through_shim.stderr
    assert (f"The function runs in {mute} (--python; {mute} (a script) did not say which Python it starts: exit "
            "status 3)." in through_mute.stderr), through_mute.stderr
    assert f"[lambdatui]  {mute} {counts}" in through_mute.stderr, through_mute.stderr
    assert counts not in direct.stderr and " is a script" not in direct.stderr, direct.stderr
    # Normalised, as the command makes it absolute: the interpreter may lie outside the checkout (../../venv/...).
    assert f"The function runs in {os.path.normpath(REPO / relative)} (--python" in direct.stderr, direct.stderr
