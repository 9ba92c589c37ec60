"""A failed Event invoke runs again, as Lambda's asynchronous queue runs it (core/event_retries.py): real `lambdatui
serve`, Event invokes over its Invoke API, a handler that fails until an attempt it is told. The waits are
shortened with --retry-wait (Lambda's are a minute and two); every wait here is on the lines serve prints, bounded.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx

from e2e_support import ServeProcess, run_cli, write_file
from retry_support import DISCARDED, REPORT, RETRYING, START, send_event
from test_fleet_support import wait_for_count

HANDLER = '''calls = 0


def handler(event, context):
    global calls
    calls += 1
    print("attempt %d of request %s" % (calls, context.aws_request_id), flush=True)
    if calls < event.get("succeed_at", 99):
        raise RuntimeError("attempt %d failed" % calls)
    return {"attempt": calls}
'''
ATTEMPT = r"\[function\]\s+attempt (\d) of request ([0-9a-f-]+)"


def test_a_failed_event_invoke_runs_twice_more_with_its_request_id_then_is_discarded(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(handler, "--retry-wait", "0.2") as served:
        request_id = send_event(served, {})
        discarded = wait_for_count(served, DISCARDED, 1)[0]
        assert discarded.group(1) == request_id
        assert discarded.group(3).startswith("3 attempts failed (MaximumRetryAttempts 2)"), served.output()
        attempts = [(m.group(1), m.group(2)) for m in wait_for_count(served, ATTEMPT, 3)]
        assert attempts == [("1", request_id), ("2", request_id), ("3", request_id)], served.output()
        waits = [(m.group(1), float(m.group(3))) for m in wait_for_count(served, RETRYING, 2)]
        assert waits == [(request_id, 0.2), (request_id, 0.4)], served.output()
        assert [m.group(1) for m in wait_for_count(served, START, 3)] == [request_id] * 3


def test_a_retry_that_succeeds_ends_it(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(handler, "--retry-wait", "0.2") as served:
        request_id = send_event(served, {"succeed_at": 2})
        wait_for_count(served, REPORT, 2)
        ok = httpx.post(served.invoke_url(), content=b'{"succeed_at": 0}', timeout=30)  # a later, synchronous one
        assert ok.status_code == 200 and ok.json() == {"attempt": 3}
        wait_for_count(served, REPORT, 3)
        output = served.output()
    assert len(re.findall(RETRYING, output)) == 1 and not re.search(DISCARDED, output), output
    assert [m.group(1) for m in re.finditer(START, output)] == [request_id, request_id, ok.headers["x-amzn-RequestId"]]


def test_maximum_retry_attempts_0_runs_it_once_and_a_synchronous_error_is_never_retried(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(handler, "--retry-wait", "0", "--maximum-retry-attempts", "0") as served:
        request_id = send_event(served, {})
        discarded = wait_for_count(served, DISCARDED, 1)[0]
        assert discarded.group(1) == request_id
        assert discarded.group(3).startswith("1 attempt failed (MaximumRetryAttempts 0)"), served.output()
        failed = httpx.post(served.invoke_url(), content=b"{}", timeout=30)
        assert failed.headers.get("X-Amz-Function-Error") == "Unhandled"
        wait_for_count(served, REPORT, 2)
        output = served.output()
    assert not re.search(RETRYING, output), output
    assert len(re.findall(ATTEMPT, output)) == 2, output


def test_a_retry_still_waiting_when_serve_stops_is_named_as_not_run(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    served = ServeProcess(handler, "--retry-wait", "600").start()
    try:
        request_id = send_event(served, {})
        wait_for_count(served, RETRYING, 1)
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0
        output = served.output()
    finally:
        served.close()
    assert re.search(rf"Event invoke {request_id} was not run again \(retry 1\): lambdatui shut down before it",
                     output), output


def test_an_event_invoke_failing_while_serve_stops_is_not_promised_a_retry(code_dir: Path) -> None:
    """SIGTERM lets the accepted Event invokes run first (--shutdown-grace); one that fails then is not said to run
    again in a minute, which lambdatui, ending, would never do."""
    handler = write_file(code_dir / "handler.py", HANDLER.replace(
        "    calls += 1\n", "    calls += 1\n    import os, time\n"
        "    while not os.path.exists(event['release']):\n        time.sleep(0.005)\n"))
    release = code_dir / "release"
    served = ServeProcess(handler, "--shutdown-grace", "30").start()
    try:
        request_id = send_event(served, {"release": str(release)})
        wait_for_count(served, START, 1)
        served.signal(signal.SIGTERM)
        served.wait_for_line(r"stopping: the Event invokes already accepted run first")
        release.touch()
        assert served.wait(30) == 0
        output = served.output()
    finally:
        served.close()
    assert not re.search(RETRYING, output), output
    assert f"Event invoke {request_id} failed (RuntimeError) and is not run again: lambdatui is shutting down" in output


def test_a_recording_keeps_the_caller_s_invoke_and_the_retry_settings_and_replays_the_retries(code_dir: Path) -> None:
    """The retries are the fleet's, not the caller's: a recording has one Event invoke, and the settings with which
    a replay's fleet retries it as the session's did."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = code_dir / "session.toml"
    options = ("--retry-wait", "0.2", "--maximum-retry-attempts", "1")
    with ServeProcess(handler, *options, "--record", str(recording)) as served:
        send_event(served, {})
        wait_for_count(served, DISCARDED, 1)
        wait_for_count(served, REPORT, 2)
    text = recording.read_text()
    assert "retry_attempts = 1" in text and "retry_wait = 0.2" in text, text
    assert text.count("[[step]]") == 1 and "retries = 1" in text, text
    replayed = run_cli("replay", str(handler), str(recording), "--verbose")
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
    shown = replayed.stdout + replayed.stderr
    assert len(re.findall(r"attempt \d of request", shown)) == 2, shown


def test_retry_options_out_of_lambda_s_range_are_refused(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    for option, value, said in (("--maximum-retry-attempts", "3", "give 0 to 2"),
                                ("--maximum-event-age", "30", "give 60 to 21600 seconds")):
        result = run_cli("serve", str(handler), option, value)
        assert result.returncode == 2 and said in result.stderr, (option, result.stderr)
