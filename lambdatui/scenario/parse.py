"""Read a scenario file (TOML) into a validated `Scenario`, or fail with `FILE:LINE: message`.

tomllib reports a syntax error's line but keeps no positions for values, so a semantic error points at
the header of the offending `[[step]]` (or `[function]`), found by scanning the text. Every check
happens here, before any process starts: a scenario that would fail half-way through because of a typo
in step 7 wastes the six steps before it.
"""

from __future__ import annotations

import datetime
import difflib
import json
import re
import signal
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from lambdatui.config import MAX_MEMORY_MB, MAX_TIMEOUT_S, MIN_MEMORY_MB, MIN_TIMEOUT_S, reserved_env_problem
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import ALL_BOUNDARIES, Boundary, ShutdownReason
from lambdatui.scenario.model import (
    FAULT_NAMES,
    MAX_PAUSE_S,
    NO_EXPECT,
    Action,
    Expect,
    FaultAction,
    FunctionSettings,
    InvokeAction,
    NewEnvironmentAction,
    PauseAction,
    Scenario,
    ShutdownAction,
    Step,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TOP_KEYS = ("function", "step")
FUNCTION_KEYS = ("timeout", "memory", "handler", "env")
ACTION_KEYS = ("invoke", "event_file", "fault", "new_environment", "shutdown", "pause")
FAULT_OPTIONS = ("target", "signal", "exit_code", "exception", "message", "at")
STEP_KEYS = ACTION_KEYS + FAULT_OPTIONS + ("expect",)
EXPECT_KEYS = ("response", "response_exact", "error_type", "cold", "globals", "tmp", "tmp_absent",
               "shutdown_reason", "phases")

# Which options each fault takes (besides `at`, which they all take).
FAULT_TAKES: Mapping[str, tuple[str, ...]] = {
    "crash": ("target", "signal", "exit_code"),
    "freeze": ("target",),
    "thaw": ("target",),
    "timeout": (),
    "raise": ("exception", "message"),
    "init-error": ("target",),
}

INVOKE_ONLY = ("response", "response_exact", "error_type", "cold", "globals")
AFTER_LIFECYCLE = ("tmp", "tmp_absent", "shutdown_reason", "phases")  # a reset or shutdown may follow


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
    return _Parser(text, path).scenario(data)


def check_targets(scenario: Scenario, extension_names: Sequence[str]) -> None:
    """Fault targets must name the runtime or an extension this function really launches."""
    for step in scenario.steps:
        action = step.action
        if not isinstance(action, FaultAction):
            continue
        target = getattr(action.fault, "target", None)
        if target is None or target == flt.RUNTIME_TARGET and action.name != "init-error":
            continue
        if target not in extension_names:
            known = ", ".join(extension_names) if extension_names else "none"
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


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return "a date/time"
    return type(value).__name__


def _unknown(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _to_json(value: Any, where: str) -> Any:
    """A TOML value as the JSON value it stands for; dates have no JSON form."""
    if isinstance(value, dict):
        return {k: _to_json(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        raise ValueError(f"{where} is a TOML date/time, which JSON cannot hold: quote it")
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ValueError(f"{where} is {value}, which JSON cannot hold")
    return value


def _json_text(text: str, what: str) -> Any:
    if not text.strip():
        raise ValueError(f"{what} is empty, which is not JSON (write {{}} for an empty object)")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None


def _boundary(name: Any, what: str) -> Boundary:
    valid = ", ".join(b.value for b in ALL_BOUNDARIES)
    if not isinstance(name, str):
        raise ValueError(f"{what} must be a boundary name, got {_type_name(name)} (one of: {valid})")
    try:
        return Boundary(name)
    except ValueError:
        raise ValueError(f"{what} = {name!r} is not a boundary (one of: {valid})") from None


def parse_signal(value: Any) -> int:
    """"SIGKILL", "KILL", "sigterm" or a number, as the signal number; ValueError names the choices."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"signal must be a name like \"SIGKILL\" or a number, got {_type_name(value)}")
    if isinstance(value, int) or value.strip().isdigit():
        number = int(value)
        if not 1 <= number < signal.NSIG:
            raise ValueError(f"signal = {value!r} is not a signal number (1 to {signal.NSIG - 1})")
        return number
    name = value.strip().upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(f"signal = {value!r} is not a signal name (e.g. SIGKILL, SIGTERM, SIGSEGV)") from None


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
                                f"unknown key {key!r}{_unknown(key, TOP_KEYS)}: a scenario has an optional "
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
        line = self.lines.function()
        if not isinstance(raw, dict):
            raise self.fail(line, f"function must be a table ([function]), got {_type_name(raw)}")
        for key in raw:
            if key not in FUNCTION_KEYS:
                raise self.fail(line, f"[function]: unknown key {key!r}{_unknown(key, FUNCTION_KEYS)} "
                                      f"(it takes: {', '.join(FUNCTION_KEYS)})")
        timeout = raw.get("timeout")
        if timeout is not None and (not _is_int(timeout) or not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S):
            raise self.fail(line, f"[function]: timeout = {timeout!r}: Lambda allows whole seconds from "
                                  f"{MIN_TIMEOUT_S} to {MAX_TIMEOUT_S}")
        memory = raw.get("memory")
        if memory is not None and (not _is_int(memory) or not MIN_MEMORY_MB <= memory <= MAX_MEMORY_MB):
            raise self.fail(line, f"[function]: memory = {memory!r}: Lambda allows {MIN_MEMORY_MB} to "
                                  f"{MAX_MEMORY_MB} MB")
        handler = raw.get("handler")
        if handler is not None and (not isinstance(handler, str) or "." not in handler):
            raise self.fail(line, f"[function]: handler = {handler!r}: expected \"module.function\"")
        env = raw.get("env", {})
        if not isinstance(env, dict):
            raise self.fail(line, f"[function]: env must be a table of strings, got {_type_name(env)}")
        for key, value in env.items():
            if not isinstance(value, str):
                raise self.fail(line, f"[function]: env.{key} must be a string (environment variables are "
                                      f"text: quote it), got {_type_name(value)}")
        reserved = reserved_env_problem(env)
        if reserved:
            raise self.fail(line, f"[function]: env: {reserved}")
        return FunctionSettings(timeout, memory, handler, dict(env))

    # ------------------------------------------------------------------ [[step]]

    def step(self, raw: Mapping[str, Any], index: int) -> Step:
        number = index + 1
        line = self.lines.step(index)
        try:
            action = self.action(raw, number)
            expect = self.expect(raw.get("expect"), action, number) if "expect" in raw else NO_EXPECT
        except ValueError as exc:
            raise self.fail(line, str(exc)) from None
        return Step(number, line or 1, action, expect)

    def action(self, raw: Mapping[str, Any], number: int) -> Action:
        name = f"step {number}"
        for key in raw:
            if key not in STEP_KEYS:
                raise ValueError(f"{name}: unknown key {key!r}{_unknown(key, STEP_KEYS)} (a step takes one of "
                                 f"{', '.join(ACTION_KEYS)}; faults take {', '.join(FAULT_OPTIONS)}; and expect)")
        actions = [key for key in ACTION_KEYS if key in raw]
        if len(actions) > 1:
            raise ValueError(f"{name}: a step does exactly one thing, this one has {' and '.join(actions)}: "
                             "split it into one [[step]] each")
        if not actions:
            raise ValueError(f"{name}: nothing to do: give one of {', '.join(ACTION_KEYS)}")
        kind = actions[0]
        value = raw[kind]
        if kind != "fault":
            extra = [key for key in FAULT_OPTIONS if key in raw]
            if extra:
                raise ValueError(f"{name}: {extra[0]!r} only goes with fault = \"...\", not with {kind}")
        if kind == "invoke":
            return InvokeAction(self.invoke_event(value, name))
        if kind == "event_file":
            return InvokeAction(self.event_file(value, name))
        if kind == "fault":
            return self.fault(raw, name)
        if kind in ("new_environment", "shutdown"):
            if value is not True:
                raise ValueError(f"{name}: write {kind} = true (got {value!r}); leave the step out to skip it")
            return NewEnvironmentAction() if kind == "new_environment" else ShutdownAction()
        # pause
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}: pause takes seconds (a number), got {_type_name(value)}")
        if not 0 < value <= MAX_PAUSE_S:
            raise ValueError(f"{name}: pause = {value}: give more than 0 and at most {MAX_PAUSE_S:g} seconds")
        return PauseAction(float(value))

    def invoke_event(self, value: Any, name: str) -> bytes:
        if isinstance(value, str):
            _json_text(value, f"{name}: invoke")
            return value.encode()
        if isinstance(value, (dict, list)):
            return json.dumps(_to_json(value, f"{name}: invoke")).encode()
        raise ValueError(f"{name}: invoke takes a table (the event) or JSON text, got {_type_name(value)} "
                         "(write a bare JSON value as text: invoke = '42')")

    def event_file(self, value: Any, name: str) -> bytes:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name}: event_file takes a path relative to the scenario file, got {_type_name(value)}")
        target = (self.path.parent / value)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise ValueError(f"{name}: event_file {value}: no such file (looked for {target})") from None
        except OSError as exc:
            raise ValueError(f"{name}: event_file {value}: {exc.strerror}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{name}: event_file {value}: not UTF-8 text") from None
        _json_text(text, f"{name}: event_file {value}")
        return text.encode()

    def fault(self, raw: Mapping[str, Any], name: str) -> FaultAction:
        kind = raw["fault"]
        if not isinstance(kind, str) or kind not in FAULT_NAMES:
            shown = repr(kind) if isinstance(kind, str) else _type_name(kind)
            hint = _unknown(kind, FAULT_NAMES) if isinstance(kind, str) else ""
            raise ValueError(f"{name}: unknown fault {shown}{hint} (one of: {', '.join(FAULT_NAMES)})")
        takes = FAULT_TAKES[kind]
        for option in FAULT_OPTIONS:
            if option in raw and option != "at" and option not in takes:
                accepted = ", ".join(takes + ("at",))
                raise ValueError(f"{name}: fault = {kind!r} takes no {option!r} (it takes: {accepted})")
        at = _boundary(raw["at"], f"{name}: at") if "at" in raw else None
        target = raw.get("target", flt.RUNTIME_TARGET)
        if not isinstance(target, str) or not target:
            raise ValueError(f"{name}: target must be 'runtime' or an extension's name, got {_type_name(target)}")
        if kind == "crash":
            signal_number = parse_signal(raw["signal"]) if "signal" in raw else None
            exit_code = raw.get("exit_code")
            if exit_code is not None and (not _is_int(exit_code) or not 0 <= exit_code <= 255):
                raise ValueError(f"{name}: exit_code = {exit_code!r}: give a whole number from 0 to 255")
            if signal_number is not None and exit_code is not None:
                raise ValueError(f"{name}: a crash is a signal or an exit code, not both")
            if exit_code is not None and target != flt.RUNTIME_TARGET:
                raise ValueError(f"{name}: exit_code only works on the runtime (lambdatui's bootstrap makes it "
                                 "exit); crash an extension with a signal")
            return FaultAction(flt.Crash(target, signal_number, exit_code, at), kind)
        if kind == "freeze":
            return FaultAction(flt.Freeze(target, at), kind)
        if kind == "thaw":
            return FaultAction(flt.Thaw(target, at), kind)
        if kind == "timeout":
            return FaultAction(flt.ForceTimeout(at), kind)
        if kind == "raise":
            exception = raw.get("exception", "Exception")
            message = raw.get("message", "raised by lambdatui")
            if not isinstance(exception, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", exception):
                raise ValueError(f"{name}: exception = {exception!r}: give an exception class name, e.g. \"ValueError\"")
            if not isinstance(message, str):
                raise ValueError(f"{name}: message must be a string, got {_type_name(message)}")
            return FaultAction(flt.RaiseInHandler(exception, message, at), kind)
        # init-error
        if "target" not in raw or target == flt.RUNTIME_TARGET:
            raise ValueError(f"{name}: fault = 'init-error' needs target = the extension's name "
                             "(the runtime's own init errors come from its code)")
        return FaultAction(flt.ExtensionInitError(target, at), kind)

    # ------------------------------------------------------------------ expect

    def expect(self, raw: Any, action: Action, number: int) -> Expect:
        name = f"step {number}"
        if not isinstance(raw, dict):
            raise ValueError(f"{name}: expect must be a table, got {_type_name(raw)}")
        for key in raw:
            if key not in EXPECT_KEYS:
                raise ValueError(f"{name}: unknown key expect.{key}{_unknown(key, EXPECT_KEYS)} "
                                 f"(expect takes: {', '.join(EXPECT_KEYS)})")
        allowed, why = _expect_allowed(action)
        for key in raw:
            if key not in allowed:
                raise ValueError(f"{name}: expect.{key} makes no sense here: {why}")
        values: dict[str, Any] = {}
        if "response" in raw:
            value = raw["response"]
            if isinstance(value, str):
                values["response"] = _json_text(value, f"{name}: expect.response")
            else:
                values["response"] = _to_json(value, f"{name}: expect.response")
        if "response_exact" in raw:
            if not isinstance(raw["response_exact"], bool):
                raise ValueError(f"{name}: expect.response_exact must be true or false, "
                                 f"got {_type_name(raw['response_exact'])}")
            if "response" not in raw:
                raise ValueError(f"{name}: expect.response_exact needs expect.response (the object to compare whole)")
            values["response_exact"] = raw["response_exact"]
        if "error_type" in raw:
            values["error_type"] = _string(raw["error_type"], f"{name}: expect.error_type")
        if "cold" in raw:
            if not isinstance(raw["cold"], bool):
                raise ValueError(f"{name}: expect.cold must be true or false, got {_type_name(raw['cold'])}")
            values["cold"] = raw["cold"]
        if "globals" in raw:
            table = raw["globals"]
            if not isinstance(table, dict):
                raise ValueError(f"{name}: expect.globals must be a table of name = \"repr\", got {_type_name(table)}")
            for key, value in table.items():
                if not isinstance(value, str):
                    shown = repr(value) if not isinstance(value, dict) else "..."
                    raise ValueError(f"{name}: expect.globals.{key} must be the repr as a string, "
                                     f"e.g. {key} = {json.dumps(shown)}")
            values["globals"] = dict(table)
        for key in ("tmp", "tmp_absent"):
            if key in raw:
                values[key] = _tmp_paths(raw[key], f"{name}: expect.{key}")
        if "shutdown_reason" in raw:
            reason = _string(raw["shutdown_reason"], f"{name}: expect.shutdown_reason")
            reasons = [r.value for r in ShutdownReason]
            if reason not in reasons:
                raise ValueError(f"{name}: expect.shutdown_reason = {reason!r} is not a reason Lambda sends "
                                 f"(one of: {', '.join(reasons)})")
            values["shutdown_reason"] = reason
        if "phases" in raw:
            phases = raw["phases"]
            if not isinstance(phases, list):
                raise ValueError(f"{name}: expect.phases must be an array of boundary names, got {_type_name(phases)}")
            values["phases"] = tuple(_boundary(p, f"{name}: expect.phases[{i}]") for i, p in enumerate(phases))
        return Expect(**values)


def _expect_allowed(action: Action) -> tuple[tuple[str, ...], str]:
    """The expect keys a step's action can be checked by, and why the others cannot."""
    if isinstance(action, InvokeAction):
        return INVOKE_ONLY + AFTER_LIFECYCLE, ""
    invoke_only = "response, error_type, cold and globals follow an invoke"
    if isinstance(action, PauseAction):
        return (), "nothing happens during a pause (the environment is frozen); check the next invoke"
    if isinstance(action, FaultAction):
        if action.fault.at is not None:
            return (), (f"the fault is only armed here, it fires at {action.fault.at.value}: "
                        "put the expect on the step that reaches it")
        if not isinstance(action.fault, flt.Crash):
            return (), (f"fault = {action.name!r} shows its effect at a later step (the next invoke): "
                        "put the expect there")
        return AFTER_LIFECYCLE, invoke_only
    return AFTER_LIFECYCLE, invoke_only


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {_type_name(value)}")
    return value


def _tmp_paths(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be an array of paths like \"/tmp/counter.txt\", got {_type_name(value)}")
    paths = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.startswith("/tmp/") or len(item) <= len("/tmp/"):
            shown = repr(item) if isinstance(item, str) else _type_name(item)
            raise ValueError(f"{what}[{i}] = {shown}: give a path as the function sees it, under /tmp/ "
                             "(e.g. \"/tmp/counter.txt\")")
        paths.append(item.rstrip("/") if item != "/tmp/" else item)
    return tuple(paths)
