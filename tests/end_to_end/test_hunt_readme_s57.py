"""README hunt (s57): README.md and the sample READMEs followed from the top, as a new user runs them.

Every command here is the one the README (or a sample's README) prints, run from the checkout as written, and the
assertion is what the text says the user sees. Pinned as a finding: the `slow` sample's README promises that its
`lambdatui invoke` command shows the stack (`wait_for_downstream`), which only the debugger and `replay` show.

Files the commands write (a recording, the AWS CLI's out.json, its config) go in `tmp_path`; every `serve` is stopped
by its context manager.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import REPO, SAMPLES, ServeProcess, lambdatui_argv, run_cli

README = (REPO / "README.md").read_text()
SAMPLES_README = (SAMPLES / "README.md").read_text()


def run_in(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*lambdatui_argv(), *args], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def stdout_json(done: subprocess.CompletedProcess[str]) -> list[object]:
    return [json.loads(line) for line in done.stdout.splitlines()]


# ---------------------------------------------------------------------- Install and run; invoke


def test_the_install_sections_command_counts_three_invokes() -> None:
    assert "lambdatui invoke sample_functions/counter/handler.py -e '{}' --repeat 3" in README
    done = run_cli("invoke", "sample_functions/counter/handler.py", "-e", "{}", "--repeat", "3")
    assert done.returncode == 0, done.stderr
    assert stdout_json(done) == [{"invocations": n, "tmp_lines": n, "cold": n == 1} for n in (1, 2, 3)]
    # The README's sample of stderr: the interpreter line, then Lambda's platform lines, tagged.
    assert "[lambdatui]  The function runs in " in done.stderr
    assert re.search(r"^\[platform\]   REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\t"
                     r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms", done.stderr, re.M)


# ---------------------------------------------------------------------- the option tables against --help


def option_names(table_heading: str) -> list[str]:
    """The `--option`s in the first column of the README table that follows `table_heading`."""
    section = README.split(table_heading, 1)[1]
    rows = re.findall(r"^\| `(--[a-z-]+)", section.split("\n\n", 2)[1], re.M)
    assert rows, table_heading
    return rows


@pytest.mark.parametrize("mode", ["debugger", "invoke", "serve", "replay"])
def test_every_option_the_readme_tables_give_a_mode_is_in_its_help(mode: str) -> None:
    shared = option_names("### Options shared by every mode")
    fleet = option_names("The fleet's options, for `serve`, `replay` and the debugger")
    argv = ["sample_functions/hello/handler.py", "--help"] if mode == "debugger" else [mode, "--help"]
    done = run_cli(*argv)
    assert done.returncode == 0, done.stderr
    wanted = shared + (fleet if mode != "invoke" else [])
    missing = [option for option in wanted if not re.search(re.escape(option) + r"\b", done.stdout)]
    assert missing == [], f"{mode} --help lacks {missing}"


def test_the_debugger_without_a_terminal_says_so_and_exits_2() -> None:
    done = run_cli("sample_functions/extension/handler.py")
    assert done.returncode == 2
    assert "needs a terminal" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------------- serve: curl, boto3, the AWS CLI


def test_the_serve_sections_curl_boto3_and_aws_cli_examples(tmp_path: Path) -> None:
    boto3 = pytest.importorskip("boto3")
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("awscli")
    with ServeProcess(SAMPLES / "counter" / "handler.py") as serve:
        # curl -s -XPOST localhost:9000/2015-03-31/functions/function/invocations -d '{}'
        first = httpx.post(serve.invoke_url("function"), content=b"{}", timeout=30)
        assert first.status_code == 200 and first.json() == {"invocations": 1, "tmp_lines": 1, "cold": True}

        client = boto3.client("lambda", endpoint_url=serve.base_url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        response = client.invoke(FunctionName="counter", Payload=b"{}", LogType="Tail")
        assert json.loads(response["Payload"].read()) == {"invocations": 2, "tmp_lines": 2, "cold": False}
        import base64
        assert "REPORT RequestId: " in base64.b64decode(response["LogResult"]).decode()

        # AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws lambda invoke --endpoint-url ... out.json
        aws = Path(sys.executable).with_name("aws")
        argv = [str(aws)] if aws.is_file() else [sys.executable, "-m", "awscli"]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "HOME": str(tmp_path),
               "AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds")}
        done = subprocess.run([*argv, "lambda", "invoke", "--endpoint-url", serve.base_url, "--region", "us-east-1",
                               "--function-name", "counter", "--payload", "{}", "--log-type", "Tail", "out.json"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["StatusCode"] == 200
        assert json.loads((tmp_path / "out.json").read_text()) == {"invocations": 3, "tmp_lines": 3, "cold": False}


def test_the_streaming_sections_boto3_example() -> None:
    boto3 = pytest.importorskip("boto3")
    with ServeProcess(SAMPLES / "stream" / "bootstrap") as serve:
        client = boto3.client("lambda", endpoint_url=serve.base_url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        response = client.invoke_with_response_stream(FunctionName="stream", Payload=b'{"chunks": 5, "pause_ms": 300}')
        chunks, complete = [], []
        for event in response["EventStream"]:
            if "PayloadChunk" in event:
                chunks.append(event["PayloadChunk"]["Payload"].decode())
            if "InvokeComplete" in event:
                complete.append(event["InvokeComplete"])
        assert "".join(chunks) == "".join(f"chunk {n}\n" for n in range(5))
        assert complete == [{}]
        # `{"fail_after": 2}` tries the error: it comes in InvokeComplete, after the chunks sent.
        failed = client.invoke_with_response_stream(FunctionName="stream", Payload=b'{"fail_after": 2}')
        events = list(failed["EventStream"])
        assert events[-1]["InvokeComplete"]["ErrorCode"] == "StreamFailed"


def test_the_function_url_sections_curl_lines() -> None:
    httpx = pytest.importorskip("httpx")
    with ServeProcess(SAMPLES / "web", "--url-port", "0") as serve:
        url = serve.wait_for_line(r"function URL: (http://127\.0\.0\.1:\d+/)").group(1)
        with httpx.Client(base_url=url, timeout=30) as web:
            assert web.get("/hello?name=workshop").json() == {"message": "Hello, workshop!", "cookies": []}
            cookie = web.get("/cookie", headers={"Cookie": "visits=3"})
            assert "visits=4; Path=/; Max-Age=3600" in cookie.headers.get_list("set-cookie")
            event = web.get("/event?a=1&a=2").json()
            assert event["rawQueryString"] == "a=1&a=2" and event["queryStringParameters"] == {"a": "1,2"}
            assert web.get("/binary").content.startswith(b"\x89PNG\r\n\x1a\n")
            boom = web.get("/boom")
            assert (boom.status_code, boom.text) == (502, "Internal Server Error")


# ---------------------------------------------------------------------- replay and --record


def test_the_replay_sections_commands_pass() -> None:
    commands = re.findall(r"^lambdatui replay (sample_functions/\S+) (sample_functions/\S+\.toml)$", README, re.M)
    assert len(commands) == 2, commands
    for handler, scenario in commands:
        done = run_cli("replay", handler, scenario)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines()[-1].startswith(f"PASSED {scenario}")


def test_the_abridged_scenarios_in_the_readme_replay_as_printed(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(# (sample_functions/(\w+)/scenarios/\S+) \(abridged\)\n.*?)```", README, re.S)
    assert len(blocks) == 3
    for number, (text, original, sample) in enumerate(blocks):
        assert (REPO / original).is_file(), original
        scenario = tmp_path / f"abridged{number}.toml"
        scenario.write_text(text)
        done = run_cli("replay", f"sample_functions/{sample}/handler.py", str(scenario))
        assert done.returncode == 0, f"{original}\n{done.stdout}{done.stderr}"


def test_the_scenario_folders_are_the_ones_the_readme_lists() -> None:
    listed = re.search(r"Most sample functions have scenarios in `sample_functions/\*/scenarios/` \(([^)]*)\)", README)
    assert listed is not None
    named = set(re.findall(r"`(\w+)`", listed.group(1)))
    assert named == {folder.parent.name for folder in SAMPLES.glob("*/scenarios") if any(folder.glob("*.toml"))}


def test_a_recording_of_invoke_replays_with_the_command_in_its_header(tmp_path: Path) -> None:
    recording = tmp_path / "run.toml"
    done = run_cli("invoke", "sample_functions/counter/handler.py", "-e", "{}", "--repeat", "2",
                   "--record", str(recording))
    assert done.returncode == 0, done.stderr
    command = re.search(r"^#   (lambdatui replay .*)$", recording.read_text(), re.M)
    assert command is not None
    replayed = run_cli(*command.group(1).split()[1:])
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    # "it never overwrites a file"
    again = run_cli("invoke", "sample_functions/counter/handler.py", "-e", "{}", "--record", str(recording))
    assert again.returncode == 2 and "already exists" in again.stderr


# ---------------------------------------------------------------------- SAM templates


def test_the_sam_sections_commands() -> None:
    """The sample's commands as README prints them. The first one's whole answer, and its silence about the !GetAtt
    that env.json gives, were also a test of test_templates.py's (the same command in the same folder): pinned here
    alone."""
    project = SAMPLES / "sam"
    done = run_in(project, "invoke", "template.yaml", "--function", "OrdersFunction", "--env-vars", "env.json",
                  "-e", "events/order.json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"order": "o-1001", "items": 2, "stage": "local", "greeting": "orders-dev",
                                       "table": "arn:aws:dynamodb:us-east-1:123456789012:table/orders-local",
                                       "memory_mb": "256"}
    assert "!GetAtt" not in done.stderr  # given by env.json: not named as left out
    # Without env.json, the line README prints, word for word.
    bare = run_in(project, "invoke", "template.yaml", "--function", "OrdersFunction", "-e", "events/order.json")
    assert bare.returncode == 0, bare.stderr
    assert ("lambdatui: template.yaml: OrdersFunction: TABLE_ARN is !GetAtt Table.Arn, which only CloudFormation can "
            "resolve: left out (give it with --env-vars or --env)") in bare.stderr.splitlines()
    # Two functions and no --function: listed, exit 2 (the sample's README: "lists them, exit 2").
    listed = run_in(project, "invoke", "template.yaml", "-e", "{}")
    assert listed.returncode == 2
    assert "OrdersFunction" in listed.stderr and "ReportsFunction" in listed.stderr


# ---------------------------------------------------------------------- sample READMEs


def test_every_try_command_of_the_samples_table_names_files_that_exist() -> None:
    commands = re.findall(r"`((?:cd sample_functions/sam && )?lambdatui [^`]+)`", SAMPLES_README)
    assert len(commands) >= 14
    for command in commands:
        cwd = REPO
        if command.startswith("cd "):
            folder, command = command[3:].split(" && ", 1)
            cwd = REPO / folder
        for word in command.split()[1:]:
            if "/" in word or word.endswith((".py", ".toml", ".yaml", ".json")):
                assert (cwd / word).exists(), f"{command}: {word}"


def test_the_slow_samples_invoke_command_shows_where_it_hung() -> None:
    slow_readme = (SAMPLES / "slow" / "README.md").read_text()
    assert "the stack shows `wait_for_downstream`" in slow_readme
    assert "`lambdatui invoke sample_functions/slow/handler.py -e '{}'`" in slow_readme
    done = run_cli("invoke", "sample_functions/slow/handler.py", "-e", "{}")
    assert done.returncode == 1
    assert "Task timed out after 3.00 seconds" in done.stderr
    assert "wait_for_downstream" in done.stderr


# ---------------------------------------------------------------------- Benchmarks: the commands parse


@pytest.mark.parametrize("script", sorted({name for name in re.findall(r"python (benchmarks/\w+\.py)", README)}))
def test_each_benchmark_command_in_the_readme_parses(script: str) -> None:
    done = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    flags = set(re.findall(rf"python {re.escape(script)}((?: --[a-z-]+(?: \d+)?)*)", README))
    for flag in {word for group in flags for word in group.split() if word.startswith("--")}:
        assert flag in done.stdout, f"{script} --help lacks {flag}"
