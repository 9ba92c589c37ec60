"""What the platform reports of extensions, and which error a reported failure leaves (lambda-spec §2.4, §2.8, §3.5):
the EXTENSION lines at the end of every Init, the error type an extension declared, the first fatal error kept, and
events named twice at registration."""

from __future__ import annotations

import json

import pytest
from driver import BOTH, Driver, ext

from lambdatui.core.common import INIT_TIMER
from lambdatui.core.effects import RUNTIME
from lambdatui.core.inputs import LaunchFailed
from lambdatui.model import facts as f


def init_lines(d: Driver, since: int = 0) -> list[str]:
    """The platform's EXTENSION and INIT_REPORT lines, in the order written."""
    return [line for line in d.lines(since=since) if line.startswith(("EXTENSION\t", "INIT_REPORT "))]


# ---------------------------------------------------------------------- EXTENSION lines however Init ends

def test_a_failed_init_writes_one_extension_line_per_launched_extension_before_init_report():
    d = Driver(("a", "b", "c"))
    d.start()
    d.register("a")
    d.register("b", ("INVOKE",))
    d.ext_init_error("b", "Extension.ConfigInvalid")
    d.exited(ext("b"), code=1)  # "c" never registered
    assert init_lines(d) == [
        "EXTENSION\tName: a\tState: Registered\tEvents: [INVOKE,SHUTDOWN]",
        "EXTENSION\tName: b\tState: InitError\tEvents: [INVOKE]\tError Type: Extension.ConfigInvalid",
        "EXTENSION\tName: c\tState: Started\tEvents: []",
        "INIT_REPORT Init Duration: 0.00 ms\tPhase: init\tStatus: error\tError Type: Extension.InitError",
    ]


def test_an_extension_that_cannot_be_launched_has_its_line():
    d = Driver(("bad",))
    d.start()
    d.feed(LaunchFailed(ext("bad"), d.env.generation, "permission denied"))
    assert init_lines(d) == [
        "EXTENSION\tName: bad\tState: LaunchError\tEvents: []\tError Type: Extension.LaunchError",
        "INIT_REPORT Init Duration: 0.00 ms\tPhase: init\tStatus: error\tError Type: Extension.LaunchError",
    ]


def test_an_init_that_times_out_writes_the_lines_too():
    d = Driver(("a",))
    d.start()
    d.register("a")
    d.ext_next("a")
    d.fire(INIT_TIMER)  # the runtime never asked for its first event
    assert init_lines(d) == [
        "EXTENSION\tName: a\tState: Ready\tEvents: [INVOKE,SHUTDOWN]",
        "INIT_REPORT Init Duration: 0.00 ms\tPhase: init\tStatus: timeout",
    ]


# ---------------------------------------------------------------------- the error type an extension declared

def test_platform_extension_says_the_declared_type_and_the_platform_says_extension_init_error():
    d = Driver(("a",))
    d.start()
    d.register("a")
    d.ext_init_error("a", "Extension.ConfigInvalid")
    d.exited(ext("a"), code=1)
    assert d.facts(f.ExtensionReported) == [
        f.ExtensionReported("a", "InitError", BOTH, "Extension.ConfigInvalid")]
    [ended] = [fact for fact in d.facts(f.PhaseEnded) if fact.phase == "init"]
    assert ended.error_type == "Extension.InitError"
    d.exited(RUNTIME, 0)  # stopped by the reset
    caller, _ = d.invoke()  # the retry fails the same way: its caller gets the platform's error
    d.register("a")
    d.ext_init_error("a", "Extension.Other")
    d.exited(ext("a"), code=1)
    assert d.result_for(caller).error_type == "Extension.InitError"
    assert d.facts(f.ExtensionReported)[-1].error_type == "Extension.Other"  # each Init's own report


def test_only_the_first_declared_type_counts():
    d = Driver(("a",))
    d.start()
    d.register("a")
    d.ext_init_error("a", "Extension.First")
    d.ext_init_error("a", "Extension.Second")  # accepted, a no-op (RAPID)
    d.exited(ext("a"), code=1)
    assert d.facts(f.ExtensionReported)[0].error_type == "Extension.First"


# ---------------------------------------------------------------------- the first fatal error is kept

def internal_agent_registered() -> Driver:
    """No launched extension: the runtime starts at once and registers an in-process agent (an internal one)."""
    d = Driver()
    d.start()
    assert d.register("agent", ("INVOKE",)).status == 200
    return d


def test_an_internal_extensions_init_error_is_the_error_when_the_runtime_exits():
    d = internal_agent_registered()
    d.ext_init_error("agent", "Agent.Broken")
    d.exited(RUNTIME, code=1)
    assert init_lines(d) == [
        "EXTENSION\tName: agent\tState: InitError\tEvents: [INVOKE]\tError Type: Agent.Broken",
        "INIT_REPORT Init Duration: 0.00 ms\tPhase: init\tStatus: error\tError Type: Extension.InitError",
    ]
    assert ("Extension 'agent' reported Extension.InitError before the runtime exited: Lambda keeps that first fatal "
            "error as the failure's type, not Runtime.ExitError.") in d.explanations()


def test_an_internal_extensions_exit_error_is_the_error_when_the_runtime_exits_during_the_invoke():
    d = internal_agent_registered()
    d.ext_next("agent")
    d.runtime_next()
    caller, rid = d.invoke()
    d.ext_exit_error("agent", "Agent.Broken")
    d.exited(RUNTIME, code=1)
    result = d.result_for(caller)
    assert result.error_type == "Extension.ExitError"
    assert json.loads(result.payload) == {
        "errorType": "Extension.ExitError",
        "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: exit status 1"}
    assert d.report_lines()[0].endswith("\tStatus: error\tError Type: Extension.ExitError\t")


@pytest.mark.parametrize("then_exits", [RUNTIME, ext("b")])
def test_an_exit_error_reported_before_another_process_exits_stays_the_error(then_exits):
    """The reporter has not exited yet when the runtime, or a sibling, does: the first fatal error still wins."""
    d = Driver(("a", "b"))
    d.cold_start({"a": ("INVOKE",), "b": ("INVOKE",)})
    caller, _ = d.invoke()
    d.ext_exit_error("a", "Extension.Broken")
    d.exited(then_exits, code=1)
    assert d.result_for(caller).error_type == "Extension.ExitError"


def test_a_new_init_forgets_the_last_ones_reported_error():
    d = internal_agent_registered()
    d.ext_init_error("agent", "Agent.Broken")
    d.exited(RUNTIME, code=1)  # the Init fails with Extension.InitError, and the environment resets
    caller, _ = d.invoke()  # its suppressed Init: the runtime now crashes with nothing reported
    d.exited(RUNTIME, code=2)
    assert d.result_for(caller).error_type == "Runtime.ExitError"


# ---------------------------------------------------------------------- events named twice

def test_an_event_named_twice_at_registration_is_subscribed_once_in_the_order_first_named():
    d = Driver(("a",))
    d.start()
    d.register("a", ("SHUTDOWN", "INVOKE", "SHUTDOWN", "INVOKE"))
    d.ext_next("a")
    m = d.mark()
    d.runtime_next()
    assert d.lines(since=m) == ["EXTENSION\tName: a\tState: Ready\tEvents: [SHUTDOWN,INVOKE]"]
    assert d.facts(f.ExtensionReported, since=m) == [f.ExtensionReported("a", "Ready", ("SHUTDOWN", "INVOKE"))]
