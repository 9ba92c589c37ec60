"""The runtime's Runtime API state machine (lambda-spec §1.9)."""

from __future__ import annotations

import itertools

import pytest

from lambdatui.core.runtime_machine import RuntimeCall, RuntimeState, TransitionNotAllowed, transition

S, C = RuntimeState, RuntimeCall

ALLOWED = {
    (S.STARTED, C.NEXT): S.READY,
    (S.STARTED, C.INIT_ERROR): S.INIT_ERROR,
    (S.RUNNING, C.RESPONSE): S.RESPONSE_SENT,
    (S.RUNNING, C.ERROR): S.RESPONSE_SENT,
    (S.RESPONSE_SENT, C.NEXT): S.READY,
    # SnapStart (lambda-spec §1.9): the snapshot parks on /restore/next; a restored runtime goes on to /next or
    # reports its after-restore hooks' failure.
    (S.STARTED, C.RESTORE_NEXT): S.RESTORE_READY,
    (S.RESTORING, C.NEXT): S.READY,
    (S.RESTORING, C.RESTORE_ERROR): S.RESTORE_ERROR,
    # A streamed /response (lambda-spec §1.8): it ends once its body (and trailers) have all arrived.
    (S.STREAMING, C.STREAM_END): S.RESPONSE_SENT,
}
REFUSED = [pair for pair in itertools.product(S, C) if pair not in ALLOWED]


@pytest.mark.parametrize(("state", "call", "after"), [(s, c, a) for (s, c), a in ALLOWED.items()])
def test_allowed_transitions(state, call, after):
    assert transition(state, call) is after


@pytest.mark.parametrize(("state", "call"), REFUSED)
def test_every_other_transition_is_refused(state, call):
    with pytest.raises(TransitionNotAllowed):
        transition(state, call)


@pytest.mark.parametrize(
    ("state", "call", "message"),
    [
        (S.RESPONSE_SENT, C.RESPONSE,
         "State transition from RuntimeResponseSentState to InvocationResponse failed for runtime. "
         "Error: State transition is not allowed"),
        (S.RESPONSE_SENT, C.ERROR,
         "State transition from RuntimeResponseSentState to InvocationErrorResponse failed for runtime. "
         "Error: State transition is not allowed"),
        (S.INIT_ERROR, C.NEXT,
         "State transition from InitError to Ready failed for runtime. Error: State transition is not allowed"),
        (S.READY, C.INIT_ERROR,
         "State transition from Ready to InitError failed for runtime. Error: State transition is not allowed"),
        (S.READY, C.RESPONSE,
         "State transition from Ready to InvocationResponse failed for runtime. Error: State transition is not allowed"),
        (S.STARTED, C.RESPONSE,
         "State transition from Started to InvocationResponse failed for runtime. Error: State transition is not allowed"),
        (S.RUNNING, C.INIT_ERROR,
         "State transition from Running to InitError failed for runtime. Error: State transition is not allowed"),
        (S.EXITED, C.NEXT,
         "State transition from Exited to Ready failed for runtime. Error: State transition is not allowed"),
    ],
)
def test_refusal_message_is_rapids(state, call, message):
    with pytest.raises(TransitionNotAllowed) as refused:
        transition(state, call)
    assert str(refused.value) == message


def test_state_names_are_rapids_wire_names():
    # These strings appear verbatim in 403 bodies (lambda-spec §1.9).
    assert [s.value for s in (S.STARTED, S.READY, S.RUNNING, S.RESPONSE_SENT, S.INIT_ERROR)] == [
        "Started", "Ready", "Running", "RuntimeResponseSentState", "InitError"]
    assert [c.value for c in C] == ["Ready", "InvocationResponse", "RuntimeResponseSentState",
                                    "InvocationErrorResponse", "InitError", "RestoreReady", "RuntimeRestoreErrorState"]
    assert [s.value for s in (S.RESTORE_READY, S.RESTORING, S.RESTORE_ERROR)] == [
        "RestoreReady", "Restoring", "RuntimeRestoreErrorState"]
    assert str(S.RESPONSE_SENT) == "RuntimeResponseSentState"
