"""The lines Lambda's platform writes to the function's log, formatted exactly (lambda-spec §4.9)."""

from __future__ import annotations

import math
import time
from typing import Iterable, Optional

from lambdatui.model.facts import InvokeReported


def iso_time(wall_ms: int) -> str:
    """UTC, to the millisecond (`time`, not `datetime`: the one use of it on `invoke`'s way, ~1 ms to import)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(wall_ms // 1000)) + f"{wall_ms % 1000:03d}Z"


def init_start(runtime_version: str, runtime_version_arn: str) -> str:
    return f"INIT_START Runtime Version: {runtime_version}\tRuntime Version ARN: {runtime_version_arn}"


def restore_start(runtime_version: str, runtime_version_arn: str) -> str:
    return f"RESTORE_START Runtime Version: {runtime_version}\tRuntime Version ARN: {runtime_version_arn}"


def restore_report(duration_ms: float, status: str, error_type: Optional[str]) -> str:
    """Logged after every restore (lambda-spec §4.8); `Status` only when it failed."""
    line = f"RESTORE_REPORT Restore Duration: {duration_ms:.2f} ms"
    if status != "success":
        line += f"\tStatus: {status}"
        if error_type:
            line += f"\tError Type: {error_type}"
    return line


def start(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def billed_ms(duration_ms: float) -> int:
    return max(1, math.ceil(duration_ms))


def report(fact: InvokeReported) -> str:
    used = fact.max_memory_used_mb if fact.max_memory_used_mb is not None else fact.memory_size_mb
    fields = [
        f"REPORT RequestId: {fact.request_id}",
        f"Duration: {fact.duration_ms:.2f} ms",
        f"Billed Duration: {fact.billed_duration_ms} ms",
        f"Memory Size: {fact.memory_size_mb} MB",
        f"Max Memory Used: {used} MB",
    ]
    # Real logs put Init Duration last among the metrics (lambda-spec §4.9).
    if fact.init_duration_ms is not None:
        fields.append(f"Init Duration: {fact.init_duration_ms:.2f} ms")
    if fact.restore_duration_ms is not None:  # a restored environment's first invoke (lambda-spec §4.8)
        fields.append(f"Restore Duration: {fact.restore_duration_ms:.2f} ms")
        fields.append(f"Billed Restore Duration: {fact.billed_restore_duration_ms} ms")
    if fact.status != "success":
        fields.append(f"Status: {fact.status}")
        if fact.error_type:
            fields.append(f"Error Type: {fact.error_type}")
    return "\t".join(fields) + "\t"


def init_report(duration_ms: float, phase: str, status: str, error_type: Optional[str]) -> str:
    line = f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
    if error_type:
        line += f"\tError Type: {error_type}"
    return line


def extension(name: str, state: str, events: Iterable[str], error_type: Optional[str] = None) -> str:
    line = f"EXTENSION\tName: {name}\tState: {state}\tEvents: [{','.join(events)}]"
    if error_type:
        line += f"\tError Type: {error_type}"
    return line


def task_timed_out(wall_ms: int, request_id: str, timeout_s: float) -> str:
    return f"{iso_time(wall_ms)} {request_id} Task timed out after {timeout_s:.2f} seconds"


def request_error(request_id: str, detail: str) -> str:
    return f"RequestId: {request_id} Error: {detail}"
