"""Each extension's Extensions API state machine (lambda-spec §2.7, §2.4)."""

from __future__ import annotations

import itertools

import pytest

from lambdatui.core.extension_machine import (
    ExtensionCall,
    ExtensionState,
    ExtensionTransitionNotAllowed,
    transition,
)

S, C = ExtensionState, ExtensionCall

ALLOWED = {
    (S.STARTED, C.REGISTER): S.REGISTERED,
    (S.REGISTERED, C.NEXT): S.READY,
    (S.RUNNING, C.NEXT): S.READY,
    (S.REGISTERED, C.INIT_ERROR): S.INIT_ERROR,
    (S.INIT_ERROR, C.INIT_ERROR): S.INIT_ERROR,  # repeating init/error is a no-op
    (S.REGISTERED, C.EXIT_ERROR): S.EXIT_ERROR,
    (S.READY, C.EXIT_ERROR): S.EXIT_ERROR,
    (S.RUNNING, C.EXIT_ERROR): S.EXIT_ERROR,
    (S.EXIT_ERROR, C.EXIT_ERROR): S.EXIT_ERROR,  # so is repeating exit/error
}
REFUSED = [pair for pair in itertools.product(S, C) if pair not in ALLOWED]


@pytest.mark.parametrize(("state", "call", "after"), [(s, c, a) for (s, c), a in ALLOWED.items()])
def test_allowed_transitions(state, call, after):
    assert transition(state, call, "ext") is after


@pytest.mark.parametrize(("state", "call"), REFUSED)
def test_every_other_transition_is_refused(state, call):
    with pytest.raises(ExtensionTransitionNotAllowed):
        transition(state, call, "ext")


@pytest.mark.parametrize(
    ("state", "call", "message"),
    [
        (S.INIT_ERROR, C.NEXT, "State transition from InitError to Ready failed for extension my-ext. "
                               "Error: State transition is not allowed"),
        (S.READY, C.INIT_ERROR, "State transition from Ready to InitError failed for extension my-ext. "
                                "Error: State transition is not allowed"),
        (S.REGISTERED, C.REGISTER, "State transition from Registered to Registered failed for extension my-ext. "
                                   "Error: State transition is not allowed"),
        (S.EXIT_ERROR, C.NEXT, "State transition from ExitError to Ready failed for extension my-ext. "
                               "Error: State transition is not allowed"),
        (S.INIT_ERROR, C.EXIT_ERROR, "State transition from InitError to ExitError failed for extension my-ext. "
                                     "Error: State transition is not allowed"),
        (S.READY, C.NEXT, "State transition from Ready to Ready failed for extension my-ext. "
                          "Error: State transition is not allowed"),
    ],
)
def test_refusal_message_names_the_extension(state, call, message):
    with pytest.raises(ExtensionTransitionNotAllowed) as refused:
        transition(state, call, "my-ext")
    assert str(refused.value) == message


def test_state_names_match_extension_log_lines():
    assert [s.value for s in (S.STARTED, S.REGISTERED, S.READY, S.RUNNING, S.INIT_ERROR, S.EXIT_ERROR,
                              S.SHUTDOWN_FAILED, S.EXITED, S.LAUNCH_ERROR)] == [
        "Started", "Registered", "Ready", "Running", "InitError", "ExitError", "ShutdownFailed", "Exited",
        "LaunchError"]
    assert str(S.READY) == "Ready"
