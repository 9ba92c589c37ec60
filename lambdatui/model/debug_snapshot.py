"""Everything the debugger shows, as one immutable value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lambdatui.model.facts import (
    GlobalsReported,
    InitFailed,
    InvocationResult,
    InvokeReported,
    LogLine,
    StacksCaptured,
    TmpChanged,
)
from lambdatui.model.snapshot import EnvironmentSnapshot
from lambdatui.model.timeline import TimelineBar


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    handler: str
    code_dir: str
    runtime: str  # "python:3" (lambdatui's bootstrap) or the custom runtime's description
    timeout_s: int
    memory_mb: int
    extensions: tuple[str, ...]


@dataclass(frozen=True)
class DebuggerSnapshot:
    function: FunctionInfo
    environment: EnvironmentSnapshot
    environment_number: int  # 1 for the first environment, +1 for each NewEnvironment
    sandbox_mode: str  # "mount-namespace" or "tmpdir"
    sandbox_note: Optional[str]
    globals: Optional[GlobalsReported]
    tmp: Optional[TmpChanged]
    timeline: tuple[TimelineBar, ...]
    marker: Optional[str]
    last_result: Optional[InvocationResult]
    last_report: Optional[InvokeReported]
    last_stacks: Optional[StacksCaptured]
    armed_faults: tuple[str, ...]
    logs: tuple[LogLine, ...]  # the most recent lines, bounded
    invocations: int
    last_init_failure: Optional[InitFailed] = None  # a failed Init newer than `last_result`
