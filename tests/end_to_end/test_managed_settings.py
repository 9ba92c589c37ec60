"""What `--max-concurrency M` sets up before any process runs (lambda-spec §4.2, §4.3, §5, §11.3): the option, the
environment's Init limit and initialisation type, the runtime's variables, the telemetry's initializationType."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lambdatui.config import resolve_function
from lambdatui.config_error import ConfigError
from lambdatui.core.managed_environment import ManagedEnvironment
from lambdatui.fleet_options import add_fleet_options, fleet_options
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.host.launch import runtime_environment
from lambdatui.model.telemetry_platform_records import FunctionInfo

from e2e_support import write_file


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_fleet_options(parser, idle_default=None)
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv, expected", [((), 0), (("--max-concurrency", "1"), 1), (("--max-concurrency", "16"), 16)])
def test_the_option(argv: tuple[str, ...], expected: int) -> None:
    assert fleet_options(parse(*argv), {}).max_concurrency == expected


@pytest.mark.parametrize("value", ["-1", "100000"])
def test_the_option_refuses_what_no_machine_runs(value: str) -> None:
    with pytest.raises(ConfigError, match="--max-concurrency"):
        fleet_options(parse("--max-concurrency", value), {})


@pytest.mark.parametrize("timeout_s, init_limit_ms", [(3, 130_000), (600, 600_000)])
def test_the_environment_admits_m_invokes_with_the_managed_init_limit(code_dir: Path, timeout_s: int,
                                                                     init_limit_ms: int) -> None:
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return 1\n")
    host = EnvironmentHost(resolve_function(str(handler), timeout_s=timeout_s), code_dir / "state", max_concurrency=4)
    config = host.env.config
    assert isinstance(host.env, ManagedEnvironment) and config.max_concurrency == 4
    # Managed Instances: the larger of 130 s and the function timeout, as for provisioned concurrency.
    assert config.init_timeout_ms == init_limit_ms
    assert host.init_type == "lambda-managed-instances"
    assert FunctionInfo.of(config).initialization_type == "lambda-managed-instances"
    assert host.function_env()["AWS_LAMBDA_LOG_FORMAT"] == "JSON"  # telemetry reads the function's logs as JSON


def test_the_default_environment_is_unchanged(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return 1\n")
    host = EnvironmentHost(resolve_function(str(handler)), code_dir / "state")
    assert not isinstance(host.env, ManagedEnvironment) and host.env.config.init_timeout_ms == 10_000
    assert host.init_type == "on-demand" and FunctionInfo.of(host.env.config).initialization_type == "on-demand"


def test_the_runtimes_variables_say_the_mode_whatever_the_function_sets(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return 1\n")
    config = resolve_function(str(handler), env_pairs=["AWS_LAMBDA_LOG_FORMAT=Text", "MINE=1"])
    env = runtime_environment(config, "127.0.0.1:9001", "stream", None, {}, init_type="lambda-managed-instances",
                              max_concurrency=5)
    assert (env["AWS_LAMBDA_INITIALIZATION_TYPE"], env["AWS_LAMBDA_MAX_CONCURRENCY"], env["AWS_LAMBDA_LOG_FORMAT"],
            env["MINE"]) == ("lambda-managed-instances", "5", "JSON", "1")
    default = runtime_environment(config, "127.0.0.1:9001", "stream", None, {})
    assert "AWS_LAMBDA_MAX_CONCURRENCY" not in default and default["AWS_LAMBDA_LOG_FORMAT"] == "Text"
