"""Reserved environment variables are refused in every mode, as Lambda refuses them (lambda-spec §10.4).

Lambda answers a configuration that sets one with InvalidParameterValueException; lambdatui says the same
in one line and exits 2 before anything starts, whichever door the variable came in by: --env, --env-file,
or a scenario's [function] env table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_support import SAMPLES, run_cli, write_file

LAMBDA_SAYS = ("InvalidParameterValueException: Lambda was unable to configure your environment variables because "
               "the environment variables you have provided contains reserved keys that are currently not supported "
               "for modification. Reserved keys used in this request: ")
HELLO = str(SAMPLES / "hello")
SCENARIO = '''[[step]]
invoke = {}
'''


def refused_line(result) -> str:
    """The one line on stderr, checked to be the only output and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "keys"),
    [
        pytest.param(["--env", "AWS_REGION=eu-west-1"], "AWS_REGION", id="region"),
        pytest.param(["--env", "GREETING=hi", "--env", "_HANDLER=other.handler", "--env",
                      "AWS_LAMBDA_FUNCTION_NAME=someone-else"], "_HANDLER, AWS_LAMBDA_FUNCTION_NAME", id="two-of-three"),
        pytest.param(["--env", "LAMBDA_TASK_ROOT=/var/task"], "LAMBDA_TASK_ROOT", id="task-root"),
        pytest.param(["--env", "TZ=Europe/Paris"], "TZ", id="tz"),
    ],
)
def test_invoke_refuses_reserved_env(args: list[str], keys: str) -> None:
    line = refused_line(run_cli("invoke", HELLO, *args))
    assert line == f"lambdatui: --env: {LAMBDA_SAYS}{keys}"


def test_invoke_refuses_reserved_env_from_an_env_file(code_dir: Path) -> None:
    env_file = code_dir / "env.json"
    env_file.write_text(json.dumps({"Parameters": {"STAGE": "dev", "AWS_SESSION_TOKEN": "x"}}))
    line = refused_line(run_cli("invoke", HELLO, "--env-file", str(env_file)))
    assert line == f"lambdatui: --env-file {env_file}: {LAMBDA_SAYS}AWS_SESSION_TOKEN"


def test_serve_refuses_reserved_env() -> None:
    line = refused_line(run_cli("serve", HELLO, "--port", "0", "--env", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1"))
    assert line == f"lambdatui: --env: {LAMBDA_SAYS}AWS_LAMBDA_RUNTIME_API"


def test_the_debugger_refuses_reserved_env_before_the_screen_opens() -> None:
    line = refused_line(run_cli(HELLO, "--env", "AWS_LAMBDA_FUNCTION_VERSION=7", timeout=30))
    assert line == f"lambdatui: --env: {LAMBDA_SAYS}AWS_LAMBDA_FUNCTION_VERSION"


def test_replay_refuses_reserved_env_on_the_command_line(code_dir: Path) -> None:
    scenario = code_dir / "ok.toml"
    scenario.write_text(SCENARIO)
    line = refused_line(run_cli("replay", HELLO, str(scenario), "--env", "AWS_EXECUTION_ENV=AWS_Lambda_java21"))
    assert line == f"lambdatui: --env: {LAMBDA_SAYS}AWS_EXECUTION_ENV"


def test_replay_refuses_a_scenario_that_sets_reserved_env(code_dir: Path) -> None:
    scenario = code_dir / "reserved.toml"
    scenario.write_text('[function]\nenv = { STAGE = "dev", AWS_DEFAULT_REGION = "eu-west-1" }\n\n' + SCENARIO)
    line = refused_line(run_cli("replay", HELLO, str(scenario)))
    assert line == f"{scenario}:1: [function]: env: {LAMBDA_SAYS}AWS_DEFAULT_REGION"


def test_variables_lambda_lets_you_extend_are_still_accepted(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", "import os\n\n\ndef handler(event, context):\n"
                                                  "    return {k: os.environ.get(k) for k in ('LANG', 'STAGE')}\n")
    result = run_cli("invoke", str(handler), "--env", "LANG=C.UTF-8", "--env", "STAGE=dev")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"LANG": "C.UTF-8", "STAGE": "dev"}
