"""What Lambda allows a function's configuration: its timeout, memory and layers, and the environment variables it
may not set. Every door (the command line, a SAM template, a scenario) checks against these, so all say the same."""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

from lambdatui.config_error import ConfigError

MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1, 900
DEFAULT_TIMEOUT_S, DEFAULT_MEMORY_MB = 3, 128
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
MAX_LAYERS = 5  # Lambda attaches at most five layers to a function (lambda-spec §2.6)

# Lambda refuses a configuration that sets any of these (lambda-spec §10.4): they describe the function and
# its sandbox, so an override would make the function disagree with its own ARN, handler, region or API.
# LANG, PATH, LD_LIBRARY_PATH, PYTHONPATH and NODE_PATH are not among them: Lambda lets a function extend those.
RESERVED_ENV_VARS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR", "TZ",
})


def reserved_env_problem(names: Iterable[str]) -> Optional[str]:
    """Lambda's own refusal (InvalidParameterValueException) if any of `names` is reserved, else None.

    Every door that sets variables (--env, --env-file, a scenario's env table) asks this, so all say the same.
    """
    used = [name for name in names if name in RESERVED_ENV_VARS]
    if not used:
        return None
    return ("InvalidParameterValueException: Lambda was unable to configure your environment variables because "
            "the environment variables you have provided contains reserved keys that are currently not supported "
            "for modification. Reserved keys used in this request: " + ", ".join(used))


def check_env_not_reserved(env: Mapping[str, str], origin: str) -> None:
    problem = reserved_env_problem(env)
    if problem:
        raise ConfigError(f"{origin}: {problem}")

