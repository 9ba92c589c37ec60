"""From a bug hunt: the function's memory limit and its storage as a Lambda user meets them (lambda-spec §10.2, §4.5,
§4.7, §4.9-4.11, §5; README's `--memory` and "/tmp" / "Only /tmp is writable" notes).

Real `lambdatui serve` / `invoke` / `replay` processes throughout, on generated code in `code_dir` (never under /tmp),
called over HTTP with urllib; awslambdaric runs as a custom runtime (`bootstrap`). The handlers pause briefly after
allocating, as real work would, so that lambdatui's memory watcher (the fallback where no memory cgroup can be made)
sees the memory too. The strict xfails pin what is wrong today; each says what in one line.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

import pytest

from e2e_support import (ServeProcess, awslambdaric_bootstrap, max_memory_used, platform_lines, reports, run_cli,
                         write_file)

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"

# Keeps what each invoke allocates (a cache growing across warm invokes), writes a file to /tmp, says what it sees.
CACHE = '''import os, time

cache = []


def handler(event, context):
    if event.get("mb"):
        cache.append(bytearray(event["mb"] << 20))
        time.sleep(0.1)  # as real work would: a watcher samples every 20 ms
    if event.get("tmp"):
        os.makedirs("/tmp/kept", exist_ok=True)
        with open("/tmp/kept/" + event["tmp"], "w") as fh:
            fh.write("kept")
    try:
        open("/var/task/written.txt", "w").close()
        task = "written"
    except OSError as error:
        task = error.errno
    return {"held_mb": sum(len(b) for b in cache) >> 20, "tmp": sorted(os.listdir("/tmp/kept")) if os.path.isdir("/tmp/kept") else [], "task": task,
            "memory_limit_in_mb": context.memory_limit_in_mb, "env": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]}
'''


def invoke(served: ServeProcess, event: dict) -> tuple[int, Optional[str], dict]:
    request = urllib.request.Request(served.invoke_url(), data=json.dumps(event).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("X-Amz-Function-Error"), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("X-Amz-Function-Error"), json.loads(error.read())


@pytest.mark.parametrize("runtime", ["lambdatui", "awslambdaric"])
def test_an_invoke_out_of_memory_is_runtime_out_of_memory_then_a_cold_start_that_keeps_tmp(code_dir: Path,
                                                                                            runtime: str) -> None:
    """70 MB, then 70 more at 128 MB: the second invoke is OOM-killed. The caller gets 200 with `Unhandled` and
    Lambda's platform error; REPORT says Memory Size and Max Memory Used at the limit; the next invoke re-initialises
    (globals gone) and still finds /tmp's files; /var/task stays read-only (EROFS) throughout."""
    handler = write_file(code_dir / "handler.py", CACHE)
    path = awslambdaric_bootstrap(code_dir) if runtime == "awslambdaric" else handler
    with ServeProcess(path, "--memory", "128") as served:
        first = invoke(served, {"mb": 70, "tmp": "a"})
        assert first == (200, None, {"held_mb": 70, "tmp": ["a"], "task": 30, "memory_limit_in_mb": "128",
                                     "env": "128"}), served.output()
        status, function_error, body = invoke(served, {"mb": 70, "tmp": "b"})
        assert (status, function_error, body["errorType"]) == (200, "Unhandled", "Runtime.OutOfMemory"), body
        request_id = re.findall(r"START RequestId: (\S+)", served.output())[1]
        assert body["errorMessage"] == f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
        third = invoke(served, {})
        assert third == (200, None, {"held_mb": 0, "tmp": ["a"], "task": 30, "memory_limit_in_mb": "128",
                                     "env": "128"}), served.output()
        served.wait_for_lines(r"\[platform\]\s+REPORT ", 3)
        text = served.output()
    first_report, oom_report, third_report = reports(text)
    assert "\tMemory Size: 128 MB\t" in first_report and 70 < max_memory_used(first_report) < 128, first_report
    assert f"RequestId: {request_id}\t" in oom_report
    assert "\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t" in oom_report
    assert oom_report.endswith("\tStatus: error\tError Type: Runtime.OutOfMemory\t"), oom_report
    assert "Init Duration" not in third_report and "Status" not in third_report, third_report
    assert sum(1 for line in platform_lines(text) if line.startswith("INIT_START")) == 2


INIT_HOG = '''held = bytearray(200 << 20)


def handler(event, context):
    return "never"
'''


def test_running_out_of_memory_in_init_is_reported_as_out_of_memory_twice(code_dir: Path) -> None:
    """Init's OOM: INIT_REPORT with Runtime.OutOfMemory; the invoke retries Init inside itself (phase invoke), runs
    out again, and its caller gets Runtime.OutOfMemory with no Init Duration in REPORT."""
    write_file(code_dir / "handler.py", INIT_HOG)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", "{}", "--memory", "128")
    assert done.returncode == 1, done.stderr
    body = json.loads(done.stdout)
    assert body["errorType"] == "Runtime.OutOfMemory", done.stderr
    assert body["errorMessage"].endswith(" Error: Runtime exited with error: signal: killed")
    init_reports = [line for line in platform_lines(done.stderr) if line.startswith("INIT_REPORT ")]
    assert [re.sub(r"Init Duration: [\d.]+ ms", "", line) for line in init_reports] == [
        "INIT_REPORT \tPhase: init\tStatus: error\tError Type: Runtime.OutOfMemory",
        "INIT_REPORT \tPhase: invoke\tStatus: error\tError Type: Runtime.OutOfMemory",
    ]
    (report,) = reports(done.stderr)
    assert "Init Duration" not in report and report.endswith("\tError Type: Runtime.OutOfMemory\t"), report


PEAK = '''import time


def handler(event, context):
    if event.get("mb"):
        held = bytearray(event["mb"] << 20)
        time.sleep(0.1)
        del held
    return context.memory_limit_in_mb
'''


def test_max_memory_used_is_the_environments_high_water_mark_across_warm_invokes(code_dir: Path) -> None:
    """An invoke that held 80 MB and let it go: the warm invokes after it report the same Max Memory Used (Lambda's
    figure is the environment's high-water mark, not the invoke's own); at Lambda's largest size, 10240."""
    write_file(code_dir / "handler.py", PEAK)
    with ServeProcess(code_dir / "handler.py", "--memory", "10240") as served:
        assert invoke(served, {"mb": 80}) == (200, None, "10240")
        assert invoke(served, {}) == (200, None, "10240")
        assert invoke(served, {}) == (200, None, "10240")
        served.wait_for_lines(r"\[platform\]\s+REPORT ", 3)
        used = [max_memory_used(report) for report in reports(served.output())]
    assert used[0] > 80 and used[0] == used[1] == used[2], used
    assert all("\tMemory Size: 10240 MB\t" in report for report in reports(served.output()))


GROWING = '''import time

cache = []


def handler(event, context):
    cache.append(bytearray(event["mb"] << 20))
    time.sleep(0.1)
    return len(cache)
'''


def test_a_recorded_out_of_memory_invoke_replays_to_the_same_outcome(code_dir: Path, tmp_path: Path) -> None:
    """`--record` of a warm invoke, an OOM and the cold start after it replays PASSED; the same scenario at
    `--memory 512` fails on the step that ran out of memory (step 2), naming its expectation."""
    write_file(code_dir / "handler.py", GROWING)
    scenario = tmp_path / "oom.toml"
    recorded = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"mb": 70}', "--repeat", "3",
                       "--record", str(scenario))
    assert recorded.returncode == 1, recorded.stderr
    text = scenario.read_text()
    assert "memory = 128" in text and "error_type = 'Runtime.OutOfMemory'" in text, text
    replayed = run_cli("replay", str(code_dir / "handler.py"), str(scenario))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.splitlines()[-1].startswith(f"PASSED {scenario}: 3 steps (2 invokes succeeded, 1 failed)")
    bigger = run_cli("replay", str(code_dir / "handler.py"), str(scenario), "--memory", "512")
    assert bigger.returncode == 1, bigger.stdout + bigger.stderr
    assert bigger.stdout.splitlines()[-1].startswith(f"FAILED {scenario}:"), bigger.stdout
    assert bigger.stdout.splitlines()[-1].endswith(": step 2 expect.error_type failed"), bigger.stdout


# ---------------------------------------------------------------------- a template's EphemeralStorage

TEMPLATE_EPHEMERAL = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handler.handler
      Runtime: {runtime}
      CodeUri: src/
      MemorySize: {memory}
      EphemeralStorage:
        Size: {size}
"""


def test_a_memory_size_lambda_refuses_is_one_line_and_exit_2(code_dir: Path) -> None:
    """The neighbour of the xfails below, as it stands: MemorySize 64 is refused before anything runs."""
    write_file(code_dir / "src" / "handler.py", PEAK)
    template = write_file(code_dir / "template.yaml",
                          TEMPLATE_EPHEMERAL.format(runtime=RUNTIME, memory=64, size=1024))
    done = run_cli("invoke", str(template), "-e", "{}")
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.strip().endswith("Fn: MemorySize 64: Lambda allows 128 to 10240 MB"), done.stderr


@pytest.mark.parametrize("size", [100, 20000, "abc"])
def test_an_ephemeral_storage_size_lambda_refuses_is_one_line_and_exit_2(code_dir: Path, size: object) -> None:
    # CreateFunction: "Value '100' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value
    # greater than or equal to 512" (EphemeralStorage.Size: 512-10240, lambda-spec §4.7 and §4.11).
    write_file(code_dir / "src" / "handler.py", PEAK)
    template = write_file(code_dir / "template.yaml",
                          TEMPLATE_EPHEMERAL.format(runtime=RUNTIME, memory=128, size=size))
    done = run_cli("invoke", str(template), "-e", "{}")
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "EphemeralStorage Size" in done.stderr and ("512" in done.stderr or "whole number" in done.stderr), done.stderr
