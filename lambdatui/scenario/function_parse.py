"""A scenario's `[function]` table: the function's settings and its fleet's, each value checked.

Raises ValueError with a message that starts with `[function]:`; `parse.py` adds the file and line.
"""

from __future__ import annotations

from typing import Any, Optional

from lambdatui.fleet_options import MAX_CONCURRENCY_LIMIT
from lambdatui.lambda_limits import (
    MAX_MEMORY_MB,
    MAX_TIMEOUT_S,
    MIN_MEMORY_MB,
    MIN_TIMEOUT_S,
    env_name_problem,
    reserved_env_problem,
)
from lambdatui.model.fleet import (DEFAULT_CONCURRENCY, MAX_EVENT_AGE_S, MAX_IDLE_SHUTDOWN_S, MAX_RETRY_ATTEMPTS,
                                   MIN_EVENT_AGE_S)
from lambdatui.scenario.model import FunctionSettings
from lambdatui.scenario.values import is_int, type_name, unknown_hint

FUNCTION_KEYS = ("timeout", "memory", "handler", "env", "concurrency", "provisioned", "idle_shutdown", "snapstart",
                 "max_concurrency", "retry_attempts", "max_event_age", "retry_wait")


def parse_function(raw: Any) -> FunctionSettings:
    if not isinstance(raw, dict):
        raise ValueError(f"function must be a table ([function]), got {type_name(raw)}")
    for key in raw:
        if key not in FUNCTION_KEYS:
            raise ValueError(f"[function]: unknown key {key!r}{unknown_hint(key, FUNCTION_KEYS)} "
                             f"(it takes: {', '.join(FUNCTION_KEYS)})")
    timeout = raw.get("timeout")
    if timeout is not None and (not is_int(timeout) or not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S):
        raise ValueError(f"[function]: timeout = {timeout!r}: Lambda allows whole seconds from "
                         f"{MIN_TIMEOUT_S} to {MAX_TIMEOUT_S}")
    memory = raw.get("memory")
    if memory is not None and (not is_int(memory) or not MIN_MEMORY_MB <= memory <= MAX_MEMORY_MB):
        raise ValueError(f"[function]: memory = {memory!r}: Lambda allows {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MB")
    handler = raw.get("handler")
    if handler is not None and (not isinstance(handler, str) or "." not in handler):
        raise ValueError(f"[function]: handler = {handler!r}: expected \"module.function\"")
    env = raw.get("env", {})
    if not isinstance(env, dict):
        raise ValueError(f"[function]: env must be a table of strings, got {type_name(env)}")
    for key, value in env.items():
        if not isinstance(value, str):
            raise ValueError(f"[function]: env.{key} must be a string (environment variables are text: quote it), "
                             f"got {type_name(value)}")
    reserved = reserved_env_problem(env) or env_name_problem(env)
    if reserved:
        raise ValueError(f"[function]: env: {reserved}")
    concurrency, provisioned, idle = _fleet(raw)
    snapstart = _snapstart(raw, provisioned)
    max_concurrency = _max_concurrency(raw, snapstart)
    return FunctionSettings(timeout, memory, handler, dict(env), concurrency, provisioned, idle, snapstart,
                            max_concurrency, *_retries(raw))


def _fleet(raw: dict[str, Any]) -> tuple[Optional[int], Optional[int], Optional[float]]:
    concurrency = raw.get("concurrency")
    if concurrency is not None and (not is_int(concurrency) or concurrency < 1):
        raise ValueError(f"[function]: concurrency = {_shown(concurrency)}: give the environments that may run at "
                         "once, a whole number from 1")
    provisioned = raw.get("provisioned")
    if provisioned is not None and (not is_int(provisioned) or provisioned < 0):
        raise ValueError(f"[function]: provisioned = {_shown(provisioned)}: give the environments initialised ahead of "
                         "invokes, a whole number from 0")
    limit = concurrency if concurrency is not None else DEFAULT_CONCURRENCY
    if provisioned is not None and provisioned > limit:
        given = f"concurrency = {concurrency}" if concurrency is not None else f"the default concurrency ({limit})"
        raise ValueError(f"[function]: provisioned = {provisioned} is more than {given}: provisioned environments "
                         "count against the concurrency limit, as in Lambda")
    idle = raw.get("idle_shutdown")
    if idle is not None:
        if isinstance(idle, bool) or not isinstance(idle, (int, float)) or not 0 < idle <= MAX_IDLE_SHUTDOWN_S:
            raise ValueError(f"[function]: idle_shutdown = {_shown(idle)}: give the seconds an environment may sit "
                             f"idle before it is shut down, more than 0 and at most {MAX_IDLE_SHUTDOWN_S:g} (a day; "
                             "leave it out to keep idle environments)")
        idle = float(idle)
    return concurrency, provisioned, idle


def _snapstart(raw: dict[str, Any], provisioned: Optional[int]) -> Optional[bool]:
    snapstart = raw.get("snapstart")
    if snapstart is None:
        return None
    if not isinstance(snapstart, bool):
        raise ValueError(f"[function]: snapstart = {_shown(snapstart)}: write snapstart = true (SnapStart: Init once "
                         "into a snapshot, every environment restored from it) or leave it out")
    if snapstart and provisioned:
        # As the command line refuses --snapstart with --provisioned: Lambda's SnapStart does not support it.
        raise ValueError(f"[function]: snapstart = true cannot go with provisioned = {provisioned}: Lambda's SnapStart "
                         "does not support provisioned concurrency (remove one of them)")
    return snapstart


def _max_concurrency(raw: dict[str, Any], snapstart: Optional[bool]) -> Optional[int]:
    """Managed Instances (as --max-concurrency): a recording of a `serve --max-concurrency` session writes it, since
    the function sees the mode (AWS_LAMBDA_MAX_CONCURRENCY, its initialisation type) and the fleet routes by it."""
    value = raw.get("max_concurrency")
    if value is None:
        return None
    if not is_int(value) or not 1 <= value <= MAX_CONCURRENCY_LIMIT:
        raise ValueError(f"[function]: max_concurrency = {_shown(value)}: give the invokes each environment runs at "
                         f"once (Lambda Managed Instances), a whole number from 1 to {MAX_CONCURRENCY_LIMIT}")
    if snapstart:
        raise ValueError(f"[function]: snapstart = true cannot go with max_concurrency = {value}: Lambda's SnapStart "
                         "does not support Managed Instances (remove one of them)")
    return value


def _retries(raw: dict[str, Any]) -> tuple[Optional[int], Optional[int], Optional[float]]:
    """A failed Event invoke's retries, as EventInvokeConfig takes them (and lambdatui's wait before the first)."""
    attempts, age, wait = raw.get("retry_attempts"), raw.get("max_event_age"), raw.get("retry_wait")
    if attempts is not None and (not is_int(attempts) or not 0 <= attempts <= MAX_RETRY_ATTEMPTS):
        raise ValueError(f"[function]: retry_attempts = {_shown(attempts)}: give 0 to {MAX_RETRY_ATTEMPTS}, the times "
                         "a failed Event invoke runs again (MaximumRetryAttempts)")
    if age is not None and (not is_int(age) or not MIN_EVENT_AGE_S <= age <= MAX_EVENT_AGE_S):
        raise ValueError(f"[function]: max_event_age = {_shown(age)}: give {MIN_EVENT_AGE_S} to {MAX_EVENT_AGE_S} "
                         "seconds (MaximumEventAgeInSeconds)")
    if wait is not None:
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_EVENT_AGE_S:
            raise ValueError(f"[function]: retry_wait = {_shown(wait)}: give the seconds before a failed Event "
                             f"invoke's first retry, 0 to {MAX_EVENT_AGE_S}")
        wait = float(wait)
    return attempts, age, wait


def _shown(value: Any) -> str:
    """A value as the scenario wrote it: a number or a string as itself, anything else by its TOML type."""
    return repr(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else type_name(value)
