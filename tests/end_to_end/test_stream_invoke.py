"""InvokeWithResponseStream through `lambdatui serve` (lambda-spec §12.2), with boto3 and raw HTTP.

The streaming sample (sample_functions/stream/bootstrap, a custom runtime) sends its chunks one by one; with
`{"gate": FILE}` it holds its stream after chunk 0 until FILE exists. The tests create FILE only once boto3 has
handed them chunk 0: chunk 0 reached the caller while the runtime was provably still running. Every wait is on
the event it means (a chunk, a line of serve's output) and carries a bound; nothing sleeps.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError

from e2e_support import SAMPLES, ServeProcess, write_file
from test_fleet_support import matches, wait_for_count

STREAM = SAMPLES / "stream" / "bootstrap"
HTTP_TIMEOUT = 30.0
REPORT = r"\[platform\]\s+REPORT RequestId: ([0-9a-f-]+)"

PLAIN_HANDLER = '''import time


def handler(event, context):
    print("handler saw", event.get("say", "-"), flush=True)
    if event.get("fail"):
        raise ValueError("boom: " + event["fail"])
    time.sleep(event.get("sleep", 0))
    cc = context.client_context
    return {"say": event.get("say"), "custom": cc.custom if cc is not None else None}
'''


def lambda_client(served: ServeProcess):
    return boto3.client(
        "lambda", endpoint_url=served.base_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 0}, read_timeout=HTTP_TIMEOUT, connect_timeout=5),
    )


def stream_url(served: ServeProcess, name: str = "stream") -> str:
    return f"{served.base_url}/2021-11-15/functions/{name}/response-streaming-invocations"


def chunk(text: str) -> dict:
    return {"PayloadChunk": {"Payload": text.encode()}}


def test_chunks_reach_the_caller_while_the_runtime_is_still_streaming(code_dir: Path) -> None:
    gate = code_dir / "gate"
    with ServeProcess(STREAM, "--timeout", "30") as served:
        response = lambda_client(served).invoke_with_response_stream(
            FunctionName="stream", Payload=json.dumps({"chunks": 3, "pause_ms": 0, "gate": str(gate)}).encode())
        assert response["StatusCode"] == 200
        assert response["ExecutedVersion"] == "$LATEST"
        # botocore reads ResponseStreamContentType from Content-Type, which is the event stream's, as Lambda's is.
        assert response["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
        assert response["ResponseMetadata"]["HTTPHeaders"]["transfer-encoding"] == "chunked"
        events = iter(response["EventStream"])

        assert next(events) == chunk("chunk 0\n")
        # The runtime waits for the gate, which does not exist yet: it has sent nothing more, and not ended.
        assert not gate.exists()
        assert not matches(served, r"\[function\]\s+(gate open|sent chunk 1)"), served.output()
        assert not matches(served, REPORT), served.output()

        gate.touch()
        assert list(events) == [chunk("chunk 1\n"), chunk("chunk 2\n"), {"InvokeComplete": {}}]
        request_id = response["ResponseMetadata"]["RequestId"]
        served.wait_for_line(rf"REPORT RequestId: {request_id}\b", timeout=HTTP_TIMEOUT)
        lines = served.output().splitlines()
        order = [next(i for i, line in enumerate(lines) if text in line)
                 for text in ("sent chunk 0", "gate open", "sent chunk 1", "sent chunk 2")]
        assert order == sorted(order), lines


def test_a_mid_stream_error_reaches_invoke_complete(code_dir: Path) -> None:
    with ServeProcess(STREAM, "--timeout", "30") as served:
        client = lambda_client(served)
        response = client.invoke_with_response_stream(
            FunctionName="stream", Payload=json.dumps({"chunks": 5, "fail_after": 2, "pause_ms": 0}).encode())
        assert response["StatusCode"] == 200  # the failure is in the stream, not in the status
        events = list(response["EventStream"])
        assert events[:2] == [chunk("chunk 0\n"), chunk("chunk 1\n")]
        complete = events[2]["InvokeComplete"]
        assert len(events) == 3
        assert set(complete) == {"ErrorCode", "ErrorDetails"}  # no LogResult without Tail
        assert complete["ErrorCode"] == "StreamFailed"
        assert json.loads(complete["ErrorDetails"]) == {"errorMessage": "failed after 2 chunks",
                                                       "errorType": "StreamFailed"}

        # The environment goes on: the next streaming invoke is whole.
        again = client.invoke_with_response_stream(FunctionName="stream",
                                                   Payload=json.dumps({"chunks": 2, "pause_ms": 0}).encode())
        assert list(again["EventStream"]) == [chunk("chunk 0\n"), chunk("chunk 1\n"), {"InvokeComplete": {}}]


def test_a_timeout_after_the_stream_began_ends_it_with_the_timeout(code_dir: Path) -> None:
    gate = code_dir / "never"  # never created: the runtime is held until its timeout
    with ServeProcess(STREAM, "--timeout", "1") as served:
        response = lambda_client(served).invoke_with_response_stream(
            FunctionName="stream", Payload=json.dumps({"chunks": 3, "gate": str(gate)}).encode())
        events = list(response["EventStream"])
        assert events[0] == chunk("chunk 0\n")
        assert len(events) == 2, events  # what was streamed, then the end: the error is not sent as data
        complete = events[1]["InvokeComplete"]
        assert complete["ErrorCode"] == "Sandbox.Timedout", complete
        assert "Task timed out after 1.00 seconds" in json.loads(complete["ErrorDetails"])["errorMessage"]


def test_a_function_that_does_not_stream_answers_in_one_chunk(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", PLAIN_HANDLER)
    with ServeProcess(handler, "--timeout", "1") as served:
        client = lambda_client(served)
        context = base64.b64encode(json.dumps({"custom": {"who": "tester"}}).encode()).decode()
        response = client.invoke_with_response_stream(
            FunctionName="handler", Payload=json.dumps({"say": "hi"}).encode(), ClientContext=context)
        assert response["StatusCode"] == 200
        events = list(response["EventStream"])
        assert len(events) == 2, events
        assert json.loads(events[0]["PayloadChunk"]["Payload"]) == {"say": "hi", "custom": {"who": "tester"}}
        assert events[1] == {"InvokeComplete": {}}

        # A function error: the error document is the payload, and InvokeComplete says it failed.
        failed = client.invoke_with_response_stream(FunctionName="handler",
                                                    Payload=json.dumps({"fail": "bad input"}).encode())
        assert failed["StatusCode"] == 200
        events = list(failed["EventStream"])
        assert len(events) == 2, events
        error = json.loads(events[0]["PayloadChunk"]["Payload"])
        assert error["errorType"] == "ValueError" and error["errorMessage"] == "boom: bad input"
        complete = events[1]["InvokeComplete"]
        assert complete["ErrorCode"] == "ValueError"
        assert json.loads(complete["ErrorDetails"]) == error

        # A timeout: Lambda's timeout error, the same way.
        timed_out = client.invoke_with_response_stream(FunctionName="handler",
                                                       Payload=json.dumps({"sleep": 5}).encode())
        events = list(timed_out["EventStream"])
        assert json.loads(events[0]["PayloadChunk"]["Payload"])["errorType"] == "Sandbox.Timedout"
        assert events[1]["InvokeComplete"]["ErrorCode"] == "Sandbox.Timedout"


def test_log_result_with_tail(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", PLAIN_HANDLER)
    with ServeProcess(handler, "--timeout", "30") as served:
        client = lambda_client(served)
        response = client.invoke_with_response_stream(FunctionName="handler", LogType="Tail",
                                                      Payload=json.dumps({"say": "tail-me"}).encode())
        events = list(response["EventStream"])
        complete = events[-1]["InvokeComplete"]
        assert set(complete) == {"LogResult"}
        log = base64.b64decode(complete["LogResult"]).decode()
        request_id = response["ResponseMetadata"]["RequestId"]
        assert f"START RequestId: {request_id}" in log
        assert "handler saw tail-me" in log
        assert f"REPORT RequestId: {request_id}" in log

    with ServeProcess(STREAM, "--timeout", "30") as served:
        response = lambda_client(served).invoke_with_response_stream(
            FunctionName="stream", LogType="Tail", Payload=json.dumps({"chunks": 2, "fail_after": 1}).encode())
        complete = list(response["EventStream"])[-1]["InvokeComplete"]
        assert set(complete) == {"ErrorCode", "ErrorDetails", "LogResult"}
        assert "stream failed on purpose after 1 chunks" in base64.b64decode(complete["LogResult"]).decode()


def test_throttled_dry_run_and_refused_requests_are_plain_http_errors(code_dir: Path) -> None:
    gate = code_dir / "gate"
    with ServeProcess(STREAM, "--concurrency", "1", "--timeout", "30") as served:
        client = lambda_client(served)
        held = client.invoke_with_response_stream(
            FunctionName="stream", Payload=json.dumps({"chunks": 2, "pause_ms": 0, "gate": str(gate)}).encode())
        held_events = iter(held["EventStream"])
        assert next(held_events) == chunk("chunk 0\n")  # the only environment allowed is busy, held at the gate

        with pytest.raises(client.exceptions.TooManyRequestsException) as caught:
            client.invoke_with_response_stream(FunctionName="stream", Payload=b"{}")
        error = caught.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        raw = httpx.post(stream_url(served), content=b"{}", timeout=HTTP_TIMEOUT)
        assert raw.status_code == 429
        assert raw.headers["content-type"] == "application/json"  # no event stream began
        assert raw.headers["x-amzn-errortype"] == "TooManyRequestsException"

        # A DryRun runs nothing: 204, not throttled.
        dry = client.invoke_with_response_stream(FunctionName="stream", InvocationType="DryRun", Payload=b"{}")
        assert dry["StatusCode"] == 204
        assert list(dry["EventStream"]) == []

        # Requests Lambda refuses before running anything.
        refusals = [
            ({"InvocationType": "Event"}, 400, "InvalidParameterValueException"),
            ({"LogType": "Bogus"}, 400, "InvalidParameterValueException"),
            ({"Payload": b"{not json"}, 400, "InvalidRequestContentException"),
            ({"ClientContext": "not base64!"}, 400, "InvalidRequestContentException"),
            ({"Payload": b"{}" + b" " * 6_291_455}, 413, "RequestEntityTooLargeException"),  # past 6 MiB
        ]
        for options, status, code in refusals:
            with pytest.raises(ClientError) as refused:
                client.invoke_with_response_stream(FunctionName="stream", **{"Payload": b"{}", **options})
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == status, options
            assert refused.value.response["Error"]["Code"] == code, options

        gate.touch()
        assert list(held_events) == [chunk("chunk 1\n"), {"InvokeComplete": {}}]
        wait_for_count(served, REPORT, 1)
        after = client.invoke_with_response_stream(FunctionName="stream",
                                                   Payload=json.dumps({"chunks": 1}).encode())
        assert list(after["EventStream"]) == [chunk("chunk 0\n"), {"InvokeComplete": {}}]
        # Its stream can reach us before serve's console has printed its lines: its REPORT comes after its START.
        wait_for_count(served, REPORT, 2)
        assert len(matches(served, r"\[platform\]\s+START RequestId")) == 2, served.output()  # DryRun ran nothing


def test_a_caller_that_hangs_up_mid_stream_leaves_the_invoke_to_complete(code_dir: Path) -> None:
    gate = code_dir / "gate"
    with ServeProcess(STREAM, "--concurrency", "1", "--timeout", "30") as served:
        event = {"chunks": 4, "pause_ms": 0, "gate": str(gate)}
        with httpx.stream("POST", stream_url(served), content=json.dumps(event).encode(),
                          timeout=HTTP_TIMEOUT) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
            messages: list = []
            buffer = EventStreamBuffer()
            for data in response.iter_raw():
                buffer.add_data(data)
                messages.extend(buffer)
                if messages:
                    break
            assert messages[0].headers[":event-type"] == "PayloadChunk"
            assert messages[0].payload == b"chunk 0\n"
        # The caller is gone. The runtime goes on when let, and its invoke ends as any other.
        gate.touch()
        served.wait_for_line(r"\[function\]\s+sent chunk 3", timeout=HTTP_TIMEOUT)
        wait_for_count(served, REPORT, 1)
        after = lambda_client(served).invoke_with_response_stream(
            FunctionName="stream", Payload=json.dumps({"chunks": 2, "pause_ms": 0}).encode())
        assert list(after["EventStream"]) == [chunk("chunk 0\n"), chunk("chunk 1\n"), {"InvokeComplete": {}}]
        assert not matches(served, r"unhandled error|Traceback"), served.output()
