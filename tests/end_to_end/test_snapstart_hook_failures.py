"""SnapStart's runtime hooks, end to end (lambda-spec §1.7, §4.8, §6.7): AWS's `snapshot_restore_py` decorators in a
real function under `lambdatui serve --snapstart`.

Before-snapshot hooks run once, in the snapshot environment, last registered first; after-restore hooks run in
every restored environment, in registration order. A failed before-snapshot hook fails the snapshot (the Invoke API
answers 409 ResourceConflictException); a failed after-restore hook fails that restore (400 SnapStartException) and
its environment is discarded; a restore longer than 10 s is 408 SnapStartTimeoutException.

The hooks' side is read from the function (what it recorded, what it printed, under which environment number) and
lambdatui's side from its platform lines; the Invoke API's answers are read raw and through boto3.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from e2e_support import ServeProcess, run_cli, wait_all_gone, write_file
from test_fleet_support import InFlight, invoke, matches, wait_for_count, wait_until
from test_snapstart_restore import (
    READY, RESTORE_REPORT, RESTORE_START, bootstraps, env_lines, ns_pid, snap_serve,
)

ORDERED_HOOKS = '''import os
import time

from snapshot_restore_py import register_after_restore, register_before_snapshot

CALLS = []  # every hook call this process's memory has seen, in order
CONNECTION = {"state": "open"}  # a stand-in for a connection made during Init


def close_before_snapshot(name, *, note):
    CALLS.append("before:%s:%s" % (name, note))
    print("hook before %s note=%s connection=%s" % (name, note, CONNECTION["state"]), flush=True)
    CONNECTION["state"] = "closed by " + name


register_before_snapshot(close_before_snapshot, "registered-first", note="a")
register_before_snapshot(close_before_snapshot, "registered-second", note="b")


@register_after_restore
def reopen():
    CALLS.append("after:reopen")
    print("hook after reopen connection=%s" % CONNECTION["state"], flush=True)
    CONNECTION["state"] = "reopened"


def with_arguments(word, *, flag):
    CALLS.append("after:with_arguments:%s:%s" % (word, flag))
    print("hook after with_arguments", flush=True)


register_after_restore(with_arguments, "w", flag=True)


def handler(event, context):
    print("ready tag=%s token=none" % event["tag"], flush=True)
    while event.get("release") and not os.path.exists(event["release"]):
        time.sleep(0.005)
    return {"calls": CALLS, "connection": CONNECTION["state"]}
'''


def lambda_client(served: ServeProcess):
    return boto3.client(
        "lambda", endpoint_url=served.base_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 0}, read_timeout=60, connect_timeout=5),
    )


def test_before_snapshot_hooks_run_once_last_first_and_after_restore_hooks_in_order_in_every_restore(
        code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", ORDERED_HOOKS)
    release = code_dir / "release"
    with snap_serve(handler) as served:
        held = InFlight(served, {"tag": "held", "release": str(release)})
        wait_for_count(served, READY, 1)
        other = invoke(served, {"tag": "other"}).json()
        release.touch()
        answers = [held.response().json(), other]

        # Both restored environments carry the memory the before-snapshot hooks left (last registered ran first,
        # with its arguments), then ran the after-restore hooks themselves, in registration order, with theirs.
        expected = ["before:registered-second:b", "before:registered-first:a", "after:reopen",
                    "after:with_arguments:w:True"]
        for answer in answers:
            assert answer == {"calls": expected, "connection": "reopened"}, answer
        assert {m.group(2): int(m.group(1)) for m in wait_for_count(served, READY, 2)} == {"held": 2, "other": 3}
        wait_for_count(served, r"^#1 \[function\]\s+hook before ", 2)  # each environment's lines come in order

        # Where each hook ran: the before-snapshot ones once, in the snapshot (env #1); the after-restore ones once
        # in each restored environment, never in the snapshot.
        hooks = {n: [t for t in env_lines(served, n, "function") if t.startswith("hook ")] for n in (1, 2, 3)}
        assert hooks[1] == ["hook before registered-second note=b connection=open",
                            "hook before registered-first note=a connection=closed by registered-second"], hooks
        for n in (2, 3):
            assert hooks[n] == ["hook after reopen connection=closed by registered-first",
                                "hook after with_arguments"], hooks


FAILING_BEFORE_SNAPSHOT = '''from snapshot_restore_py import register_before_snapshot


@register_before_snapshot
def refuse():
    raise ValueError("no snapshot of this, please")


def handler(event, context):
    print("the handler ran", flush=True)
    return "unreachable"
'''


@pytest.fixture(scope="module")
def failed_snapshot(module_code_dir: Path):
    """`serve --snapstart` of a function whose before-snapshot hook fails, shared by the two tests that only invoke
    it (a refused invoke changes nothing: the snapshot stays failed, nothing is restored)."""
    handler = write_file(module_code_dir / "handler.py", FAILING_BEFORE_SNAPSHOT)
    with snap_serve(handler) as served:
        yield served


def test_a_failed_before_snapshot_hook_fails_the_snapshot_and_every_invoke_gets_409(failed_snapshot) -> None:
    served = failed_snapshot
    raw = invoke(served, {})
    assert raw.status_code == 409, raw.text
    assert raw.headers["x-amzn-ErrorType"] == "ResourceConflictException"
    assert raw.json()["Type"] == "User" and "cannot be performed at this time" in raw.json()["message"], raw.text

    with pytest.raises(ClientError) as caught:
        lambda_client(served).invoke(FunctionName="function", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceConflictException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409

    # lambdatui's side: the snapshot's Init failed with the hook's error type, the hook's error was logged as
    # the runtime logs it, and nothing was ever restored or run.
    report = wait_for_count(served, r"^#1 \[platform\]\s+INIT_REPORT (.*)$", 1)[0].group(1)
    assert re.fullmatch(r"Init Duration: [\d.]+ ms\tPhase: init\tStatus: error\t"
                        r"Error Type: Runtime\.BeforeSnapshotError\s*", report), report
    assert any(t.startswith("[ERROR] ValueError: no snapshot of this, please")
               for t in env_lines(served, 1, "function")), served.output()
    assert not matches(served, RESTORE_START) and not matches(served, r"^#[2-9]"), served.output()
    assert "the handler ran" not in served.output()
    # The snapshot's runtime exited (64): no lambdatui runtime is left under serve.
    wait_until(lambda: not bootstraps(served.proc.pid), 10, "the failed snapshot's runtime to exit")


def test_an_event_invoke_after_the_snapshot_failed_is_refused_not_accepted_and_dropped(failed_snapshot) -> None:
    served = failed_snapshot
    assert invoke(served, {}).status_code == 409  # the snapshot is known to have failed
    queued = invoke(served, {}, invocation_type="Event")
    assert queued.status_code == 409, (queued.status_code, queued.text, served.output())
    assert queued.headers["x-amzn-ErrorType"] == "ResourceConflictException"
    assert not matches(served, RESTORE_START) and not matches(served, r"^#[2-9]"), served.output()  # nor run later



def test_invokes_refused_for_a_failed_snapshot_are_recorded_with_their_409_and_replay(code_dir: Path) -> None:
    """`serve --record`: the RequestResponse and the Event invoke the Invoke API refused (409, no snapshot) are steps
    of the recording, the Event one still an Event invoke, and a replay meets the same refusals."""
    handler = write_file(code_dir / "handler.py", FAILING_BEFORE_SNAPSHOT)
    recording = code_dir / "refused.toml"
    with snap_serve(handler, "--record", str(recording)) as served:
        assert invoke(served, {"n": 1}).status_code == 409
        assert invoke(served, {"n": 2}, invocation_type="Event").status_code == 409
        served.signal(signal.SIGINT)
        assert served.wait(timeout=30) == 0, served.output()
    text = recording.read_text()
    steps = text.split("[[step]]")[1:]
    assert len(steps) == 2, text
    assert "invoke = '{\"n\": 1}'" in steps[0] and "invocation_type" not in steps[0], text
    assert "invoke = '{\"n\": 2}'" in steps[1] and "invocation_type = 'Event'" in steps[1], text
    assert all("expect = { error_type = 'ResourceConflictException' }" in step for step in steps), text
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
    assert replayed.stdout.count("ok         expect error_type") == 2, replayed.stdout

FAILING_AFTER_RESTORE = '''import os
import uuid

from snapshot_restore_py import register_after_restore

FAIL = os.path.join(os.path.dirname(os.path.realpath(__file__)), "fail")  # the test removes it
TOKEN = uuid.uuid4().hex


@register_after_restore
def check():
    if os.path.exists(FAIL):
        raise RuntimeError("the restored environment cannot reach its database")


def handler(event, context):
    print("ready tag=%s token=%s" % (event.get("tag", "-"), TOKEN), flush=True)
    return {"token": TOKEN}
'''


def test_a_failed_after_restore_hook_is_snapstart_exception_and_the_next_invoke_restores_another(
        code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", FAILING_AFTER_RESTORE)
    (code_dir / "fail").touch()
    with snap_serve(handler) as served:
        raw = invoke(served, {"tag": "raw"})
        assert raw.status_code == 400, raw.text
        assert raw.headers["x-amzn-ErrorType"] == "SnapStartException"
        assert raw.json() == {"Type": "User", "Message": raw.json()["Message"]} and "afterRestore" in raw.text

        # boto3 reads it as the Invoke API's error (a ClientError with that code), not as a function error.
        client = lambda_client(served)
        with pytest.raises(client.exceptions.SnapStartException) as caught:
            client.invoke(FunctionName="function", Payload=b'{"tag": "boto3"}')
        assert caught.value.response["Error"]["Code"] == "SnapStartException"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

        (code_dir / "fail").unlink()
        ok = client.invoke(FunctionName="function", Payload=b'{"tag": "ok"}')
        assert ok["StatusCode"] == 200 and "FunctionError" not in ok
        assert json.loads(ok["Payload"].read())["token"]

        # Each failed restore discarded its environment: #2 and #3 failed, #4 serves; none ran the handler but #4.
        wait_for_count(served, READY, 1)  # the answer can come before its lines are read: waited for, bounded
        failures = [(int(m.group(1)), m.group(3)) for m in wait_for_count(served, RESTORE_REPORT, 3)]
        assert failures == [(2, "\tStatus: error\tError Type: Runtime.AfterRestoreError"),
                            (3, "\tStatus: error\tError Type: Runtime.AfterRestoreError"), (4, "")], failures
        assert [(m.group(1), m.group(2)) for m in matches(served, READY)] == [("4", "ok")], served.output()
        for n in (2, 3):
            assert any(t.startswith("[ERROR] RuntimeError: the restored environment cannot reach its database")
                       for t in env_lines(served, n, "function")), served.output()
            assert not [t for t in env_lines(served, n, "platform") if t.startswith("START ")]
        assert len(matches(served, r"\[platform\]\s+INIT_START ")) == 1  # the snapshot was made once, and kept


SLOW_AFTER_RESTORE = '''import os
import time

from snapshot_restore_py import register_after_restore

HOLD = os.path.join(os.path.dirname(os.path.realpath(__file__)), "hold")  # the test removes it


@register_after_restore
def slow():
    with open("/proc/self/stat") as fh:
        start = fh.read().rpartition(")")[2].split()[19]
    print("holding start=%s pid=%d" % (start, os.getpid()), flush=True)
    while os.path.exists(HOLD):
        time.sleep(0.01)


def handler(event, context):
    return "restored in time"
'''


@pytest.mark.slow
def test_a_restore_over_10_s_is_snapstart_timeout_exception_and_its_copy_is_gone(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", SLOW_AFTER_RESTORE)
    hold = code_dir / "hold"
    hold.touch()
    with snap_serve(handler) as served:
        began = time.monotonic()
        call = InFlight(served, {})
        holding = served.wait_for_line(r"^#2 \[function\]\s+holding start=(\d+) pid=(\d+)")
        copy = {pid: start for pid, start in bootstraps(served.proc.pid).items()
                if str(start) == holding.group(1) and ns_pid(pid) == int(holding.group(2))}
        assert len(copy) == 1, (holding.group(0), bootstraps(served.proc.pid))
        answer = call.response()
        elapsed = time.monotonic() - began

        assert answer.status_code == 408, answer.text
        assert answer.headers["x-amzn-ErrorType"] == "SnapStartTimeoutException"
        assert answer.json()["Type"] == "User", answer.text
        assert 10.0 <= elapsed < 20.0, f"answered after {elapsed:.2f} s"
        report = wait_for_count(served, RESTORE_REPORT, 1)[0]
        assert report.group(1) == "2" and report.group(3) == "\tStatus: timeout", report.group(0)
        assert 10_000 <= float(report.group(2)) < 12_000, report.group(0)
        # The environment was discarded: its runtime, still inside the hook, is gone (the hold is still there).
        survivors = wait_all_gone(copy, 10)
        assert survivors == {}, f"the timed-out restore's runtime still runs: {survivors}"
        assert hold.exists()

        hold.unlink()
        again = invoke(served, {})
        assert again.status_code == 200 and again.json() == "restored in time", again.text
        assert [int(m.group(1)) for m in matches(served, RESTORE_START)] == [2, 3], served.output()
