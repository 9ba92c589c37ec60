"""The reserved-variable rule itself (lambda-spec §10.4), Lambda's name pattern and 4 KB limit, and which block of an
--env-file a function takes; the CLI's use of them is in end_to_end/test_reserved_env.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdatui.config import FunctionConfig, resolve_function
from lambdatui.config_error import ConfigError
from lambdatui.lambda_limits import RESERVED_ENV_VARS, reserved_env_problem
from lambdatui.runtime_choice import RuntimeCommand


def test_the_reserved_list_is_lambdas_and_leaves_the_extendable_ones_alone():
    assert len(RESERVED_ENV_VARS) == 21  # with the metadata endpoint's two (the developer guide's list)
    for extendable in ("LANG", "PATH", "LD_LIBRARY_PATH", "PYTHONPATH", "NODE_PATH"):
        assert reserved_env_problem([extendable]) is None


def test_the_refusal_names_every_reserved_key_in_the_order_given():
    problem = reserved_env_problem(["STAGE", "TZ", "AWS_ACCESS_KEY_ID", "LANG"])
    assert problem is not None
    assert problem.startswith("InvalidParameterValueException: Lambda was unable to configure your environment")
    assert problem.endswith("Reserved keys used in this request: TZ, AWS_ACCESS_KEY_ID")


def test_a_function_config_built_any_other_way_is_refused_too():
    runtime = RuntimeCommand(("bootstrap",), ours=False, description="provided:al2023")
    with pytest.raises(ConfigError, match=r"^environment variables: .*in this request: AWS_REGION$"):
        FunctionConfig("fn", Path("."), "handler.handler", runtime, env={"AWS_REGION": "eu-west-1"})


# ---------------------------------------------------------------------- names, size, where each came from

FUNCTION = """\
Resources:
  MainFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      FunctionName: main-deployed
      Environment:
        Variables: {STAGE: dev}
"""


def project(folder: Path, template: str = FUNCTION) -> Path:
    (folder / "code").mkdir(exist_ok=True)
    (folder / "code" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    path = folder / "template.yaml"
    path.write_text(template)
    return path


NAME_RULE = "not a variable name Lambda takes (a letter, then at least one letter, digit or _: [a-zA-Z][a-zA-Z0-9_]+)"


@pytest.mark.parametrize("pair", ["1X=2", "SP ACE=1", "A-B=1", "X=1", "É_A=1"])
def test_a_name_lambda_refuses_is_refused_from_the_command_line(code_dir: Path, pair: str):
    template = project(code_dir)
    name = pair.partition("=")[0]
    with pytest.raises(ConfigError) as caught:
        resolve_function(str(template), env_pairs=[pair])
    assert str(caught.value) == f"--env: {name!r}: {NAME_RULE}"


@pytest.mark.parametrize("key", ["1BAD", "A=B", "WITH SPACE"])
def test_a_name_lambda_refuses_is_refused_from_the_template_and_the_files(code_dir: Path, key: str):
    template = project(code_dir, FUNCTION.replace("{STAGE: dev}", f'{{"{key}": x}}'))
    with pytest.raises(ConfigError) as caught:
        resolve_function(str(template))
    assert str(caught.value) == f"{template}: MainFunction: Environment.Variables: {key!r}: {NAME_RULE}"
    good = project(code_dir)
    for option in ("env_vars", "env_file"):
        path = code_dir / f"{option}.json"
        path.write_text(json.dumps({"MainFunction": {key: "x"}}))
        with pytest.raises(ConfigError) as caught:
            resolve_function(str(good), **{option: str(path)})
        assert str(caught.value) == f"--{option.replace('_', '-')} {path}: {key!r}: {NAME_RULE}"


def test_more_than_4_kb_of_variables_together_is_refused(code_dir: Path):
    template = project(code_dir)
    # {"STAGE":"dev","BIG":"aaa..."}: 24 bytes of JSON around the value.
    config = resolve_function(str(template), env_pairs=["BIG=" + "a" * (4096 - 24)])
    assert len(config.env["BIG"]) == 4072
    with pytest.raises(ConfigError, match=r"^environment variables \(every source together\): 4,097 bytes as JSON, "
                                          r"as Lambda measures them: Lambda allows at most 4 KB \(4,096 bytes\)$"):
        resolve_function(str(template), env_pairs=["BIG=" + "a" * (4096 - 23)])
    runtime = RuntimeCommand(("bootstrap",), ours=False, description="provided:al2023")
    # A configuration built in code, as tests build them, is measured by the same one check.
    with pytest.raises(ConfigError, match=r"^environment variables \(every source together\): 5,010 bytes"):
        FunctionConfig("fn", Path("."), "handler.handler", runtime, env={"BIG": "a" * 5000})


def test_an_env_file_in_sams_shape_is_matched_by_the_logical_id(code_dir: Path):
    """The template names the function main-deployed; sam local matches the block by its logical ID."""
    template = project(code_dir)
    env_file = code_dir / "env.json"
    env_file.write_text(json.dumps({"MainFunction": {"BUCKET": "b1"}, "OtherFunction": {"OTHER": "1"},
                                    "Parameters": {"STAGE": "p"}}))
    config = resolve_function(str(template), env_file=str(env_file))
    assert config.name == "main-deployed"
    assert dict(config.env) == {"STAGE": "dev", "BUCKET": "b1"}


def test_a_template_handler_without_a_dot_names_the_template_not_an_option(code_dir: Path):
    template = project(code_dir, FUNCTION.replace("Handler: app.handler", "Handler: app"))
    with pytest.raises(ConfigError) as caught:
        resolve_function(str(template))
    assert str(caught.value) == f"{template}: MainFunction: Handler 'app': expected module.function"
    with pytest.raises(ConfigError, match=r"^--handler 'nodot': expected module.function$"):
        resolve_function(str(template), handler="nodot")


def test_a_template_beside_a_handler_is_named_as_not_used(code_dir: Path):
    project(code_dir)
    (code_dir / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    config = resolve_function(str(code_dir))
    assert config.handler == "handler.handler"
    assert config.notes == (f"{code_dir / 'template.yaml'} was not used: {code_dir} holds a handler, which runs as it "
                            "is (--function LOGICAL_ID runs the template's function instead).",)
    assert resolve_function(str(code_dir), function="MainFunction").notes == ()


def test_a_layer_named_zip_that_is_no_zip_archive_is_refused_saying_so(tmp_path: Path) -> None:
    from lambdatui.config import check_layers

    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "bad.zip").write_text("not a zip archive")
    with pytest.raises(ConfigError) as text_file:
        check_layers([str(tmp_path / "notes.txt")])
    assert str(text_file.value).endswith("notes.txt: expected a layer folder or a .zip archive")
    with pytest.raises(ConfigError) as damaged:
        check_layers([str(tmp_path / "bad.zip")])
    assert str(damaged.value).endswith(
        "bad.zip: expected a layer folder or a .zip archive (this one is named .zip but is not a zip archive)")
