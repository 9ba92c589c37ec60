"""`--memory MB` enforced on the environment's processes together, through the CLI (issue 11, lambda-spec §10.2).

Real processes throughout: the function and an extension allocate with bytearray (zero-filled, so every page is
resident at once); the kernel's OOM killer (or, on a host without a memory cgroup, lambdatui's watcher) ends the
runtime. The handlers pause briefly after allocating, as real work would, so that the watcher's sampling sees
the memory before the response.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from e2e_support import max_memory_used, platform_lines, reports, run_cli, write_file

HANDLER = """
import time

cache = []


def handler(event, context):
    cache.append(bytearray(event["mb"] * 1024 * 1024))
    time.sleep(0.1)
    return {"held_mb": len(cache) * event["mb"]}
"""

# Registers, holds 45 MB for the rest of its life, and says which SHUTDOWN it got.
HOG_EXTENSION = """#!/usr/bin/env python3
import http.client, json, os
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
def call(method, path, headers, body=None):
    api.request(method, "/2020-01-01/extension" + path, body=body, headers=headers)
    response = api.getresponse()
    return response, response.read()
response, _ = call("POST", "/register", {"Lambda-Extension-Name": "hog"}, json.dumps({"events": ["INVOKE", "SHUTDOWN"]}))
ident = response.getheader("Lambda-Extension-Identifier")
held = bytearray(45 * 1024 * 1024)
while True:
    _, body = call("GET", "/event/next", {"Lambda-Extension-Identifier": ident})
    event = json.loads(body)
    if event["eventType"] == "SHUTDOWN":
        print("hog got SHUTDOWN " + event["shutdownReason"], flush=True)
        break
"""


def test_the_fifth_warm_invoke_runs_out_of_memory_and_the_next_one_cold_starts(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"mb": 25}', "--repeat", "6", "--memory", "128")
    assert done.returncode == 1, done.stderr
    bodies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [b.get("held_mb") for b in bodies] == [25, 50, 75, 100, None, 25]
    lines = platform_lines(done.stderr)
    [request_id] = re.findall(r"START RequestId: (\S+)", "\n".join(lines))[4:5]
    assert bodies[4] == {"errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
                         "errorType": "Runtime.OutOfMemory"}
    report = reports(done.stderr)
    assert len(report) == 6
    used = [max_memory_used(r) for r in report]
    assert used[0] < used[1] < used[2] < used[3] < 128  # the cache, building up
    assert used[3] - used[0] >= 70
    assert "\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t" in report[4]
    assert report[4].endswith("\tStatus: error\tError Type: Runtime.OutOfMemory\t")
    assert f"RequestId: {request_id} Error: Runtime exited with error: signal: killed" in lines
    # Reset, then the sixth invoke re-initialises (inside itself: a suppressed Init) with an empty cache.
    assert sum(1 for line in lines if line.startswith("INIT_START")) == 2
    assert "Status" not in report[5] and used[5] < used[3]
    assert "Memory: 128 MB for the runtime and extensions together" in done.stderr


def test_the_limit_covers_an_extensions_memory_too(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "hog", HOG_EXTENSION, executable=True)
    empty = code_dir / "no-extensions"
    empty.mkdir()
    # 90 MB fits in 128 for the runtime alone...
    alone = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"mb": 90}', "--extensions", str(empty))
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout) == {"held_mb": 90}
    # ...but not beside an extension that holds 45 MB: the runtime is killed (by then the largest process, as
    # the OOM killer chooses), and the extension is told of the reset.
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"mb": 90}', "--repeat", "2")
    assert done.returncode == 1, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["errorType"] == "Runtime.OutOfMemory"
    assert first["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert "hog got SHUTDOWN failure" in done.stderr
    assert second["errorType"] == "Runtime.OutOfMemory"  # the re-initialised environment has the same limit
    assert all(r.endswith("\tError Type: Runtime.OutOfMemory\t") for r in reports(done.stderr))


def test_a_bigger_memory_size_is_a_bigger_limit(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"mb": 150}', "--memory", "256")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"held_mb": 150}
    [report] = reports(done.stderr)
    assert "\tMemory Size: 256 MB\t" in report and 150 < max_memory_used(report) < 256


# The memory sample's scenario (four invokes, then out of memory, then a cold start) is checked where every sample
# is replayed: test_scenario_cli.py::test_sample_scenarios_pass[memory/out_of_memory].


EXITS_AT_IMPORT = """
import os

held = bytearray(60 * 1024 * 1024)
os._exit(3)
"""

EXITS_IN_THE_HANDLER = """
import os


def handler(event, context):
    held = bytearray(60 * 1024 * 1024)
    os._exit(1)
"""


def test_a_runtime_that_exits_during_init_reports_the_memory_it_used(code_dir: Path) -> None:
    # Gone before anyone read /proc: what it used comes from its exit (wait4), not the memory size.
    write_file(code_dir / "handler.py", EXITS_AT_IMPORT)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", "{}")
    assert json.loads(done.stdout)["errorType"] == "Runtime.ExitError", done.stderr
    [report] = reports(done.stderr)
    assert "\tStatus: error\tError Type: Runtime.ExitError\t" in report
    assert 60 < max_memory_used(report) < 128, report


@pytest.mark.parametrize("options", [(), ("--snapstart",)], ids=["spawned", "restored from the snapshot"])
def test_a_runtime_that_exits_during_an_invoke_reports_that_invokes_memory(code_dir: Path, options: tuple[str, ...]) -> None:
    write_file(code_dir / "handler.py", EXITS_IN_THE_HANDLER)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", "{}", *options)
    assert json.loads(done.stdout)["errorType"] == "Runtime.ExitError", done.stderr
    [report] = reports(done.stderr)
    assert 60 < max_memory_used(report) < 128, report


def test_max_memory_used_counts_the_extensions_memory_as_the_limit_does(code_dir: Path) -> None:
    # The hog holds 45 MB beside a runtime holding 20: REPORT says what the environment held, not the runtime alone.
    write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "hog", HOG_EXTENSION, executable=True)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"mb": 20}', "--memory", "256")
    assert done.returncode == 0, done.stderr
    [report] = reports(done.stderr)
    assert 45 + 20 < max_memory_used(report) < 256, report



def test_an_invoke_that_lived_never_reports_more_than_its_memory_size(code_dir: Path) -> None:
    # 118 MB held beside the interpreter, under 128: the kernel lets it live (the interpreter's shared pages are
    # charged elsewhere), and the runtime's own peak (VmHWM: ~132 MB) said it used more than its memory size.
    write_file(code_dir / "handler.py", HANDLER)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"mb": 118}', "--memory", "128")
    if "enforced by the kernel's OOM killer" not in done.stderr:
        pytest.skip("no memory cgroup here: lambdatui's watcher counts the runtime's whole RSS, and kills it")
    if done.returncode != 0:
        pytest.skip(f"this kernel counted more than 128 MB and ended the runtime: {done.stdout}")
    [report] = reports(done.stderr)
    assert "\tStatus:" not in report and 100 < max_memory_used(report) <= 128, report

# The first invoke's child is the OOM killer's victim (the largest process); the second invoke's runtime kills
# itself with SIGKILL, which is no OOM kill.
CHILD_THEN_SELF_KILL = """
import os, signal, subprocess, sys

invokes = 0


def handler(event, context):
    global invokes
    invokes += 1
    if invokes == 1:
        child = subprocess.run([sys.executable, "-c", "held = bytearray(300 * 1024 * 1024)"])
        return {"child": child.returncode}
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_sigkill_after_a_childs_oom_kill_is_not_called_out_of_memory(code_dir: Path) -> None:
    # Lambda names a runtime killed by anything but the OOM killer Runtime.ExitError; an OOM kill of the function's
    # child in an earlier invoke (the runtime lived on) must not be taken for the runtime's.
    write_file(code_dir / "handler.py", CHILD_THEN_SELF_KILL)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", "{}", "--repeat", "2", "--memory", "128")
    if "enforced by the kernel's OOM killer" not in done.stderr:
        pytest.skip("no memory cgroup here: lambdatui's watcher kills the runtime, not the child")
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first == {"child": -9}, done.stderr
    assert second["errorType"] == "Runtime.ExitError", done.stderr
    assert second["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert reports(done.stderr)[1].endswith("\tStatus: error\tError Type: Runtime.ExitError\t"), done.stderr
