"""Past-tense facts: what happened in the environment. Every client (console, Invoke API, UI, scenarios) renders these.

One module a family: `logs` (output lines), `lifecycle` (states, phases, holds, invokes and their results),
`reports` (REPORT metrics and other measurements), `inspection` (globals, /tmp, stacks), `faults`, and
`sandbox_api` (Telemetry and Logs API deliveries, API exchanges). `Fact` is the union of them all.
"""

from __future__ import annotations

from typing import Union

from lambdatui.model.facts.faults import FaultArmed, FaultInjected, FaultRefused, InitFailed
from lambdatui.model.facts.inspection import (INIT_STACKS, GlobalEntry, GlobalsReported, StackFrame, StacksCaptured,
                                              ThreadEntry, ThreadStack, TmpChanged, TmpEntry)
from lambdatui.model.facts.lifecycle import (BoundaryReached, BreakpointsChanged, EnvironmentFrozen,
                                             EnvironmentNotStarted, EnvironmentStartedFor, EnvironmentThawed,
                                             EventNotRun, EventRetrying, EventWaiting,
                                             HoldReleased, IdleSpunDown, InvocationCompleted, InvocationQueued,
                                             InvocationRefused, InvocationResult, InvocationThrottled,
                                             InvokeCutOff, NewEnvironmentAnswered, OverrunEnded,
                                             PreferredPassedOver, ParticipantChanged, PhaseEnded, PhaseStarted,
                                             ResponseStreamCallerLeft, ResponseStreamCallerStalled, ResponseStreamed,
                                             ResponseStreamEnded,
                                             ResponseStreamStarted, StateChanged)
from lambdatui.model.facts.logs import (FUNCTION, LAMBDATUI, PLATFORM, KeptLines, LogLine, LogLines, extension_source,
                                        log_lines, newest_lines, read_lines, unseen_lines)
from lambdatui.model.facts.reports import (ExtensionEventDelivered, ExtensionOverhead, ExtensionReported,
                                           InvokeReported, MemoryMeasured, ProcessExitedFact, RuntimeDone,
                                           ShutdownSent, Span)
from lambdatui.model.facts.sandbox_api import ApiExchanged, TelemetryDelivered, TelemetryDropped, TelemetrySubscribed

Fact = Union[
    LogLine,
    LogLines,
    StateChanged,
    PhaseStarted,
    PhaseEnded,
    BoundaryReached,
    BreakpointsChanged,
    HoldReleased,
    EnvironmentFrozen,
    EnvironmentThawed,
    ParticipantChanged,
    InvocationQueued,
    InvocationRefused,
    InvocationThrottled,
    EventWaiting,
    EventNotRun,
    EventRetrying,
    IdleSpunDown,
    EnvironmentStartedFor,
    EnvironmentNotStarted,
    PreferredPassedOver,
    NewEnvironmentAnswered,
    InvokeCutOff,
    OverrunEnded,
    InvocationCompleted,
    ResponseStreamStarted,
    ResponseStreamed,
    ResponseStreamEnded,
    ResponseStreamCallerLeft,
    ResponseStreamCallerStalled,
    InvokeReported,
    MemoryMeasured,
    RuntimeDone,
    ExtensionOverhead,
    ExtensionReported,
    ExtensionEventDelivered,
    ShutdownSent,
    ProcessExitedFact,
    GlobalsReported,
    TmpChanged,
    StacksCaptured,
    FaultInjected,
    FaultRefused,
    FaultArmed,
    InitFailed,
    TelemetrySubscribed,
    TelemetryDelivered,
    TelemetryDropped,
    ApiExchanged,
]

__all__ = [
    # logs
    "FUNCTION", "LAMBDATUI", "PLATFORM", "KeptLines", "LogLine", "LogLines", "extension_source", "log_lines",
    "newest_lines", "read_lines", "unseen_lines",
    # lifecycle
    "BoundaryReached", "BreakpointsChanged", "EnvironmentFrozen", "EnvironmentNotStarted", "EnvironmentStartedFor",
    "EnvironmentThawed",
    "EventNotRun", "EventRetrying", "EventWaiting", "HoldReleased", "IdleSpunDown",
    "InvocationCompleted", "InvocationQueued", "InvocationRefused", "InvocationResult", "InvocationThrottled",
    "InvokeCutOff", "NewEnvironmentAnswered", "OverrunEnded", "PreferredPassedOver",
    "ParticipantChanged", "PhaseEnded", "PhaseStarted", "ResponseStreamCallerLeft", "ResponseStreamCallerStalled", "ResponseStreamEnded",
    "ResponseStreamStarted", "ResponseStreamed", "StateChanged",
    # reports
    "ExtensionEventDelivered", "ExtensionOverhead", "ExtensionReported", "InvokeReported", "MemoryMeasured",
    "ProcessExitedFact", "RuntimeDone", "ShutdownSent", "Span",
    # inspection
    "INIT_STACKS", "GlobalEntry", "GlobalsReported", "StackFrame", "StacksCaptured", "ThreadEntry", "ThreadStack",
    "TmpChanged", "TmpEntry",
    # faults
    "FaultArmed", "FaultInjected", "FaultRefused", "InitFailed",
    # sandbox_api
    "ApiExchanged", "TelemetryDelivered", "TelemetryDropped", "TelemetrySubscribed",
    # all of them
    "Fact",
]
