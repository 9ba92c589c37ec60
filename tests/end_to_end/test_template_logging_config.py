"""A SAM template's `LoggingConfig` (Lambda's advanced logging controls), on the function or in `Globals.Function`.

With `LogFormat: JSON` Lambda sets `AWS_LAMBDA_LOG_FORMAT=JSON` for the runtime, and `AWS_LAMBDA_LOG_LEVEL` from
`ApplicationLogLevel`; awslambdaric (and lambdatui's runtime) then writes every `logging` record as a JSON object,
from that level up (lambda-spec §6.6). lambdatui ignored the property without a word: the function logged plain text
where it logs JSON in Lambda. Now the two variables are set (a variable the user names still wins), what a local run
cannot do (SystemLogLevel, the platform's lines as JSON, LogGroup) is named in one line, and what CloudFormation
refuses is one line and exit 2.

Everything lives in `code_dir` (never under /tmp).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_support import run_cli, write_file
from lambdatui.config import resolve_function
from lambdatui.config_error import ConfigError

APP = """import logging
import os

logging.getLogger().setLevel(logging.INFO)


def handler(event, context):
    logging.debug("not at this level")
    logging.warning("order placed")
    return [os.environ.get("AWS_LAMBDA_LOG_FORMAT"), os.environ.get("AWS_LAMBDA_LOG_LEVEL")]
"""


def template(code_dir: Path, function: str = "", globals_: str = "", extra: str = "") -> Path:
    """A one-function template; `function` and `globals_` are LoggingConfig's own lines (its keys, unindented)."""
    def block(lines: str, indent: str) -> str:
        return f"{indent}LoggingConfig:\n" + "".join(f"{indent}  {line}\n" for line in lines.splitlines())
    head = f"Globals:\n  Function:\n{block(globals_, '    ')}" if globals_ else ""
    write_file(code_dir / "src" / "app.py", APP)
    return write_file(code_dir / "template.yaml", f"""Transform: AWS::Serverless-2016-10-31
{head}Resources:
  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.12
{block(function, '      ') if function else ''}{extra}""")


@pytest.mark.parametrize("where", ["function", "globals"])
def test_a_json_logging_config_reaches_the_runtime_and_what_is_left_out_is_named(code_dir: Path, where: str) -> None:
    lines = "LogFormat: JSON\nApplicationLogLevel: WARN"
    path = template(code_dir, **({"function": lines} if where == "function" else {"globals_": lines}))

    done = run_cli("invoke", str(path), timeout=30)

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == ["JSON", "WARN"]
    # The runtime's logging reads them: a JSON record, and the root logger at WARN over the code's own INFO.
    records = [json.loads(line.split(None, 1)[1]) for line in done.stderr.splitlines()
               if line.startswith("[function]")]
    assert [(r["level"], r["message"]) for r in records] == [("WARNING", "order placed")]
    said = [line for line in done.stderr.splitlines() if "LoggingConfig" in line]
    assert said == [f"lambdatui: {path}: OrdersFunction: LoggingConfig: the JSON form of the platform's lines "
                    "(START, END and REPORT stay text) is not applied from the template; the runtime gets "
                    "AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL=WARN, as in Lambda"], done.stderr


def test_globals_and_the_function_merge_as_sam_merges_them(code_dir: Path) -> None:
    """Maps merge, the function's key wins: Globals' format with the function's level, over Globals' level."""
    path = template(code_dir, function="ApplicationLogLevel: ERROR",
                    globals_="LogFormat: JSON\nApplicationLogLevel: DEBUG")
    env = resolve_function(str(path)).env
    assert (env["AWS_LAMBDA_LOG_FORMAT"], env["AWS_LAMBDA_LOG_LEVEL"]) == ("JSON", "ERROR")


def test_a_variable_the_user_names_wins_over_logging_config(code_dir: Path) -> None:
    path = template(code_dir, function="LogFormat: JSON\nApplicationLogLevel: WARN")
    env_vars = write_file(code_dir / "env.json", json.dumps({"OrdersFunction": {"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}}))
    env = resolve_function(str(path), env_vars=str(env_vars), env_pairs=["AWS_LAMBDA_LOG_FORMAT=Text"]).env
    assert (env["AWS_LAMBDA_LOG_FORMAT"], env["AWS_LAMBDA_LOG_LEVEL"]) == ("Text", "DEBUG")


def test_text_sets_nothing_and_what_a_local_run_cannot_do_is_one_line(code_dir: Path) -> None:
    text = resolve_function(str(template(code_dir, function="LogFormat: Text")))
    assert not {"AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL"} & set(text.env)

    path = template(code_dir, function="LogFormat: JSON\nSystemLogLevel: WARN\nLogGroup: !Ref Logs",
                    extra="  Logs:\n    Type: AWS::Logs::LogGroup\n")
    said: list[str] = []
    config = resolve_function(str(path), report=said.append)
    # No ApplicationLogLevel: Lambda's default, INFO (its guide: "the default application log level ... is INFO").
    assert config.env["AWS_LAMBDA_LOG_FORMAT"] == "JSON" and config.env["AWS_LAMBDA_LOG_LEVEL"] == "INFO"
    assert [line for line in said if "LoggingConfig" in line] == [
        f"{path}: OrdersFunction: LoggingConfig: SystemLogLevel WARN (every platform line is written), the JSON form "
        "of the platform's lines (START, END and REPORT stay text) and LogGroup !Ref Logs (AWS_LAMBDA_LOG_GROUP_NAME "
        "stays /aws/lambda/OrdersFunction) are not applied from the template; the runtime gets "
        "AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL=INFO, as in Lambda"]


@pytest.mark.parametrize("lines, why", [
    ("LogFormat: json", "LogFormat 'json': Lambda takes Text or JSON"),
    ("LogFormat: JSON\nApplicationLogLevel: VERBOSE",
     "ApplicationLogLevel 'VERBOSE': Lambda takes TRACE, DEBUG, INFO, WARN, ERROR, FATAL"),
    ("LogFormat: JSON\nSystemLogLevel: ERROR", "SystemLogLevel 'ERROR': Lambda takes DEBUG, INFO, WARN"),
    ("ApplicationLogLevel: INFO",
     "ApplicationLogLevel INFO needs LogFormat JSON: Lambda refuses a log level with Text, the format by default"),
    ("LogFormat: JSON\nLogLevel: INFO",
     "LogLevel is no LoggingConfig property (it has LogFormat, ApplicationLogLevel, SystemLogLevel, LogGroup)"),
])
def test_what_cloudformation_refuses_is_one_line(code_dir: Path, lines: str, why: str) -> None:
    path = template(code_dir, function=lines)
    with pytest.raises(ConfigError) as caught:
        resolve_function(str(path))
    assert str(caught.value) == f"{path}: OrdersFunction: LoggingConfig: {why} (CloudFormation refuses such a template)"


def test_a_refused_value_exits_2_with_one_line(code_dir: Path) -> None:
    done = run_cli("invoke", str(template(code_dir, function="LogFormat: Json")), timeout=30)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.strip().splitlines() == [f"lambdatui: {code_dir / 'template.yaml'}: OrdersFunction: "
                                                "LoggingConfig: LogFormat 'Json': Lambda takes Text or JSON "
                                                "(CloudFormation refuses such a template)"]
