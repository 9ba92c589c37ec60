"""A step's `expect` table: which keys it may hold after which action, and each key's value checked."""

from __future__ import annotations

import json
from typing import Any

from lambdatui.model import faults as flt
from lambdatui.model.boundaries import ShutdownReason
from lambdatui.scenario.model import Action, Expect, FaultAction, InvokeAction, PauseAction, TelemetryExpect
from lambdatui.scenario.values import boundary_named, json_text, string_value, tmp_paths, to_json, type_name, unknown_hint

EXPECT_KEYS = ("response", "response_exact", "error_type", "cold", "globals", "tmp", "tmp_absent",
               "shutdown_reason", "phases", "telemetry")

INVOKE_ONLY = ("response", "response_exact", "error_type", "cold", "globals", "telemetry")
AFTER_LIFECYCLE = ("tmp", "tmp_absent", "shutdown_reason", "phases")  # a reset or shutdown may follow


def parse_expect(raw: Any, action: Action, number: int) -> Expect:
    name = f"step {number}"
    if not isinstance(raw, dict):
        raise ValueError(f"{name}: expect must be a table, got {type_name(raw)}")
    for key in raw:
        if key not in EXPECT_KEYS:
            raise ValueError(f"{name}: unknown key expect.{key}{unknown_hint(key, EXPECT_KEYS)} "
                             f"(expect takes: {', '.join(EXPECT_KEYS)})")
    allowed, why = expect_allowed(action)
    for key in raw:
        if key not in allowed:
            raise ValueError(f"{name}: expect.{key} makes no sense here: {why}")
    values: dict[str, Any] = {}
    if "response" in raw:
        value = raw["response"]
        if isinstance(value, str):
            values["response"] = json_text(value, f"{name}: expect.response")
        else:
            values["response"] = to_json(value, f"{name}: expect.response")
    if "response_exact" in raw:
        if not isinstance(raw["response_exact"], bool):
            raise ValueError(f"{name}: expect.response_exact must be true or false, "
                             f"got {type_name(raw['response_exact'])}")
        if "response" not in raw:
            raise ValueError(f"{name}: expect.response_exact needs expect.response (the object to compare whole)")
        values["response_exact"] = raw["response_exact"]
    if "error_type" in raw:
        values["error_type"] = string_value(raw["error_type"], f"{name}: expect.error_type")
    if "cold" in raw:
        if not isinstance(raw["cold"], bool):
            raise ValueError(f"{name}: expect.cold must be true or false, got {type_name(raw['cold'])}")
        values["cold"] = raw["cold"]
    if "globals" in raw:
        table = raw["globals"]
        if not isinstance(table, dict):
            raise ValueError(f"{name}: expect.globals must be a table of name = \"repr\", got {type_name(table)}")
        for key, value in table.items():
            if not isinstance(value, str):
                shown = repr(value) if not isinstance(value, dict) else "..."
                raise ValueError(f"{name}: expect.globals.{key} must be the repr as a string, "
                                 f"e.g. {key} = {json.dumps(shown)}")
        values["globals"] = dict(table)
    for key in ("tmp", "tmp_absent"):
        if key in raw:
            values[key] = tmp_paths(raw[key], f"{name}: expect.{key}")
    if "shutdown_reason" in raw:
        reason = string_value(raw["shutdown_reason"], f"{name}: expect.shutdown_reason")
        reasons = [r.value for r in ShutdownReason]
        if reason not in reasons:
            raise ValueError(f"{name}: expect.shutdown_reason = {reason!r} is not a reason Lambda sends "
                             f"(one of: {', '.join(reasons)})")
        values["shutdown_reason"] = reason
    if "phases" in raw:
        phases = raw["phases"]
        if not isinstance(phases, list):
            raise ValueError(f"{name}: expect.phases must be an array of boundary names, got {type_name(phases)}")
        values["phases"] = tuple(boundary_named(p, f"{name}: expect.phases[{i}]") for i, p in enumerate(phases))
    if "telemetry" in raw:
        values["telemetry"] = telemetry_expects(raw["telemetry"], f"{name}: expect.telemetry")
    return Expect(**values)


# The record types the Telemetry API (lambda-spec §3.5) and the Logs API (§3.7) send.
TELEMETRY_TYPES = (
    "platform.initStart", "platform.initRuntimeDone", "platform.initReport", "platform.start",
    "platform.runtimeDone", "platform.report", "platform.restoreStart", "platform.restoreRuntimeDone",
    "platform.restoreReport", "platform.extension", "platform.telemetrySubscription", "platform.logsDropped",
    "platform.end", "platform.fault", "platform.logsSubscription", "function", "extension",
)
TELEMETRY_KEYS = ("extension", "types", "exact")
TELEMETRY_EXAMPLE = ('{ extension = "name", types = ["platform.start", "function", "platform.runtimeDone", '
                     '"platform.report"] }')


def telemetry_expects(value: Any, what: str) -> tuple[TelemetryExpect, ...]:
    """`expect.telemetry`: one table, or an array of them (one per extension)."""
    if isinstance(value, dict):
        return (telemetry_expect(value, what),)
    if isinstance(value, list) and value:
        expects = tuple(telemetry_expect(item, f"{what}[{i}]") for i, item in enumerate(value))
        names = [x.extension for x in expects]
        repeated = next((n for n in names if names.count(n) > 1), None)
        if repeated is not None:
            raise ValueError(f"{what}: extension {repeated!r} is named twice (one table per extension)")
        return expects
    raise ValueError(f"{what} must be a table like {TELEMETRY_EXAMPLE} (or an array of them), got {type_name(value)}")


def telemetry_expect(value: Any, what: str) -> TelemetryExpect:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a table like {TELEMETRY_EXAMPLE}, got {type_name(value)}")
    for key in value:
        if key not in TELEMETRY_KEYS:
            raise ValueError(f"{what}: unknown key {key}{unknown_hint(key, TELEMETRY_KEYS)} "
                             f"(it takes: {', '.join(TELEMETRY_KEYS)})")
    for key in ("extension", "types"):
        if key not in value:
            raise ValueError(f"{what} needs {key}, e.g. {TELEMETRY_EXAMPLE}")
    extension = string_value(value["extension"], f"{what}.extension")
    if not extension:
        raise ValueError(f"{what}.extension is empty: give the extension's name (its file name in extensions/)")
    types = value["types"]
    if not isinstance(types, list) or not types:
        shown = "an empty array" if types == [] else type_name(types)
        raise ValueError(f"{what}.types must be a non-empty array of record types like \"platform.start\", "
                         f"got {shown}")
    for i, kind in enumerate(types):
        if not isinstance(kind, str):
            raise ValueError(f"{what}.types[{i}] must be a record type (a string), got {type_name(kind)}")
        if kind not in TELEMETRY_TYPES:
            raise ValueError(f"{what}.types[{i}] = {kind!r} is not a record type the Telemetry or Logs API sends"
                             f"{unknown_hint(kind, TELEMETRY_TYPES)}")
    exact = value.get("exact", False)
    if not isinstance(exact, bool):
        raise ValueError(f"{what}.exact must be true or false, got {type_name(exact)}")
    return TelemetryExpect(extension, tuple(types), exact)


def expect_allowed(action: Action) -> tuple[tuple[str, ...], str]:
    """The expect keys a step's action can be checked by, and why the others cannot."""
    if isinstance(action, InvokeAction):
        return INVOKE_ONLY + AFTER_LIFECYCLE, ""
    invoke_only = "response, error_type, cold, globals and telemetry follow an invoke"
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
