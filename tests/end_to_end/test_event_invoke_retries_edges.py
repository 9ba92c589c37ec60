"""A failed Event invoke's retries, at their edges (core/event_retries.py, host/fleet_retries.py, the recorder's
`retries = N` and the replay's `_await_retries`): real `lambdatui serve` and `lambdatui replay` processes, Event
invokes over the Invoke API (httpx, boto3). Waits are on the lines serve prints, bounded; --retry-wait keeps the
retries' waits short."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from e2e_support import ServeProcess, descendants, run_cli, wait_all_gone, write_file
from retry_support import DISCARDED, REPORT, RETRYING, START, send_event
from test_fleet_support import wait_for_count

ALWAYS_FAILS = '''def handler(event, context):
    print("attempt of request %s" % context.aws_request_id, flush=True)
    if event.get("mode") == "crash":
        import os
        os._exit(3)
    if event.get("mode") == "slow":
        import time
        time.sleep(event.get("seconds", 5))
        return "slow done"
    raise RuntimeError("always fails")
'''
# Fails its first call in an environment, succeeds from then on (a retry lands in the same warm environment).
FAILS_ONCE = '''calls = 0


def handler(event, context):
    global calls
    calls += 1
    print("attempt of request %s" % context.aws_request_id, flush=True)
    if calls == 1:
        raise RuntimeError("first call fails")
    return {"calls": calls}
'''
ATTEMPT = r"\[function\]\s+attempt of request ([0-9a-f-]+)"


def send_events_at_once(served: ServeProcess, events: list[dict]) -> list[str]:
    ids: list[str] = []
    lock = threading.Lock()

    def one(event: dict) -> None:
        request_id = send_event(served, event)
        with lock:
            ids.append(request_id)

    threads = [threading.Thread(target=one, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(ids) == len(events)
    return ids


def lambdatui_children(served: ServeProcess) -> dict[int, int]:
    return descendants(served.proc.pid)


# ---------------------------------------------------------------------------------------------- bugs


def test_a_parallel_step_of_failed_event_invokes_replays_its_retries(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", ALWAYS_FAILS)
    recording = code_dir / "session.toml"
    with ServeProcess(handler, "--retry-wait", "0.2", "--record", str(recording)) as served:
        ids = send_events_at_once(served, [{}, {}, {}])
        discarded = wait_for_count(served, DISCARDED, 3)
        assert sorted(m.group(1) for m in discarded) == sorted(ids)
        wait_for_count(served, REPORT, 9)
    text = recording.read_text()
    assert text.count("invocation_type") + text.count("'Event', 'Event'") >= 2, text  # the session's Event invokes
    replayed = run_cli("replay", str(handler), str(recording), "--verbose", timeout=120)
    shown = replayed.stdout + replayed.stderr
    assert replayed.returncode == 0, shown
    # The session ran every one of the 3 invokes 3 times; so should the replay, and cut none of them off.
    assert "was not run again" not in shown, text + shown
    assert len(re.findall(r"attempt of request", shown)) == 9, text + shown


def test_a_replay_whose_retry_succeeds_ends_without_waiting_for_retries_that_never_come(code_dir: Path) -> None:
    session_handler = write_file(code_dir / "session" / "handler.py", ALWAYS_FAILS)
    replay_handler = write_file(code_dir / "replay" / "handler.py", FAILS_ONCE)
    recording = code_dir / "session.toml"
    with ServeProcess(session_handler, "--retry-wait", "0.2", "--record", str(recording)) as served:
        send_event(served, {})
        wait_for_count(served, DISCARDED, 1)
        wait_for_count(served, REPORT, 3)
    text = recording.read_text()
    assert "retries = 2" in text, text
    began = time.monotonic()
    replayed = run_cli("replay", str(replay_handler), str(recording), "--verbose", timeout=120)
    took = time.monotonic() - began
    shown = replayed.stdout + replayed.stderr
    assert len(re.findall(r"attempt of request", shown)) == 2, shown  # failed, then its retry succeeded
    # Nothing is left to retry once the retry succeeded: the replay has no reason to wait on.
    assert took < 20, f"replay took {took:.1f} s\n{shown}"


def test_a_retry_queued_past_the_maximum_event_age_is_discarded_not_run(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", ALWAYS_FAILS)
    with ServeProcess(handler, "--retry-wait", "0.2", "--maximum-event-age", "60", "--concurrency", "1",
                      "--timeout", "120", "--maximum-retry-attempts", "1") as served:
        failing = send_event(served, {})
        slow = send_event(served, {"mode": "slow", "seconds": 62})  # holds the only environment past the age
        retrying = wait_for_count(served, RETRYING, 1)[0]
        assert retrying.group(1) == failing
        served.wait_for_line(rf"START RequestId: {slow}\b")
        served.wait_for_line(rf"REPORT RequestId: {slow}\b", timeout=90)
        # The failing invoke's retry now leaves the queue, 62 s after its 202: older than MaximumEventAgeInSeconds.
        # Either way it ends discarded: at once (Lambda), or after its retry ran and failed (MaximumRetryAttempts 1).
        served.wait_for_line(rf"Event invoke {failing} .*discarded", timeout=30)
        output = served.output()
    starts = [m.group(1) for m in re.finditer(START, output)]
    assert starts.count(failing) == 1, output  # its first attempt only: the retry expired in the queue


# ---------------------------------------------------------------------------------------------- what works


def test_many_failing_event_invokes_at_concurrency_1_each_retried_exactly_twice_with_its_id(
        code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", ALWAYS_FAILS)
    with ServeProcess(handler, "--retry-wait", "0.1", "--concurrency", "1") as served:
        ids = send_events_at_once(served, [{} for _ in range(6)])
        discarded = wait_for_count(served, DISCARDED, 6)
        wait_for_count(served, REPORT, 18)
        output = served.output()
    assert sorted(m.group(1) for m in discarded) == sorted(ids), output
    starts = [m.group(1) for m in re.finditer(START, output)]
    assert sorted(starts) == sorted(ids * 3), output  # each exactly 3 times, none lost, none duplicated, no new ids
    retries = [(m.group(1), m.group(4)) for m in re.finditer(RETRYING, output)]
    assert sorted(retries) == sorted([(i, "1") for i in ids] + [(i, "2") for i in ids]), output
    assert len(re.findall(r"#\d+ \[platform\]\s+INIT_START", output)) == 1, output  # one environment, reused


def test_timeouts_and_crashes_are_retried_like_errors(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", ALWAYS_FAILS)
    with ServeProcess(handler, "--retry-wait", "0.1", "--timeout", "1") as served:
        crash = send_event(served, {"mode": "crash"})
        slow = send_event(served, {"mode": "slow", "seconds": 5})
        discarded = {m.group(1): m.group(2) for m in wait_for_count(served, DISCARDED, 2, timeout=60)}
        wait_for_count(served, REPORT, 6)
        output = served.output()
    assert discarded == {crash: "Runtime.ExitError", slow: "Sandbox.Timedout"}, output
    starts = [m.group(1) for m in re.finditer(START, output)]
    assert starts.count(crash) == 3 and starts.count(slow) == 3, output
    reports = [m.group(1) for m in re.finditer(REPORT, output)]
    assert reports.count(crash) == 3 and reports.count(slow) == 3, output  # a REPORT for every attempt


def test_boto3_invoke_event_and_invoke_async_are_retried(code_dir: Path) -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    handler = write_file(code_dir / "handler.py", ALWAYS_FAILS)
    with ServeProcess(handler, "--retry-wait", "0.1", "--maximum-retry-attempts", "1") as served:
        client = boto3.client("lambda", endpoint_url=served.base_url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x",
                              config=Config(retries={"max_attempts": 1}))
        answer = client.invoke(FunctionName="function", InvocationType="Event", Payload=b"{}", LogType="Tail")
        assert answer["StatusCode"] == 202 and "LogResult" not in answer
        first = answer["ResponseMetadata"]["RequestId"]
        queued = client.invoke_async(FunctionName="function", InvokeArgs=b"{}")
        assert queued["Status"] == 202
        discarded = wait_for_count(served, DISCARDED, 2)
        wait_for_count(served, REPORT, 4)
        output = served.output()
    ids = {m.group(1) for m in discarded}
    assert first in ids and len(ids) == 2, output
    for request_id in ids:
        assert len(re.findall(rf"START RequestId: {request_id}\b", output)) == 2, output


def test_sigterm_while_retries_wait_names_each_and_leaves_no_process(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", ALWAYS_FAILS)
    served = ServeProcess(handler, "--retry-wait", "600").start()
    try:
        ids = send_events_at_once(served, [{}, {}, {}])
        wait_for_count(served, RETRYING, 3)
        children = lambdatui_children(served)
        assert children, "environments' processes expected"
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0
        output = served.output()
        left = wait_all_gone(children, 10)
    finally:
        served.close()
    assert not left, left
    for request_id in ids:
        assert re.search(rf"Event invoke {request_id} was not run again \(retry 1\): lambdatui shut down before it",
                         output), output
    stray = subprocess.run(["pgrep", "-af", str(code_dir)], capture_output=True, text=True).stdout
    assert not stray.strip(), stray


@pytest.mark.parametrize("mode", ["--snapstart", "--max-concurrency"])
def test_retries_on_snapstart_and_managed_instances(code_dir: Path, mode: str) -> None:
    handler = write_file(code_dir / "handler.py", ALWAYS_FAILS)
    extra = (mode,) if mode == "--snapstart" else (mode, "2")
    with ServeProcess(handler, "--retry-wait", "0.1", *extra) as served:
        ids = send_events_at_once(served, [{}, {}])
        discarded = wait_for_count(served, DISCARDED, 2)
        wait_for_count(served, REPORT, 6)
        output = served.output()
    assert sorted(m.group(1) for m in discarded) == sorted(ids), output
    starts = [m.group(1) for m in re.finditer(START, output)]
    assert sorted(starts) == sorted(ids * 3), output
