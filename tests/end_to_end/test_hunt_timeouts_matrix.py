"""From a bug hunt: deadlines and timeouts across the lifecycle, with and without external extensions (lambda-spec
§4.2 Init's 10 s and the suppressed init, §4.4 the function timeout bounds the whole Invoke phase, §4.5 the reset and
what the caller and REPORT say, §4.6 the shutdown budget; README "Timeouts and crashes", "No orphans").

Every function here is small: a Python handler driven by its event, and an external extension written as a
standard-library script (registering for the events the function's `EXT_EVENTS` names, waiting `EXT_INVOKE_SLEEP`
seconds after each INVOKE before its next `/event/next`, and never asking for one at all with `EXT_MODE=nonext`),
which prints what it was sent (`PROBE [...]`, with the wall-clock time it got it). Each test runs a real `lambdatui
serve` with `--timeout 1` or `2` and invokes it over raw HTTP; one test waits out Init's 10 s (no option shortens it).

Two tests pin what was wrong (one cause): when the runtime ended (killed at a timeout, or exiting on its own), its
exit was acted on only once its stdout and stderr pipes closed, or after a 0.5 s grace (processes/children.py
`OUTPUT_GRACE`). A process the handler started in a session of its own (`start_new_session`, a daemon) kept those
pipes open, and meanwhile it ran on: at a timeout it wrote `/tmp` after the deadline and the next invoke found what
it wrote; at a crash the invoke's end, its REPORT's Duration and the caller's answer all waited for the grace. In
Lambda the reset stops every process of the environment at once, and a runtime's exit ends the invoke when it
happens.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from e2e_support import ServeProcess, descendants, platform_lines, source_lines, wait_all_gone, write_file

HANDLER = '''import json
import os
import signal
import subprocess
import time


def on_term(signum, frame):
    print("FUNCTION GOT SIGTERM", flush=True)


signal.signal(signal.SIGTERM, on_term)


def handler(event, context):
    if event.get("daemon"):
        # A daemon the handler starts: a session of its own, stdout and stderr inherited (subprocess's defaults).
        subprocess.Popen(["sh", "-c", event["daemon"]], start_new_session=True)
    if event.get("crash_after") is not None:
        time.sleep(event["crash_after"])
        os._exit(1)
    if event.get("finish_before_deadline_ms") is not None:
        time.sleep(max(0, context.get_remaining_time_in_millis() - event["finish_before_deadline_ms"]) / 1000)
    time.sleep(event.get("sleep", 0))
    return {"left": context.get_remaining_time_in_millis(), "late_file": os.path.exists("/tmp/late.txt")}
'''

EXTENSION = '''#!/usr/bin/env python3
import http.client, json, os, sys, time
NAME = os.path.basename(sys.argv[0])
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)


def log(*fields):
    print("PROBE " + json.dumps([time.time(), *fields]), flush=True)


api.request("POST", "/2020-01-01/extension/register", body=json.dumps({"events": json.loads(os.environ["EXT_EVENTS"])}),
            headers={"Lambda-Extension-Name": NAME})
answer = api.getresponse()
answer.read()
eid = answer.getheader("Lambda-Extension-Identifier")
log("registered")
if os.environ.get("EXT_MODE") == "nonext":
    time.sleep(600)
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": eid})
    event = json.loads(api.getresponse().read())
    log("event", event)
    if event["eventType"] == "SHUTDOWN":
        sys.exit(0)
    time.sleep(float(os.environ.get("EXT_INVOKE_SLEEP", "0")))
    log("invoke work done")
'''


def function(code_dir: Path, *, extension: bool = False) -> Path:
    handler = write_file(code_dir / "handler.py", HANDLER)
    if extension:
        write_file(code_dir / "extensions" / "probe", EXTENSION, executable=True)
    return handler


def invoke(serve: ServeProcess, event: dict, *, timeout: float = 30) -> tuple[int, dict[str, str], Any, float]:
    """(status, headers with lower-case names, the JSON body, seconds the caller waited)."""
    host, port = serve.address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        started = time.monotonic()
        connection.request("POST", "/2015-03-31/functions/function/invocations", body=json.dumps(event))
        response = connection.getresponse()
        body = response.read()
        waited = time.monotonic() - started
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(body), waited
    finally:
        connection.close()


def report_for(serve: ServeProcess, request_id: str, timeout: float = 10) -> str:
    match = serve.wait_for_line(r"\[platform\]\s+(REPORT RequestId: " + re.escape(request_id) + r"\t.*)$", timeout)
    return match.group(1)


def duration_ms(report: str) -> float:
    match = re.search(r"\tDuration: ([\d.]+) ms", report)
    assert match, report
    return float(match.group(1))


def probes(serve: ServeProcess, what: str) -> list[list]:
    """(time, fields...) of each `PROBE [time, what, ...]` line the extension printed."""
    found = []
    for line in source_lines(serve.output(), "probe"):
        if line.startswith("PROBE ["):
            fields = json.loads(line[len("PROBE "):])
            if fields[1] == what:
                found.append([fields[0], *fields[2:]])
    return found


def timed_out_body(request_id: str, seconds: int) -> dict:
    return {"errorMessage": f"RequestId: {request_id} Error: Task timed out after {seconds}.00 seconds",
            "errorType": "Sandbox.Timedout"}


# ---------------------------------------------------------------------- no extension

def test_a_timeout_answers_at_the_deadline_sends_no_sigterm_and_the_next_invoke_reinitialises(code_dir: Path) -> None:
    """--timeout 1, a handler sleeping 5 s that catches SIGTERM: the caller has Sandbox.Timedout within ~1 s, REPORT
    says Status: timeout with a Duration at the timeout; with no extension the runtime is killed outright (no SIGTERM,
    spec §4.6); the next invoke re-runs Init inside itself (INIT_START again, no Init Duration, its time counted
    against the timeout)."""
    with ServeProcess(function(code_dir), "--timeout", "1") as serve:
        status, headers, body, waited = invoke(serve, {"sleep": 5})
        request_id = headers["x-amzn-requestid"]
        assert status == 200 and headers.get("x-amz-function-error") == "Unhandled", (status, headers)
        assert body == timed_out_body(request_id, 1)
        assert 0.95 < waited < 1.5, waited
        report = report_for(serve, request_id)
        assert report.endswith("\tStatus: timeout\t") and "Error Type" not in report, report
        assert 1000 <= duration_ms(report) < 1100, report
        assert f"{request_id} Task timed out after 1.00 seconds" in serve.output()

        status, headers, body, waited = invoke(serve, {})
        assert status == 200 and "x-amz-function-error" not in headers, body
        assert body["left"] < 1000, body  # the suppressed init ran on the invoke's clock
        report = report_for(serve, headers["x-amzn-requestid"])
        assert "Init Duration" not in report and "Status" not in report, report
        assert sum(line.startswith("INIT_START ") for line in platform_lines(serve.output())) == 2
        assert "FUNCTION GOT SIGTERM" not in serve.output()


def test_an_answer_a_few_milliseconds_before_the_deadline_is_not_a_timeout(code_dir: Path) -> None:
    """Three handlers that return 50 ms before the deadline their context reports: each succeeds, REPORT under 1 s.
    (5 ms, as first written, is less than a sleep can overshoot on a loaded machine: a CI run's handler answered
    after its deadline once, and timed out, rightly.)"""
    with ServeProcess(function(code_dir), "--timeout", "1") as serve:
        invoke(serve, {})
        for _ in range(3):
            status, headers, body, _ = invoke(serve, {"finish_before_deadline_ms": 50})
            assert status == 200 and "x-amz-function-error" not in headers, body
            report = report_for(serve, headers["x-amzn-requestid"])
            assert "Status" not in report and duration_ms(report) < 1000, report


def test_a_daemon_the_handler_started_does_not_run_past_the_timeout_reset(private_tmp: Path) -> None:
    """The daemon writes /tmp/late.txt 1.3 s after it starts, 0.3 s after the 1 s deadline: a reset that stops the
    environment's processes at the deadline leaves no such file for the next invoke."""
    with ServeProcess(function(private_tmp), "--timeout", "1") as serve:
        status, headers, body, _ = invoke(serve, {"daemon": "sleep 1.3; echo late > /tmp/late.txt", "sleep": 5})
        assert body["errorType"] == "Sandbox.Timedout", body
        status, headers, body, waited = invoke(serve, {})
        assert "x-amz-function-error" not in headers, body
        assert body["late_file"] is False, "the daemon wrote /tmp after the timeout's reset began"


def test_a_crash_ends_the_invoke_when_the_runtime_exits_not_when_its_daemon_lets_go_of_stdout(code_dir: Path) -> None:
    """The handler starts a daemon (sleep 3, stdout inherited) and exits 100 ms later: Runtime.ExitError, with a
    Duration and a caller's wait near 100 ms (each was ~600 ms: the 0.5 s grace added)."""
    with ServeProcess(function(code_dir), "--timeout", "3") as serve:
        invoke(serve, {})
        status, headers, body, waited = invoke(serve, {"daemon": "exec sleep 3", "crash_after": 0.1})
        assert body["errorType"] == "Runtime.ExitError", body
        report = report_for(serve, headers["x-amzn-requestid"])
        assert "Error Type: Runtime.ExitError" in report, report
        assert duration_ms(report) < 400, report
        assert waited < 0.45, waited


# ---------------------------------------------------------------------- with an external extension

def test_an_extension_working_past_the_timeout_times_the_answered_invoke_out(code_dir: Path) -> None:
    """The runtime answers at once; the extension works 4 s after its INVOKE with a 3 s timeout. The caller has its
    answer at once (spec §4.4), the invoke then times out (REPORT Status: timeout, Duration at the timeout), the
    runtime gets SIGTERM (an extension is registered), and the extension's SHUTDOWN says `timeout` with a
    deadlineMs 2 s after the invoke's deadline (spec §2.3, §4.6). The 3 s keep "at once" apart from "at the timeout"
    on a loaded machine, where a cold invoke alone took 0.64 s (six test workers on two cores)."""
    handler = function(code_dir, extension=True)
    with ServeProcess(handler, "--timeout", "3", "--env", 'EXT_EVENTS=["INVOKE","SHUTDOWN"]',
                      "--env", "EXT_INVOKE_SLEEP=4") as serve:
        status, headers, body, waited = invoke(serve, {})
        assert status == 200 and "x-amz-function-error" not in headers, body
        assert waited < 1.5, waited
        report = report_for(serve, headers["x-amzn-requestid"])
        assert report.endswith("\tStatus: timeout\t") and 3000 <= duration_ms(report) < 3100, report
        serve.wait_for_line(r"\[probe\]\s+PROBE .*\"SHUTDOWN\"", timeout=10)
        invoke_event = next(e[1] for e in probes(serve, "event") if e[1]["eventType"] == "INVOKE")
        shutdown = next(e[1] for e in probes(serve, "event") if e[1]["eventType"] == "SHUTDOWN")
        assert shutdown["shutdownReason"] == "timeout", shutdown
        # The budget runs from the reset's start, which is the deadline's moment when the host carries the timeout out
        # in time (a loaded host: a few ms later; 6 ms was seen with eight workers on two cores).
        assert abs(shutdown["deadlineMs"] - (invoke_event["deadlineMs"] + 2000)) <= 50, (invoke_event, shutdown)
        assert "FUNCTION GOT SIGTERM" in serve.output()


def test_an_extension_working_after_the_answer_within_the_timeout_adds_to_duration_not_to_the_callers_wait(
        code_dir: Path) -> None:
    # The extension works 2 s: long beside a cold invoke's own time even on a loaded machine (0.79 s was seen with six
    # test workers on two cores), so the caller's wait tells whether those 2 s were added to it.
    handler = function(code_dir, extension=True)
    with ServeProcess(handler, "--timeout", "4", "--env", 'EXT_EVENTS=["INVOKE","SHUTDOWN"]',
                      "--env", "EXT_INVOKE_SLEEP=2") as serve:
        status, headers, body, waited = invoke(serve, {})
        assert "x-amz-function-error" not in headers and waited < 1.5, (body, waited)
        report = report_for(serve, headers["x-amzn-requestid"])
        assert "Status" not in report and 2000 <= duration_ms(report) < 3000, report


def test_serve_stopped_mid_invoke_shuts_down_within_the_budget_and_leaves_nothing(code_dir: Path) -> None:
    """SIGTERM to serve 1.2 s into an invoke of 2 s timeout: the caller gets Sandbox.Failure, the extension SHUTDOWN
    `spindown`, the runtime SIGTERM; serve exits 0 within the 2 s budget and no process of it is left."""
    handler = function(code_dir, extension=True)
    with ServeProcess(handler, "--timeout", "2", "--env", 'EXT_EVENTS=["INVOKE","SHUTDOWN"]') as serve:
        invoke(serve, {})
        answer: dict[str, Any] = {}

        def call() -> None:
            answer["got"] = invoke(serve, {"sleep": 5})

        caller = threading.Thread(target=call)
        caller.start()
        serve.wait_for_lines(r"\[platform\]\s+START RequestId", 2, timeout=10)
        caller.join(1.2)  # the scenario itself: stopped past half the 2 s timeout, the invoke still running
        assert caller.is_alive()
        processes = descendants(serve.proc.pid)
        serve.signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert serve.wait(10) == 0
        assert time.monotonic() - stopping < 2.6
        caller.join(10)
        status, headers, body, _ = answer["got"]
        assert body["errorType"] == "Sandbox.Failure" and headers.get("x-amz-function-error") == "Unhandled", body
        shutdown = [e[1] for e in probes(serve, "event") if e[1]["eventType"] == "SHUTDOWN"]
        assert [e["shutdownReason"] for e in shutdown] == ["spindown"], shutdown
        assert "FUNCTION GOT SIGTERM" in serve.output()
        assert wait_all_gone(processes, 3) == {}


# ---------------------------------------------------------------------- Init's 10 s (the one slow test)

def test_an_extension_that_never_asks_for_its_first_event_times_init_out_then_the_retry_in_the_invoke(
        code_dir: Path) -> None:
    """The extension registers (for no event) and never calls /event/next: Init times out at 10 s (INIT_REPORT
    Phase: init Status: timeout, EXTENSION State: Registered); the first invoke retries Init within its 1 s timeout,
    which times out too: the caller gets Sandbox.Timedout, INIT_REPORT Phase: invoke Status: timeout (spec §4.2)."""
    handler = function(code_dir, extension=True)
    with ServeProcess(handler, "--timeout", "1", "--env", "EXT_EVENTS=[]", "--env", "EXT_MODE=nonext") as serve:
        status, headers, body, waited = invoke(serve, {}, timeout=40)
        request_id = headers["x-amzn-requestid"]
        assert body == timed_out_body(request_id, 1)
        assert waited < 13, waited
        report = report_for(serve, request_id)
        assert report.endswith("\tStatus: timeout\t") and "Init Duration" not in report, report
        lines = platform_lines(serve.output())
        init_reports = [line for line in lines if line.startswith("INIT_REPORT ")]
        assert len(init_reports) == 2, lines
        first = re.fullmatch(r"INIT_REPORT Init Duration: ([\d.]+) ms\tPhase: init\tStatus: timeout", init_reports[0])
        assert first and 10_000 <= float(first.group(1)) < 10_200, init_reports
        second = re.fullmatch(r"INIT_REPORT Init Duration: ([\d.]+) ms\tPhase: invoke\tStatus: timeout", init_reports[1])
        assert second and 1000 <= float(second.group(1)) < 1100, init_reports
        assert "EXTENSION\tName: probe\tState: Registered\tEvents: []" in lines
