"""Record -> replay, checked by a bug hunt and kept as regressions.

A `serve --record` session whose boto3 and httpx callers meet every kind of outcome
replays to the same outcome, and a value a user edits in the recording fails the replay naming the step and the key.

README: "`serve --record FILE` ... writes what happened as a scenario that replays to the same outcome: every invoke,
whatever sent it". Each caller's answer here is checked first, so the recording describes a session known to be
right.
"""

from __future__ import annotations

import base64
import json
import re
import signal
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

from e2e_support import ServeProcess, run_cli, write_file

HANDLER = '''import os
import time

calls = 0


def handler(event, context):
    global calls
    calls += 1
    kind = event.get("kind")
    if kind == "crash":
        os._exit(3)
    if kind == "raise":
        raise ValueError("boom")
    if kind == "sleep":
        time.sleep(event["s"])
    if kind == "big":
        return {"calls": calls, "data": "x" * event["n"]}
    if kind == "str":
        return "plain %d" % calls
    if kind == "none":
        return None
    if kind == "list":
        return [calls, 1]
    cc = context.client_context
    return {"calls": calls, "kind": kind, "cc": cc.custom if cc else None, "arn": context.invoked_function_arn}
'''


def _client(served: ServeProcess):
    return boto3.client("lambda", endpoint_url=served.base_url, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}, read_timeout=30))


def _record_mixed_session(code_dir: Path) -> tuple[Path, Path]:
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = code_dir / "served.toml"
    with ServeProcess(handler, "--record", str(recording)) as served:
        lam = _client(served)

        def invoke(event: dict, **options) -> tuple[object, object]:
            answer = lam.invoke(FunctionName="fn", Payload=json.dumps(event).encode(), **options)
            return answer.get("FunctionError"), json.loads(answer["Payload"].read())

        assert invoke({"kind": "a"})[1]["calls"] == 1
        assert invoke({"kind": "b"})[1]["calls"] == 2
        error, body = invoke({"kind": "raise"})
        assert error == "Unhandled" and body["errorType"] == "ValueError", body
        assert invoke({"kind": "str"}) == (None, "plain 4")
        assert invoke({"kind": "none"}) == (None, None)
        assert invoke({"kind": "list"}) == (None, [6, 1])
        error, body = invoke({"kind": "crash"})
        assert error == "Unhandled" and body["errorType"] == "Runtime.ExitError", body
        error, body = invoke({"kind": "tail"}, LogType="Tail")  # cold again after the crash
        assert error is None and body["calls"] == 1, body
        error, body = invoke({"kind": "sleep", "s": 10})
        assert error == "Unhandled" and body["errorType"] == "Sandbox.Timedout", body
        context = base64.b64encode(json.dumps({"custom": {"tenant": "a"}}).encode()).decode()
        error, body = invoke({"kind": "ctx"}, ClientContext=context, Qualifier="prod")
        assert error is None and body["cc"] == {"tenant": "a"} and body["arn"].endswith(":prod"), body
        error, body = invoke({"kind": "big", "n": 200_000})
        assert error is None and len(body["data"]) == 200_000
        error, body = invoke({"kind": "big", "n": 7_000_000})
        assert error == "Unhandled" and body["errorType"] == "Function.ResponseSizeTooLarge", body
        with httpx.Client(timeout=30) as http:
            queued = http.post(served.invoke_url(), content=b'{"kind": "event"}',
                               headers={"X-Amz-Invocation-Type": "Event"})
            assert queued.status_code == 202
            dry = http.post(served.invoke_url(), content=b'{"kind": "dry"}',
                            headers={"X-Amz-Invocation-Type": "DryRun"})
            assert dry.status_code == 204
            refused = http.post(served.invoke_url(), content=b'{"kind":')
            assert refused.status_code == 400
        # The Event invoke runs once the environment the 7 MB answer reset is up again: the session ends after it
        # (a SIGINT before it would leave it queued, recorded as never run).
        served.wait_for_lines(r"REPORT RequestId: " + re.escape(queued.headers["x-amzn-RequestId"]), 1)
        served.signal(signal.SIGINT)
        assert served.wait(timeout=30) == 0, served.output()
    return handler, recording


def test_a_served_session_of_every_outcome_replays_to_the_same_outcomes_and_an_edit_fails_it(code_dir: Path) -> None:
    handler, recording = _record_mixed_session(code_dir)
    text = recording.read_text()
    # The DryRun and the refused body never reached the function: no step of theirs.
    assert '"kind": "dry"' not in text and text.count("[[step]]") == 13, text[:3000]
    assert "invocation_type = 'Event'" in text and "qualifier = 'prod'" in text, text[:3000]

    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, replayed.stdout[-4000:] + replayed.stderr[-2000:]
    outcomes = re.findall(r"^\s*(?:#\d+\s+)?outcome\s+(\S+(?: \S+)?)", replayed.stdout, re.M)
    assert [o.split(":")[0] for o in outcomes] == [
        "success", "success", "ERROR ValueError", "success", "success", "success", "ERROR Runtime.ExitError",
        "success", "TIMEOUT Sandbox.Timedout", "success", "success", "ERROR Function.ResponseSizeTooLarge",
        "success"], replayed.stdout[-4000:]
    assert "PASSED" in replayed.stdout.splitlines()[-1], replayed.stdout[-500:]

    # A user changes one expected value: the replay fails, naming the step, its line and the key.
    edited = recording.with_name("edited.toml")
    edited.write_text(text.replace("'\"plain 4\"'", "'\"plain 5\"'", 1))
    assert edited.read_text() != text
    failed = run_cli("replay", str(handler), str(edited))
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr
    last = failed.stdout.strip().splitlines()[-1]
    assert re.match(rf"FAILED {re.escape(str(edited))}:\d+: step 4 expect.response failed", last), last
    assert 'response: expected "plain 5", got "plain 4"' in failed.stdout, failed.stdout[-3000:]
