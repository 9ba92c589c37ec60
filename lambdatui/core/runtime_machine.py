"""The runtime's Runtime API state machine (lambda-spec §1.9): any call its state does not allow is refused."""

from __future__ import annotations

from enum import Enum


class RuntimeState(str, Enum):
    NOT_STARTED = "NotStarted"
    STARTED = "Started"
    READY = "Ready"  # parked on /next
    RUNNING = "Running"  # owns the current invocation
    STREAMING = "InvocationResponse"  # its /response streams: the caller has its first bytes, /error is refused
    RESPONSE_SENT = "RuntimeResponseSentState"
    INIT_ERROR = "InitError"
    RESTORE_READY = "RestoreReady"  # SnapStart: parked on /restore/next (the snapshot)
    RESTORING = "Restoring"  # restored: running its after-restore hooks
    RESTORE_ERROR = "RuntimeRestoreErrorState"
    EXITED = "Exited"

    def __str__(self) -> str:
        return self.value


class RuntimeCall(str, Enum):
    NEXT = "Ready"
    RESPONSE = "InvocationResponse"
    STREAM_END = "RuntimeResponseSentState"
    ERROR = "InvocationErrorResponse"
    INIT_ERROR = "InitError"
    RESTORE_NEXT = "RestoreReady"
    RESTORE_ERROR = "RuntimeRestoreErrorState"


class TransitionNotAllowed(Exception):
    def __init__(self, state: RuntimeState, call: RuntimeCall) -> None:
        super().__init__(
            f"State transition from {state.value} to {call.value} failed for runtime. "
            "Error: State transition is not allowed"
        )


_TRANSITIONS: dict[tuple[RuntimeState, RuntimeCall], RuntimeState] = {
    (RuntimeState.STARTED, RuntimeCall.NEXT): RuntimeState.READY,
    (RuntimeState.STARTED, RuntimeCall.INIT_ERROR): RuntimeState.INIT_ERROR,
    (RuntimeState.STARTED, RuntimeCall.RESTORE_NEXT): RuntimeState.RESTORE_READY,
    (RuntimeState.RESTORING, RuntimeCall.NEXT): RuntimeState.READY,
    (RuntimeState.RESTORING, RuntimeCall.RESTORE_ERROR): RuntimeState.RESTORE_ERROR,
    (RuntimeState.RUNNING, RuntimeCall.RESPONSE): RuntimeState.RESPONSE_SENT,
    (RuntimeState.STREAMING, RuntimeCall.STREAM_END): RuntimeState.RESPONSE_SENT,
    (RuntimeState.RUNNING, RuntimeCall.ERROR): RuntimeState.RESPONSE_SENT,
    (RuntimeState.RESPONSE_SENT, RuntimeCall.NEXT): RuntimeState.READY,
}


def transition(state: RuntimeState, call: RuntimeCall) -> RuntimeState:
    """The state after `call`, or TransitionNotAllowed (rendered as 403 InvalidStateTransition)."""
    try:
        return _TRANSITIONS[(state, call)]
    except KeyError:
        raise TransitionNotAllowed(state, call) from None
