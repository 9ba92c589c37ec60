"""A runtime's streamed /response (lambda-spec §1.8, §12.1), end to end: real processes, real HTTP.

The caller here is a plain (buffered) invoke, with boto3 or raw HTTP on `lambdatui serve`: Lambda keeps a streamed
response whole for it, up to the buffered 6 MB, and hands it the error a runtime declares in its trailers as a
function error. The runtimes are the streaming sample (sample_functions/stream/bootstrap) and tiny stdlib custom
runtimes written into the test's code folder, each reporting what the Runtime API answered it by printing it (serve
shows the function's output). The 200 MB limit of a streamed caller is tested in-process, lowered with monkeypatch,
through InvokeWithResponseStream. Every wait is bounded and on the event it means; nothing sleeps.
"""

from __future__ import annotations

import http.client
import json
import signal
import stat
import sys
import time
from pathlib import Path

import boto3
import pytest
import trio
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer

from e2e_support import SAMPLES, ServeProcess, run_cli
from lambdatui.api import runtime_stream
from lambdatui.config import resolve_function
from lambdatui.model import error_types as et
from lambdatui.runner import open_environment

STREAM = SAMPLES / "stream" / "bootstrap"
HTTP_TIMEOUT = 30.0
TIMEOUT_S = 30  # the function's: an answer well within it came from the runtime, not from a timeout

# Streams "first\n" once the server has taken the stream (its 100 Continue: the stream has begun), then calls
# /error on a connection of its own and prints the answer, then ends the stream with "second\n" and prints that
# answer too.
ERROR_AFTER_FIRST_BYTE = """#!{python}
import http.client, json, os, socket
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
PATH = "/2018-06-01/runtime/invocation/%s/%s"


def status_of(raw):
    head, _, body = raw.partition(b"\\r\\n\\r\\n")
    return head.split(b" ")[1].decode(), body.decode("latin-1")


def read_answer(sock):
    data = b""
    while b"\\r\\n\\r\\n" not in data or not data.rstrip().endswith(b"}}"):
        more = sock.recv(65536)
        if not more:
            break
        data += more
    return data


nexts = http.client.HTTPConnection(host, int(port))
while True:
    nexts.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = nexts.getresponse()
    answer.read()
    request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    stream = socket.create_connection((host, int(port)))
    stream.sendall(("POST " + PATH % (request_id, "response") + " HTTP/1.1\\r\\nHost: %s:%s\\r\\n"
                    "Lambda-Runtime-Function-Response-Mode: streaming\\r\\nTransfer-Encoding: chunked\\r\\n"
                    "Content-Type: text/plain\\r\\nExpect: 100-continue\\r\\n\\r\\n" % (host, port)).encode())
    went_on = stream.recv(65536)
    assert went_on.startswith(b"HTTP/1.1 100 "), went_on
    stream.sendall(b"6\\r\\nfirst\\n\\r\\n")
    errors = http.client.HTTPConnection(host, int(port))
    errors.request("POST", PATH % (request_id, "error"), body=json.dumps({{"errorMessage": "too late",
                   "errorType": "Late"}}), headers={{"Lambda-Runtime-Function-Error-Type": "Function.Late"}})
    refused = errors.getresponse()
    print("error answer:", refused.status, json.loads(refused.read())["errorType"], flush=True)
    errors.close()
    stream.sendall(b"7\\r\\nsecond\\n\\r\\n0\\r\\n\\r\\n")
    print("stream answer: %s %s" % status_of(read_answer(stream)), flush=True)
    stream.close()
"""

# Streams a first chunk, then hangs up in the middle of the chunked body (half-closed, so the socket still belongs
# to this process until the server closes its side); then asks for the next event on a new connection, as a runtime
# that survives a broken socket would, and answers that one normally.
HANGS_UP_MID_STREAM = """#!{python}
import http.client, json, os, socket
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
invokes = 0
while True:
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = conn.getresponse()
    answer.read()
    conn.close()
    request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    invokes += 1
    raw = socket.create_connection((host, int(port)))
    path = "/2018-06-01/runtime/invocation/%s/response" % request_id
    head = ("POST %s HTTP/1.1\\r\\nHost: %s:%s\\r\\nLambda-Runtime-Function-Response-Mode: streaming\\r\\n"
            "Transfer-Encoding: chunked\\r\\nContent-Type: text/plain\\r\\n\\r\\n" % (path, host, port))
    if invokes == 1:
        raw.sendall(head.encode() + b"6\\r\\nfirst\\n\\r\\n")
        raw.shutdown(socket.SHUT_WR)
        while raw.recv(65536):
            pass
        raw.close()
        continue
    text = json.dumps({{"invokes": invokes}}).encode()
    raw.sendall(head.encode() + b"%x\\r\\n%s\\r\\n0\\r\\n\\r\\n" % (len(text), text))
    raw.recv(65536)  # the 202 (the connection stays open: reading to its end would never ask for the next event)
    raw.close()
"""

# Streams {megabytes} MiB in 256 KiB chunks (the chunk number in each), then prints what the Runtime API answered.
STREAMS_MEGABYTES = """#!{python}
import http.client, os, socket
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
PIECE = 256 * 1024
nexts = http.client.HTTPConnection(host, int(port))
while True:
    nexts.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = nexts.getresponse()
    answer.read()
    request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    raw = socket.create_connection((host, int(port)))
    path = "/2018-06-01/runtime/invocation/%s/response" % request_id
    raw.sendall(("POST %s HTTP/1.1\\r\\nHost: %s:%s\\r\\nLambda-Runtime-Function-Response-Mode: streaming\\r\\n"
                 "Transfer-Encoding: chunked\\r\\nContent-Type: application/octet-stream\\r\\n\\r\\n"
                 % (path, host, port)).encode())
    for number in range({megabytes} * 4):
        piece = (b"%08d" % number) * (PIECE // 8)
        raw.sendall(b"%x\\r\\n%s\\r\\n" % (len(piece), piece))
    raw.sendall(b"0\\r\\n\\r\\n")
    data = b""
    while b"\\r\\n\\r\\n" not in data:
        more = raw.recv(65536)
        if not more:
            break
        data += more
    print("stream answer:", data.split(b"\\r\\n", 1)[0].decode(), flush=True)
    raw.close()
"""


def runtime(code_dir: Path, text: str, **values: object) -> Path:
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(text.format(python=sys.executable, **values))
    bootstrap.chmod(bootstrap.stat().st_mode | stat.S_IXUSR)
    return bootstrap


def lambda_client(served: ServeProcess):
    return boto3.client(
        "lambda", endpoint_url=served.base_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 0}, read_timeout=HTTP_TIMEOUT, connect_timeout=5),
    )


def plain_invoke(address: str, event: bytes = b"{}") -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP invoke: (status, headers with lower-case names, body)."""
    host, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
    try:
        connection.request("POST", "/2015-03-31/functions/function/invocations", event)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# ---------------------------------------------------------------------- the streaming sample, buffered caller


def test_a_streamed_response_reaches_a_plain_invoke_whole(code_dir: Path) -> None:
    with ServeProcess(STREAM, "--timeout", str(TIMEOUT_S)) as served:
        response = lambda_client(served).invoke(
            FunctionName="function", Payload=json.dumps({"chunks": 4, "pause_ms": 20}).encode())
        assert response["StatusCode"] == 200 and "FunctionError" not in response
        assert response["Payload"].read() == b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n"
        assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "text/plain"  # the runtime's
        served.wait_for_line(r"REPORT RequestId: ", timeout=HTTP_TIMEOUT)
        # Raw HTTP too, and the environment is warm and reused.
        status, headers, body = plain_invoke(served.address, b'{"chunks": 2, "pause_ms": 0}')
        assert (status, body) == (200, b"chunk 0\nchunk 1\n") and "x-amz-function-error" not in headers
        assert served.output().count("INIT_START") == 1


def test_the_trailers_error_reaches_a_plain_invoke_as_an_unhandled_function_error(code_dir: Path) -> None:
    with ServeProcess(STREAM, "--timeout", str(TIMEOUT_S)) as served:
        response = lambda_client(served).invoke(
            FunctionName="function", Payload=json.dumps({"chunks": 5, "fail_after": 2, "pause_ms": 0}).encode())
        assert response["StatusCode"] == 200
        assert response["FunctionError"] == "Unhandled"
        # The error its trailers carried (base64 there), decoded: not the two chunks sent before it.
        assert json.loads(response["Payload"].read()) == {"errorMessage": "failed after 2 chunks",
                                                         "errorType": "StreamFailed"}
        served.wait_for_line(r"\[function\]\s+stream failed on purpose after 2 chunks", timeout=HTTP_TIMEOUT)
        # The runtime's stream was taken (202) and the environment goes on.
        status, headers, body = plain_invoke(served.address, b'{"chunks": 1}')
        assert (status, body) == (200, b"chunk 0\n") and "x-amz-function-error" not in headers
        assert "the Runtime API refused the stream" not in served.output()


# ---------------------------------------------------------------------- runtimes that break the rules


def test_error_after_the_stream_began_is_refused_403_and_the_stream_goes_on(code_dir: Path) -> None:
    bootstrap = runtime(code_dir, ERROR_AFTER_FIRST_BYTE)
    with ServeProcess(bootstrap, "--timeout", str(TIMEOUT_S)) as served:
        status, headers, body = plain_invoke(served.address)
        assert (status, body) == (200, b"first\nsecond\n"), (body, served.output())
        assert "x-amz-function-error" not in headers
        served.wait_for_line(r"\[function\]\s+error answer: 403 InvalidStateTransition", timeout=HTTP_TIMEOUT)
        served.wait_for_line(r"\[function\]\s+stream answer: 202 ", timeout=HTTP_TIMEOUT)


def test_a_runtime_that_hangs_up_mid_stream_is_a_truncated_response(code_dir: Path) -> None:
    bootstrap = runtime(code_dir, HANGS_UP_MID_STREAM)
    with ServeProcess(bootstrap, "--timeout", str(TIMEOUT_S)) as served:
        started = time.monotonic()
        response = lambda_client(served).invoke(FunctionName="function", Payload=b"{}")
        assert time.monotonic() - started < TIMEOUT_S / 2, "answered by the timeout, not by the hang-up"
        assert response["FunctionError"] == "Unhandled"
        error = json.loads(response["Payload"].read())
        assert error["errorType"] == et.RUNTIME_TRUNCATED_RESPONSE, error
        # The runtime lives on: its next stream is whole, from the same process (no re-Init).
        second = lambda_client(served).invoke(FunctionName="function", Payload=b"{}")
        assert "FunctionError" not in second and json.loads(second["Payload"].read()) == {"invokes": 2}
        assert served.output().count("INIT_START") == 1


def test_a_stream_past_a_buffered_callers_6_mb_is_too_large(code_dir: Path) -> None:
    bootstrap = runtime(code_dir, STREAMS_MEGABYTES, megabytes=7)
    with ServeProcess(bootstrap, "--timeout", str(TIMEOUT_S)) as served:
        response = lambda_client(served).invoke(FunctionName="function", Payload=b"{}")
        assert response["FunctionError"] == "Unhandled"
        error = json.loads(response["Payload"].read())
        assert error["errorType"] == et.FUNCTION_RESPONSE_SIZE_TOO_LARGE, error
        assert str(et.MAX_RESPONSE_BYTES) in error["errorMessage"]
        served.wait_for_line(r"\[function\]\s+stream answer: HTTP/1.1 413 ", timeout=HTTP_TIMEOUT)


def test_a_recorded_streamed_invoke_replays_as_a_stream_and_its_success_is_expected(code_dir: Path) -> None:
    """7 MB streamed to InvokeWithResponseStream succeeds; `serve --record` writes it as a streamed invoke that must
    succeed, so a replay takes it as a stream too (a buffered caller's 6 MB would fail it), and a replay that no longer
    succeeds fails."""
    bootstrap = runtime(code_dir, STREAMS_MEGABYTES, megabytes=7)
    recording = code_dir / "streamed.toml"
    with ServeProcess(bootstrap, "--timeout", str(TIMEOUT_S), "--record", str(recording)) as served:
        status, messages, _ = invoke_with_response_stream(served.address)
        assert status == 200 and messages[-1] == ("InvokeComplete", b"{}"), messages[-1:]
        assert sum(len(payload) for kind, payload in messages if kind == "PayloadChunk") == 7 << 20
        served.signal(signal.SIGINT)
        assert served.wait(timeout=HTTP_TIMEOUT) == 0, served.output()
    text = recording.read_text()
    assert "streamed = true" in text and "succeeded = true" in text, text
    assert f"# response not compared: it was streamed to its caller ({7 << 20:,} bytes)" in text, text
    replayed = run_cli("replay", str(bootstrap), str(recording), timeout=HTTP_TIMEOUT * 2)
    assert replayed.returncode == 0, text + replayed.stdout + replayed.stderr
    assert et.FUNCTION_RESPONSE_SIZE_TOO_LARGE not in replayed.stdout, replayed.stdout

    # Taken buffered, the same invoke fails (past 6 MB): the expectation says so.
    buffered = code_dir / "buffered.toml"
    buffered.write_text(text.replace("streamed = true\n", ""))
    failed = run_cli("replay", str(bootstrap), str(buffered), timeout=HTTP_TIMEOUT * 2)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "step 1 expect.succeeded failed" in failed.stdout, failed.stdout
    assert f"actual     failed with {et.FUNCTION_RESPONSE_SIZE_TOO_LARGE}" in failed.stdout, failed.stdout


# ---------------------------------------------------------------------- a streaming caller's limit, lowered


def invoke_with_response_stream(address: str) -> tuple[int, list[tuple[str, bytes]], float]:
    """InvokeWithResponseStream, read to its end: (status, (event type, payload) of each message, seconds)."""
    host, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
    started = time.monotonic()
    try:
        connection.request("POST", "/2021-11-15/functions/function/response-streaming-invocations", b"{}")
        response = connection.getresponse()
        buffer = EventStreamBuffer()
        buffer.add_data(response.read())
        messages = [(message.headers[":event-type"], message.payload) for message in buffer]
        return response.status, messages, time.monotonic() - started
    finally:
        connection.close()


@pytest.mark.trio
async def test_a_streaming_callers_limit_cuts_the_stream_and_the_bandwidth_is_paced_past_full_speed(
        code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """200 MB and 6 MB at full speed in Lambda; here 3 MiB and 1 MiB, then 8 MiB/s: the 2 MiB after full speed take
    at least a quarter of a second to reach the caller, and what came past 3 MiB is dropped."""
    limit, full_speed, rate = 3 * 1024 * 1024, 1024 * 1024, 8 * 1024 * 1024
    monkeypatch.setattr(et, "MAX_STREAMED_RESPONSE_BYTES", limit)
    monkeypatch.setattr(runtime_stream, "FULL_SPEED_BYTES", full_speed)
    monkeypatch.setattr(runtime_stream, "PACED_BYTES_PER_S", rate)
    bootstrap = runtime(code_dir, STREAMS_MEGABYTES, megabytes=4)
    with trio.fail_after(TIMEOUT_S * 2):
        async with open_environment(resolve_function(str(bootstrap), timeout_s=TIMEOUT_S), invoke_port=0) as running:
            assert running.invoke_api is not None
            status, messages, seconds = await trio.to_thread.run_sync(invoke_with_response_stream,
                                                                       running.invoke_api)
    assert status == 200
    *chunks, (last_type, last_payload) = messages
    assert {kind for kind, _ in chunks} == {"PayloadChunk"}
    streamed = b"".join(payload for _, payload in chunks)
    assert len(streamed) == limit and streamed.startswith(b"00000000") and streamed.endswith(b"%08d" % 11)
    assert last_type == "InvokeComplete"
    complete = json.loads(last_payload)
    assert complete["ErrorCode"] == et.FUNCTION_RESPONSE_SIZE_TOO_LARGE
    assert str(limit) in json.loads(complete["ErrorDetails"])["errorMessage"]
    assert seconds >= (limit - full_speed) / rate * 0.9  # paced (a lower bound: never flaky)
