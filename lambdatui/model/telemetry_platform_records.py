"""The `record` of each `platform.*` event, as Lambda writes it for the Telemetry API and the Logs API (§3.5, §3.7).

Pure: facts in, JSON-ready dicts out, in the key order RAPID writes them. When an event is sent, to whom, and
with which `time` is the translator's business (model/telemetry_records.py); times it has stamped come in as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from lambdatui.model import facts as f
from lambdatui.model.telemetry import Subscription

Record = dict[str, Any]

SUBSCRIBED = "Subscribed"
TIMED_OUT = "Sandbox.Timedout"
TRACE_HEADER = "X-Amzn-Trace-Id"
TELEMETRY_DROP_REASON = "Some logs were dropped because the downstream consumer is slower than the logs production rate"
LOGS_DROP_REASON = "Consumer seems to have fallen behind as it has not acknowledged receipt of logs."


@dataclass(frozen=True)
class FunctionInfo:
    """What `platform.initStart` and `platform.start` say about the function."""

    function_name: str
    function_version: str = "$LATEST"
    memory_mb: int = 128
    runtime_version: str = ""
    runtime_version_arn: str = ""
    instance_id: str = ""  # RAPID sends the log stream's name
    initialization_type: str = "on-demand"

    @classmethod
    def of(cls, config: Any, instance_id: str = "") -> FunctionInfo:
        """From the core's `EnvironmentConfig` (or anything with its attribute names)."""
        init_type = getattr(config, "initialization_type", None)  # the core's config knows (Managed Instances too)
        if not isinstance(init_type, str):
            init_type = "provisioned-concurrency" if getattr(config, "provisioned", False) else "on-demand"
        return cls(config.function_name, config.function_version, config.memory_mb, config.runtime_version,
                   config.runtime_version_arn, instance_id, init_type)


def ms(value: float) -> float:
    """Milliseconds with microsecond precision, as RAPID's CalculateDuration gives them."""
    return round(value, 3)


def tracing(trace: str) -> Record:
    return {"type": TRACE_HEADER, "value": trace}


def span(timed: f.Span, start: str) -> Record:
    return {"name": timed.name, "start": start, "durationMs": ms(timed.duration_ms)}


def subscription(name: str, sub: Subscription) -> Record:
    """`platform.telemetrySubscription` and `platform.logsSubscription`."""
    return {"name": name, "state": SUBSCRIBED, "types": list(sub.types)}


# ---------------------------------------------------------------------- Init


def init_start(fn: FunctionInfo, phase: str) -> Record:
    record: Record = {
        "initializationType": fn.initialization_type,
        "phase": phase,
        "runtimeVersion": fn.runtime_version,
        "runtimeVersionArn": fn.runtime_version_arn,
        "functionName": fn.function_name,
        "functionVersion": fn.function_version,
    }
    if fn.instance_id:
        record["instanceId"] = fn.instance_id
    record["instanceMaxMemory"] = fn.memory_mb
    return record


def init_runtime_done(fn: FunctionInfo, phase: str, ended: f.PhaseEnded) -> Record:
    """`platform.initRuntimeDone`; with the Init's duration, `platform.initReport` (`init_report`)."""
    record: Record = {"initializationType": fn.initialization_type, "phase": phase, "status": ended.status}
    error_type = ended.error_type or (TIMED_OUT if ended.status == "timeout" else None)
    if ended.status != "success" and error_type:
        record["errorType"] = error_type
    return record


def init_report(fn: FunctionInfo, phase: str, ended: f.PhaseEnded) -> Record:
    record = init_runtime_done(fn, phase, ended)
    record["metrics"] = {"durationMs": ms(ended.duration_ms)}
    return record


def restore_start(fn: FunctionInfo) -> Record:
    """`platform.restoreStart` (SnapStart, lambda-spec §3.5)."""
    record: Record = {"functionName": fn.function_name, "functionVersion": fn.function_version}
    if fn.instance_id:
        record["instanceId"] = fn.instance_id
    record.update({"instanceMaxMemory": fn.memory_mb, "runtimeVersion": fn.runtime_version,
                   "runtimeVersionArn": fn.runtime_version_arn})
    return record


def restore_runtime_done(ended: f.PhaseEnded) -> Record:
    """`platform.restoreRuntimeDone`; with the restore's duration, `platform.restoreReport`."""
    record: Record = {"status": ended.status}
    error_type = ended.error_type or (TIMED_OUT if ended.status == "timeout" else None)
    if ended.status != "success" and error_type:
        record["errorType"] = error_type
    return record


def restore_report(ended: f.PhaseEnded) -> Record:
    record = restore_runtime_done(ended)
    record["metrics"] = {"durationMs": ms(ended.duration_ms)}
    return record


def extension(reported: f.ExtensionReported) -> Record:
    """`platform.extension`: one extension's state at the end of Init, and the events it registered for."""
    record: Record = {"name": reported.name, "state": reported.state, "events": list(reported.events)}
    if reported.error_type:
        record["errorType"] = reported.error_type
    return record


# ---------------------------------------------------------------------- invoke


def start(request_id: str, version: str, traced: Optional[Record]) -> Record:
    """The Telemetry API's `platform.start`."""
    record: Record = {"requestId": request_id, "version": version}
    if traced is not None:
        record["tracing"] = traced
    return record


def logs_request(request_id: str) -> Record:
    """The Logs API's `platform.end`: the request id alone."""
    return {"requestId": request_id}


def logs_start(request_id: str, version: str) -> Record:
    """The Logs API's `platform.start`: the request id and the version, as Lambda sends it today (AWS's Logs API
    sample shows `{'requestId': ..., 'version': '$LATEST'}`; the API's documentation, older, the id alone)."""
    return {"requestId": request_id, "version": version}


def invoke_outcome(request_id: str, status: str, error_type: Optional[str], metrics: Record,
                   spans: list[Record], traced: Optional[Record]) -> Record:
    """The Telemetry API's `platform.runtimeDone` and `platform.report`, which differ in their metrics and spans."""
    record: Record = {"requestId": request_id, "status": status}
    if status != "success" and error_type:
        record["errorType"] = error_type
    record["metrics"] = metrics
    if spans:
        record["spans"] = spans
    if traced is not None:
        record["tracing"] = traced
    return record


def runtime_done(done: f.RuntimeDone, spans: list[Record], traced: Optional[Record]) -> Record:
    metrics = {"durationMs": ms(done.duration_ms), "producedBytes": done.produced_bytes}
    return invoke_outcome(done.request_id, done.status, done.error_type, metrics, spans, traced)


def logs_runtime_done(done: f.RuntimeDone) -> Record:
    """The Logs API's `platform.runtimeDone` (schema 2021-03-18), which knows no status "error"."""
    status = done.status if done.status in ("success", "timeout") else "failure"
    return {"requestId": done.request_id, "status": status}


def fault(done: f.RuntimeDone) -> Optional[str]:
    """The Logs API's `platform.fault` text (RAPID's) for an invoke that failed with an error, else None."""
    if not done.detail or done.status not in ("error", "failure"):
        return None
    return f"RequestId: {done.request_id} Error: {done.detail}\n{done.error_type or ''}\n"


def report_status(reported: f.InvokeReported, done: Optional[f.RuntimeDone]) -> tuple[str, Optional[str]]:
    """The status and error type `platform.report` gives: the runtime's error when it answered with one."""
    status, error_type = reported.status, reported.error_type
    if (status == "success" and done is not None and done.request_id == reported.request_id
            and done.status != "success"):
        status, error_type = done.status, done.error_type
    if status == "timeout" and not error_type:
        error_type = TIMED_OUT
    return status, error_type


def report_metrics(reported: f.InvokeReported) -> Record:
    used = reported.max_memory_used_mb if reported.max_memory_used_mb is not None else reported.memory_size_mb
    metrics: Record = {"durationMs": ms(reported.duration_ms), "billedDurationMs": reported.billed_duration_ms,
                       "memorySizeMB": reported.memory_size_mb, "maxMemoryUsedMB": used}
    if reported.init_duration_ms is not None:
        metrics["initDurationMs"] = ms(reported.init_duration_ms)
    if reported.restore_duration_ms is not None:
        metrics["restoreDurationMs"] = ms(reported.restore_duration_ms)
    return metrics


def logs_report(request_id: str, metrics: Record) -> Record:
    return {"requestId": request_id, "metrics": metrics}


# ---------------------------------------------------------------------- delivery


def telemetry_logs_dropped(dropped: f.TelemetryDropped) -> Record:
    return {"droppedBytes": dropped.bytes, "droppedRecords": dropped.records, "reason": TELEMETRY_DROP_REASON}


def logs_api_logs_dropped(dropped: f.TelemetryDropped) -> Record:
    return {"reason": LOGS_DROP_REASON, "droppedRecords": dropped.records, "droppedBytes": dropped.bytes}
