"""The function's environment variables (lambda-spec §5, §10.4) from every source, through the real CLI (a bug hunt).

Found and fixed: LoggingConfig's variables counted in the 4 KB of Environment.Variables; a NUL byte in a value was
taken, and every start of the runtime then failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_support import awslambdaric_bootstrap, run_cli, source_lines, write_file

DUMP = '''import os


def handler(event, context):
    return dict(os.environ)
'''

TEMPLATE = '''AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  EnvFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handler.handler
      Runtime: python3.12
      CodeUri: fn/
{logging}      Environment:
        Variables:
{variables}
'''


def template(root: Path, variables: dict[str, str], logging: str = "") -> Path:
    write_file(root / "fn" / "handler.py", DUMP)
    lines = "".join(f"          {k}: {json.dumps(v)}\n" for k, v in variables.items())
    return write_file(root / "template.yaml", TEMPLATE.format(variables=lines, logging=logging))


def test_precedence_template_then_env_vars_then_env_file_then_env(code_dir: Path) -> None:
    path = template(code_dir, {"A_ONE": "template", "B_TWO": "template", "C_THREE": "template", "D_FOUR": "template",
                               "E_FIVE": "template"})
    env_vars = write_file(code_dir / "env.json", json.dumps({
        "Parameters": {"B_TWO": "params", "C_THREE": "params", "D_FOUR": "params", "E_FIVE": "params"},
        "EnvFunction": {"C_THREE": "block", "D_FOUR": "block", "E_FIVE": "block"}}))
    env_file = write_file(code_dir / "file.json", json.dumps({"D_FOUR": "file", "E_FIVE": "file"}))
    result = run_cli("invoke", str(path), "--env-vars", str(env_vars), "--env-file", str(env_file),
                     "--env", "E_FIVE=flag")
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    assert [env[k] for k in ("A_ONE", "B_TWO", "C_THREE", "D_FOUR", "E_FIVE")] == [
        "template", "params", "block", "file", "flag"]


def measured(variables: dict[str, str]) -> int:
    return len(json.dumps(variables, separators=(",", ":")).encode())


def padded(total: int) -> dict[str, str]:
    variables = {"PAD_VAR": ""}
    variables["PAD_VAR"] = "x" * (total - measured(variables))
    assert measured(variables) == total
    return variables


def test_exactly_4_kb_of_variables_is_accepted_and_one_byte_more_refused(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", DUMP)
    ok = run_cli("invoke", str(handler), "--env", f"PAD_VAR={padded(4096)['PAD_VAR']}")
    assert ok.returncode == 0, ok.stderr
    too_big = run_cli("invoke", str(handler), "--env", f"PAD_VAR={padded(4097)['PAD_VAR']}")
    assert too_big.returncode == 2 and "4 KB" in too_big.stderr, too_big.stderr


def test_logging_config_does_not_count_against_the_4_kb_of_variables(code_dir: Path) -> None:
    path = template(code_dir, padded(4096),
                    logging="      LoggingConfig:\n        LogFormat: JSON\n        ApplicationLogLevel: INFO\n")
    result = run_cli("invoke", str(path))
    assert "4 KB" not in result.stderr
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    assert env["AWS_LAMBDA_LOG_FORMAT"] == "JSON"


RUNTIME_SET = {"_HANDLER", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME",
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
               "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT",
               "LAMBDA_RUNTIME_DIR", "TZ", "LANG", "PATH", "LD_LIBRARY_PATH", "_X_AMZN_TRACE_ID"}


@pytest.mark.parametrize("runtime", ["ours", "awslambdaric"])
def test_the_runtime_sees_the_spec_variables_and_the_memory_size_given(code_dir: Path, runtime: str) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", DUMP)
    path = awslambdaric_bootstrap(code_dir / "fn") if runtime == "awslambdaric" else handler
    result = run_cli("invoke", str(path), "--memory", "1769", "--env", "MY_VAR=mine")
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    assert RUNTIME_SET <= set(env), RUNTIME_SET - set(env)
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "1769"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["TZ"] == ":UTC"
    assert env["MY_VAR"] == "mine"
    assert env["PATH"].endswith(":/opt/bin")
    assert env["LD_LIBRARY_PATH"].endswith("/var/task:/var/task/lib:/opt/lib")
    # AWS_EXECUTION_ENV: managed runtimes only (§5: not set for provided runtimes)
    assert ("AWS_EXECUTION_ENV" in env) == (runtime == "ours")


EXTENSION = '''#!{python}
import json, os, urllib.request
print("ENV " + json.dumps(dict(os.environ)), flush=True)
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
request = urllib.request.Request(api + "/register", data=b'{{"events": ["SHUTDOWN"]}}',
                                 headers={{"Lambda-Extension-Name": "envdump"}}, method="POST")
ident = urllib.request.urlopen(request).headers["Lambda-Extension-Identifier"]
while json.load(urllib.request.urlopen(urllib.request.Request(
        api + "/event/next", headers={{"Lambda-Extension-Identifier": ident}})))["eventType"] != "SHUTDOWN":
    pass
'''


def test_an_extension_gets_the_customer_variables_but_not_the_runtimes_own(code_dir: Path) -> None:
    import sys

    handler = write_file(code_dir / "handler.py", DUMP)
    write_file(code_dir / "extensions" / "envdump", EXTENSION.format(python=sys.executable), executable=True)
    result = run_cli("invoke", str(handler), "--env", "MY_VAR=mine")
    lines = [line for line in source_lines(result.stderr, "envdump") if line.startswith("ENV ")]
    assert len(lines) == 1, result.stderr
    env = json.loads(lines[0][4:])
    assert env["MY_VAR"] == "mine"
    hidden = {"AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
              "AWS_XRAY_CONTEXT_MISSING", "LAMBDA_RUNTIME_DIR", "LAMBDA_TASK_ROOT", "_HANDLER", "_X_AMZN_TRACE_ID"}
    assert not hidden & set(env), hidden & set(env)
    for name in ("AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_RUNTIME_API", "TZ"):
        assert name in env


def test_a_nul_in_an_env_file_value_is_refused_before_anything_runs(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", DUMP)
    env_file = write_file(code_dir / "env.json", '{"NUL_VAR": "a\\u0000b"}')
    result = run_cli("invoke", str(handler), "--env-file", str(env_file))
    assert result.returncode == 2, result.stderr


def test_the_host_environment_does_not_leak_in(code_dir: Path) -> None:
    import os
    import subprocess

    from e2e_support import REPO, lambdatui_argv

    handler = write_file(code_dir / "handler.py", DUMP)
    env = dict(os.environ, HUNT_HOST_ONLY="leak", PYTHONPATH="/nowhere")
    result = subprocess.run([*lambdatui_argv(), "invoke", str(handler)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert "HUNT_HOST_ONLY" not in seen
    assert seen.get("PYTHONPATH") != "/nowhere"
