"""SnapStart with real clients on both sides: boto3 against `lambdatui serve --snapstart`, and runtimes that are not
lambdatui's (the official awslambdaric, a custom runtime speaking the Runtime API by hand) in snap-start mode.

boto3: three concurrent invokes make three restored environments (#2, #3, #4), which share what Init made, unless
an after-restore hook makes it again in each. Runtimes whose process lambdatui cannot copy get the restore endpoints
(lambda-spec §1.7) and are re-run for each restored environment, which lambdatui says in one line per environment.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from e2e_support import ServeProcess, platform_lines, run_cli, write_file
from test_fleet_support import matches, together, wait_for_count
from test_snapstart_hook_failures import FAILING_AFTER_RESTORE, FAILING_BEFORE_SNAPSHOT
from test_snapstart_restore import (
    AFTER_RESTORE, INIT_LINE, READY, RESTORE_START, SNAP_HANDLER, env_lines, report_fields, snap_serve,
    write_snap_function,
)

ENVIRONMENTS = 3
INIT_ANY = r"#(\d+) \[function\]\s+init token=(\w+) type=(\S+) group=(\S+) stream=(\S+)"
REINITIALISED = r"#(\d+) \[lambdatui\]\s+env #(\d+) was re-initialised, not restored: (.*)$"


def lambda_client(served: ServeProcess):
    return boto3.client(
        "lambda", endpoint_url=served.base_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 0}, read_timeout=60, connect_timeout=5),
    )


def boto3_together(served: ServeProcess, payloads: list[dict]) -> list[Any]:
    """Each payload invoked by a boto3 client of its own on a thread of its own, all at once (LogType Tail); the
    threads are returned with a `result` list each (the response, or what was raised)."""
    barrier = threading.Barrier(len(payloads))
    threads = []
    for payload in payloads:
        out: list[Any] = []

        def call(payload: dict = payload, out: list[Any] = out) -> None:
            try:
                client = lambda_client(served)
                barrier.wait(30)
                response = client.invoke(FunctionName="function", Payload=json.dumps(payload).encode(),
                                         LogType="Tail")
                response["Body"] = json.loads(response["Payload"].read())
                out.append(response)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                out.append(exc)

        thread = threading.Thread(target=call, daemon=True)
        thread.result = out  # type: ignore[attr-defined]
        thread.start()
        threads.append(thread)
    return threads


def results(threads: list[Any], timeout: float = 60) -> list[dict]:
    found = []
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a boto3 invoke got no answer"
        (result,) = thread.result
        assert not isinstance(result, BaseException), repr(result)
        found.append(result)
    return found


@pytest.mark.parametrize("regenerate", [False, True], ids=["shared-init-value", "after-restore-hook-regenerates"])
def test_boto3_three_concurrent_invokes_get_three_restored_environments(code_dir: Path, regenerate: bool) -> None:
    handler = write_snap_function(code_dir, regenerate=regenerate)
    release = code_dir / "release"
    with snap_serve(handler) as served:
        threads = boto3_together(served, [{"tag": f"b{i}", "release": str(release)} for i in range(ENVIRONMENTS)])
        ready = wait_for_count(served, READY, ENVIRONMENTS)  # all three are running at once: three environments
        release.touch()
        answers = results(threads)

        init_token, init_type, _, _ = wait_for_count(served, INIT_LINE, 1)[0].groups()
        assert init_type == "snap-start"
        bodies = [a["Body"] for a in answers]
        assert all(a["StatusCode"] == 200 and "FunctionError" not in a for a in answers), answers
        assert sorted(int(m.group(1)) for m in ready) == [2, 3, 4], served.output()
        assert len({(b["proc_start"], b["pid"]) for b in bodies}) == ENVIRONMENTS, "three runtime processes"
        assert {b["init_token"] for b in bodies} == {init_token}, "Init ran once, in the snapshot"
        assert {b["init_type"] for b in bodies} == {"snap-start"}
        if regenerate:
            tokens = {b["token"] for b in bodies}
            assert len(tokens) == ENVIRONMENTS and init_token not in tokens, (init_token, bodies)
        else:
            assert {b["token"] for b in bodies} == {init_token}, (init_token, bodies)
        # What each environment's after-restore hook saw (or made) is what its handler answered.
        hooks = {int(m.group(1)): m.group(2) for m in wait_for_count(served, AFTER_RESTORE, ENVIRONMENTS)}
        by_tag = {m.group(2): int(m.group(1)) for m in ready}
        assert {hooks[by_tag[b["tag"]]] for b in bodies} == {b["token"] for b in bodies}

        # Each caller's log tail holds its own invoke's REPORT, with the restore's durations and no Init Duration.
        for answer in answers:
            tail = base64.b64decode(answer["LogResult"]).decode()
            request_id = answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
            report = next(line for line in tail.splitlines() if line.startswith(f"REPORT RequestId: {request_id}"))
            fields = report_fields(report)
            assert "Restore Duration" in fields and "Billed Restore Duration" in fields, report
            assert "Init Duration" not in fields, report
        assert len(matches(served, r"\[platform\]\s+INIT_START ")) == 1, served.output()
        assert sorted(int(m.group(1)) for m in wait_for_count(served, RESTORE_START, ENVIRONMENTS)) == [2, 3, 4]


# ---------------------------------------------------------------------- awslambdaric in snap-start mode


def ric_function(code_dir: Path, source: str = SNAP_HANDLER) -> Path:
    """`source` as handler.py, run by awslambdaric as a custom runtime (`bootstrap`)."""
    write_file(code_dir / "handler.py", source)
    # The exec is on the #! line's interpreter, not in a shell body: see test_awslambdaric.py.
    return write_file(
        code_dir / "bootstrap",
        f"#!{sys.executable}\nimport os, sys\n"
        f"os.execv(sys.executable, [sys.executable, '-m', 'awslambdaric', 'handler.handler'])\n",
        executable=True,
    )


def test_awslambdaric_under_serve_snapstart_is_re_initialised_in_each_restored_environment(code_dir: Path) -> None:
    bootstrap = ric_function(code_dir)
    release = code_dir / "release"
    with ServeProcess(bootstrap, "--snapstart", "--timeout", "60") as served:
        calls = together(served, [{"tag": f"r{i}", "release": str(release)} for i in range(ENVIRONMENTS)])
        ready = wait_for_count(served, READY, ENVIRONMENTS)
        release.touch()
        answers = [call.response() for call in calls]
        assert [a.status_code for a in answers] == [200] * ENVIRONMENTS, [a.text for a in answers]
        assert not any(a.headers.get("x-amz-function-error") for a in answers), [a.text for a in answers]
        bodies = [a.json() for a in answers]

        # awslambdaric ran in snap-start mode everywhere: AWS_LAMBDA_INITIALIZATION_TYPE, no log group or stream.
        assert {b["init_type"] for b in bodies} == {"snap-start"}
        assert {(b["context_log_group"], b["context_log_stream"]) for b in bodies} == {(None, None)}, bodies
        assert sorted(int(m.group(1)) for m in ready) == [2, 3, 4], served.output()
        # Its process cannot be copied: each restored environment ran Init again (its own token, its own init
        # line), and said so once, under its own number.
        inits = {int(m.group(1)): m.groups()[1:] for m in wait_for_count(served, INIT_ANY, 1 + ENVIRONMENTS)}
        assert sorted(inits) == [1, 2, 3, 4], served.output()
        assert {v[1:] for v in inits.values()} == {("snap-start", "None", "None")}, inits
        assert len({b["token"] for b in bodies}) == ENVIRONMENTS and {b["token"] for b in bodies} == {
            inits[n][0] for n in (2, 3, 4)}, (bodies, inits)
        notes = wait_for_count(served, REINITIALISED, ENVIRONMENTS)
        assert sorted((int(m.group(1)), int(m.group(2))) for m in notes) == [(2, 2), (3, 3), (4, 4)]
        assert all("not lambdatui's Python runtime" in m.group(3) for m in notes), served.output()

        # awslambdaric ran the hooks: before-snapshot in the snapshot, after-restore in each restored environment
        # (never in the snapshot); the platform says INIT once for env #1 and RESTORE for the others.
        assert "before-snapshot ran" in env_lines(served, 1, "function")
        assert sorted(int(m.group(1)) for m in wait_for_count(served, AFTER_RESTORE, ENVIRONMENTS)) == [2, 3, 4]
        starts = matches(served, r"#(\d+) \[platform\]\s+(INIT_START|RESTORE_START) Runtime Version: (\S+)")
        assert sorted((int(m.group(1)), m.group(2), m.group(3)) for m in starts) == [
            (1, "INIT_START", "provided:al2023")] + [(n, "RESTORE_START", "provided:al2023") for n in (2, 3, 4)]
        reports = wait_for_count(served, r"#(\d+) \[platform\]\s+REPORT RequestId: \S+\s(.*)$", ENVIRONMENTS)
        for m in reports:
            fields = report_fields(m.group(2))
            assert "Restore Duration" in fields and "Init Duration" not in fields, m.group(0)


@pytest.mark.parametrize("case", ["before-snapshot", "after-restore"])
def test_awslambdaric_hook_failures_are_the_invoke_apis_errors(code_dir: Path, case: str) -> None:
    """awslambdaric's own failure paths (POST /init/error Runtime.BeforeSnapshotError and exit 64; POST
    /restore/error Runtime.AfterRestoreError and exit 65) end as they do with lambdatui's runtime."""
    source = FAILING_BEFORE_SNAPSHOT if case == "before-snapshot" else FAILING_AFTER_RESTORE
    bootstrap = ric_function(code_dir, source)
    (code_dir / "fail").touch()
    done = run_cli("invoke", str(bootstrap), "--snapstart")
    assert done.returncode == 1, (done.stdout, done.stderr)
    body = json.loads(done.stdout)
    lines = [line.rstrip() for line in platform_lines(done.stderr)]
    if case == "before-snapshot":
        assert body["errorType"] == "ResourceConflictException", body
        assert "lambdatui: Invoke API error 409 ResourceConflictException" in done.stderr
        assert re.fullmatch(r"INIT_REPORT Init Duration: [\d.]+ ms\tPhase: init\tStatus: error\t"
                            r"Error Type: Runtime\.BeforeSnapshotError", lines[-1]), lines
        assert not [line for line in lines if line.startswith(("RESTORE_START", "START"))], lines
    else:
        assert body["errorType"] == "SnapStartException", body
        assert "lambdatui: Invoke API error 400 SnapStartException" in done.stderr
        assert re.fullmatch(r"RESTORE_REPORT Restore Duration: [\d.]+ ms\tStatus: error\t"
                            r"Error Type: Runtime\.AfterRestoreError", lines[-1]), lines
        assert "the restored environment cannot reach its database" in done.stderr
        assert not [line for line in lines if line.startswith("START")], lines


# ---------------------------------------------------------------------- a custom runtime, by hand

# A custom runtime (`provided`) that speaks the Runtime API itself, as CR_MODE says (--env): `hooks` calls
# /restore/next twice before /next, `restore-error` reports a failed restore (`restore-init-error`: on /init/error, as
# runtimes did before /restore/error), `none` never calls the restore endpoints. Its invokes answer what it saw.
CUSTOM_RUNTIME = '''#!{python}
import http.client
import json
import os
import sys

conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])


def call(method, path, body=None, headers=None):
    conn.request(method, "/2018-06-01/runtime/" + path, body=body, headers=headers or {{}})
    answer = conn.getresponse()
    return answer.status, answer.read().decode(), answer


mode = os.environ.get("CR_MODE", "none")
seen = {{"mode": mode, "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}}
if mode == "hooks":
    status, body, _ = call("GET", "restore/next")
    seen["first"] = [status, body]
    status, body, _ = call("GET", "restore/next")
    seen["second"] = [status, json.loads(body).get("errorType") if body else body]
elif mode in ("restore-error", "restore-init-error"):
    status, body, _ = call("GET", "restore/next")
    print("restore/next %d" % status, flush=True)
    path = "restore/error" if mode == "restore-error" else "init/error"
    status, body, _ = call("POST", path, json.dumps({{"errorMessage": "cannot", "errorType": "Oops"}}),
                           {{"Lambda-Runtime-Function-Error-Type": "Runtime.AfterRestoreError"}})
    print("%s %d %s" % (path, status, body), flush=True)
    sys.exit(65)
while True:
    status, body, answer = call("GET", "invocation/next")
    request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    call("POST", "invocation/%s/response" % request_id, json.dumps(seen))
'''


@pytest.fixture
def custom_runtime(code_dir: Path) -> Path:
    return write_file(code_dir / "bootstrap", CUSTOM_RUNTIME.format(python=sys.executable), executable=True)


def test_a_custom_runtimes_restore_next_returns_once_restored_and_is_refused_after(custom_runtime: Path) -> None:
    done = run_cli("invoke", str(custom_runtime), "--snapstart", "--env", "CR_MODE=hooks")
    assert done.returncode == 0, done.stderr
    # In the restored environment (the runtime re-run there): 200 with an empty body, then 403 (Restoring ->
    # RestoreReady is no transition, §1.9).
    assert json.loads(done.stdout) == {"mode": "hooks", "init_type": "snap-start", "first": [200, ""],
                                       "second": [403, "InvalidStateTransition"]}, done.stdout
    lines = [line.rstrip() for line in platform_lines(done.stderr)]
    assert [line.split(" ", 1)[0] for line in lines] == [
        "INIT_START", "INIT_REPORT", "RESTORE_START", "RESTORE_REPORT", "START", "END", "REPORT"], lines
    assert re.search(r"\[lambdatui\]\s+env #2 was re-initialised, not restored", done.stderr), done.stderr


def test_restore_next_is_404_for_a_function_run_without_snapstart(custom_runtime: Path) -> None:
    done = run_cli("invoke", str(custom_runtime), "--env", "CR_MODE=hooks")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["init_type"] == "on-demand" and body["first"][0] == 404 and body["second"][0] == 404, body
    assert not re.search(r"RESTORE_|Restore Duration", done.stderr), done.stderr


def test_a_custom_runtimes_restore_error_fails_the_restore(custom_runtime: Path) -> None:
    done = run_cli("invoke", str(custom_runtime), "--snapstart", "--env", "CR_MODE=restore-error")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert json.loads(done.stdout)["errorType"] == "SnapStartException", done.stdout
    # The snapshot's /restore/next was held (never answered); the restored one's answered, and /restore/error 202.
    said = re.findall(r"\[function\]\s+(restore/\S+ \d+.*)$", done.stderr, re.M)
    assert said == ["restore/next 200", 'restore/error 202 {"status":"OK"}'], done.stderr
    lines = [line.rstrip() for line in platform_lines(done.stderr)]
    assert re.fullmatch(r"RESTORE_REPORT Restore Duration: [\d.]+ ms\tStatus: error\t"
                        r"Error Type: Runtime\.AfterRestoreError", lines[-1]), lines


def test_a_custom_runtimes_init_error_while_restoring_is_its_restore_error(custom_runtime: Path) -> None:
    """RAPID takes /init/error from a runtime in the Restoring state as its /restore/error (202; lambda-spec §1.6):
    the restore fails with the runtime's error type, not with a 403 and then a bare Runtime.ExitError."""
    done = run_cli("invoke", str(custom_runtime), "--snapstart", "--env", "CR_MODE=restore-init-error")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert json.loads(done.stdout)["errorType"] == "SnapStartException", done.stdout
    said = re.findall(r"\[function\]\s+((?:restore|init)/\S+ \d+.*)$", done.stderr, re.M)
    assert said == ["restore/next 200", 'init/error 202 {"status":"OK"}'], done.stderr
    lines = [line.rstrip() for line in platform_lines(done.stderr)]
    assert re.fullmatch(r"RESTORE_REPORT Restore Duration: [\d.]+ ms\tStatus: error\t"
                        r"Error Type: Runtime\.AfterRestoreError", lines[-1]), lines

def test_a_custom_runtime_that_never_calls_restore_next_is_snapshotted_at_its_first_next(custom_runtime: Path) -> None:
    """RAPID's rule (§1.7): a runtime that goes straight to /next has no restore hooks; its /next is the snapshot."""
    done = run_cli("invoke", str(custom_runtime), "--snapstart", "--env", "CR_MODE=none", "--repeat", "2")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"mode": "none", "init_type": "snap-start"}] * 2, done.stdout
    lines = [line.rstrip() for line in platform_lines(done.stderr)]
    assert [line.split(" ", 1)[0] for line in lines] == [
        "INIT_START", "INIT_REPORT", "RESTORE_START", "RESTORE_REPORT", "START", "END", "REPORT", "START", "END",
        "REPORT"], lines
    assert re.fullmatch(r"RESTORE_REPORT Restore Duration: [\d.]+ ms", lines[3]), lines
