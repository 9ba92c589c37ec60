"""Facts that say what really happened when something failed (issue 7): a refused fault is not an injected one,
a failed Init carries the runtime's own error document, and an Init timeout dumps where the runtime hung."""

from __future__ import annotations

from driver import Driver

from lambdatui.core.effects import RUNTIME, CaptureStacks
from lambdatui.core.inputs import FaultRequested
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import EnvState

SYNTAX_ERROR = (b'{"errorMessage": "Syntax error in module \'app\': invalid syntax (app.py, line 3)", '
                b'"errorType": "Runtime.UserCodeSyntaxError", "requestId": "", '
                b'"stackTrace": ["  File \\"/var/task/app.py\\" Line 3\\n        def handler(\\n"]}')


def test_forcing_a_deadline_when_none_runs_is_refused_not_injected():
    d = Driver()
    d.cold_start()  # frozen, waiting for an invoke: no deadline runs
    m = d.mark()
    d.feed(FaultRequested(flt.ForceTimeout()))
    assert d.facts(f.FaultInjected, m) == []
    [refused] = d.facts(f.FaultRefused, m)
    assert refused.description == flt.describe(flt.ForceTimeout())
    assert "No deadline is running" in refused.reason
    assert d.state is EnvState.FROZEN


def test_a_fault_on_a_participant_that_is_not_running_or_does_not_exist_is_refused():
    d = Driver()
    m = d.mark()
    d.feed(FaultRequested(flt.Crash("runtime")))  # cold: no process yet
    d.feed(FaultRequested(flt.Freeze("nosuch")))
    assert d.facts(f.FaultInjected, m) == []
    assert [r.reason.split(":")[0] for r in d.facts(f.FaultRefused, m)] == ["runtime is not running",
                                                                           "No participant named 'nosuch'"]


def test_an_accepted_fault_is_injected_and_not_refused():
    d = Driver(timeout_ms=1000)
    d.cold_start()
    d.invoke()
    m = d.mark()
    d.feed(FaultRequested(flt.ForceTimeout()))
    # 0 ms into the invoke: its event had just gone out (what a recording's after_ms keeps)
    assert d.facts(f.FaultInjected, m) == [f.FaultInjected(flt.describe(flt.ForceTimeout()), 0.0)]
    assert d.facts(f.FaultRefused, m) == []
    assert d.reports(m)[-1].status == "timeout"


def test_a_forced_invoke_deadline_says_how_long_the_invoke_ran_beside_lambdas_configured_figure():
    d = Driver(timeout_ms=3000)
    d.cold_start()
    d.invoke()
    d.advance(1000)
    m = d.mark()
    d.feed(FaultRequested(flt.ForceTimeout()))
    assert any(line.endswith("Task timed out after 3.00 seconds") for line in d.lines(since=m))  # Lambda's own line
    [said] = [line for line in d.explanations(m) if "forced" in line]
    assert said.startswith("The deadline was forced after 1.00 s of the configured 3 s"), said


def test_a_failed_init_carries_the_runtimes_error_document():
    d = Driver()
    d.start()
    d.gate()
    d.init_error(SYNTAX_ERROR, "Runtime.UserCodeSyntaxError")
    m = d.mark()
    d.exited(RUNTIME, 1)
    [failed] = d.facts(f.InitFailed, m)
    assert (failed.status, failed.error_type, failed.phase) == ("error", "Runtime.UserCodeSyntaxError", "init")
    assert failed.payload == SYNTAX_ERROR


def test_an_init_that_fails_without_a_report_says_what_the_platform_saw():
    d = Driver()
    d.start()
    m = d.mark()
    d.exited(RUNTIME, 2)
    [failed] = d.facts(f.InitFailed, m)
    assert (failed.status, failed.error_type, failed.payload) == ("error", "Runtime.ExitError", b"")
    assert "exit status 2" in failed.detail


def test_an_init_timeout_dumps_the_runtimes_stacks_before_the_reset():
    d = Driver()
    d.start()
    d.gate()  # the runtime is importing the handler module
    m = d.mark()
    d.fire("init")
    assert CaptureStacks(RUNTIME, f.INIT_STACKS) in d.effects(since=m)
    [failed] = d.facts(f.InitFailed, m)
    assert failed.status == "timeout"


def test_a_suppressed_init_that_times_out_dumps_the_stacks_for_its_invoke():
    d = Driver(timeout_ms=1000)
    d.start()
    d.exited(RUNTIME, 1)  # the first Init fails; the invoke retries it inside itself
    caller, rid = d.invoke()
    d.gate()
    m = d.mark()
    d.fire("invoke")
    assert CaptureStacks(RUNTIME, rid) in d.effects(since=m)
    assert [x.phase for x in d.facts(f.InitFailed, m)] == ["invoke"]
