"""Throttling at the concurrency limit (lambda-spec §11.1), through real HTTP and boto3.

A synchronous invoke that finds every environment busy at `--concurrency N` gets Lambda's 429
TooManyRequestsException, exactly (status, x-amzn-ErrorType, body), and never runs; an SDK raises its modeled
TooManyRequestsException. Event invokes are never refused for concurrency: they wait for an environment, and
every one of them runs, exactly once, also when serve is stopped while they wait.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from e2e_support import ServeProcess, write_file
from test_fleet_support import (
    READY, REPORT, InFlight, env_of_request, invoke, line_index, matches, wait_for_count, write_function,
)

# An external extension that, given SHUTDOWN, stays until the test's file appears (or just before its deadline):
# its environment is shutting down for as long as the test needs.
LINGERING = '''#!/usr/bin/env python3
import http.client, json, os, time

RELEASE = {release!r}
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)


def call(method, path, headers, body=None):
    api.request(method, "/2020-01-01/extension" + path, body=body, headers=headers)
    response = api.getresponse()
    return response, response.read()


response, _ = call("POST", "/register", {{"Lambda-Extension-Name": "lingering"}}, json.dumps({{"events": ["SHUTDOWN"]}}))
_, payload = call("GET", "/event/next", {{"Lambda-Extension-Identifier": response.getheader("Lambda-Extension-Identifier")}})
event = json.loads(payload)
print(f"SHUTDOWN reason={{event['shutdownReason']}}", flush=True)
while not os.path.exists(RELEASE) and time.time() < event["deadlineMs"] / 1000 - 0.2:
    time.sleep(0.005)
print("released" if os.path.exists(RELEASE) else "deadline", flush=True)
'''

THROTTLE_BODY = {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User",
                 "message": "Rate Exceeded."}
RAN = r"#(\d+) \[function\]\s+ran tag=(\S+)"


def lambda_client(served: ServeProcess):
    return boto3.client(
        "lambda", endpoint_url=served.base_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 0}, read_timeout=30, connect_timeout=5),
    )


def test_above_the_limit_a_sync_invoke_gets_lambdas_429_over_http_and_from_boto3(code_dir: Path) -> None:
    handler = write_function(code_dir)
    release = code_dir / "release"
    with ServeProcess(handler, "--concurrency", "2", "--timeout", "30") as served:
        busy = [InFlight(served, {"tag": f"busy-{i}", "release": str(release)}) for i in range(2)]
        wait_for_count(served, READY, 2)  # both environments are running an invoke now

        raw = invoke(served, {"tag": "raw"})
        assert raw.status_code == 429, raw.text
        assert raw.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
        assert raw.headers["content-type"].startswith("application/json")
        assert raw.json() == THROTTLE_BODY
        assert list(json.loads(raw.content)) == ["Reason", "Type", "message"]  # no field more or less, Lambda's order

        client = lambda_client(served)
        with pytest.raises(client.exceptions.TooManyRequestsException) as caught:
            client.invoke(FunctionName="function", Payload=json.dumps({"tag": "boto3"}).encode())
        error = caught.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert error["Error"]["Code"] == "TooManyRequestsException"
        assert error["Error"]["Message"] == "Rate Exceeded."
        assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert error["Type"] == "User"

        # Throttled invokes never ran, and no third environment was started for them.
        assert [m.group(2) for m in matches(served, READY)].count("raw") == 0
        assert [m.group(2) for m in matches(served, READY)].count("boto3") == 0
        assert not matches(served, r"^#3 "), served.output()
        notes = wait_for_count(served, r"^(.*)Invoke \S+ throttled: all 2 environments are busy", 2, timeout=5)
        assert {m.group(1).split()[0] for m in notes} == {"[lambdatui]"}  # the fleet's own line: no #N

        # A DryRun runs nothing and takes no environment: it is not throttled.
        dry = invoke(served, {"tag": "dry"}, invocation_type="DryRun")
        assert dry.status_code == 204, dry.text

        # Once the environments are free again, the next invoke is served by one of them, warm.
        release.touch()
        answers = [call.response() for call in busy]
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        wait_for_count(served, REPORT, 2)
        after = invoke(served, {"tag": "after"})
        assert after.status_code == 200, after.text
        assert after.json()["n"] == 2  # a warm runtime process, its second invoke
        assert env_of_request(served, after.json()["request_id"]) in (1, 2)
        assert not matches(served, r"^#3 "), served.output()


def test_an_environment_spinning_down_is_no_concurrency_the_next_invoke_starts_a_new_one(code_dir: Path) -> None:
    """Concurrency counts the environments that serve invokes (lambda-spec §11.1): at `--concurrency 1`, while the
    only environment spins down (its extension still handling SHUTDOWN), an invoke cold-starts a new environment
    beside it, as in Lambda, rather than getting a 429."""
    handler = write_function(code_dir)
    release = code_dir / "release"
    write_file(code_dir / "extensions" / "lingering", LINGERING.format(release=str(release)), executable=True)
    with ServeProcess(handler, "--concurrency", "1", "--idle-shutdown", "0.5", "--timeout", "30") as served:
        try:
            first = invoke(served, {"tag": "first"})
            assert first.status_code == 200, first.text
            number = env_of_request(served, first.json()["request_id"])
            served.wait_for_line(rf"#{number} \[lingering\]\s+SHUTDOWN reason=spindown", timeout=30)

            second = invoke(served, {"tag": "second"})
            assert second.status_code == 200, second.text
            assert second.json()["n"] == 1  # a cold start, in a runtime of its own
            assert env_of_request(served, second.json()["request_id"]) != number
            # The REPORT line follows the response the client reads: wait for it before the release.
            served.wait_for_line(rf"REPORT RequestId: {second.json()['request_id']}", timeout=30)
        finally:
            release.touch()
        # env #N was still shutting down when the second invoke was served: its extension left on the release.
        served.wait_for_line(rf"#{number} \[lingering\]\s+(released|deadline)", timeout=30)
        assert line_index(served, rf"#{number} \[lingering\]\s+released") > \
            line_index(served, rf"REPORT RequestId: {second.json()['request_id']}")
        assert "throttled" not in served.output()


def test_event_invokes_beyond_the_limit_are_accepted_and_every_one_runs_once(code_dir: Path) -> None:
    handler = write_function(code_dir)
    release = code_dir / "release"
    events = [f"event-{i}" for i in range(6)]
    with ServeProcess(handler, "--concurrency", "1", "--timeout", "30") as served:
        blocker = InFlight(served, {"tag": "blocker", "release": str(release)})
        wait_for_count(served, READY, 1)  # the only environment allowed is busy

        accepted = [invoke(served, {"tag": tag}, invocation_type="Event") for tag in events]
        assert [a.status_code for a in accepted] == [202] * len(events), [a.text for a in accepted]
        # The limit is in force while they wait: a synchronous invoke is throttled, and none of them has run.
        assert invoke(served, {"tag": "sync"}).status_code == 429
        assert not matches(served, RAN), served.output()

        release.touch()
        assert blocker.response().status_code == 200
        ran = wait_for_count(served, RAN, 1 + len(events))
        tags = [m.group(2) for m in ran]
        assert sorted(tags) == sorted(["blocker", *events]), tags  # each once: none lost, none twice
        assert {m.group(1) for m in ran} == {"1"}  # all on the one environment --concurrency 1 allows
        assert "sync" not in tags
        wait_for_count(served, REPORT, 1 + len(events))
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0, served.output()
        assert not matches(served, r"was not run"), served.output()
        assert len(matches(served, RAN)) == 1 + len(events)


def test_event_invokes_waiting_for_an_environment_still_run_when_serve_is_stopped(code_dir: Path) -> None:
    """SIGTERM while Event invokes wait in the fleet's queue: they run within --shutdown-grace, none dropped."""
    handler = write_function(code_dir)
    events = [f"late-{i}" for i in range(4)]
    with ServeProcess(handler, "--concurrency", "1", "--timeout", "30") as served:
        # 1 s each, so that the first's start is seen while the others still wait, however busy the machine.
        accepted = [invoke(served, {"tag": tag, "sleep": 1}, invocation_type="Event") for tag in events]
        assert [a.status_code for a in accepted] == [202] * len(events), [a.text for a in accepted]
        wait_for_count(served, READY, 1)  # the first runs; the others wait for the one environment
        assert len(matches(served, READY)) < len(events)
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0, served.output()
        output = served.output()
        tags = [m.group(2) for m in matches(served, RAN)]
        assert sorted(tags) == sorted(events), output
        assert not re.search(r"was not run", output), output


def test_a_throttle_carries_the_request_id_its_log_line_names(code_dir: Path) -> None:
    """A bug hunt: the 429 was the one Invoke API answer without x-amzn-RequestId (every AWS answer has one, boto3
    reads it into ResponseMetadata), while the log named the throttled invoke by an id the caller never saw."""
    handler = write_function(code_dir)
    release = code_dir / "release"
    with ServeProcess(handler, "--concurrency", "1", "--timeout", "30") as served:
        busy = InFlight(served, {"tag": "busy", "release": str(release)})
        wait_for_count(served, READY, 1)
        try:
            raw = invoke(served, {"tag": "raw"})
            assert raw.status_code == 429, raw.text
            with pytest.raises(lambda_client(served).exceptions.TooManyRequestsException) as caught:
                lambda_client(served).invoke(FunctionName="function", Payload=b"{}")
        finally:
            release.touch()
        assert busy.response().status_code == 200
        ids = [raw.headers.get("x-amzn-RequestId"), caught.value.response["ResponseMetadata"].get("RequestId")]
        assert all(ids) and ids[0] != ids[1], ids
        named = wait_for_count(served, r"Invoke (\S+) throttled: its one environment is busy", 2, timeout=5)
        assert [m.group(1) for m in named] == ids
