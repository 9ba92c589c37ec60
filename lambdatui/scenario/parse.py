"""Read a scenario file (TOML) into a validated `Scenario`, or fail with `FILE:LINE: message`.

This module reads the structure ([function], [[step]] and each step's action); `expect_parse` reads a
step's `expect` table, `fault_parse` its fault, and `values` checks single values. All raise on the first problem.

tomllib reports a syntax error's line but keeps no positions for values, so a semantic error points at
the header of the offending `[[step]]` (or `[function]`), found by scanning the text. Every check
happens here, before any process starts: a scenario that would fail half-way through because of a typo
in step 7 wastes the six steps before it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from lambdatui.model import faults as flt
from lambdatui.model.fleet import EVENT, MAX_RETRY_ATTEMPTS, REQUEST_RESPONSE
from lambdatui.scenario import caller_parse
from lambdatui.scenario.expect_parse import parse_expect
from lambdatui.scenario.fault_parse import FAULT_OPTIONS, parse_fault
from lambdatui.scenario.function_parse import parse_function
from lambdatui.scenario.model import (
    MAX_PARALLEL,
    MAX_PAUSE_S,
    NO_EXPECT,
    Action,
    FaultAction,
    FunctionSettings,
    InvokeAction,
    NewEnvironmentAction,
    ParallelAction,
    PauseAction,
    Scenario,
    ShutdownAction,
    Step,
)
from lambdatui.scenario.values import (
    TOO_DEEP,
    after_retries,
    is_int,
    event_text,
    parse_signal,
    sized_event,
    to_json,
    type_name,
    unknown_hint,
)

# parse_signal is part of this module's interface (a step's fault is read through it, in fault_parse); it lives with
# the other value checks.
__all__ = ["ScenarioError", "check_targets", "load_scenario", "parse_scenario", "parse_signal"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TOP_KEYS = ("function", "step")
ACTION_KEYS = ("invoke", "parallel", "event_file", "fault", "new_environment", "shutdown", "pause")
STEP_KEYS = ACTION_KEYS + FAULT_OPTIONS + ("env", "envs", "worker", "workers", "expect", "invocation_type",
                                           "invocation_types", "retries", "after_retries") \
    + caller_parse.KEYS
INVOCATION_TYPES = (REQUEST_RESPONSE, EVENT)
# The steps that act on one environment (`env = N`), and the invokes routed to one when it can take them.
ENV_TAKERS = ("fault", "new_environment", "shutdown", "invoke", "event_file")




class ScenarioError(Exception):
    """A malformed scenario: `FILE:LINE: message` (exit status 2)."""

    def __init__(self, path: Path, line: Optional[int], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


# ---------------------------------------------------------------------- entry points


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ScenarioError(path, None, f"cannot read the scenario: {exc.strerror}") from None
    return parse_scenario(text, path)


def parse_scenario(text: str, path: Path) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, message = _syntax_error_position(str(exc), text)
        raise ScenarioError(path, line, f"TOML syntax: {message}") from None
    except RecursionError:
        raise ScenarioError(path, None, f"arrays or tables {TOO_DEEP}") from None
    return _Parser(text, path).scenario(data)


def check_targets(scenario: Scenario, extension_names: Sequence[str], python_runtime: bool = True) -> None:
    """What the steps name must be this function's: a fault's target the runtime or an extension it launches, an
    expect.telemetry's extension one it launches; a fault only lambdatui's Python runtime can carry out (raise)
    needs that runtime (`python_runtime`), as the debugger's own dialog says."""
    known = ", ".join(extension_names) if extension_names else "none"
    for step in scenario.steps:
        action = step.action
        for expect in (step.expect, *(step.expect.each or ())):
            for telemetry in expect.telemetry or ():
                if telemetry.extension not in extension_names:
                    raise ScenarioError(scenario.path, step.line, (
                        f"step {step.number}: expect.telemetry names extension {telemetry.extension!r}, which this "
                        f"function does not launch (its extensions: {known})"))
        if not isinstance(action, FaultAction):
            continue
        if isinstance(action.fault, flt.RaiseInHandler) and not python_runtime:
            raise ScenarioError(scenario.path, step.line, (
                f"step {step.number}: fault = 'raise' raises in the handler, which only lambdatui's Python runtime "
                "can do: this function has a runtime of its own (crash or timeout it instead)"))
        target = getattr(action.fault, "target", None)
        if target is None or target == flt.RUNTIME_TARGET and action.name != "init-error":
            continue
        if target not in extension_names:
            choices = "the extension's file name" if action.name == "init-error" else "'runtime' or an extension's file name"
            raise ScenarioError(scenario.path, step.line,
                                f"step {step.number}: target = {target!r} is not a participant of this function "
                                f"(give {choices}; extensions: {known})")


# ---------------------------------------------------------------------- positions


_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_SYNTAX_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def _syntax_error_position(message: str, text: str) -> tuple[Optional[int], str]:
    match = _SYNTAX_POSITION.search(message)
    if match:
        return int(match.group(1)), f"{message[:match.start()]} (column {match.group(2)})"
    match = _SYNTAX_AT_END.search(message)
    if match:
        return max(1, len(text.splitlines())), f"{message[:match.start()]} (at the end of the file)"
    return None, message


def _code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of every line that is not inside a multi-line string."""
    out = []
    open_delimiter: Optional[str] = None
    for number, line in enumerate(text.splitlines(), start=1):
        if open_delimiter is None:
            out.append((number, line))
        for delimiter in ('"""', "'''"):
            count = line.count(delimiter)
            if count % 2 and (open_delimiter is None or open_delimiter == delimiter):
                open_delimiter = None if open_delimiter else delimiter
    return out


_STEP_HEADER = re.compile(r"^\s*\[\[\s*step\s*\]\]\s*(#.*)?$")
_FUNCTION_HEADER = re.compile(r"^\s*\[\s*function\s*\]\s*(#.*)?$")


class _Lines:
    def __init__(self, text: str) -> None:
        self.code = _code_lines(text)
        self.steps = [n for n, line in self.code if _STEP_HEADER.match(line)]

    def step(self, index: int) -> Optional[int]:
        if index < len(self.steps):
            return self.steps[index]
        return self.key("step")  # `step = [{...}]` written inline: its key is the best we have

    def function(self) -> Optional[int]:
        for number, line in self.code:
            if _FUNCTION_HEADER.match(line):
                return number
        return self.key("function")

    def key(self, name: str) -> Optional[int]:
        pattern = re.compile(rf"^\s*(\[+\s*)?[\"']?{re.escape(name)}[\"']?\s*(=|\]|\.)")
        for number, line in self.code:
            if pattern.match(line):
                return number
        return None


# ---------------------------------------------------------------------- the parser


class _Parser:
    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.lines = _Lines(text)

    def fail(self, line: Optional[int], message: str) -> ScenarioError:
        return ScenarioError(self.path, line or 1, message)

    def scenario(self, data: Mapping[str, Any]) -> Scenario:
        for key in data:
            if key not in TOP_KEYS:
                raise self.fail(self.lines.key(key),
                                f"unknown key {key!r}{unknown_hint(key, TOP_KEYS)}: a scenario has an optional "
                                "[function] table and [[step]] tables")
        function = self.function(data.get("function", {}))
        raw_steps = data.get("step")
        if raw_steps is None:
            raise self.fail(1, "no [[step]] tables: a scenario runs at least one step")
        if not isinstance(raw_steps, list) or not all(isinstance(s, dict) for s in raw_steps):
            raise self.fail(self.lines.key("step"), "step must be an array of tables: write each as [[step]]")
        if not raw_steps:
            raise self.fail(self.lines.key("step"), "no steps: a scenario runs at least one step")
        steps = tuple(self.step(raw, i) for i, raw in enumerate(raw_steps))
        return Scenario(self.path, function, steps)

    # ------------------------------------------------------------------ [function]

    def function(self, raw: Any) -> FunctionSettings:
        try:
            return parse_function(raw)
        except ValueError as exc:
            raise self.fail(self.lines.function(), str(exc)) from None

    # ------------------------------------------------------------------ [[step]]

    def step(self, raw: Mapping[str, Any], index: int) -> Step:
        number = index + 1
        line = self.lines.step(index)
        try:
            action = self.action(raw, number)
            expect = parse_expect(raw.get("expect"), action, number) if "expect" in raw else NO_EXPECT
        except ValueError as exc:
            raise self.fail(line, str(exc)) from None
        return Step(number, line or 1, action, expect)

    def action(self, raw: Mapping[str, Any], number: int) -> Action:
        name = f"step {number}"
        for key in raw:
            if key not in STEP_KEYS:
                raise ValueError(f"{name}: unknown key {key!r}{unknown_hint(key, STEP_KEYS)} (a step takes one of "
                                 f"{', '.join(ACTION_KEYS)}; faults take {', '.join(FAULT_OPTIONS)}; and expect)")
        actions = [key for key in ACTION_KEYS if key in raw]
        if len(actions) > 1:
            raise ValueError(f"{name}: a step does exactly one thing, this one has {' and '.join(actions)}: "
                             "split it into one [[step]] each")
        if not actions:
            raise ValueError(f"{name}: nothing to do: give one of {', '.join(ACTION_KEYS)}")
        kind = actions[0]
        value = raw[kind]
        env = None
        if "env" in raw:
            env = raw["env"]
            if kind not in ENV_TAKERS:
                raise ValueError(f"{name}: env = N names the environment a {' / '.join(ENV_TAKERS)} step acts on "
                                 f"or is sent to, not a {kind} step"
                                 + (" (envs = [N, ...] names one for each of its events)" if kind == "parallel" else ""))
            if not is_int(env) or env < 1:
                raise ValueError(f"{name}: env = {env!r}: give an environment's number, 1 or more")
        if "envs" in raw and kind != "parallel":
            raise ValueError(f"{name}: envs = [...] goes with parallel = [...], one environment for each event"
                             + (f"; {kind} takes env = N" if kind in ENV_TAKERS else ""))
        worker = self.worker(raw, kind, name)
        asynchronous = self.invocation_type(raw, kind, name)
        caller = caller_parse.parse_caller(raw, kind, name)
        caller_parse.refuse_streamed_events((caller,), (asynchronous,), name)
        if kind != "fault":
            extra = [key for key in FAULT_OPTIONS if key in raw]
            if extra:
                raise ValueError(f"{name}: {extra[0]!r} only goes with fault = \"...\", not with {kind}")
        retries = raw.get("retries", 0)
        if "retries" in raw and kind not in ("invoke", "event_file", "parallel"):
            raise ValueError(f"{name}: retries = N goes with an Event invoke's step, not with {kind}")
        if kind in ("invoke", "event_file") and "retries" in raw and (
                not asynchronous or not is_int(retries) or not 0 <= retries <= MAX_RETRY_ATTEMPTS):
            raise ValueError(f"{name}: retries = {retries!r}: an Event invoke's step (invocation_type = \"Event\") "
                             "takes the times the fleet ran it again after a function error, "
                             f"0 to {MAX_RETRY_ATTEMPTS}")
        after = after_retries(raw, kind, name)
        if kind in ("invoke", "event_file"):
            event = self.invoke_event(value, name) if kind == "invoke" else self.event_file(value, name)
            return InvokeAction(sized_event(event, asynchronous, f"{name}: {kind}"), env, asynchronous, caller, worker,
                                retries, after)
        if kind == "parallel":
            action = self.parallel(value, name, raw.get("invocation_types"))
            for i, event in enumerate(action.events):
                sized_event(event, action.asynchronous[i] if action.asynchronous else False, f"{name}: parallel[{i}]")
            callers = caller_parse.parse_callers(raw, len(action.events), name)
            caller_parse.refuse_streamed_events(callers, action.asynchronous, name, each=True)
            count = len(action.events)
            most = MAX_RETRY_ATTEMPTS * sum(action.asynchronous)
            if "retries" in raw and (not is_int(retries) or not 0 <= retries <= most):
                raise ValueError(f"{name}: retries = {retries!r}: the times the fleet ran the step's Event invokes "
                                 f"again after their function errors, 0 to {most} (invocation_types says which are)")
            return dataclasses.replace(action, callers=callers, envs=self.by_position(raw, count, name, "envs"),
                                       workers=self.by_position(raw, count, name, "workers"), retries=retries,
                                       after_retries=after)
        if kind == "fault":
            return dataclasses.replace(parse_fault(raw, name), env=env)
        if kind in ("new_environment", "shutdown"):
            if value is not True:
                raise ValueError(f"{name}: write {kind} = true (got {value!r}); leave the step out to skip it")
            return NewEnvironmentAction(env) if kind == "new_environment" else ShutdownAction(env)
        # pause
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}: pause takes seconds (a number), got {type_name(value)}")
        if not 0 < value <= MAX_PAUSE_S:
            raise ValueError(f"{name}: pause = {value}: give more than 0 and at most {MAX_PAUSE_S:g} seconds")
        return PauseAction(float(value))

    def invoke_event(self, value: Any, name: str, what: str = "invoke") -> bytes:
        if isinstance(value, str):
            event_text(value, f"{name}: {what}")
            return value.encode()
        if isinstance(value, (dict, list)):
            return json.dumps(to_json(value, f"{name}: {what}")).encode()
        raise ValueError(f"{name}: {what} takes a table (the event) or JSON text, got {type_name(value)} "
                         "(write a bare JSON value as text: '42')")

    def invocation_type(self, raw: Mapping[str, Any], kind: str, name: str) -> bool:
        """`invocation_type = "Event"` on an invoke step (X-Amz-Invocation-Type): whether it is asynchronous."""
        if "invocation_types" in raw and kind != "parallel":
            raise ValueError(f"{name}: invocation_types goes with parallel = [...]; an invoke takes invocation_type")
        if "invocation_type" not in raw:
            return False
        value = raw["invocation_type"]
        if kind not in ("invoke", "event_file"):
            raise ValueError(f"{name}: invocation_type goes with invoke or event_file"
                             + (" (a parallel step takes invocation_types = [...])" if kind == "parallel" else ""))
        if value not in INVOCATION_TYPES:
            raise ValueError(f"{name}: invocation_type = {value!r}: give \"RequestResponse\" or \"Event\"")
        return value == EVENT

    def parallel(self, value: Any, name: str, types: Any = None) -> ParallelAction:
        example = "parallel = [{ n = 1 }, { n = 2 }]"
        if not isinstance(value, list):
            raise ValueError(f"{name}: parallel takes an array of events fired together, e.g. {example}; "
                             f"got {type_name(value)}")
        if len(value) < 2:
            raise ValueError(f"{name}: parallel has {len(value)} event{'s' * (len(value) != 1)}: give at least two "
                             "(one invoke is a step of its own: invoke = {...})")
        if len(value) > MAX_PARALLEL:
            raise ValueError(f"{name}: parallel has {len(value)} events: at most {MAX_PARALLEL} (each may start an "
                             "environment of real processes)")
        events = tuple(self.invoke_event(item, name, f"parallel[{i}]") for i, item in enumerate(value))
        if types is None:
            return ParallelAction(events)
        if not isinstance(types, list) or len(types) != len(events) or any(t not in INVOCATION_TYPES for t in types):
            raise ValueError(f"{name}: invocation_types = {types!r}: give one of \"RequestResponse\" or \"Event\" "
                             f"for each of the {len(events)} events")
        return ParallelAction(events, tuple(t == EVENT for t in types))

    def by_position(self, raw: Mapping[str, Any], count: int, name: str, key: str) -> tuple[int, ...]:
        """A parallel step's `envs = [N, ...]` (`key`): the environment each of its `count` events is sent to, as an
        invoke step's `env = N` sends it (0: routed as usual), or its `workers` (0: any); () when not given."""
        if key not in raw:
            return ()
        values = raw[key]
        if not isinstance(values, list) or len(values) != count or not all(is_int(v) and v >= 0 for v in values):
            what = ("an environment's number, 1 or more (0: routed as usual)" if key == "envs" else
                    "a worker's number, 1 or more (0: any worker)")
            raise ValueError(f"{name}: {key} = {values!r}: give {what}, for each of the {count} events")
        return tuple(values)

    def worker(self, raw: Mapping[str, Any], kind: str, name: str) -> int:
        """An invoke step's `worker = N` (Managed Instances: the environment's worker #N takes it); 0 when not given."""
        if "workers" in raw and kind != "parallel":
            raise ValueError(f"{name}: workers = [...] goes with parallel = [...], one worker for each event"
                             + ("; an invoke takes worker = N" if kind in ("invoke", "event_file") else ""))
        if "worker" not in raw:
            return 0
        value = raw["worker"]
        if kind not in ("invoke", "event_file"):
            raise ValueError(f"{name}: worker = N names the worker an invoke step's event goes to, not a {kind} step"
                             + (" (workers = [N, ...] names one for each of its events)" if kind == "parallel" else ""))
        if not is_int(value) or value < 1:
            raise ValueError(f"{name}: worker = {value!r}: give a worker's number, 1 or more")
        return int(value)

    def event_file(self, value: Any, name: str) -> bytes:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name}: event_file takes a path relative to the scenario file, got {type_name(value)}")
        target = (self.path.parent / value)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise ValueError(f"{name}: event_file {value}: no such file (looked for {target})") from None
        except OSError as exc:
            raise ValueError(f"{name}: event_file {value}: {exc.strerror}") from None
        try:
            text = data.decode("utf-8-sig")  # a byte-order mark before it is skipped, as Lambda's front end skips it
        except UnicodeDecodeError:
            raise ValueError(f"{name}: event_file {value}: not UTF-8 text") from None
        event_text(text, f"{name}: event_file {value}")
        return data  # sent as it is, as `invoke --event FILE` and the Invoke API send it
