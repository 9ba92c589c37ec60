"""Item 4: Lambda's reserved environment variables (lambda-spec §10.4) are refused in every mode.

One line on stderr, exit 2, nothing started; non-reserved variables still reach the function and its
extensions.
"""

from __future__ import annotations

import json
import sys

import pytest

from acceptance_support import SAMPLES, assert_one_line_refusal, cli, write
from free_ports import free_port

HELLO = SAMPLES / "hello"

SPEC_RESERVED = [
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
]


def keys_named(line: str) -> list[str]:
    """The keys the refusal names, exactly (a substring check would let AWS_ACCESS_KEY_ID stand for AWS_ACCESS_KEY)."""
    return line.split("Reserved keys used in this request: ", 1)[1].split(", ")


def test_invoke_refuses_each_reserved_name():
    """Every name of lambda-spec §10.4 in one invoke (each --env is checked on its own; the refusal names every
    reserved key given, test_invoke_names_every_reserved_key_given): the line must name each, and only them."""
    args = ["--env", "FINE=1"]
    for name in SPEC_RESERVED:
        args += ["--env", f"{name}=something"]
    result = cli("invoke", HELLO, *args)
    line = assert_one_line_refusal(result)
    assert result.stdout == ""
    named = keys_named(line)
    assert sorted(named) == sorted(SPEC_RESERVED), (set(SPEC_RESERVED) - set(named), set(named) - set(SPEC_RESERVED))
    assert "FINE" not in line


def test_invoke_refuses_a_reserved_name_with_an_empty_value():
    assert_one_line_refusal(cli("invoke", HELLO, "--env", "AWS_REGION="), "AWS_REGION")


def test_invoke_names_every_reserved_key_given():
    line = assert_one_line_refusal(cli("invoke", HELLO, "--env", "TZ=UTC", "--env", "OK=1", "--env", "_HANDLER=x.y"))
    assert "TZ" in line and "_HANDLER" in line and "OK" not in line.split(":")[-1]


# Each mode is given these four at once: the refusal must name each (one run per mode, as one name per run showed
# nothing more: which names are reserved is the invoke test's, every mode's --env goes through the same check).
MODE_NAMES = ["AWS_REGION", "_HANDLER", "AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT"]
MODE_ENV = [arg for name in MODE_NAMES for arg in ("--env", f"{name}=x")]


def test_serve_refuses():
    result = cli("serve", HELLO, "--port", str(free_port()), *MODE_ENV, timeout=30)
    assert keys_named(assert_one_line_refusal(result)) == MODE_NAMES


def test_replay_refuses(code_dir):
    write(code_dir / "s.toml", "[[step]]\ninvoke = {}\n", dedent=False)
    result = cli("replay", HELLO, code_dir / "s.toml", *MODE_ENV)
    assert keys_named(assert_one_line_refusal(result)) == MODE_NAMES
    assert "INIT_START" not in result.stdout


def test_debugger_refuses_before_opening():
    # No terminal here: a refusal must come before the TUI would start.
    result = cli(HELLO, *MODE_ENV, timeout=30)
    assert keys_named(assert_one_line_refusal(result)) == MODE_NAMES


def test_debugger_with_port_and_record_refuses_and_writes_nothing(code_dir):
    record = code_dir / "rec.toml"
    result = cli(HELLO, "--port", str(free_port()), "--record", record, "--env", "AWS_REGION=x", timeout=30)
    assert_one_line_refusal(result, "AWS_REGION")
    assert not record.exists()


def test_debugger_python_api_refuses(code_dir):
    from lambdatui.config import resolve_function

    with pytest.raises(Exception) as caught:
        resolve_function(str(HELLO), env_pairs=["AWS_LAMBDA_FUNCTION_NAME=other"])
    assert "AWS_LAMBDA_FUNCTION_NAME" in str(caught.value)


def test_scenario_function_env_table_refuses(code_dir):
    write(code_dir / "s.toml", '[function]\nenv = { AWS_REGION = "eu-west-1" }\n\n[[step]]\ninvoke = {}\n', dedent=False)
    result = cli("replay", HELLO, code_dir / "s.toml")
    assert_one_line_refusal(result, "AWS_REGION")


@pytest.mark.parametrize("shape", ["plain", "sam-function", "sam-parameters"])
def test_env_file_refuses(code_dir, shape):
    values = {"STAGE": "dev", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:1"}
    document = {"plain": values, "sam-function": {"hello": values}, "sam-parameters": {"Parameters": values}}[shape]
    env_file = write(code_dir / "env.json", json.dumps(document))
    assert_one_line_refusal(cli("invoke", HELLO, "--env-file", env_file), "AWS_LAMBDA_RUNTIME_API")


# --------------------------------------------------------------------------- non-reserved still work

PRINT_ENV = """\
    import os

    def handler(event, context):
        names = ["MY_VAR", "LANG", "aws_region", "AWS_LAMBDA_EXEC_WRAPPER_UNUSED", "EMPTY", "WITH_EQUALS",
                 "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME"]
        seen = {name: os.environ.get(name) for name in names}
        with open(os.path.join(os.environ["STATE_DIR"], "ext-env.json")) as fh:
            seen["extension"] = fh.read()
        return seen
    """

EXT = f"""#!{sys.executable}
import http.client, json, os, sys
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
with open(os.path.join(os.environ["STATE_DIR"], "ext-env.json"), "w") as fh:
    json.dump({{"MY_VAR": os.environ.get("MY_VAR"), "LANG": os.environ.get("LANG")}}, fh)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["SHUTDOWN"]}}),
            headers={{"Lambda-Extension-Name": "envext"}})
response = api.getresponse(); response.read()
ext_id = response.getheader("Lambda-Extension-Identifier")
api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": ext_id}})
api.getresponse().read()
"""


def test_non_reserved_variables_reach_the_function_and_its_extension(code_dir):
    state = "/tmp"  # the environment's /tmp: the extension writes what it saw there before registering
    write(code_dir / "handler.py", PRINT_ENV)
    write(code_dir / "extensions" / "envext", EXT, executable=True, dedent=False)
    env_file = write(code_dir / "env.json", json.dumps({"Parameters": {"LANG": "fr_FR.UTF-8"}}))
    result = cli("invoke", code_dir / "handler.py", "--env", f"STATE_DIR={state}", "--env", "MY_VAR=hello world",
                 "--env", "aws_region=lowercase-is-not-reserved", "--env", "EMPTY=", "--env", "WITH_EQUALS=a=b",
                 "--env", "AWS_LAMBDA_EXEC_WRAPPER_UNUSED=fine", "--env-file", env_file)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["MY_VAR"] == "hello world"
    assert seen["LANG"] == "fr_FR.UTF-8"
    assert seen["aws_region"] == "lowercase-is-not-reserved"
    assert seen["EMPTY"] == "" and seen["WITH_EQUALS"] == "a=b"
    assert seen["AWS_REGION"] and seen["AWS_LAMBDA_FUNCTION_NAME"]  # lambdatui's own values are there
    assert json.loads(seen["extension"]) == {"MY_VAR": "hello world", "LANG": "fr_FR.UTF-8"}
