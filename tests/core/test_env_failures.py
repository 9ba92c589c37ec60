"""Timeouts, crashes and init failures, and the resets that follow (lambda-spec §2.8, §4.2, §4.5, §4.6)."""

from __future__ import annotations

import json

import pytest
from driver import BOTH, WALL0, Driver, ext

from lambdatui.core.effects import RUNTIME, CaptureStacks, Kill, Spawn, Thaw
from lambdatui.core.inputs import FaultRequested, LaunchFailed, NewEnvironmentRequested, StacksDumped
from lambdatui.model import faults as flt
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState

SUBS = {"ext-a": BOTH, "ext-b": ("SHUTDOWN",), "ext-c": ("INVOKE",)}


def warm(subscriptions=None) -> Driver:
    subscriptions = subscriptions or {}
    d = Driver(subscriptions)
    d.start()
    for name, events in subscriptions.items():
        d.register(name, events)
        d.ext_next(name)
    d.advance(80.25)
    d.runtime_next()
    assert d.state is EnvState.FROZEN
    return d


def timed_out(subscriptions=None) -> tuple[Driver, int, str, int]:
    d = warm(subscriptions)
    d.advance(1000)
    caller, rid = d.invoke()
    d.advance(3000)
    m = d.mark()
    d.fire("invoke")
    return d, caller, rid, m


def init_reports(d: Driver, since: int = 0) -> list[str]:
    return [line for line in d.lines(since=since) if line.startswith("INIT_REPORT")]


# ---------------------------------------------------------------------- timeout

def test_timeout_logs_the_timed_out_line_and_answers_the_caller_with_sandbox_timedout():
    d, caller, rid, m = timed_out()
    assert d.lines(since=m)[:2] == [
        "2023-11-14T22:13:24.080Z req-1 Task timed out after 3.00 seconds",
        "END RequestId: req-1",
    ]
    assert d.wall_ms == WALL0 + 4080
    assert CaptureStacks(RUNTIME, "req-1") in d.effects(since=m)
    result = d.result_for(caller)
    assert result.payload == (b'{"errorMessage":"RequestId: req-1 Error: Task timed out after 3.00 seconds",'
                              b'"errorType":"Sandbox.Timedout"}')
    assert result.function_error is True and result.error_type == "Sandbox.Timedout"
    [report] = d.reports()
    assert (report.status, report.error_type) == ("timeout", None)
    assert report.duration_ms == pytest.approx(3000.0)
    assert report.init_duration_ms == pytest.approx(80.25)
    assert report.billed_duration_ms == 3081
    assert d.report_lines()[0].endswith("\tInit Duration: 80.25 ms\tStatus: timeout\t")


def test_timeout_message_uses_the_configured_timeout():
    d = Driver(timeout_ms=1500)
    d.start()
    d.runtime_next()
    caller, rid = d.invoke()
    d.fire("invoke")
    assert json.loads(d.result_for(caller).payload)["errorMessage"] == (
        f"RequestId: {rid} Error: Task timed out after 1.50 seconds")


def test_timeout_without_extensions_kills_the_runtime_at_once_and_goes_cold_after_it_exits():
    d, caller, rid, m = timed_out()
    assert d.killed(m) == [RUNTIME]
    assert not d.terminated(m)
    assert set(d.started_timers(m)) == set()  # budget 0: no runtime-stop, no shutdown timer
    assert d.state is EnvState.RESETTING
    d.killed_by_signal(RUNTIME)
    assert d.state is EnvState.COLD
    assert d.states(m) == [EnvState.RESETTING, EnvState.COLD]
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted, m)] == [("reset", "timeout")]


def test_a_timer_that_fired_after_being_cancelled_is_ignored():
    d = warm()
    _, rid = d.invoke()
    d.complete_invoke(rid)
    assert d.fire("invoke") == []
    assert d.fire("init") == []


def test_timeout_with_external_extensions_stops_the_runtime_first_then_sends_shutdown():
    d, caller, rid, m = timed_out(SUBS)
    reset_wall = d.wall_ms
    assert d.terminated(m) == [RUNTIME]
    assert not d.killed(m)
    assert d.started_timers(m) == {"shutdown": d.mono + 2.0, "runtime-stop": d.mono + 0.3}
    # nothing is sent to extensions while the runtime is still alive
    assert not d.facts(f.ShutdownSent, m)
    parked_b = d.next_token[ext("ext-b")]
    assert not d.answered(parked_b)

    d.advance(300)
    m_stop = d.mark()
    assert d.fire("runtime-stop")[-1] == Kill(RUNTIME)
    # the SIGKILL is said: a SIGTERM handler cut short prints nothing of its own
    assert d.explanations(m_stop) == [
        "the runtime had not exited 300 ms after SIGTERM: SIGKILLed, as Lambda does (its share of the shutdown)."]
    d.advance(2)
    m2 = d.mark()
    d.killed_by_signal(RUNTIME)
    shutdown = {"eventType": "SHUTDOWN", "shutdownReason": "timeout", "deadlineMs": reset_wall + 2000}
    assert json.loads(d.reply(parked_b).body) == shutdown  # parked SHUTDOWN-only extension: at once
    assert {s.extension: (s.reason, s.deadline_ms) for s in d.facts(f.ShutdownSent, m2)} == {
        "ext-a": ("timeout", reset_wall + 2000), "ext-b": ("timeout", reset_wall + 2000)}
    assert d.killed(m2) == [ext("ext-c")]  # not subscribed to SHUTDOWN: killed without notice

    # ext-a was still working on INVOKE: it gets SHUTDOWN when it asks for the next event
    tok = d.ext_next("ext-a")
    assert json.loads(d.reply(tok).body) == shutdown
    d.exited(ext("ext-a"), 0)
    d.killed_by_signal(ext("ext-c"))
    assert d.state is EnvState.RESETTING  # ext-b still alive
    d.advance(1500)
    fired = d.fire("shutdown")
    assert [e for e in fired if isinstance(e, Kill)] == [Kill(ext("ext-b"))]  # and a line that says so
    d.killed_by_signal(ext("ext-b"))
    assert d.state is EnvState.COLD
    states = {p.participant: p.state for p in d.facts(f.ParticipantChanged)}
    assert states[ext("ext-a")] == "Exited"
    assert states[ext("ext-b")] == "ShutdownFailed"


def test_runtime_exiting_on_sigterm_cancels_the_runtime_stop_timer():
    d, caller, rid, m = timed_out(SUBS)
    d.advance(10)
    m2 = d.mark()
    d.exited(RUNTIME, 0)
    assert "runtime-stop" in d.cancelled_timers(m2)
    assert d.fire("runtime-stop") == []


def test_after_a_timeout_reset_the_next_invoke_runs_a_suppressed_init():
    d, caller, rid, m = timed_out()
    d.killed_by_signal(RUNTIME)
    d.advance(500)
    m = d.mark()
    c2, r2 = d.invoke()
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted, m)] == [("invoke", r2), ("init", "invoke")]
    assert d.lines(since=m) == [
        "INIT_START Runtime Version: python:3\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:lambdatui-python-3",
        f"START RequestId: {r2} Version: $LATEST",
    ]
    assert set(d.started_timers(m)) == {"invoke"}  # no init timer: the function timeout bounds it
    assert d.spawns(m) == [Spawn(RUNTIME, 2)]
    start_wall = d.wall_ms
    d.advance(40)
    tok = d.runtime_next()
    # The deadline is still invoke start + timeout (the init time came out of the invoke's budget).
    # Within 1 ms: the core re-derives it from the remaining timer and truncates (see test_env_deadlines.py).
    assert abs(int(dict(d.reply(tok).headers)["Lambda-Runtime-Deadline-Ms"]) - (start_wall + 3000)) <= 1
    assert d.lines(since=m).count(f"START RequestId: {r2} Version: $LATEST") == 1
    d.advance(10)
    d.complete_invoke(r2)
    report = d.reports(m)[0]
    assert report.init_duration_ms is None
    assert report.duration_ms == pytest.approx(50.0)  # includes the suppressed init
    assert "Init Duration" not in d.report_lines(m)[0]
    assert d.state is EnvState.FROZEN


def test_after_a_timeout_reset_with_extensions_everything_is_relaunched_in_order():
    d, caller, rid, m = timed_out({"ext-a": BOTH})
    d.exited(RUNTIME, 0)
    d.exited(ext("ext-a"), 0)
    assert d.state is EnvState.COLD
    m = d.mark()
    c2, r2 = d.invoke()
    assert d.spawns(m) == [Spawn(ext("ext-a"), 2)]
    d.register("ext-a")
    assert d.spawns(m)[-1] == Spawn(RUNTIME, 2)
    d.ext_next("ext-a")
    tok = d.runtime_next()
    assert d.reply(tok).headers[0] == ("Lambda-Runtime-Aws-Request-Id", r2)


def test_suppressed_init_that_times_out_answers_the_caller_with_sandbox_timedout():
    d, caller, rid, m = timed_out()
    d.killed_by_signal(RUNTIME)
    c2, r2 = d.invoke()
    d.advance(3000)
    m = d.mark()
    d.fire("invoke")
    assert init_reports(d, m) == ["INIT_REPORT Init Duration: 3000.00 ms\tPhase: invoke\tStatus: timeout"]
    result = d.result_for(c2)
    assert json.loads(result.payload) == {
        "errorType": "Sandbox.Timedout", "errorMessage": f"RequestId: {r2} Error: Task timed out after 3.00 seconds"}
    assert f"2023-11-14T22:13:27.080Z {r2} Task timed out after 3.00 seconds" in d.lines(since=m)
    assert d.reports(m)[0].status == "timeout"
    assert any("never called /runtime/invocation/next" in line for line in d.explanations(m))


def test_a_deadline_forced_at_invoke_start_after_a_suppressed_init_times_the_invoke_out():
    """The reset's next invoke runs Init inside it, then waits at invoke.start for its event to go out: a deadline
    forced there (`t`, or a recorded `fault = "timeout"` armed `at = "invoke.start"`) used to be taken for Init's
    (already over: nothing happened), and the invoke went on to succeed (a bug hunt's replay caught it)."""
    d, caller, rid, m = timed_out()
    d.killed_by_signal(RUNTIME)
    d.feed(FaultRequested(flt.ForceTimeout(at=Boundary.INVOKE_START)))
    c2, r2 = d.invoke()
    m = d.mark()
    d.runtime_next()  # Init done: invoke.start, where the armed fault forces the running deadline
    assert d.facts(f.FaultInjected, m)
    d.fire("invoke")
    result = d.result_for(c2)
    assert result.error_type == "Sandbox.Timedout", result
    assert d.reports(m)[0].status == "timeout"
    assert not d.effects(CaptureStacks, m)  # its event never went out: no handler to take a stack of


# ---------------------------------------------------------------------- crashes

@pytest.mark.parametrize(("code", "description", "detail"), [
    (1, "exit status 1", "Runtime exited with error: exit status 1"),
    (0, "exit status 0", "Runtime exited without providing a reason"),
    (None, "signal: killed", "Runtime exited with error: signal: killed"),
])
def test_runtime_exit_during_invoke_is_runtime_exit_error(code, description, detail):
    d = warm()
    caller, rid = d.invoke()
    m = d.mark()
    d.exited(RUNTIME, code, description)
    result = d.result_for(caller)
    assert json.loads(result.payload) == {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {rid} Error: {detail}"}
    assert result.function_error is True and result.error_type == "Runtime.ExitError"
    assert d.lines(since=m) == [f"RequestId: {rid} Error: {detail}", "Runtime.ExitError", f"END RequestId: {rid}"]
    assert d.report_lines()[0].endswith("\tStatus: error\tError Type: Runtime.ExitError\t")
    assert d.facts(f.ProcessExitedFact, m) == [f.ProcessExitedFact(RUNTIME, description, False)]
    assert d.state is EnvState.COLD  # nothing left to stop



def test_a_runtime_started_through_a_wrapper_that_never_came_names_the_wrapper():
    """A wrapper script that forgets `exec "$@"` exits 0 before the runtime ever starts: Lambda says only 'Runtime
    exited without providing a reason'; the debugger names the wrapper, and only when the runtime never called."""
    d = Driver(exec_wrapper="/opt/wrap.sh")
    d.start()
    d.exited(RUNTIME, 0, "exit status 0")
    assert any("AWS_LAMBDA_EXEC_WRAPPER=/opt/wrap.sh" in text and 'exec "$@"' in text for text in d.explanations())
    came = Driver(exec_wrapper="/opt/wrap.sh")
    came.start()
    came.runtime_next()
    m = came.mark()
    came.invoke()
    came.exited(RUNTIME, 0, "exit status 0")
    assert not any("EXEC_WRAPPER" in text for text in came.explanations(m))

def test_runtime_exit_after_responding_keeps_the_callers_answer_but_reports_an_error():
    d = warm()
    caller, rid = d.invoke()
    d.respond(rid, b'"fine"')
    d.exited(RUNTIME, 1)
    assert d.result_for(caller).payload == b'"fine"'
    assert len(d.completions()) == 1
    assert d.reports()[0].status == "error"


def test_extension_exit_during_invoke_is_extension_crash_and_resets():
    d = warm(SUBS)
    caller, rid = d.invoke()
    m = d.mark()
    d.exited(ext("ext-c"), 0)
    result = d.result_for(caller)
    assert result.error_type == "Extension.Crash"
    assert json.loads(result.payload)["errorMessage"] == f"RequestId: {rid} Error: Extension 'ext-c' exited (exit status 0)"
    assert d.report_lines()[0].endswith("\tStatus: error\tError Type: Extension.Crash\t")
    assert d.state is EnvState.RESETTING
    assert d.terminated(m) == [RUNTIME]
    shutdown_events = [s.reason for s in d.facts(f.ShutdownSent, m)]
    assert shutdown_events == []  # only after the runtime is gone
    d.exited(RUNTIME, 0)
    assert [s.reason for s in d.facts(f.ShutdownSent, m)] == ["failure", "failure"]


def test_extension_exit_during_init_fails_init_and_the_first_invoke_retries_it():
    d = Driver(["ext-a"])
    d.start()
    d.register("ext-a")
    d.advance(30.5)
    m = d.mark()
    d.exited(ext("ext-a"), 2)
    assert init_reports(d, m) == [
        "INIT_REPORT Init Duration: 30.50 ms\tPhase: init\tStatus: error\tError Type: Extension.Crash"]
    assert [(p.phase, p.status, p.error_type) for p in d.facts(f.PhaseEnded, m)][0] == (
        "init", "error", "Extension.Crash")
    assert d.cancelled_timers(m)[0] == "init"
    assert any("retry Init" in line for line in d.explanations(m))
    d.exited(RUNTIME, 0)  # it was terminated as part of the reset
    assert d.state is EnvState.COLD
    m = d.mark()
    d.invoke()
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted, m)][1] == ("init", "invoke")
    assert d.spawns(m) == [Spawn(ext("ext-a"), 2)]


def test_runtime_exit_during_init_without_init_error_is_runtime_exit_error():
    d = Driver()
    d.start()
    d.advance(5.5)
    d.exited(RUNTIME, 1)
    assert init_reports(d) == [
        "INIT_REPORT Init Duration: 5.50 ms\tPhase: init\tStatus: error\tError Type: Runtime.ExitError"]
    assert d.state is EnvState.COLD


def test_a_stale_generations_exit_is_ignored():
    d, caller, rid, m = timed_out()
    d.killed_by_signal(RUNTIME)
    d.invoke()
    assert d.env.generation == 2
    assert d.exited(RUNTIME, 1, generation=1) == []
    assert d.feed(LaunchFailed(RUNTIME, 1, "gone")) == []
    assert d.state is EnvState.INIT


def test_process_exit_while_idle_resets_and_the_next_invoke_reinitialises():
    d = warm()
    m = d.mark()
    d.exited(RUNTIME, 137, "signal: killed")
    assert not d.reports(m)
    assert any("while the environment was idle" in line for line in d.explanations(m))
    assert d.state is EnvState.COLD
    m = d.mark()
    d.invoke()
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted, m)] == [("invoke", "req-1"), ("init", "invoke")]


# ---------------------------------------------------------------------- init failures

IMPORT_ERROR = (b'{"errorMessage": "Unable to import module \'app\': No module named \'requests\'", '
                b'"errorType": "Runtime.ImportModuleError", "requestId": "", "stackTrace": []}')


def test_init_error_then_exit_is_reported_with_the_runtimes_error_type():
    d = Driver()
    d.start()
    d.advance(12.5)
    d.init_error(IMPORT_ERROR, "Runtime.ImportModuleError")
    assert not init_reports(d)  # only when it exits
    d.exited(RUNTIME, 1)
    assert init_reports(d) == [
        "INIT_REPORT Init Duration: 12.50 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError"]
    assert d.state is EnvState.COLD


def test_suppressed_init_error_inside_an_invoke_gives_the_caller_exactly_the_runtimes_body():
    d = Driver()
    d.start()
    d.init_error(IMPORT_ERROR, "Runtime.ImportModuleError")
    d.exited(RUNTIME, 1)
    m = d.mark()
    caller, rid = d.invoke()
    d.init_error(IMPORT_ERROR, "Runtime.ImportModuleError")
    d.exited(RUNTIME, 1)
    result = d.result_for(caller)
    assert result.payload == IMPORT_ERROR
    assert result.function_error is True and result.error_type == "Runtime.ImportModuleError"
    assert init_reports(d, m) == [
        "INIT_REPORT Init Duration: 0.00 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError"]
    assert d.report_lines(m)[0].endswith("\tStatus: error\tError Type: Runtime.ImportModuleError\t")
    assert d.reports(m)[0].init_duration_ms is None


def test_suppressed_init_error_answers_the_caller_at_once_though_the_runtime_lingers():
    """RAPID sends a suppressed Init's /init/error to the waiting caller at once (lambda-spec §1.6). Waiting for the
    runtime to exit, a runtime that lingered after posting it (a slow exit, or none) left its caller to get
    Sandbox.Timedout at the function timeout, and the error it had reported was lost."""
    d = Driver()
    d.start()
    d.init_error(IMPORT_ERROR, "Runtime.ImportModuleError")
    d.exited(RUNTIME, 1)
    m = d.mark()
    caller, rid = d.invoke()
    d.advance(40)
    d.init_error(IMPORT_ERROR, "Runtime.ImportModuleError")  # and it does not exit
    result = d.result_for(caller)
    assert result.payload == IMPORT_ERROR
    assert result.function_error is True and result.error_type == "Runtime.ImportModuleError"
    assert init_reports(d, m) == [
        "INIT_REPORT Init Duration: 40.00 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError"]
    assert RUNTIME in d.killed(m)  # the reset ends it
    d.killed_by_signal(RUNTIME)
    assert d.state is EnvState.COLD


def test_an_invoke_waiting_on_a_failed_on_demand_init_gets_a_suppressed_retry():
    d = Driver()
    caller, rid = d.invoke()
    d.init_error(IMPORT_ERROR, "Runtime.ImportModuleError")
    d.exited(RUNTIME, 1)
    assert d.state is EnvState.INIT  # retrying for the queued invoke
    assert [(p.phase, p.detail) for p in d.facts(f.PhaseStarted)][-2:] == [("invoke", rid), ("init", "invoke")]
    d.runtime_next()  # this time the import works
    d.complete_invoke(rid)
    assert d.result_for(caller).payload == b'"ok"'


def test_init_error_without_a_header_takes_the_type_from_the_body():
    d = Driver()
    d.start()
    d.init_error(b'{"errorMessage":"x","errorType":"Runtime.UserCodeSyntaxError"}', None)
    d.exited(RUNTIME, 1)
    assert init_reports(d)[0].endswith("Error Type: Runtime.UserCodeSyntaxError")


def test_init_error_type_header_is_sanitised():
    d = Driver()
    d.start()
    d.init_error(b'{"errorMessage":"x","errorType":"Boom"}', "Boom")
    d.exited(RUNTIME, 1)
    assert init_reports(d)[0].endswith("Error Type: Runtime.Unknown")


def test_extension_launch_failure_is_extension_launch_error():
    d = Driver(["ext-a", "ext-b"])
    d.start()
    m = d.mark()
    d.feed(LaunchFailed(ext("ext-a"), 1, "permission denied"))
    assert init_reports(d, m) == [
        "INIT_REPORT Init Duration: 0.00 ms\tPhase: init\tStatus: error\tError Type: Extension.LaunchError"]
    assert f.ParticipantChanged(ext("ext-a"), "LaunchError", False) in d.facts(f.ParticipantChanged, m)
    assert any("'ext-a' could not be launched: permission denied" in line for line in d.explanations(m))
    assert Kill(ext("ext-b")) in d.effects(Kill, m)
    d.killed_by_signal(ext("ext-b"))
    assert d.state is EnvState.COLD


def test_runtime_launch_failure_is_runtime_invalid_entrypoint():
    d = Driver()
    d.start()
    d.feed(LaunchFailed(RUNTIME, 1, "no such file"))
    assert init_reports(d)[0].endswith("Status: error\tError Type: Runtime.InvalidEntrypoint")
    assert d.state is EnvState.COLD


def test_init_timeout_explains_the_extension_that_registered_under_the_wrong_name():
    d = Driver(["good"])
    d.start()
    d.register("goood", ("INVOKE",))
    d.ext_next("goood")
    d.advance(10_000)
    m = d.mark()
    d.fire("init")
    assert init_reports(d, m) == ["INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout"]
    assert "Init timed out: extension 'good' never registered" in d.explanations(m)
    assert [(p.phase, p.status) for p in d.facts(f.PhaseEnded, m)][0] == ("init", "timeout")
    assert d.killed(m) == [ext("good")]  # never registered, so never told to shut down
    d.killed_by_signal(ext("good"))
    assert d.state is EnvState.COLD


def test_init_timeout_names_the_runtime_when_it_never_asked_for_an_event():
    d = Driver()
    d.start()
    d.advance(10_000)
    d.fire("init")
    assert "Init timed out: the runtime never called /runtime/invocation/next" in d.explanations()


def test_init_timeout_names_the_init_error_a_runtime_posted_without_exiting():
    """A custom runtime that posts /init/error and goes on (a slow exit, or none): Init times out, and the line said
    "no participant finished", leaving out the error it had reported."""
    d = Driver()
    d.start()
    d.init_error(b'{"errorMessage":"no config","errorType":"ConfigError"}', "Runtime.ConfigMissing")
    d.advance(10_000)
    d.fire("init")
    assert ("Init timed out: the runtime posted /runtime/init/error (Runtime.ConfigMissing) but never exited, as a "
            "runtime must right after it") in d.explanations()


def test_init_timeout_names_a_registered_extension_that_never_asked_for_an_event():
    d = Driver(["ext-a"])
    d.start()
    d.register("ext-a")
    d.runtime_next()
    d.advance(10_000)
    d.fire("init")
    assert "Init timed out: extension 'ext-a' never called /event/next" in d.explanations()


def test_init_timeout_names_an_extension_that_reported_an_init_error_but_never_exited():
    d = Driver(["ext-a"])
    d.start()
    d.register("ext-a")
    d.ext_init_error("ext-a")  # the failure takes effect only when the process exits (lambda-spec §2.4)
    d.runtime_next()
    d.advance(10_000)
    d.fire("init")
    assert "Init timed out: extension 'ext-a' reported Extension.InitError but never exited" in d.explanations()


def test_an_invoke_arriving_during_a_reset_waits_and_then_runs_a_suppressed_init():
    d, caller, rid, m = timed_out({"ext-a": BOTH})
    c2, r2 = d.invoke()
    assert d.state is EnvState.RESETTING
    assert d.env.snapshot(d.mono).queued == (r2,)
    d.exited(RUNTIME, 0)
    d.exited(ext("ext-a"), 0)
    assert d.state is EnvState.INIT
    assert d.facts(f.PhaseStarted)[-1] == f.PhaseStarted("init", "invoke", d.mono)


def test_after_a_timeout_the_resetting_environment_takes_the_next_invoke_and_runs_it_once_reset():
    # Lambda resets the environment and the next invoke re-initialises it, /tmp kept: the fleet routes to it (not
    # busy: no request runs in it) rather than cold-starting another or throttling at the limit.
    from lambdatui.core.fleet_rules import Fit, fit

    d, _, _, m = timed_out()
    assert d.state is EnvState.RESETTING and fit(d.env) is Fit.RESETTING
    caller, rid = d.invoke()
    assert fit(d.env) is Fit.BUSY  # it has its invoke now
    assert not d.spawned(m)  # waits for the reset
    d.killed_by_signal(RUNTIME)
    assert d.state is not EnvState.COLD and d.spawned(m) == [RUNTIME]  # re-initialising for the queued invoke


def test_a_runtime_the_user_froze_is_thawed_to_dump_its_stacks_and_stays_stopped_after():
    d = warm({"ext-a": BOTH})
    d.advance(1000)
    _, rid = d.invoke()
    d.feed(FaultRequested(flt.Freeze()))
    d.advance(3000)
    m = d.mark()
    d.fire("invoke")
    assert CaptureStacks(RUNTIME, rid, thaw_first=True) in d.effects(since=m)
    m = d.mark()
    d.feed(StacksDumped())
    assert not d.effects(Thaw, m)  # the user's freeze holds: it stopped itself again where it hung


def test_after_its_stacks_are_dumped_the_runtime_goes_on_to_take_its_sigterm():
    d, _, rid, m = timed_out({"ext-a": BOTH})  # with extensions, the reset's SIGTERM comes first
    assert CaptureStacks(RUNTIME, rid, thaw_first=False) in d.effects(since=m)
    m = d.mark()
    d.feed(StacksDumped())
    assert d.effects(Thaw, m) == [Thaw((RUNTIME,))]


def test_a_reset_environment_is_said_to_be_reset_and_a_new_one_is_not():
    d, _, _, _ = timed_out()
    d.exited(RUNTIME, 0)
    assert d.state is EnvState.COLD and d.env.snapshot(d.mono).reset  # its next invoke re-runs Init inside it
    d.feed(NewEnvironmentRequested())
    assert d.state is EnvState.COLD and not d.env.snapshot(d.mono).reset  # a new environment: a full cold start
