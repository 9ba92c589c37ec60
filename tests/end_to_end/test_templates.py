"""The front doors of issue 11, through the real CLI and real processes: SAM templates in every mode, SAM's
--env-vars file, the virtualenv next to the handler, Node.js paths, and a custom runtime's _HANDLER."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from e2e_support import SAMPLES, ServeProcess, platform_lines, run_cli, write_file

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Mappings:
  Sizes:
    dev: {Memory: 256}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 7
    MemorySize: !FindInMap [Sizes, !Ref Stage, Memory]
    Layers:
      - !Ref SharedLayer
    Environment:
      Variables:
        STAGE: !Ref Stage
        WHERE: !Sub "${AWS::Region}-${Stage}"
        LOG_LEVEL: info
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/shared/
  Table:
    Type: AWS::DynamoDB::Table
  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: orders/
      Handler: app.handler
      Timeout: 9
      MemorySize: 512
      Environment:
        Variables:
          TABLE_ARN: !GetAtt Table.Arn
          MODE: !If [IsProd, fast, careful]
          PARTS: !Join ["-", [!Ref Stage, !Select [1, !Split [",", "a,b,c"]]]]
          LOG_LEVEL: debug
  ReportsFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: reports/
      Handler: report.main
      Runtime: python3.11
"""

ENV_PROBE = """\
import os

NAMES = ("STAGE", "WHERE", "LOG_LEVEL", "TABLE_ARN", "MODE", "PARTS", "EXTRA", "AWS_LAMBDA_FUNCTION_NAME",
         "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")


def handler(event, context):
    found = {name: os.environ[name] for name in NAMES if name in os.environ}
    found["remaining_s"] = round(context.get_remaining_time_in_millis() / 1000)
    return found
"""

REPORT = """\
def main(event, context):
    return {"report": event.get("n", 0)}
"""

ENV_VARS = {"Parameters": {"LOG_LEVEL": "warn", "EXTRA": "for all"}, "ReportsFunction": {"EXTRA": "reports only"}}


@pytest.fixture
def project(code_dir: Path) -> Path:
    """A SAM project: two functions, Globals, a layer, parameters, short tags, and an --env-vars file."""
    write_file(code_dir / "orders" / "app.py", ENV_PROBE)
    write_file(code_dir / "reports" / "report.py", REPORT)
    write_file(code_dir / "layers" / "shared" / "python" / "shared_lib.py", "VALUE = 1\n")
    write_file(code_dir / "env.json", json.dumps(ENV_VARS))
    return write_file(code_dir / "template.yaml", TEMPLATE)


def lambdatui_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("lambdatui: ")]


def one_line_refusal(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lambdatui: "), done.stderr
    return lines[0]


def test_invoke_runs_the_chosen_function_as_the_template_and_env_vars_describe_it(project: Path) -> None:
    done = run_cli("invoke", str(project), "--function", "OrdersFunction", "--env-vars", str(project.parent / "env.json"))

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "STAGE": "dev",  # !Ref to a parameter's Default, from Globals
        "WHERE": "us-east-1-dev",  # !Sub with a pseudo parameter
        "LOG_LEVEL": "warn",  # Globals < the function's own < --env-vars' Parameters
        "MODE": "careful",  # !If on a condition over a parameter
        "PARTS": "dev-b",  # !Join, !Select, !Split
        "EXTRA": "for all",  # Parameters apply to every function; the ReportsFunction block does not
        "AWS_LAMBDA_FUNCTION_NAME": "OrdersFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",  # the function's own MemorySize over Globals'
        "remaining_s": 9,  # the function's own Timeout over Globals'
    }
    assert any("Memory Size: 512 MB" in line for line in platform_lines(done.stderr)), done.stderr
    told = lambdatui_lines(done.stderr)
    left_out = [line for line in told if "TABLE_ARN" in line]
    assert left_out == [(f"lambdatui: {project}: OrdersFunction: TABLE_ARN is !GetAtt Table.Arn, which only "
                         "CloudFormation can resolve: left out (give it with --env-vars or --env)")], told
    added = [line for line in told if "EXTRA" in line]
    assert len(added) == 1 and "not in OrdersFunction's Environment.Variables: set all the same" in added[0], told


def test_the_other_function_gets_globals_and_its_env_vars_block(project: Path) -> None:
    done = run_cli("invoke", str(project), "--function", "ReportsFunction", "-e", '{"n": 3}',
                   "--env-vars", str(project.parent / "env.json"), "--timeout", "4")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"report": 3}
    assert any("Memory Size: 256 MB" in line for line in platform_lines(done.stderr)), done.stderr  # Globals' FindInMap
    assert not any("TABLE_ARN" in line for line in lambdatui_lines(done.stderr))  # not this function's variable


def test_a_value_given_with_env_vars_is_not_reported_left_out(project: Path) -> None:
    env_vars = write_file(project.parent / "table.json", '{"OrdersFunction": {"TABLE_ARN": "arn:local"}}')
    done = run_cli("invoke", str(project), "--function", "OrdersFunction", "--env-vars", str(env_vars))
    assert done.returncode == 0, done.stderr
    assert lambdatui_lines(done.stderr) == []
    assert json.loads(done.stdout)["LOG_LEVEL"] == "debug"


@pytest.mark.parametrize("mode", ["invoke", "serve", "replay", "debugger"])
def test_several_functions_and_no_choice_lists_them_and_exits_2(project: Path, mode: str) -> None:
    scenario = write_file(project.parent / "s.toml", "[[step]]\ninvoke = {}\n")
    argv = {"invoke": ["invoke", str(project)], "serve": ["serve", str(project), "--port", "0"],
            "replay": ["replay", str(project), str(scenario)], "debugger": [str(project)]}[mode]
    done = run_cli(*argv)  # the debugger too: its standard input is not a terminal, so no picker can ask

    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert [line.split() for line in done.stderr.splitlines()] == [
        ["lambdatui:", str(project), "holds", "2", "functions:", "choose", "one", "with", "--function", "LOGICAL_ID"],
        ["OrdersFunction", "app.handler", "python3.12"],
        ["ReportsFunction", "report.main", "python3.11"],
    ]


def test_replay_runs_the_templates_function(project: Path) -> None:
    scenario = write_file(project.parent / "s.toml", textwrap.dedent("""
        [[step]]
        invoke = { n = 5 }
        expect.response = { report = 5 }
    """))
    done = run_cli("replay", str(project), str(scenario), "--function", "ReportsFunction")
    assert done.returncode == 0, done.stdout + done.stderr


def test_serve_runs_the_templates_function_and_an_invoke_naming_another_one_is_not_found(project: Path) -> None:
    """One serve of the template's OrdersFunction: it runs as the template describes it, under any name but for the
    template's other functions. A caller naming one (boto3 code written for the deployed stack) ran OrdersFunction
    under ReportsFunction's name; now it is not found (README: any name is the served function's, but those)."""
    import boto3
    from botocore.config import Config

    with ServeProcess(project, "--function", "OrdersFunction") as served:
        response = httpx.post(served.invoke_url(), content=b"{}", timeout=30)
        assert response.status_code == 200, served.output()
        assert response.json()["WHERE"] == "us-east-1-dev"

        client = boto3.client("lambda", endpoint_url=served.base_url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x",
                              config=Config(retries={"max_attempts": 1}, read_timeout=30, connect_timeout=5))
        other = client.exceptions.ResourceNotFoundException
        for name in ("ReportsFunction", "arn:aws:lambda:us-east-1:123456789012:function:ReportsFunction:prod"):
            try:
                client.invoke(FunctionName=name, Payload=b"{}")
            except other as refused:
                assert "serve --function ReportsFunction runs that one" in str(refused), str(refused)
            else:
                raise AssertionError(f"{name} ran OrdersFunction")
        for name in ("OrdersFunction", "any-name"):
            answer = client.invoke(FunctionName=name, Payload=b"{}")
            assert answer["StatusCode"] == 200 and "FunctionError" not in answer, served.output()


def test_a_project_folder_with_a_template_and_no_handler_is_the_template(project: Path) -> None:
    done = run_cli("invoke", str(project.parent), "--function", "ReportsFunction")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"report": 0}


@pytest.mark.parametrize("template, message", [
    ("Resources:\n  Fn:\n    Type: [AWS::Serverless::Function\n", ":4:1: not valid YAML: "),
    ("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Handler: !Bogus x}\n",
     ":4:27: not valid YAML: could not determine a constructor for the tag '!Bogus'"),
    ("Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n", ": no AWS::Serverless::Function or AWS::Lambda::Function in its Resources"),
    ("Description: no resources\n", ": not a SAM template (it has no Resources section)"),
    ("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Runtime: java21, Handler: a.B}\n",
     ": Fn: Runtime java21: lambdatui's own runtime is Python's"),
    ("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Runtime: nodejs20.x, Handler: index.h}\n",
     ": Fn (Runtime nodejs20.x): a Node.js handler, and lambdatui's own runtime is Python's. Run it as a custom runtime"),
    ("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Runtime: provided.al2023}\n",
     ": Fn: Runtime provided.al2023 needs an executable 'bootstrap' in its CodeUri"),
])
def test_a_bad_template_is_one_line_and_exit_2(code_dir: Path, template: str, message: str) -> None:
    path = write_file(code_dir / "template.yaml", template)
    line = one_line_refusal(run_cli("invoke", str(path)))
    assert line.startswith(f"lambdatui: {path}{message}"), line


def test_an_unknown_function_or_one_without_a_template_is_one_line(project: Path) -> None:
    line = one_line_refusal(run_cli("invoke", str(project), "--function", "Nope"))
    assert line == (f"lambdatui: --function Nope: no such function in {project} "
                    "(its functions: OrdersFunction, ReportsFunction)")
    line = one_line_refusal(run_cli("invoke", str(SAMPLES / "hello" / "handler.py"), "--function", "Hello"))
    assert line.startswith("lambdatui: --function Hello: only with a SAM template")


def test_env_vars_with_a_handler_path_applies_parameters_and_the_block_named_like_the_function(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", ENV_PROBE)
    env_vars = write_file(code_dir / "env.json", json.dumps(
        {"Parameters": {"STAGE": "p", "MODE": "p"}, "fn": {"MODE": "mine"}, "other": {"EXTRA": "not mine"}}))
    done = run_cli("invoke", str(handler), "--env-vars", str(env_vars), "--env-file", str(env_vars), "--env", "PARTS=x")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    # --env-file keeps its own rule (the function's block alone) and wins over --env-vars, --env over both.
    assert {k: body.get(k) for k in ("STAGE", "MODE", "EXTRA", "PARTS")} == {
        "STAGE": "p", "MODE": "mine", "EXTRA": None, "PARTS": "x"}


def test_a_missing_layer_is_one_line(code_dir: Path) -> None:
    line = one_line_refusal(run_cli("invoke", str(SAMPLES / "hello" / "handler.py"), "--layer", str(code_dir / "no")))
    assert line == f"lambdatui: --layer {code_dir / 'no'}: no such file or directory"


# ---------------------------------------------------------------------- the function's interpreter

PREFIX_PROBE = """\
import sys


def handler(event, context):
    return {"prefix": sys.prefix}
"""


@pytest.mark.parametrize("where", ["next to the handler", "one level up from the handler"])
def test_a_virtualenv_near_the_handler_runs_the_function(code_dir: Path, where: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", PREFIX_PROBE)
    venv = (handler.parent if where == "next to the handler" else code_dir) / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)

    done = run_cli("invoke", str(handler))

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"prefix": str(venv)}
    # Said by the host at start-up, in every mode (the debugger's log and header included).
    assert f"[lambdatui]  The function runs in {venv}/bin/python (the .venv {where}; --python chooses another)." \
        in done.stderr.splitlines()

    # An active virtualenv, or --python, wins over the one found. Asked once: both are chosen before any folder is
    # looked into (runtime_choice._chosen_interpreter), so where the .venv lies makes no difference to them.
    if where != "next to the handler":
        return
    monkeypatch.setenv("VIRTUAL_ENV", str(venv.parent / "elsewhere"))  # not a virtualenv: ignored, so the .venv runs
    assert json.loads(run_cli("invoke", str(handler)).stdout) == {"prefix": str(venv)}
    done = run_cli("invoke", str(handler), "--python", sys.executable)
    assert json.loads(done.stdout) == {"prefix": sys.prefix}
    assert lambdatui_lines(done.stderr) == []


# ---------------------------------------------------------------------- Node.js and custom runtimes

# A custom runtime in the standard library: answers each invoke with the _HANDLER it was started with.
HANDLER_ECHO = """\
#!{python}
import json, os, urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(f"http://{{api}}/2018-06-01/runtime/invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
    body = json.dumps({{"handler": os.environ["_HANDLER"]}}).encode()
    url = f"http://{{api}}/2018-06-01/runtime/invocation/{{request_id}}/response"
    urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")).read()
"""


def test_a_node_file_or_folder_gets_the_recipe_not_expected_a_python_handler(code_dir: Path) -> None:
    index = write_file(code_dir / "index.mjs", "export const handler = async () => 1;\n")
    write_file(code_dir / "package.json", "{}\n")
    for path in (index, code_dir):
        line = one_line_refusal(run_cli("invoke", str(path)))
        assert line.startswith(f"lambdatui: {path}: a Node.js handler, and lambdatui's own runtime is Python's. "
                               f"Run it as a custom runtime: an executable 'bootstrap' in {code_dir} that execs "
                               "Node's runtime interface client"), line
        assert "aws-lambda-ric" in line and "README's 'Node.js and other languages'" in line and "python" not in line.split("Python's")[1]


@pytest.mark.parametrize("files, args, expected", [
    ({"index.mjs": "export const handler = async () => 1;\n"}, (), "index.handler"),
    ({"app.mjs": "export const lambdaHandler = async () => 1;\n"}, (), "app.lambdaHandler"),
    ({"index.mjs": "export const handler = async () => 1;\n", "util.mjs": ""}, (), "index.handler"),
    ({"function.py": "def lambda_handler(event, context):\n    pass\n"}, (), "function.lambda_handler"),
    ({"index.mjs": "export const handler = async () => 1;\n"}, ("--handler", "other.run"), "other.run"),
    ({}, (), "handler.handler"),
])
def test_a_custom_runtime_gets_handler_from_the_option_else_from_its_file(code_dir: Path, files: dict[str, str],
                                                                          args: tuple[str, ...], expected: str) -> None:
    write_file(code_dir / "bootstrap", HANDLER_ECHO.format(python=sys.executable), executable=True)
    for name, text in files.items():
        write_file(code_dir / name, text)
    done = run_cli("invoke", str(code_dir), *args)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"handler": expected}


def test_a_node_file_next_to_a_bootstrap_runs_through_it_with_its_own_handler(code_dir: Path) -> None:
    write_file(code_dir / "bootstrap", HANDLER_ECHO.format(python=sys.executable), executable=True)
    write_file(code_dir / "index.mjs", "export const handler = async () => 1;\n")
    other = write_file(code_dir / "other.js", "exports.handler = async () => 2;\n")
    done = run_cli("invoke", str(other))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"handler": "other.handler"}


def test_a_template_custom_runtime_gets_the_templates_handler(code_dir: Path) -> None:
    write_file(code_dir / "src" / "bootstrap", HANDLER_ECHO.format(python=sys.executable), executable=True)
    template = write_file(code_dir / "template.yaml", textwrap.dedent("""\
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src, Runtime: provided.al2023, Handler: main.run}
    """))
    done = run_cli("invoke", str(template))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"handler": "main.run"}
    assert any("Runtime Version: provided:al2023" in line for line in platform_lines(done.stderr))


def _node_ric_missing() -> str:
    if shutil.which("node") is None:
        return "node is not on PATH"
    local = SAMPLES / "node" / "node_modules" / ".bin" / "aws-lambda-ric"
    if not local.exists() and shutil.which("aws-lambda-ric") is None:
        return ("aws-lambda-ric is not installed ('npm install' in sample_functions/node, or "
                "'npm install -g aws-lambda-ric')")
    return ""


@pytest.mark.skipif(bool(_node_ric_missing()), reason=_node_ric_missing() or "")
def test_the_node_sample_runs_through_its_bootstrap() -> None:
    done = run_cli("invoke", str(SAMPLES / "node"), "-e", '{"hello": "node"}', "--repeat", "2")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["invocations"] for r in results] == [1, 2]  # warm: module state survived
    assert results[0]["event"] == {"hello": "node"} and results[0]["runtime"].startswith("node v")
    assert results[0]["functionName"] == "node"
    assert any(line.startswith("INIT_START") for line in platform_lines(done.stderr)), done.stderr


def test_the_node_sample_without_its_client_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    if not _node_ric_missing():
        pytest.skip("aws-lambda-ric is installed here: the sample runs (the test above)")
    done = run_cli("invoke", str(SAMPLES / "node"))
    assert done.returncode == 1
    assert "aws-lambda-ric is not installed: run 'npm install' in" in done.stderr, done.stderr


def test_the_node_samples_handler_is_derived_from_its_file() -> None:
    from lambdatui.config import resolve_function

    config = resolve_function(str(SAMPLES / "node"))
    assert (config.handler, config.runtime.ours) == ("index.handler", False)
    assert config.runtime.argv == (str(SAMPLES / "node" / "bootstrap"),)
    assert os.access(SAMPLES / "node" / "bootstrap", os.X_OK)


@pytest.mark.parametrize("mode", ["invoke", "serve", "replay", "debugger"])
def test_a_template_that_holds_itself_is_one_line_in_every_mode(code_dir: Path, mode: str) -> None:
    write_file(code_dir / "code" / "app.py", REPORT)
    path = write_file(code_dir / "template.yaml", textwrap.dedent("""\
        Resources:
          Fn: &fn
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: code
              Handler: app.main
              Environment: {Variables: {SELF: *fn}}
    """))
    scenario = write_file(code_dir / "s.toml", "[[step]]\ninvoke = {}\n")
    argv = {"invoke": ["invoke", str(path)], "serve": ["serve", str(path), "--port", "0"],
            "replay": ["replay", str(path), str(scenario)], "debugger": [str(path)]}[mode]
    line = one_line_refusal(run_cli(*argv))
    assert line == (f"lambdatui: {path}:7:33: Resources.Fn.Properties.Environment.Variables.SELF: a YAML alias to a "
                    "node that contains it (anchored on line 2): the template would be infinite")


def test_a_template_beside_a_handler_is_said_to_be_unused(project: Path) -> None:
    write_file(project.parent / "handler.py", REPORT.replace("def main", "def handler"))
    done = run_cli("invoke", str(project.parent))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"report": 0}
    assert (f"[lambdatui]  {project} was not used: {project.parent} holds a handler, which runs as it is "
            "(--function LOGICAL_ID runs the template's function instead).") in done.stderr.splitlines()


# A cloned project's template is not to be trusted with the terminal: what lambdatui's own lines quote of it is shown
# escaped, as every log line is, never obeyed (a title change, a cleared screen, colours, a line of its own).
HOSTILE = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: "app.handler\\e]0;PWNED\\a\\e[2J"
      Runtime: python3.12
      FunctionName: "name\\e[5m"
      Environment:
        Variables:
          AB: !GetAtt "Fn.Arn\\e[31m"
OTHER
"""
SECOND = """\
  Fn2:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: "app.handler\\e[31m"
      Runtime: python3.12
"""


def _hostile_project(code_dir: Path, second: bool, name: str = "") -> Path:
    """`name`: a FunctionName in place of the hostile one (which lambdatui refuses, as Lambda does)."""
    write_file(code_dir / "code" / "app.py", "def handler(event, context):\n    return 1\n")
    text = HOSTILE.replace("OTHER\n", SECOND if second else "")
    if name:
        text = text.replace('FunctionName: "name\\e[5m"', f"FunctionName: {name}")
    return write_file(code_dir / "template.yaml", text)


def _no_control_sequences(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, text
    assert "\\x1b" in text, text


@pytest.mark.parametrize("mode", ["invoke", "serve", "replay", "debugger"])
def test_a_templates_escape_sequences_in_the_function_list_are_shown_not_obeyed(code_dir: Path, mode: str) -> None:
    project = _hostile_project(code_dir, second=True)
    scenario = write_file(code_dir / "s.toml", "[[step]]\ninvoke = {}\n")
    argv = {"invoke": ["invoke", str(project)], "serve": ["serve", str(project), "--port", "0"],
            "replay": ["replay", str(project), str(scenario)], "debugger": [str(project)]}[mode]

    result = run_cli(*argv)  # the debugger's standard input is not a terminal: it lists them too

    assert result.returncode == 2, result.stderr
    assert "holds 2 functions" in result.stderr
    _no_control_sequences(result.stderr)


def test_a_templates_escape_sequences_in_start_up_lines_are_shown_not_obeyed(code_dir: Path) -> None:
    project = _hostile_project(code_dir, second=False, name="plain-name")

    result = run_cli("invoke", str(project))  # the handler is not found: what matters is what was printed

    told = [line for line in result.stderr.splitlines() if line.startswith("lambdatui: ")]
    assert told and "only CloudFormation can resolve" in told[0], result.stderr
    _no_control_sequences("\n".join(told))
    with ServeProcess(project) as served:
        serving = served.wait_for_line(r"serving ").string
    _no_control_sequences(serving)


def test_a_function_name_with_escape_sequences_is_refused_and_shown_not_obeyed(code_dir: Path) -> None:
    project = _hostile_project(code_dir, second=False)

    result = run_cli("invoke", str(project))

    told = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(told) == 1 and "FunctionName" in told[0], result.stderr
    _no_control_sequences(told[0])
