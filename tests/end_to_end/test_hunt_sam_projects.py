"""SAM templates as `sam init` projects and real repositories write them, run as a user runs them (`lambdatui invoke
template.yaml`, `lambdatui serve template.yaml --function ...`): Globals, Parameters, pseudo parameters, nested
handler paths, SAM's `IgnoreGlobals`, conditional properties, and templates a user gets wrong. Each test under
"findings" pins a finding of the hunt in /work/scratch/s55/hunt_sam.md (each fixed since); the rest is behaviour no
other test runs end to end."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, run_cli, write_file

REPORTER = """\
import os


def lambda_handler(event, context):
    return {
        "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("X_")},
        "memory": context.memory_limit_in_mb,
        "name": context.function_name,
        "timeout_over_10s": context.get_remaining_time_in_millis() > 10_000,
    }
"""


def lambdatui_lines(stderr: str) -> list[str]:
    """What lambdatui itself said about the template (`lambdatui: ...` lines), without the platform's lines."""
    return [line for line in stderr.splitlines() if line.startswith("lambdatui:")]


def write_template(folder: Path, text: str, name: str = "template.yaml") -> Path:
    return write_file(folder / name, textwrap.dedent(text))


# ---------------------------------------------------------------------- what works, end to end


def test_a_sam_init_style_project_runs_with_globals_parameters_and_pseudo_parameters(code_dir: Path) -> None:
    # What `sam init` writes and projects grow into: a BOM from an editor, Globals giving Runtime/Handler/Timeout/
    # MemorySize/variables, a function whose own variables merge over them, `CodeUri: .` with a nested handler
    # path, the long form of Fn::Sub with its own variables, a YAML merge key and a JSON-style flow map.
    write_file(code_dir / "src" / "app.py", REPORTER)
    path = code_dir / "template.yaml"
    path.write_bytes("\ufeff".encode() + textwrap.dedent("""\
        AWSTemplateFormatVersion: '2010-09-09'
        Transform: AWS::Serverless-2016-10-31
        Description: >
          sam-app
        Parameters:
          Stage:
            Type: String
            Default: dev
            AllowedValues: [dev, prod]
          Names:
            Type: CommaDelimitedList
            Default: "orders, users"
        Mappings:
          Levels:
            dev: {Level: DEBUG}
        x-shared: &shared
          X_SHARED: anchored
          X_LEVEL: !FindInMap [Levels, !Ref Stage, Level]
        Globals:
          Function:
            Timeout: 30
            MemorySize: 256
            Runtime: python3.11
            Handler: src/app.lambda_handler
            Tracing: Active
            Environment:
              Variables:
                X_STAGE: !Ref Stage
                X_OVERRIDDEN: from-globals
        Resources:
          HelloWorldFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: .
              Environment:
                Variables:
                  <<: *shared
                  X_OVERRIDDEN: from-the-function
                  X_WHERE: !Sub "${AWS::StackName}/${AWS::Region}/${AWS::AccountId}/${AWS::Partition}"
                  X_LONG:
                    Fn::Sub:
                      - "${First}-${Stage}"
                      - First: !Select [0, !Ref Names]
                  X_SECOND: !Select [1, !Ref Names]
              Events:
                HelloWorld:
                  Type: Api
                  Properties: {Path: /hello, Method: get}
            Metadata:
              BuildMethod: python3.11
        Outputs:
          HelloWorldApi:
            Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/"
        """).encode())
    done = run_cli("invoke", str(path), "-e", "{}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "env": {
            "X_LEVEL": "DEBUG",
            "X_LONG": "orders-dev",
            "X_OVERRIDDEN": "from-the-function",
            "X_SECOND": "users",
            "X_SHARED": "anchored",
            "X_STAGE": "dev",
            "X_WHERE": "local/us-east-1/123456789012/aws",
        },
        "memory": "256",
        "name": "HelloWorldFunction",
        "timeout_over_10s": True,
    }
    assert lambdatui_lines(done.stderr) == [], done.stderr  # Events, Outputs, Tracing: nothing to say


# ---------------------------------------------------------------------- findings


@pytest.mark.parametrize("ignore", ['"*"', "[Environment, MemorySize, Timeout]"])
def test_ignore_globals_keeps_the_globals_off_the_function(code_dir: Path, ignore: str) -> None:
    # SAM's GlobalsPlugin (samtranslator/plugins/globals/globals.py get_template_globals), which `sam local` runs
    # too, leaves out of a resource with `IgnoreGlobals: "*"` every Globals property, and with a list the named ones.
    write_file(code_dir / "app.py", REPORTER)
    path = write_template(code_dir, f"""\
        Globals:
          Function:
            MemorySize: 512
            Timeout: 30
            Environment:
              Variables:
                X_GLOBAL: from-globals
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            IgnoreGlobals: {ignore}
            Properties:
              CodeUri: .
              Handler: app.lambda_handler
              Runtime: python3.11
        """)
    done = run_cli("invoke", str(path), "-e", "{}")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["env"] == {}, answer
    assert answer["memory"] == "128", answer
    assert answer["timeout_over_10s"] is False, answer


SIBLINGS = """\
Globals:
  Function:
    Runtime: python3.11
    Handler: app.lambda_handler
Resources:
  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: orders/
      FunctionName: !Sub "${AWS::StackName}-orders"
  UsersFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: users/
"""


def test_a_sibling_named_by_its_function_name_is_told_by_its_logical_id(code_dir: Path) -> None:
    # README: the template's other functions (by logical ID or FunctionName) are 404 ResourceNotFoundException,
    # "naming the --function that serves them"; --function takes a LOGICAL_ID.
    write_file(code_dir / "orders" / "app.py", REPORTER)
    write_file(code_dir / "users" / "app.py", REPORTER)
    path = write_template(code_dir, SIBLINGS)
    refused = run_cli("invoke", str(path), "--function", "local-orders")
    assert refused.returncode == 2 and "no such function" in refused.stderr, refused.stderr  # the logical ID only
    with ServeProcess(path, "--function", "UsersFunction") as served:
        answer = httpx.post(served.invoke_url("local-orders"), content=b"{}", timeout=30)
    assert answer.status_code == 404, served.output()
    message = answer.json()["Message"]
    assert "serve --function OrdersFunction" in message, message


def test_a_handler_from_a_parameter_without_default_says_how_to_give_it(code_dir: Path) -> None:
    write_file(code_dir / "app.py", REPORTER)
    path = write_template(code_dir, """\
        Parameters:
          HandlerName:
            Type: String
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: .
              Handler: !Ref HandlerName
              Runtime: python3.11
        """)
    done = run_cli("invoke", str(path), "-e", "{}")
    assert done.returncode == 2, done.stderr
    said = lambdatui_lines(done.stderr)
    assert len(said) == 1, done.stderr
    # The template has a Handler: the parameter it comes from, and how to give it, are what the user needs.
    assert "no Handler" not in said[0] and "HandlerName" in said[0], said[0]


@pytest.mark.parametrize("prop,told", [
    ("ReservedConcurrentExecutions: !If [IsProd, 100, !Ref AWS::NoValue]", "ReservedConcurrentExecutions"),
    ("ProvisionedConcurrencyConfig: !If [IsProd, {ProvisionedConcurrentExecutions: 5}, !Ref AWS::NoValue]",
     "ProvisionedConcurrencyConfig"),
    ("SnapStart: !If [IsProd, {ApplyOn: PublishedVersions}, {ApplyOn: None}]", "--snapstart"),
])
def test_a_serving_property_this_deployment_does_not_set_is_not_said_to_need_an_option(
        code_dir: Path, prop: str, told: str) -> None:
    # The pattern real templates use to turn a setting on in production only. With the Default (dev) the
    # property is removed (AWS::NoValue) or SnapStart is off: the function as deployed has no such setting, and
    # "give --snapstart" would turn on what the template turns off (reader.py already keeps quiet for a literal
    # `SnapStart: {ApplyOn: None}`).
    write_file(code_dir / "app.py", REPORTER)
    path = write_template(code_dir, f"""\
        Parameters:
          Stage: {{Type: String, Default: dev}}
        Conditions:
          IsProd: !Equals [!Ref Stage, prod]
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: .
              Handler: app.lambda_handler
              Runtime: python3.11
              AutoPublishAlias: live
              {prop}
        """)
    done = run_cli("invoke", str(path), "-e", "{}")
    assert done.returncode == 0, done.stderr
    assert not [line for line in lambdatui_lines(done.stderr) if told in line], done.stderr


@pytest.mark.parametrize("kind", ["[AWS::Serverless::Function]", "!Ref FunctionType"])
def test_a_resource_type_that_is_not_a_string_is_one_line(code_dir: Path, kind: str) -> None:
    path = write_template(code_dir, f"""\
        Parameters:
          FunctionType: {{Type: String, Default: AWS::Serverless::Function}}
        Resources:
          Fn:
            Type: {kind}
            Properties:
              CodeUri: .
              Handler: app.lambda_handler
        """)
    done = run_cli("invoke", str(path), "-e", "{}")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2 and len(lambdatui_lines(done.stderr)) == 1, done.stderr


def test_an_env_vars_block_named_by_the_function_name_applies_as_sam_local_applies_it(code_dir: Path) -> None:
    # SAM CLI's LocalLambdaRunner._make_env_vars: "Precedence: logical_id -> function_id -> function name ->
    # full_path, customer can use any of them". README: `--env-vars FILE` is "SAM's --env-vars file".
    write_file(code_dir / "orders" / "app.py", REPORTER)
    path = write_template(code_dir, """\
        Resources:
          OrdersFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: orders/
              Handler: app.lambda_handler
              Runtime: python3.11
              FunctionName: orders-fn
              Environment:
                Variables:
                  X_TABLE: placeholder
        """)
    env_vars = write_file(code_dir / "env.json", json.dumps({"orders-fn": {"X_TABLE": "orders-local"}}))
    done = run_cli("invoke", str(path), "--env-vars", str(env_vars), "-e", "{}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["env"] == {"X_TABLE": "orders-local"}, done.stderr
