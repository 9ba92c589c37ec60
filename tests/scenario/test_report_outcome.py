"""The outcome line a replay prints for an invoke (scenario/report.describe_outcome): whose error it was."""

from __future__ import annotations

from lambdatui.model import facts as f
from lambdatui.scenario.report import describe_outcome

SHUT_DOWN = f.InvocationResult("r-1", b'{"errorType":"Sandbox.Failure"}', function_error=True,
                               error_type="Sandbox.Failure")


def test_an_error_answered_without_any_runtime_is_not_called_the_function_s():
    """No REPORT: the invoke met an environment that was gone, and no runtime posted /error for it."""
    said = describe_outcome(SHUT_DOWN, None)
    assert said == "ERROR Sandbox.Failure: no runtime ran it; the caller was answered at once"


def test_an_error_the_runtime_posted_is_the_function_s():
    report = f.InvokeReported("r-1", 2.0, 3, 128, 40, None, "success", None)
    raised = f.InvocationResult("r-1", b'{"errorType":"ValueError"}', function_error=True, error_type="ValueError")
    assert describe_outcome(raised, report) == ("ERROR ValueError: the function returned an error (through the "
                                                "runtime's /error)")
