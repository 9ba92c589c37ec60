"""The reserved-variable rule itself (lambda-spec §10.4); the CLI's use of it is in end_to_end/test_reserved_env.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdatui.config import FunctionConfig
from lambdatui.config_error import ConfigError
from lambdatui.lambda_limits import RESERVED_ENV_VARS, reserved_env_problem
from lambdatui.runtime_choice import RuntimeCommand


def test_the_reserved_list_is_lambdas_and_leaves_the_extendable_ones_alone():
    assert len(RESERVED_ENV_VARS) == 19
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
