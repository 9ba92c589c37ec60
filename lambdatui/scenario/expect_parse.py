"""A step's `expect` table: which keys it may hold after which action, and each key's value checked."""

from __future__ import annotations

import json
from typing import Any

from lambdatui.model import faults as flt
from lambdatui.model.boundaries import ShutdownReason
from lambdatui.scenario.model import (
    ACROSS_KEYS,
    FLEET_KEYS,
    Action,
    Expect,
    FaultAction,
    InvokeAction,
    ParallelAction,
    PauseAction,
    ResponsePath,
    TelemetryExpect,
)
from lambdatui.scenario.values import (
    boundary_named,
    is_int,
    json_text,
    string_value,
    tmp_paths,
    to_json,
    type_name,
    unknown_hint,
)

EXPECT_KEYS = ("response", "response_exact", "error_type", "succeeded", "failed_after", "cold", "globals", "tmp", "tmp_absent",
               "shutdown_reason", "phases", "telemetry", "each", *ACROSS_KEYS, *FLEET_KEYS)

INVOKE_ONLY = ("response", "response_exact", "error_type", "succeeded", "failed_after", "cold", "globals", "telemetry")
AFTER_LIFECYCLE = ("tmp", "tmp_absent", "shutdown_reason", "phases")  # a reset or shutdown may follow
PER_INVOKE_WHY = ("expect.each holds what one invoke returned and what followed it in its environment; "
                  "the fleet's counts are the step's own: write them as expect.environments, expect.cold_starts..., "
                  "and so are the comparisons of its invokes: expect.same, expect.distinct")


def parse_expect(raw: Any, action: Action, number: int, *, at: str = "expect", per_invoke: bool = False) -> Expect:
    """`at` names the table in messages (`expect`, `expect.each[2]`); `per_invoke`: one invoke of a parallel step."""
    name = f"step {number}"
    if not isinstance(raw, dict):
        raise ValueError(f"{name}: {at} must be a table, got {type_name(raw)}")
    for key in raw:
        if key not in EXPECT_KEYS:
            raise ValueError(f"{name}: unknown key {at}.{key}{unknown_hint(key, EXPECT_KEYS)} "
                             f"(expect takes: {', '.join(EXPECT_KEYS)})")
    allowed, why = (INVOKE_ONLY + AFTER_LIFECYCLE, PER_INVOKE_WHY) if per_invoke else expect_allowed(action)
    for key in raw:
        if key in ACROSS_KEYS and not per_invoke and not isinstance(action, ParallelAction):
            raise ValueError(f"{name}: {at}.{key} compares the invokes of one parallel step with one another: "
                             "write it on a step with parallel = [...] (a step with one invoke has nothing to "
                             "compare)")
        if key not in allowed:
            raise ValueError(f"{name}: {at}.{key} makes no sense here: {why}")
    values: dict[str, Any] = {}
    if "response" in raw:
        value = raw["response"]
        if isinstance(value, str):
            values["response"] = json_text(value, f"{name}: {at}.response")
        else:
            values["response"] = to_json(value, f"{name}: {at}.response")
    if "response_exact" in raw:
        if not isinstance(raw["response_exact"], bool):
            raise ValueError(f"{name}: {at}.response_exact must be true or false, "
                             f"got {type_name(raw['response_exact'])}")
        if "response" not in raw:
            raise ValueError(f"{name}: {at}.response_exact needs {at}.response (the object to compare whole)")
        values["response_exact"] = raw["response_exact"]
    if "error_type" in raw:
        values["error_type"] = string_value(raw["error_type"], f"{name}: {at}.error_type")
    if "succeeded" in raw:
        if raw["succeeded"] is not True:
            raise ValueError(f"{name}: {at}.succeeded takes true (the invoke returned a response); for a failure, "
                             f"expect its error_type, got {raw['succeeded']!r}")
        if "error_type" in raw:
            raise ValueError(f"{name}: {at}.succeeded and {at}.error_type cannot both hold: choose one")
        values["succeeded"] = True
    if "failed_after" in raw:
        if "error_type" in raw:
            raise ValueError(f"{name}: {at}.failed_after is a failure after a response; {at}.error_type one instead of "
                             "it: choose one")
        values["failed_after"] = string_value(raw["failed_after"], f"{name}: {at}.failed_after")
    if "cold" in raw:
        if not isinstance(raw["cold"], bool):
            raise ValueError(f"{name}: {at}.cold must be true or false, got {type_name(raw['cold'])}")
        values["cold"] = raw["cold"]
    if "globals" in raw:
        table = raw["globals"]
        if not isinstance(table, dict):
            raise ValueError(f"{name}: {at}.globals must be a table of name = \"repr\", got {type_name(table)}")
        for key, value in table.items():
            if not isinstance(value, str):
                shown = repr(value) if not isinstance(value, dict) else "..."
                raise ValueError(f"{name}: {at}.globals.{key} must be the repr as a string, "
                                 f"e.g. {key} = {json.dumps(shown)}")
        values["globals"] = dict(table)
    for key in ("tmp", "tmp_absent"):
        if key in raw:
            values[key] = tmp_paths(raw[key], f"{name}: {at}.{key}")
    if "shutdown_reason" in raw:
        reason = string_value(raw["shutdown_reason"], f"{name}: {at}.shutdown_reason")
        reasons = [r.value for r in ShutdownReason]
        if reason not in reasons:
            raise ValueError(f"{name}: {at}.shutdown_reason = {reason!r} is not a reason Lambda sends "
                             f"(one of: {', '.join(reasons)})")
        values["shutdown_reason"] = reason
    if "phases" in raw:
        phases = raw["phases"]
        if not isinstance(phases, list):
            raise ValueError(f"{name}: {at}.phases must be an array of boundary names, got {type_name(phases)}")
        values["phases"] = tuple(boundary_named(p, f"{name}: {at}.phases[{i}]") for i, p in enumerate(phases))
    if "telemetry" in raw:
        values["telemetry"] = telemetry_expects(raw["telemetry"], f"{name}: {at}.telemetry")
    for key in FLEET_KEYS:
        if key in raw:
            value = raw[key]
            if not is_int(value) or value < 0:
                shown = repr(value) if is_int(value) else type_name(value)
                raise ValueError(f"{name}: {at}.{key} = {shown}: give a count, a whole number from 0")
            values[key] = value
    if "each" in raw:
        assert isinstance(action, ParallelAction)  # expect_allowed saw to it
        values["each"] = each_expects(raw["each"], action, number)
    for key in ACROSS_KEYS:
        if key in raw:
            values[key] = response_paths(raw[key], f"{name}: {at}.{key}")
    both = set(values.get("same", ())) & set(values.get("distinct", ()))
    if both:
        shown = ".".join(sorted(both)[0])
        raise ValueError(f"{name}: {shown!r} is in both {at}.same and {at}.distinct: a value cannot be the same in "
                         "every invoke and different in each")
    return Expect(**values)


PATH_EXAMPLE = '"id", or ["id", "body.user"]'


def response_paths(value: Any, what: str) -> tuple[ResponsePath, ...]:
    """`expect.same` / `expect.distinct`: one path of keys into the response ("id", "body.user"), or an array."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError(f"{what} is an empty array: name at least one value of the response, e.g. {PATH_EXAMPLE}")
    paths = []
    for i, item in enumerate(items):
        where = f"{what}[{i}]" if isinstance(value, list) else what
        if not isinstance(item, str):
            raise ValueError(f"{where} must name a value of the response by its keys, joined by dots, e.g. "
                             f"{PATH_EXAMPLE}; got {type_name(item)}")
        keys = tuple(item.split("."))
        if not all(keys):
            raise ValueError(f"{where} = {item!r}: give the keys that lead to the value, joined by single dots, "
                             f"e.g. {PATH_EXAMPLE}")
        if keys in paths:
            raise ValueError(f"{where}: {item!r} is named twice")
        paths.append(keys)
    return tuple(paths)


def each_expects(value: Any, action: ParallelAction, number: int) -> tuple[Expect, ...]:
    """`expect.each`: one table per invoke of the parallel step, in the order the events are written."""
    name = f"step {number}"
    count = len(action.events)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f"{name}: expect.each must be an array of tables, one per invoke, e.g. "
                         f"[{{ cold = true }}, {{}}] ({{}} checks nothing), got {type_name(value)}")
    if len(value) != count:
        raise ValueError(f"{name}: expect.each has {len(value)} table{'s' * (len(value) != 1)} for {count} parallel "
                         "invokes: give one per invoke, in the same order ({} checks nothing)")
    return tuple(parse_expect(item, action, number, at=f"expect.each[{i}]", per_invoke=True)
                 for i, item in enumerate(value))


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
    """The expect keys a step's action can be checked by, and why the others cannot.

    The fleet's counts (environments, cold_starts...) go with every step: whatever it does, the fleet may change.
    """
    if isinstance(action, InvokeAction):
        return INVOKE_ONLY + AFTER_LIFECYCLE + FLEET_KEYS, (
            "expect.each is for a parallel step's invokes, one table each: one invoke's expectations go in expect "
            "itself (expect.response, expect.cold, ...)")
    if isinstance(action, ParallelAction):
        return ("each", *ACROSS_KEYS, *FLEET_KEYS), ("in a parallel step each invoke has its own: write expect.each "
                                                     "= [{...}, {...}], one table per invoke, in the order of the "
                                                     "events")
    invoke_only = "response, error_type, cold, globals and telemetry follow an invoke"
    if isinstance(action, PauseAction):
        return ("shutdown_reason", "phases") + FLEET_KEYS, (
            f"{invoke_only}; during a pause the function runs nothing, only an idle shutdown (idle_shutdown in "
            "[function]) can happen: check it with environments, spun_down, shutdown_reason or phases")
    if isinstance(action, FaultAction):
        if action.fault.at is not None:
            return FLEET_KEYS, (f"the fault is only armed here, it fires at {action.fault.at.value}: "
                                "put the expect on the step that reaches it")
        if not isinstance(action.fault, flt.Crash):
            return FLEET_KEYS, (f"fault = {action.name!r} shows its effect at a later step (the next invoke): "
                                "put the expect there")
        return AFTER_LIFECYCLE + FLEET_KEYS, invoke_only
    return AFTER_LIFECYCLE + FLEET_KEYS, invoke_only
