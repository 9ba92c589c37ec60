"""What Lambda allows a function's configuration: its timeout, memory and layers, and the environment variables it
may not set. Every door (the command line, a SAM template, a scenario) checks against these, so all say the same."""

from __future__ import annotations

import json
import re
from typing import Iterable, Mapping, Optional

from lambdatui.config_error import ConfigError
from lambdatui.model import error_types as et

MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1, 900
DEFAULT_TIMEOUT_S, DEFAULT_MEMORY_MB = 3, 128
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
MIN_TMP_MB, MAX_TMP_MB = 512, 10240  # EphemeralStorage.Size, which CreateFunction and CloudFormation check
MAX_LAYERS = 5  # Lambda attaches at most five layers to a function (lambda-spec §2.6)
MAX_QUALIFIER_CHARS = 128
QUALIFIER = re.compile(r"[a-zA-Z0-9$_-]{1,%d}" % MAX_QUALIFIER_CHARS)  # a version or alias an invoke may name
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # a function's own name (CreateFunction's, CloudFormation's)


def function_name_for_folder(folder: str) -> str:
    """The name a function without a template takes from its code's folder, made one Lambda allows (`FUNCTION_NAME`):
    other characters become "-", and it is cut at 64; a function that invokes itself by its context's name must
    reach itself through the Invoke API, which refuses any other."""
    if FUNCTION_NAME.fullmatch(folder):
        return folder
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", folder).strip("-")[:64].rstrip("-") or "function"
# The largest event Lambda's front end takes (lambda-spec §18): 6 MiB for a synchronous invoke, 1 MB for an Event one.
# Over it the invoke is refused (413 RequestEntityTooLargeException) before any function runs.
MAX_SYNC_EVENT_BYTES = et.MAX_SYNC_PAYLOAD_BYTES
MAX_ASYNC_EVENT_BYTES = et.MAX_ASYNC_PAYLOAD_BYTES

# Lambda refuses a configuration that sets any of these (lambda-spec §10.4): they describe the function and
# its sandbox, so an override would make the function disagree with its own ARN, handler, region or API.
# LANG, PATH, LD_LIBRARY_PATH, PYTHONPATH and NODE_PATH are not among them: Lambda lets a function extend those.
RESERVED_ENV_VARS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR", "TZ", "AWS_LAMBDA_METADATA_API", "AWS_LAMBDA_METADATA_TOKEN",
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


# Lambda's pattern for a variable's name (the API's Environment.Variables key): a letter, then at least one letter,
# digit or underscore. Anything else (`1X`, `A-B`, `A=B`, a one-letter `X`) is refused at configuration time, where
# otherwise a name with `=` in it would break every start of the runtime.
ENV_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+")
# "The total size of all environment variables doesn't exceed 4 KB", measured as Lambda's refusal shows it: the
# variables as one compact JSON object ("String measured: {...}").
MAX_ENV_BYTES = 4096


def env_name_problem(names: Iterable[str]) -> Optional[str]:
    """Lambda's refusal if any of `names` does not match its pattern, naming the first; else None."""
    bad = next((name for name in names if not ENV_NAME.fullmatch(name)), None)
    if bad is None:
        return None
    return (f"{bad!r}: not a variable name Lambda takes (a letter, then at least one letter, digit or _: "
            f"{ENV_NAME.pattern})")


def env_size_problem(env: Mapping[str, str]) -> Optional[str]:
    measured = len(json.dumps(dict(env), separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if measured <= MAX_ENV_BYTES:
        return None
    return (f"{measured:,} bytes as JSON, as Lambda measures them: Lambda allows at most 4 KB "
            f"({MAX_ENV_BYTES:,} bytes)")


def check_env_names(env: Mapping[str, str], origin: str) -> None:
    """The variables one source gives are ones Lambda would take: none reserved, each name well formed; and ones a
    process can be started with: no value holds a NUL byte (every start of the runtime would fail, `embedded null
    byte`, as a name holding `=` would)."""
    problem = reserved_env_problem(env) or env_name_problem(env) or _nul_value_problem(env)
    if problem:
        raise ConfigError(f"{origin}: {problem}")


def _nul_value_problem(env: Mapping[str, str]) -> Optional[str]:
    bad = next((name for name, value in env.items() if "\0" in value), None)
    return None if bad is None else f"{bad}: its value holds a NUL byte, which no process can be started with"


def check_env_size(env: Mapping[str, str], origin: str) -> None:
    problem = env_size_problem(env)
    if problem:
        raise ConfigError(f"{origin}: {problem}")



def event_size_problem(size: Optional[int], asynchronous: bool = False) -> Optional[str]:
    """Lambda's refusal of an event of `size` bytes (None: more than the limit, read no further), else None. The
    Invoke API refuses such a request with 413; the doors that take an event from a file or the command line
    (`invoke -e`, the debugger's `-e`, a scenario's events) ask this, so that an event Lambda would never deliver
    does not run here."""
    limit = MAX_ASYNC_EVENT_BYTES if asynchronous else MAX_SYNC_EVENT_BYTES
    if size is not None and size <= limit:
        return None
    kind = "an Event (asynchronous) invoke's" if asynchronous else "a synchronous invoke's"
    given = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    return (f"{given}, over Lambda's limit for {kind} payload ({limit:,} bytes): Lambda refuses it with "
            "RequestEntityTooLargeException (put large data in S3 and send its key)")
