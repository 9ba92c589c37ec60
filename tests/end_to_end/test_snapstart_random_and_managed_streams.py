"""SnapStart's generator state, and Lambda Managed Instances with a streaming runtime, through the real CLI.

1. SnapStart: the global `random` generator's state is part of the snapshot. In Lambda every environment restored
   from one snapshot resumes the same Mersenne Twister state, so `random.random()` in the handler draws the same
   numbers in each (the uniqueness trap of lambda-spec §4.8 / AWS "Handling uniqueness with Lambda SnapStart":
   "entropy that's used to generate pseudorandomness"). A fork reseeds it (CPython's `random` registers
   `os.register_at_fork(after_in_child=_inst.seed)`), so lambdatui hid the trap.
2. Lambda Managed Instances (`--max-concurrency`) with a runtime that streams its response (lambda-spec §1.8,
   §11.3): the streamed /response was refused with 400 InvalidRequestID and every invoke timed out.
"""

from __future__ import annotations

from pathlib import Path

import boto3
from botocore.config import Config

from e2e_support import SAMPLES, ServeProcess, write_file
from test_fleet_support import together, wait_for_count

STREAM = SAMPLES / "stream" / "bootstrap"

RANDOM_HANDLER = '''import os
import random
import time

from snapshot_restore_py import register_after_restore

AFTER = []


@register_after_restore
def after_restore():
    AFTER.append(1)


def handler(event, context):
    print("ready", flush=True)
    deadline = time.time() + 60
    while not os.path.exists(event["release"]) and time.time() < deadline:  # the test creates it
        time.sleep(0.005)
    return {"draws": [random.random() for _ in range(3)], "pid": os.getpid(), "restored": len(AFTER)}
'''


def test_restored_environments_resume_the_snapshots_random_state(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", RANDOM_HANDLER)
    release = code_dir / "release"
    with ServeProcess(handler, "--snapstart", "--timeout", "60") as served:
        flights = together(served, [{"release": str(release)}] * 3)
        wait_for_count(served, r"#(\d+) \[function\]\s+ready", 3)  # three restored environments, busy at once
        release.touch()
        bodies = [flight.response().json() for flight in flights]
    assert all(body["restored"] == 1 for body in bodies), bodies
    # One snapshot, one generator state: every restored environment draws the same numbers, as in Lambda.
    assert len({tuple(body["draws"]) for body in bodies}) == 1, bodies


def test_managed_instances_pass_a_streamed_response_on() -> None:
    with ServeProcess(STREAM, "--max-concurrency", "2", "--timeout", "10") as served:
        client = boto3.client("lambda", endpoint_url=served.base_url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x",
                              config=Config(retries={"max_attempts": 0}, read_timeout=60, connect_timeout=5))
        response = client.invoke_with_response_stream(FunctionName="stream",
                                                      Payload=b'{"chunks": 3, "pause_ms": 10}')
        events = list(response["EventStream"])
        plain = client.invoke(FunctionName="stream", Payload=b'{"chunks": 2, "pause_ms": 10}')
        plain_body = plain["Payload"].read()
        output = served.output()
    chunks = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    complete = [e["InvokeComplete"] for e in events if "InvokeComplete" in e]
    assert chunks == b"chunk 0\nchunk 1\nchunk 2\n", (events, output)
    assert complete == [{}], (complete, output)
    assert "FunctionError" not in plain and plain_body == b"chunk 0\nchunk 1\n", (plain_body, output)
    assert "InvalidRequestID" not in output, output
