"""A runtime SIGKILLed for the memory limit (issue 11, lambda-spec §10.2): Runtime.OutOfMemory, and a reset."""

from __future__ import annotations

import json

from driver import BOTH, Driver, ext

from lambdatui.core.effects import RUNTIME
from lambdatui.core.inputs import ProcessExited
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState

KILLED = "signal: killed"


def out_of_memory(d: Driver, participant: str = RUNTIME) -> None:
    d.feed(ProcessExited(participant, d.env.generation, KILLED, None, out_of_memory=True))


def warm(extensions: tuple[str, ...] = (), memory_mb: int = 128) -> Driver:
    d = Driver(extensions, memory_mb=memory_mb)
    d.cold_start({name: BOTH for name in extensions})
    return d


def test_a_runtime_killed_for_memory_during_an_invoke_is_runtime_out_of_memory():
    d = warm(memory_mb=256)
    caller, rid = d.invoke()
    d.advance(12.5)
    m = d.mark()
    out_of_memory(d)
    result = d.result_for(caller)
    assert json.loads(result.payload) == {
        "errorType": "Runtime.OutOfMemory", "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: {KILLED}"}
    assert result.function_error is True and result.error_type == "Runtime.OutOfMemory"
    assert d.lines(since=m)[:3] == [f"RequestId: {rid} Error: Runtime exited with error: {KILLED}",
                                    "Runtime.OutOfMemory", f"END RequestId: {rid}"]
    [report] = d.reports(m)
    assert (report.status, report.error_type, report.max_memory_used_mb) == ("error", "Runtime.OutOfMemory", 256)
    [line] = d.report_lines(m)
    assert "\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t" in line
    assert line.endswith("\tStatus: error\tError Type: Runtime.OutOfMemory\t")
    assert d.state is EnvState.COLD  # reset: nothing else was left to stop


def test_the_reset_after_an_out_of_memory_sends_shutdown_failure_and_the_next_invoke_reinitialises():
    d = warm(("ext-a",))
    caller, rid = d.invoke()
    m = d.mark()
    out_of_memory(d)
    assert d.result_for(caller).error_type == "Runtime.OutOfMemory"
    assert d.state is EnvState.RESETTING
    assert [s.reason for s in d.facts(f.ShutdownSent, m)] == ["failure"]
    d.exited(ext("ext-a"), 0)
    assert d.state is EnvState.COLD
    m = d.mark()
    d.invoke()
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted, m)][1] == ("init", "invoke")


def test_a_plain_sigkill_is_still_runtime_exit_error():
    d = warm()
    caller, rid = d.invoke()
    d.killed_by_signal(RUNTIME)
    assert d.result_for(caller).error_type == "Runtime.ExitError"
    assert d.reports()[0].max_memory_used_mb is None  # the host fills in what it measured


def test_out_of_memory_during_init_fails_init_and_the_retry_inside_the_invoke_reports_it_too():
    d = Driver()
    d.start()
    d.advance(40.0)
    out_of_memory(d)
    assert [line for line in d.lines() if line.startswith("INIT_REPORT")] == [
        "INIT_REPORT Init Duration: 40.00 ms\tPhase: init\tStatus: error\tError Type: Runtime.OutOfMemory"]
    [failed] = d.facts(f.InitFailed)
    assert (failed.error_type, failed.detail) == ("Runtime.OutOfMemory", f"Runtime exited with error: {KILLED}")
    assert d.state is EnvState.COLD
    m = d.mark()
    caller, rid = d.invoke()
    out_of_memory(d)  # the suppressed Init runs out of memory again
    result = d.result_for(caller)
    assert json.loads(result.payload) == {
        "errorType": "Runtime.OutOfMemory", "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: {KILLED}"}
    [report] = d.reports(m)
    assert (report.status, report.error_type, report.max_memory_used_mb) == ("error", "Runtime.OutOfMemory", 128)


def test_an_extension_killed_for_memory_is_still_an_extension_crash():
    d = warm(("ext-a",))
    caller, rid = d.invoke()
    out_of_memory(d, ext("ext-a"))
    assert d.result_for(caller).error_type == "Extension.Crash"


def test_out_of_memory_while_idle_resets_without_a_report():
    d = warm()
    m = d.mark()
    out_of_memory(d)
    assert not d.reports(m)
    assert d.state is EnvState.COLD
