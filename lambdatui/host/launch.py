"""Argv, environment and working directory for the runtime and each extension (lambda-spec §5)."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Mapping, Optional

from lambdatui.config import FunctionConfig

REGION = "us-east-1"

# Extensions get the function's environment minus these (lambda-spec §5, "Rules for extensions").
_NOT_FOR_EXTENSIONS = {
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_XRAY_CONTEXT_MISSING",
    "AWS_XRAY_DAEMON_ADDRESS",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
    "_AWS_XRAY_DAEMON_ADDRESS",
    "_AWS_XRAY_DAEMON_PORT",
    "_HANDLER",
}

# Passed through from the user's shell so that their tools and credentials still work locally.
_PASS_THROUGH = ("PATH", "HOME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def log_stream_name() -> str:
    return time.strftime("%Y/%m/%d", time.gmtime()) + "/[$LATEST]" + secrets.token_hex(16)


def runtime_environment(
    config: FunctionConfig,
    runtime_api: str,
    stream: str,
    stack_file: Optional[Path],
    host_env: Mapping[str, str],
    report_globals: bool = False,
    exit_file: Optional[Path] = None,
) -> dict[str, str]:
    env = {k: host_env[k] for k in _PASS_THROUGH if k in host_env}
    env.update({
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "LAMBDA_TASK_ROOT": str(config.code_dir),
        "_HANDLER": config.handler,
    })
    if config.runtime.ours:
        major, minor = _python_version_hint(config.runtime.argv[0])
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_python{major}.{minor}" if major else "AWS_Lambda_python3"
        env["LAMBDA_RUNTIME_DIR"] = str(Path(config.runtime.argv[1]))
        env["LAMBDATUI_PRIVATE_API"] = "1"
        if report_globals:
            env["LAMBDATUI_REPORT_GLOBALS"] = "1"
        if stack_file is not None:
            env["LAMBDATUI_STACK_FILE"] = str(stack_file)
        if exit_file is not None:
            env["LAMBDATUI_EXIT_FILE"] = str(exit_file)
    else:
        env["LAMBDA_RUNTIME_DIR"] = str(config.code_dir)
    env.update(config.env)  # the user's own variables win, as in Lambda's console
    return env


def extension_environment(runtime_env: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v for k, v in runtime_env.items()
        if k not in _NOT_FOR_EXTENSIONS and not k.startswith("_") and not k.startswith("LAMBDATUI_")
    }


def _python_version_hint(interpreter: str) -> tuple[str, str]:
    """Best effort from the interpreter's resolved name (python3.11), without starting it."""
    name = os.path.basename(os.path.realpath(interpreter))
    digits = name.removeprefix("python")
    major, _, minor = digits.partition(".")
    if major.isdigit() and minor.isdigit():
        return major, minor
    return "", ""
