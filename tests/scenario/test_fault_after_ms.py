"""`after_ms` on a fault step: parsed (and refused where it cannot mean anything), written by a recording for a fault
given while the handler ran, and read back to the same fault.

The recorder is fed the controller's own command and fact values, as when it is attached to a controller; the round
trip through real processes and `lambdatui replay` is test_record_fault_mid_handler.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary
from lambdatui.scenario.model import FaultAction
from lambdatui.scenario.parse import ScenarioError, parse_scenario
from lambdatui.scenario.record import Recorder

REPO = Path(__file__).resolve().parents[2]
COUNTER = REPO / "sample_functions" / "counter" / "handler.py"
START = Boundary.INVOKE_START


def parse_fault(text: str) -> flt.Fault:
    action = parse_scenario(textwrap.dedent(text), Path("s.toml")).steps[0].action
    assert isinstance(action, FaultAction)
    return action.fault


@pytest.mark.parametrize("text, fault", [
    ("fault = 'timeout'\nat = 'invoke.start'\nafter_ms = 2003", flt.ForceTimeout(START, 2003)),
    ("fault = 'crash'\nat = 'invoke.start'\nafter_ms = 0", flt.Crash(at=START, after_ms=0)),
    ("fault = 'crash'\nsignal = 'SIGTERM'\nat = 'invoke.start'\nafter_ms = 12.5",
     flt.Crash(signal=15, at=START, after_ms=12.5)),
    ("fault = 'freeze'\ntarget = 'audit'\nat = 'invoke.start'\nafter_ms = 40", flt.Freeze("audit", START, 40)),
    ("fault = 'thaw'\nat = 'invoke.start'\nafter_ms = 41", flt.Thaw(at=START, after_ms=41)),
])
def test_after_ms_goes_with_the_faults_that_act_at_once(text: str, fault: flt.Fault) -> None:
    assert parse_fault("[[step]]\n" + text + "\n") == fault


@pytest.mark.parametrize("options, fragment", [
    ("fault = 'timeout'\nafter_ms = 10",
     "after_ms counts from the moment the invoke's event goes out, so it goes with at = 'invoke.start' "
     "(this step has no at)"),
    ("fault = 'crash'\nat = 'invoke.response'\nafter_ms = 10", "(this step has at = 'invoke.response')"),
    ("fault = 'crash'\nat = 'invoke.start'\nafter_ms = -1", "after_ms = -1: give milliseconds, a number 0 or more"),
    ("fault = 'crash'\nat = 'invoke.start'\nafter_ms = '10'", "after_ms = a string: give milliseconds"),
    ("fault = 'crash'\nat = 'invoke.start'\nafter_ms = true", "after_ms = a boolean: give milliseconds"),
    ("fault = 'crash'\nat = 'invoke.start'\nafter_ms = nan", "after_ms = nan: give milliseconds"),
    ("fault = 'crash'\nat = 'invoke.start'\nafter_ms = inf", "after_ms = inf: give milliseconds"),
    ("fault = 'raise'\nat = 'invoke.start'\nafter_ms = 10",
     "fault = 'raise' takes no 'after_ms' (it takes: exception, message, at); after_ms is for the faults that act "
     "at once (crash, freeze, thaw, timeout)"),
    ("fault = 'init-error'\ntarget = 'audit'\nafter_ms = 10", "fault = 'init-error' takes no 'after_ms'"),
    ("invoke = {}\nafter_ms = 10", "'after_ms' only goes with fault"),
])
def test_after_ms_where_it_means_nothing_is_refused_at_its_step(options: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario("[[step]]\ninvoke = {}\n\n[[step]]\n" + options + "\n", Path("s.toml"))
    assert caught.value.line == 4, str(caught.value)
    assert fragment in caught.value.message, str(caught.value)


# ---------------------------------------------------------------------- what a recording writes


def recorder_with_invoke_at(boundary: Boundary, held: bool = False) -> Recorder:
    recorder = Recorder(resolve_function(str(COUNTER)))
    recorder(f.InvocationQueued("a", 1, b"{}"))
    recorder(f.BoundaryReached(Boundary.INVOKE_START, held=held, detail="a"))
    if boundary is Boundary.INVOKE_RESPONSE:
        recorder(f.BoundaryReached(Boundary.INVOKE_RESPONSE, held=False, detail="a"))
    return recorder


def recorded_faults(recorder: Recorder) -> tuple[str, list[flt.Fault]]:
    text = recorder.to_toml()
    steps = parse_scenario(text, Path("r.toml")).steps
    return text, [step.action.fault for step in steps if isinstance(step.action, FaultAction)]


TIMEOUT = flt.describe(flt.ForceTimeout())

# How the invoke stood when `t` was pressed, what the core said of the fault next, and the fault the recording writes.
WRITTEN = {
    "the handler running": (START, False, [f.FaultInjected(TIMEOUT, 2002.6)], flt.ForceTimeout(START, 2003)),
    # It acted before the event went out: where it is armed, as before.
    "held at invoke.start": (START, True, [f.FaultInjected(TIMEOUT, None)], flt.ForceTimeout(START)),
    # The runtime had answered: armed for that boundary, as before.
    "past invoke.response": (Boundary.INVOKE_RESPONSE, False, [f.FaultInjected(TIMEOUT, 900.0)],
                             flt.ForceTimeout(Boundary.INVOKE_RESPONSE)),
    # Refused: the core said so, and a later fact of the same description is another's.
    "refused": (START, False, [f.FaultRefused(TIMEOUT, "No deadline is running"), f.FaultInjected(TIMEOUT, 7.0)],
                flt.ForceTimeout(START)),
    # A fault armed earlier acts first: its fact is not this one's.
    "after another fault": (START, False, [f.FaultInjected("crash runtime (SIGKILL) at init.done", 5.0),
                                           f.FaultInjected(TIMEOUT, 40.0)], flt.ForceTimeout(START, 40)),
}


def test_a_fault_given_while_the_handler_runs_is_written_with_how_far_in_it_acted_and_no_other() -> None:
    written = {}
    for case, (boundary, held, facts, _) in WRITTEN.items():
        recorder = recorder_with_invoke_at(boundary, held)
        recorder.command(c.InjectFault(flt.ForceTimeout()))
        for fact in facts:
            recorder(fact)
        text, [written[case]] = recorded_faults(recorder)
        assert ("after_ms = " in text) == (written[case].after_ms is not None), text
    assert written == {case: fault for case, (_, _, _, fault) in WRITTEN.items()}
    text, _ = recorded_faults(recorder)
    assert "at = 'invoke.start'\nafter_ms = 40\n" in text, text


@pytest.mark.parametrize("fault", [flt.Crash(), flt.Freeze("runtime"), flt.Thaw("runtime")], ids=flt.describe)
def test_every_fault_that_acts_at_once_keeps_its_own_options_and_gains_after_ms(fault: flt.Fault) -> None:
    recorder = recorder_with_invoke_at(START)
    recorder.command(c.InjectFault(fault))
    recorder(f.FaultInjected(flt.describe(fault), 40.0))
    assert recorded_faults(recorder)[1] == [type(fault)(**{**vars(fault), "at": START, "after_ms": 40})]
