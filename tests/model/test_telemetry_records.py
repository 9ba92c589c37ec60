"""Telemetry API and Logs API records from the real core's facts (issue 10; lambda-spec §3.4-§3.7).

A `Published` wraps a core Driver: every fact is fed to a `TelemetryRecords` as the host publishes it (Emit
effects, and InvocationCompleted for a completed invoke), at the driver's time, and what each extension receives
is collected. Process output is published as the host does, as LogLines facts (a read's lines).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from driver import MONO0, WALL0, Driver, ext

from lambdatui.core import inputs as ins
from lambdatui.core.common import INVOKE_TIMER
from lambdatui.core.effects import RUNTIME, CompleteInvocation, Emit
from lambdatui.core.managed_environment import ManagedEnvironment
from lambdatui.model import facts as f
from lambdatui.model import telemetry_records as tr
from lambdatui.model.telemetry import LOGS, TELEMETRY
from lambdatui.model.telemetry_platform_records import LOGS_DROP_REASON, TELEMETRY_DROP_REASON, FunctionInfo
from lambdatui.model.telemetry_records import TelemetryRecords

STREAM = "2023/11/14/[$LATEST]0123456789abcdef"
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
ALL_TYPES = ["platform", "function", "extension"]
COLD_START = [
    "platform.initStart", "extension", "platform.telemetrySubscription", "extension", "function",
    "platform.initRuntimeDone", "platform.extension", "platform.initReport",
    "platform.start", "function", "platform.runtimeDone", "platform.report",
]


def stamp(ms: float) -> str:
    """The envelope time `ms` after the driver's start."""
    when = datetime.fromtimestamp(WALL0 / 1000, tz=timezone.utc) + timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class Published:
    def __init__(self, extensions: tuple[str, ...] = ("obs",), *, json_logs: bool = False, **driver: Any) -> None:
        self.d = Driver(extensions=extensions, **driver)
        self.records = TelemetryRecords(FunctionInfo.of(self.d.config, instance_id=STREAM),
                                        wall_offset_s=WALL0 / 1000 - MONO0, json_logs=json_logs)
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.outputs: list[tuple[str, list]] = []  # every non-empty answer of feed, for the idle checks
        feed = self.d.feed

        def publishing(event: ins.Input) -> list:
            effects = feed(event)
            for effect in effects:
                if isinstance(effect, Emit):
                    self.publish(effect.fact)
                elif isinstance(effect, CompleteInvocation):
                    self.publish(f.InvocationCompleted(effect.result))
            return effects

        self.d.feed = publishing  # type: ignore[method-assign]

    def publish(self, fact: object) -> None:
        for name, envelopes in self.records.feed(fact, self.d.mono):
            self.outputs.append((name, envelopes))
            self.received[name].extend(envelopes)

    def output(self, participant: str, text: str, request_id: Optional[str] = None) -> None:
        """A line the participant printed, as the host publishes it."""
        source = f.FUNCTION if participant == RUNTIME else f.extension_source(participant.split(":", 1)[1])
        self.publish(f.LogLines((f.LogLine(source, text, request_id),)))

    def subscribe(self, name: str = "obs", api: str = TELEMETRY, schema: Optional[str] = None,
                  types: Optional[list[str]] = None) -> None:
        body = {
            "schemaVersion": schema or ("2022-12-13" if api == TELEMETRY else "2021-03-18"),
            "types": types or ALL_TYPES,
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/"},
        }
        tok = self.d.token()
        self.d.feed(ins.TelemetrySubscribe(tok, self.d.ext_ids[name], api, json.dumps(body).encode()))
        assert self.d.reply(tok).status == 200

    def types(self, name: str = "obs", since: int = 0) -> list[str]:
        return [event["type"] for event in self.received[name][since:]]

    def of_type(self, kind: str, name: str = "obs") -> list[dict[str, Any]]:
        return [event for event in self.received[name] if event["type"] == kind]

    def count(self, name: str = "obs") -> int:
        return len(self.received[name])

    # ------------------------------------------------------------------ whole phases

    def cold_start(self, subscribe: Optional[dict[str, dict[str, Any]]] = None) -> None:
        """Init with every extension subscribed (as `subscribe` says, else to everything), lines on the way."""
        d = self.d
        d.start()
        names = d.config.extension_names
        for name in names:
            d.advance(1)
            self.output(ext(name), f"{name} starting")
            d.register(name)
            self.subscribe(name, **(subscribe or {}).get(name, {}))
            self.output(ext(name), f"{name} subscribed")
        for name in names:
            d.ext_next(name)
        d.advance(2)
        self.output(RUNTIME, "function init")
        d.advance(1)
        d.runtime_next()

    def invoke(self, body: bytes = b'"ok"', **fields: Any) -> str:
        """A warm (or first) invoke that succeeds: 5 ms to respond, 1 ms to ask again, the extensions 2 ms more."""
        d = self.d
        _, rid = d.invoke(**fields)
        self.output(RUNTIME, "in the handler", rid)
        d.advance(5)
        d.respond(rid, body)
        d.advance(1)
        d.runtime_next()
        d.advance(2)
        for name in d.config.extension_names:
            d.ext_next(name)
        return rid


# ---------------------------------------------------------------------- the Telemetry API, in Lambda's order


def test_a_cold_start_with_one_subscribed_extension_in_lambdas_order():
    p = Published()
    p.cold_start()
    p.invoke(trace_id=TRACE)
    assert p.types() == COLD_START
    # Replayed: what Init generated before the subscription comes first, then the subscription itself.
    first = p.received["obs"][:4]
    assert [(e["type"], e["time"], e["record"] if isinstance(e["record"], str) else "") for e in first] == [
        ("platform.initStart", stamp(0), ""),
        ("extension", stamp(1), "obs starting"),
        ("platform.telemetrySubscription", stamp(1), ""),
        ("extension", stamp(1), "obs subscribed"),
    ]


def test_init_records_say_what_the_init_was():
    p = Published()
    p.cold_start()
    [start] = p.of_type("platform.initStart")
    assert start["record"] == {
        "initializationType": "on-demand", "phase": "init", "runtimeVersion": "python:3",
        "runtimeVersionArn": p.d.config.runtime_version_arn, "functionName": "my-fn", "functionVersion": "$LATEST",
        "instanceId": STREAM, "instanceMaxMemory": 128,
    }
    [subscription] = p.of_type("platform.telemetrySubscription")
    assert subscription["record"] == {"name": "obs", "state": "Subscribed", "types": ALL_TYPES}
    [done] = p.of_type("platform.initRuntimeDone")
    assert done == {"time": stamp(4), "type": "platform.initRuntimeDone",
                    "record": {"initializationType": "on-demand", "phase": "init", "status": "success"}}
    [extension] = p.of_type("platform.extension")
    assert extension["record"] == {"name": "obs", "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]}
    [report] = p.of_type("platform.initReport")
    assert report == {"time": stamp(4), "type": "platform.initReport",
                      "record": {"initializationType": "on-demand", "phase": "init", "status": "success",
                                 "metrics": {"durationMs": 4.0}}}


def test_invoke_records_carry_metrics_spans_and_tracing():
    p = Published()
    p.cold_start()  # ends at 4 ms
    rid = p.invoke(body=b'"0123456789"', trace_id=TRACE)
    tracing = {"type": "X-Amzn-Trace-Id", "value": TRACE}
    [start] = p.of_type("platform.start")
    assert start == {"time": stamp(4), "type": "platform.start",
                     "record": {"requestId": rid, "version": "$LATEST", "tracing": tracing}}
    [done] = p.of_type("platform.runtimeDone")
    assert done == {"time": stamp(10), "type": "platform.runtimeDone", "record": {
        "requestId": rid, "status": "success",
        "metrics": {"durationMs": 6.0, "producedBytes": 12},
        "spans": [{"name": "responseLatency", "start": stamp(4), "durationMs": 5.0},
                  {"name": "responseDuration", "start": stamp(9), "durationMs": 0.0},
                  {"name": "runtimeOverhead", "start": stamp(9), "durationMs": 1.0}],
        "tracing": tracing,
    }}
    [report] = p.of_type("platform.report")
    assert report == {"time": stamp(12), "type": "platform.report", "record": {
        "requestId": rid, "status": "success",
        # the first invoke after an on-demand cold start: Init Duration, and billed with it (since August 2025)
        "metrics": {"durationMs": 8.0, "billedDurationMs": 12, "memorySizeMB": 128, "maxMemoryUsedMB": 128,
                    "initDurationMs": 4.0},
        "spans": [{"name": "extensionOverhead", "start": stamp(10), "durationMs": 2.0}],
        "tracing": tracing,
    }}


def test_a_warm_invoke():
    p = Published()
    p.cold_start()
    p.invoke()
    mark = p.count()
    p.d.advance(100)
    rid = p.invoke()
    assert p.types(since=mark) == ["platform.start", "function", "platform.runtimeDone", "platform.report"]
    report = p.of_type("platform.report")[-1]["record"]
    assert "initDurationMs" not in report["metrics"] and "tracing" not in report  # warm; no trace header given
    assert (report["requestId"], report["metrics"]["durationMs"]) == (rid, 8.0)
    line = p.received["obs"][mark + 1]
    assert line == {"time": stamp(112), "type": "function", "record": "in the handler"}


def test_a_handled_function_error_is_status_error():
    p = Published()
    p.cold_start()
    _, rid = p.d.invoke()
    p.d.advance(3)
    p.d.invocation_error(rid, b'{"errorType":"ValueError","errorMessage":"bad"}', error_type="ValueError")
    p.d.advance(1)
    p.d.runtime_next()
    p.d.ext_next("obs")
    assert p.types()[-3:] == ["platform.start", "platform.runtimeDone", "platform.report"]
    done = p.of_type("platform.runtimeDone")[-1]["record"]
    assert {k: done[k] for k in ("status", "errorType", "metrics")} == {
        "status": "error", "errorType": "Runtime.Unknown", "metrics": {"durationMs": 4.0, "producedBytes": 0}}
    assert [span["name"] for span in done["spans"]] == ["runtimeOverhead"]
    report = p.of_type("platform.report")[-1]["record"]
    assert (report["status"], report["errorType"]) == ("error", "Runtime.Unknown")


def test_overlapping_invokes_on_managed_instances_each_report_their_own_trace():
    """Managed Instances run invokes at once: the one started last must not take the others' traces off their
    platform.report (each carries its own X-Ray header, as its platform.start does)."""
    p = Published()
    p.d.config = dataclasses.replace(p.d.config, max_concurrency=2)
    p.d.env = ManagedEnvironment(p.d.config, new_id=lambda: f"id-{next(p.d._ids)}")
    p.records = TelemetryRecords(FunctionInfo.of(p.d.config, instance_id=STREAM), wall_offset_s=WALL0 / 1000 - MONO0)
    p.d.start()
    p.d.register("obs", ("SHUTDOWN",))
    p.subscribe(schema="2025-01-29")
    p.d.ext_next("obs")
    p.d.runtime_next()
    p.d.runtime_next()
    traces = [TRACE, TRACE.replace("Sampled=1", "Sampled=0")]
    rids = [p.d.invoke(trace_id=trace)[1] for trace in traces]
    p.d.advance(5)
    for rid in rids:  # the first started answers first, while the second still runs
        p.d.respond(rid)
        p.d.runtime_next()
    starts = {e["record"]["requestId"]: e["record"].get("tracing") for e in p.of_type("platform.start")}
    reports = {e["record"]["requestId"]: e["record"].get("tracing") for e in p.of_type("platform.report")}
    expected = {rid: {"type": "X-Amzn-Trace-Id", "value": trace} for rid, trace in zip(rids, traces)}
    assert starts == expected
    assert reports == expected


def test_a_timeout_is_runtime_done_timeout_before_the_reset_and_nothing_after_it():
    p = Published()
    p.cold_start()
    mark = p.count()
    _, rid = p.d.invoke()
    p.d.advance(3000)
    p.d.fire(INVOKE_TIMER)
    assert p.types(since=mark) == ["platform.start", "platform.runtimeDone", "platform.report"]
    done, report = p.received["obs"][-2:]
    assert done == {"time": stamp(3004), "type": "platform.runtimeDone", "record": {
        "requestId": rid, "status": "timeout", "errorType": "Sandbox.Timedout",
        "metrics": {"durationMs": 3000.0, "producedBytes": 0}}}
    assert (report["record"]["status"], report["record"]["errorType"]) == ("timeout", "Sandbox.Timedout")
    # The reset: SIGTERM to the runtime, SHUTDOWN to the extension, which still reports what it does.
    p.d.exited(RUNTIME, code=None, description="signal: terminated")
    p.d.ext_next("obs")
    p.output(ext("obs"), "flushing on SHUTDOWN")
    p.d.exited(ext("obs"), code=0)
    assert p.types(since=mark)[-1] == "extension"
    assert p.records.subscribers == {}
    # Its processes are gone: nobody receives anything until the next Init's extensions subscribe.
    before = len(p.outputs)
    p.output(ext("obs"), "a late line")
    p.d.invoke()
    assert len(p.outputs) == before


def test_a_failed_init_then_a_suppressed_init_inside_the_invoke():
    p = Published()
    d = p.d
    d.start()
    d.register("obs")
    p.subscribe()
    d.ext_next("obs")
    d.advance(3)
    d.init_error(b'{"errorType":"Runtime.ImportModuleError","errorMessage":"No module"}', "Runtime.ImportModuleError")
    d.exited(RUNTIME, code=1)
    assert p.types() == ["platform.initStart", "platform.telemetrySubscription", "platform.initRuntimeDone",
                         "platform.extension", "platform.initReport"]
    assert p.of_type("platform.initReport")[0]["record"] == {
        "initializationType": "on-demand", "phase": "init", "status": "error",
        "errorType": "Runtime.ImportModuleError", "metrics": {"durationMs": 3.0}}
    assert p.of_type("platform.initRuntimeDone")[0]["record"]["errorType"] == "Runtime.ImportModuleError"
    d.exited(ext("obs"), code=0)  # the reset ends: a second generation subscribes anew
    mark = p.count()
    _, rid = d.invoke(trace_id=TRACE)
    d.register("obs")
    p.subscribe()
    d.ext_next("obs")
    d.advance(2)
    d.runtime_next()
    d.advance(1)
    d.respond(rid)
    d.runtime_next()
    d.ext_next("obs")
    assert p.types(since=mark) == ["platform.initStart", "platform.telemetrySubscription",
                                   "platform.initRuntimeDone", "platform.extension", "platform.initReport",
                                   "platform.start", "platform.runtimeDone", "platform.report"]
    second = p.received["obs"][mark:]
    assert [(e["type"], e["record"]["phase"]) for e in second[:5] if "phase" in e["record"]] == [
        ("platform.initStart", "invoke"), ("platform.initRuntimeDone", "invoke"), ("platform.initReport", "invoke")]
    assert second[5] == {"time": stamp(5), "type": "platform.start",
                         "record": {"requestId": rid, "version": "$LATEST",
                                    "tracing": {"type": "X-Amzn-Trace-Id", "value": TRACE}}}
    # A suppressed Init is no on-demand cold start: no Init Duration in its REPORT, whose Duration includes it.
    assert "initDurationMs" not in second[-1]["record"]["metrics"]
    assert second[-1]["record"]["metrics"]["durationMs"] == 3.0


def test_a_suppressed_init_that_fails_still_starts_and_ends_its_invoke():
    p = Published()
    p.cold_start()
    p.d.invoke()
    p.d.exited(RUNTIME, code=1)  # crash: reset
    p.d.exited(ext("obs"), code=0)
    mark = p.count()
    _, rid2 = p.d.invoke()
    p.d.register("obs")
    p.subscribe()
    p.d.ext_next("obs")
    p.d.exited(RUNTIME, code=2)
    assert p.types(since=mark) == ["platform.initStart", "platform.telemetrySubscription",
                                   "platform.initRuntimeDone", "platform.extension", "platform.initReport",
                                   "platform.start", "platform.runtimeDone", "platform.report"]
    done = p.of_type("platform.runtimeDone")[-1]["record"]
    assert (done["requestId"], done["status"], done["errorType"]) == (rid2, "error", "Runtime.ExitError")


def test_no_init_runtime_done_when_init_failed_before_the_runtime_was_launched():
    p = Published(("obs", "other"))
    p.d.start()
    p.d.register("obs")
    p.subscribe()
    p.d.exited(ext("other"), code=1)  # never registered: the runtime is never launched
    assert p.types() == ["platform.initStart", "platform.telemetrySubscription", "platform.extension",
                         "platform.extension", "platform.initReport"]
    assert [e["record"]["state"] for e in p.of_type("platform.extension")] == ["Registered", "Exited"]
    assert p.of_type("platform.initReport")[0]["record"]["errorType"] == "Extension.Crash"


def test_a_shutdown_delivers_the_extensions_last_lines_then_nothing():
    p = Published()
    p.cold_start()
    p.invoke()
    mark = p.count()
    p.d.feed(ins.ShutdownRequested())
    p.d.exited(RUNTIME, code=0)  # SIGTERM: SHUTDOWN goes to the extension
    p.d.ext_next("obs")
    p.output(ext("obs"), "bye")
    p.d.exited(ext("obs"), code=0)
    assert p.types(since=mark) == ["extension"]  # no invoke ran: no runtimeDone at a spindown
    assert p.records.subscribers == {}
    before = len(p.outputs)
    p.output(ext("obs"), "after the end")
    assert len(p.outputs) == before


# ---------------------------------------------------------------------- per subscriber


def test_types_select_and_the_replay_respects_them():
    p = Published(("logs", "plat"))
    p.cold_start({"logs": {"types": ["function"]}, "plat": {"types": ["platform"]}})
    p.invoke()
    assert p.types("logs") == ["function", "function"]
    assert p.types("plat") == ["platform.initStart", "platform.telemetrySubscription",
                               "platform.telemetrySubscription", "platform.initRuntimeDone", "platform.extension",
                               "platform.extension", "platform.initReport", "platform.start",
                               "platform.runtimeDone", "platform.report"]
    # "logs" subscribed first: "plat" has its subscription replayed, then its own.
    assert [e["record"]["name"] for e in p.of_type("platform.telemetrySubscription", "plat")] == ["logs", "plat"]


def test_a_second_subscriber_has_the_first_ones_lines_replayed():
    p = Published(("a", "b"))
    p.cold_start()
    assert p.types("b")[:6] == ["platform.initStart", "extension", "platform.telemetrySubscription", "extension",
                                "extension", "platform.telemetrySubscription"]
    assert [e["record"] for e in p.received["b"][:5] if e["type"] == "extension"] == [
        "a starting", "a subscribed", "b starting"]
    assert p.types("a")[4:6] == ["extension", "platform.telemetrySubscription"]  # a sees b's start and subscription


def test_the_lines_of_one_read_are_a_record_each_in_order_for_every_subscriber():
    p = Published(extensions=("obs", "logs"))
    p.cold_start(subscribe={"logs": {"api": LOGS}})
    before = {name: p.count(name) for name in ("obs", "logs")}
    _, rid = p.d.invoke()
    lines = tuple(f.LogLine(f.FUNCTION, f"line {n}", rid) for n in range(3))
    p.publish(f.LogLines(lines + (f.LogLine(f.extension_source("obs"), "from obs"),)))
    for name in ("obs", "logs"):
        got = p.received[name][before[name]:]
        assert [(e["type"], e["record"]) for e in got if e["type"] in ("function", "extension")] == [
            ("function", "line 0"), ("function", "line 1"), ("function", "line 2"), ("extension", "from obs")], name


def test_json_log_lines_are_objects_from_schema_2022_12_13():
    p = Published(("new", "old"), json_logs=True)
    p.cold_start({"old": {"schema": "2022-07-01"}})
    line = '{"timestamp":"2023-11-14T22:13:20.010Z","level":"INFO","requestId":"r","message":"hi"}'
    p.output(RUNTIME, line)
    p.output(RUNTIME, "print() output, not JSON")
    assert [e["record"] for e in p.received["new"][-2:]] == [json.loads(line), "print() output, not JSON"]
    assert [e["record"] for e in p.received["old"][-2:]] == [line, "print() output, not JSON"]


@pytest.mark.parametrize("line", ['{"a": NaN}', '{"b": -Infinity}', '{"c": 1e999}'])
def test_a_json_log_line_only_python_accepts_stays_a_string(line: str):
    """NaN, Infinity and a number past a double are not JSON: Lambda (Go's decoder) keeps such a line as text, and
    as an object it would be sent on as `NaN`, making the whole batch unreadable to a strict listener."""
    p = Published(json_logs=True)
    p.cold_start()
    p.output(RUNTIME, line)
    assert p.received["obs"][-1]["record"] == line


def test_text_log_format_keeps_json_looking_lines_as_strings():
    p = Published()
    p.cold_start()
    p.output(RUNTIME, '{"message":"hi"}')
    assert p.received["obs"][-1]["record"] == '{"message":"hi"}'


def test_logs_dropped_goes_to_the_subscriber_whose_records_were_dropped_in_its_apis_form():
    p = Published(("tel", "log", "fn"))
    p.cold_start({"log": {"api": LOGS}, "fn": {"types": ["function"]}})
    p.d.advance(50)
    p.publish(f.TelemetryDropped("tel", 12, 3456, at=p.d.mono))
    p.publish(f.TelemetryDropped("log", 2, 100, at=p.d.mono))
    assert p.received["tel"][-1] == {"time": stamp(56), "type": "platform.logsDropped", "record": {
        "droppedBytes": 3456, "droppedRecords": 12, "reason": TELEMETRY_DROP_REASON}}
    assert p.received["log"][-1]["record"] == {"reason": LOGS_DROP_REASON, "droppedRecords": 2, "droppedBytes": 100}
    assert p.types("tel").count("platform.logsDropped") == p.types("log").count("platform.logsDropped") == 1
    assert "platform.logsDropped" not in p.types("fn")


def test_what_a_subscriber_lost_when_its_process_ended_is_told_to_nobody():
    # After a reset the extension of that name is a new process: the old one's last records are not its loss.
    p = Published(("tel",))
    p.cold_start()
    p.publish(f.TelemetryDropped("tel", 5, 580, at=p.d.mono, gone=True))
    assert "platform.logsDropped" not in p.types("tel")


def test_platform_lines_and_lambdatuis_own_never_leave():
    p = Published()
    p.cold_start()
    before = len(p.outputs)
    p.publish(f.LogLine(f.PLATFORM, "REPORT RequestId: x"))
    p.publish(f.LogLine(f.LAMBDATUI, "an explanation"))
    assert len(p.outputs) == before


# ---------------------------------------------------------------------- the Logs API


def test_the_logs_api_has_its_own_records():
    p = Published(("old", "new"))
    p.cold_start({"old": {"api": LOGS, "schema": "2020-08-15"}, "new": {"api": LOGS, "schema": "2021-03-18"}})
    rid = p.invoke()
    invoke = ["platform.start", "function", "platform.end", "platform.report"]
    assert p.types("old") == ["extension", "platform.logsSubscription", "extension", "extension",
                              "platform.logsSubscription", "extension", "function",
                              "platform.extension", "platform.extension"] + invoke
    assert p.types("new")[-5:] == ["platform.start", "function", "platform.runtimeDone", "platform.end",
                                   "platform.report"]
    assert p.of_type("platform.start", "old")[0]["record"] == {"requestId": rid, "version": "$LATEST"}
    assert p.of_type("platform.runtimeDone", "new")[0]["record"] == {"requestId": rid, "status": "success"}
    assert p.of_type("platform.end", "old")[0]["record"] == {"requestId": rid}
    [reported] = p.d.reports()
    assert p.of_type("platform.report", "old")[0]["record"] == {"requestId": rid, "metrics": {
        "durationMs": 8.0, "billedDurationMs": reported.billed_duration_ms, "memorySizeMB": 128,
        "maxMemoryUsedMB": 128, "initDurationMs": 5.0}}
    assert p.of_type("platform.logsSubscription", "old")[0]["record"] == {
        "name": "old", "state": "Subscribed", "types": ALL_TYPES}


def test_a_crash_is_a_platform_fault_and_a_failed_runtime_done_in_the_logs_api():
    p = Published()
    p.cold_start({"obs": {"api": LOGS}})
    mark = p.count()
    _, rid = p.d.invoke()
    p.d.exited(RUNTIME, code=1)
    assert p.types(since=mark) == ["platform.start", "platform.fault", "platform.runtimeDone", "platform.end",
                                   "platform.report"]
    fault, done = p.received["obs"][mark + 1: mark + 3]
    assert fault["record"] == f"RequestId: {rid} Error: Runtime exited with error: exit status 1\nRuntime.ExitError\n"
    assert done["record"] == {"requestId": rid, "status": "failure"}


# ---------------------------------------------------------------------- cheap when nobody listens


def test_without_subscribers_it_answers_nothing_and_keeps_nothing_after_init():
    p = Published()
    p.d.start()
    p.d.register("obs")  # never subscribes
    p.output(ext("obs"), "hello")
    p.d.ext_next("obs")
    p.d.runtime_next()
    p.invoke()
    assert p.outputs == [] and p.records.idle
    # What Init generated is not kept once it is over: a subscription now would replay nothing of it.
    p.publish(f.TelemetrySubscribed("obs", _subscription("2022-12-13", ALL_TYPES)))
    assert p.types() == ["platform.telemetrySubscription"]


def test_the_replay_of_a_long_init_is_bounded(monkeypatch):
    monkeypatch.setattr(tr, "INIT_REPLAY_LIMIT", 3)
    p = Published()
    p.d.start()
    p.d.register("obs")
    for i in range(5):
        p.output(ext("obs"), f"line {i}")
    p.subscribe()
    assert p.types() == ["platform.initStart", "extension", "extension", "platform.telemetrySubscription"]


@pytest.mark.parametrize("schema, structured", [("2022-07-01", False), ("2022-12-13", True), ("2025-01-29", True)])
def test_the_init_replay_takes_the_subscribers_schema(schema, structured):
    p = Published(json_logs=True)
    p.d.start()
    p.d.register("obs")
    p.output(ext("obs"), '{"message":"hi"}')
    p.subscribe(schema=schema, types=["extension"])
    assert [e["record"] for e in p.of_type("extension")] == [{"message": "hi"} if structured else '{"message":"hi"}']


def _subscription(schema: str, types: list[str]):
    from lambdatui.core.telemetry_subscription import parse_subscription

    body = {"schemaVersion": schema, "types": types,
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/"}}
    return parse_subscription(TELEMETRY, json.dumps(body).encode())


def test_platform_report_is_stamped_when_the_invoke_ended_not_when_the_host_published_it():
    # The host publishes a moment after the core decided; the next invoke's platform.start, stamped by its own fact,
    # came out before the last report (a consumer sorting by time got them the wrong way round).
    p = Published()
    p.cold_start()
    p.invoke()
    ended = p.d.mono
    fact = f.InvokeReported("req-x", 1.0, 1, 128, 20, None, "success", at=ended)
    envelopes = [envelope for _, sent in p.records.feed(fact, ended + 0.5) for envelope in sent]
    assert envelopes and {envelope["time"] for envelope in envelopes} == {stamp((ended - MONO0) * 1000)}
