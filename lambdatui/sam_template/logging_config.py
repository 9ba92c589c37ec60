"""A function's `LoggingConfig` (Lambda's advanced logging controls): the variables Lambda gives the runtime for it,
what of it a local run cannot do, and what CloudFormation refuses in it."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from lambdatui.sam_template.intrinsics import OMITTED, Unresolved, describe, is_intrinsic

# The values Lambda's API takes (API_LoggingConfig), written as it spells them: it refuses any other.
LOG_FORMATS = ("Text", "JSON")
APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
LEVEL_KEYS = {"ApplicationLogLevel": APPLICATION_LOG_LEVELS, "SystemLogLevel": SYSTEM_LOG_LEVELS}
KEYS = ("LogFormat", *LEVEL_KEYS, "LogGroup")


def read(raw: Any, resolve: Callable[[Any, str], Any], name: str) -> tuple[dict[str, str], list[str]]:
    """The runtime's variables for the LoggingConfig `raw` (as written, Globals merged in) and the lines to say;
    ValueError for what Lambda refuses. `resolve(value, where)` raises Unresolved for what only CloudFormation knows;
    `name` is the function's."""
    if raw is None:
        return {}, []
    try:
        config = resolve(raw, "LoggingConfig") if is_intrinsic(raw) else raw
    except Unresolved as exc:
        return {}, [f"LoggingConfig is {exc}, which only CloudFormation can resolve: left out"]
    if config is None or config is OMITTED:
        return {}, []
    if not isinstance(config, dict):
        raise ValueError(f"expected a map, got {describe(config)}")
    extra = next((key for key in config if key not in KEYS), None)
    if extra is not None:
        raise ValueError(f"{extra} is no LoggingConfig property (it has {', '.join(KEYS)})")
    values: dict[str, str] = {}
    notes: list[str] = []
    for key, item in config.items():
        try:
            value = resolve(item, f"LoggingConfig.{key}")
        except Unresolved as exc:
            if key == "LogGroup":
                values[key] = describe(item)  # only named, never applied: as written names it well enough
            elif key == "LogFormat":  # the levels mean nothing without it
                return {}, [f"LoggingConfig.LogFormat is {exc}, which only CloudFormation can resolve: LoggingConfig "
                            "left out"]
            else:
                notes.append(f"LoggingConfig.{key} is {exc}, which only CloudFormation can resolve: left out")
            continue
        if value is not None and value is not OMITTED:
            values[key] = str(value)
    problem = check(values)
    if problem is not None:
        raise ValueError(problem)
    line = not_applied(values, name)
    return runtime_env(values), [*notes, *([line] if line else [])]


def check(values: Mapping[str, str]) -> Optional[str]:
    """What Lambda refuses in these resolved values (so CloudFormation fails the stack), else None."""
    log_format = values.get("LogFormat")
    if log_format is not None and log_format not in LOG_FORMATS:
        return f"LogFormat {log_format!r}: Lambda takes {' or '.join(LOG_FORMATS)}"
    for key, levels in LEVEL_KEYS.items():
        level = values.get(key)
        if level is None:
            continue
        if level not in levels:
            return f"{key} {level!r}: Lambda takes {', '.join(levels)}"
        if log_format != "JSON":  # Lambda: "LogLevel is not supported when LogFormat is set to Text"
            return f"{key} {level} needs LogFormat JSON: Lambda refuses a log level with Text, the format by default"
    return None


def runtime_env(values: Mapping[str, str]) -> dict[str, str]:
    """The variables Lambda sets for the runtime, which the runtime's logging reads (awslambdaric's and
    lambdatui's: JSON records, the root logger's level): only with the JSON format, as levels apply only there."""
    if values.get("LogFormat") != "JSON":
        return {}
    # "The default application log level for log filtering is INFO" (Lambda's guide): the runtime's logging filters
    # by what it is told, and told nothing, Python's root logger stays at WARNING and drops every INFO record.
    return {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": values.get("ApplicationLogLevel", "INFO")}


def not_applied(values: Mapping[str, str], name: str) -> Optional[str]:
    """One line naming what a local run leaves out, or None: lambdatui writes the platform's lines itself, every
    one and as text, and logs to the terminal rather than to a log group. `name` is the function's."""
    parts = []
    if "SystemLogLevel" in values:
        parts.append(f"SystemLogLevel {values['SystemLogLevel']} (every platform line is written)")
    if values.get("LogFormat") == "JSON":
        parts.append("the JSON form of the platform's lines (START, END and REPORT stay text)")
    if "LogGroup" in values:
        parts.append(f"LogGroup {values['LogGroup']} (AWS_LAMBDA_LOG_GROUP_NAME stays /aws/lambda/{name})")
    if not parts:
        return None
    env = runtime_env(values)
    applied = f"; the runtime gets {_listed([f'{k}={v}' for k, v in env.items()])}, as in Lambda" if env else ""
    verb = "are" if len(parts) > 1 else "is"
    return f"LoggingConfig: {_listed(parts)} {verb} not applied from the template{applied}"


def _listed(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
