"""Each extension's Extensions API state machine (lambda-spec §2.7)."""

from __future__ import annotations

from enum import Enum


class ExtensionState(str, Enum):
    NOT_LAUNCHED = "NotLaunched"
    STARTED = "Started"  # launched, not registered yet
    REGISTERED = "Registered"
    READY = "Ready"  # parked on /event/next
    RUNNING = "Running"  # received an event, working on it
    INIT_ERROR = "InitError"
    EXIT_ERROR = "ExitError"
    EXITED = "Exited"
    SHUTDOWN_FAILED = "ShutdownFailed"
    LAUNCH_ERROR = "LaunchError"

    def __str__(self) -> str:
        return self.value


class ExtensionCall(str, Enum):
    REGISTER = "Registered"
    NEXT = "Ready"
    INIT_ERROR = "InitError"
    EXIT_ERROR = "ExitError"


class ExtensionTransitionNotAllowed(Exception):
    def __init__(self, state: ExtensionState, call: ExtensionCall, who: str) -> None:
        super().__init__(
            f"State transition from {state.value} to {call.value} failed for extension {who}. "
            "Error: State transition is not allowed"
        )


_TRANSITIONS: dict[tuple[ExtensionState, ExtensionCall], ExtensionState] = {
    (ExtensionState.STARTED, ExtensionCall.REGISTER): ExtensionState.REGISTERED,
    (ExtensionState.REGISTERED, ExtensionCall.NEXT): ExtensionState.READY,
    (ExtensionState.RUNNING, ExtensionCall.NEXT): ExtensionState.READY,
    (ExtensionState.REGISTERED, ExtensionCall.INIT_ERROR): ExtensionState.INIT_ERROR,
    # Repeating init/error is a no-op in RAPID.
    (ExtensionState.INIT_ERROR, ExtensionCall.INIT_ERROR): ExtensionState.INIT_ERROR,
    (ExtensionState.REGISTERED, ExtensionCall.EXIT_ERROR): ExtensionState.EXIT_ERROR,
    (ExtensionState.READY, ExtensionCall.EXIT_ERROR): ExtensionState.EXIT_ERROR,
    (ExtensionState.RUNNING, ExtensionCall.EXIT_ERROR): ExtensionState.EXIT_ERROR,
    # So is repeating exit/error: only the first error reported counts.
    (ExtensionState.EXIT_ERROR, ExtensionCall.EXIT_ERROR): ExtensionState.EXIT_ERROR,
}


def transition(state: ExtensionState, call: ExtensionCall, who: str) -> ExtensionState:
    try:
        return _TRANSITIONS[(state, call)]
    except KeyError:
        raise ExtensionTransitionNotAllowed(state, call, who) from None
