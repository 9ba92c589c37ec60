"""Streamed responses as `serve --record` records them and `lambdatui replay` replays them (a bug hunt; lambda-spec
§1.8, §12; README "Streamed responses", "Function URLs" and "`lambdatui replay`"): real callers (boto3's
invoke_with_response_stream, raw sockets on the Invoke API, curl on a function URL) that read a stream whole, hang up
mid-stream or stop reading; parallel bursts; streams past 6 MB (paced at 2 MiB/s) and past 200 MB; hand-written
`streamed = { hung_up_after = N }`; `lambdatui invoke --record` of a streaming function.

README: a recording "writes what happened as a scenario that replays to the same outcome", and a caller that hung up
mid-stream is written `streamed = { hung_up_after = N }`, "its replay's caller hangs up after as many, so a stream past
6 MB reaches the session's outcome instead of timing out on the pacing". Every wait is bounded and on the event it
means; nothing sleeps.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import boto3
from botocore.config import Config

from e2e_support import RAW_RUNTIME_START, ServeProcess, run_cli, write_file

BOUND_S = 30.0
REPORT = r"\[platform\]\s+REPORT RequestId"
STREAM_PATH = b"/2021-11-15/functions/function/response-streaming-invocations"

# A custom runtime that streams every answer (Lambda-Runtime-Function-Response-Mode: streaming, chunked). Its options
# are the event's keys, or a function URL's query parameters: `kb` (how much, default 64), `chunk` (bytes a chunk,
# default 65536), `fail` (an error declared in the trailers after the body).
BOOTSTRAP = "#!PYTHON\n" + RAW_RUNTIME_START + r'''

sock = socket.create_connection((HOST, int(PORT)))
while True:
    sock.sendall(("GET %s/invocation/next HTTP/1.1\r\nHost: %s\r\n\r\n" % (P, API)).encode())
    _, headers, body = read_response(sock)
    rid = headers["lambda-runtime-aws-request-id"]
    event = json.loads(body or b"{}")
    url = isinstance(event, dict) and event.get("version") == "2.0"
    opts = (event.get("queryStringParameters") or {}) if url else event
    total = int(float(opts.get("kb", 64)) * 1024)
    size = int(opts.get("chunk", 65536))
    sock.sendall(("POST %s/invocation/%s/response HTTP/1.1\r\nHost: %s\r\n"
                  "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
                  "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
                  "Content-Type: text/plain\r\n\r\n" % (P, rid, API)).encode())
    sent = 0
    while sent < total:
        piece = b"x" * min(size, total - sent)
        sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sent += len(piece)
    if opts.get("fail"):
        error = json.dumps({"errorMessage": "failed mid-stream", "errorType": "Boom"}).encode()
        sock.sendall(b"0\r\nLambda-Runtime-Function-Error-Type: Function.Boom\r\n"
                     b"Lambda-Runtime-Function-Error-Body: " + base64.b64encode(error) + b"\r\n\r\n")
    else:
        sock.sendall(b"0\r\n\r\n")
    status, _, _ = read_response(sock)
    print("streamed %d bytes, answered %d" % (sent, status), flush=True)
'''


def streamer(folder: Path) -> Path:
    return write_file(folder / "bootstrap", BOOTSTRAP.replace("PYTHON", sys.executable, 1), executable=True)


def stream_request(address: str, payload: bytes, rcvbuf: int = 0) -> socket.socket:
    """InvokeWithResponseStream on a raw socket (its request sent, nothing read yet); `rcvbuf`: a small receive
    buffer, set before connecting, for a caller that stops reading."""
    host, _, port = address.rpartition(":")
    caller = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        caller.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    caller.settimeout(BOUND_S)
    caller.connect((host, int(port)))
    caller.sendall(b"POST %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                   % (STREAM_PATH, len(payload), payload))
    return caller


def read_until(caller: socket.socket, wanted: bytes) -> bytes:
    received = b""
    while wanted not in received:
        more = caller.recv(65536)
        assert more, received[:300]
        received += more
    return received


def read_to_end(caller: socket.socket) -> bytes:
    received = b""
    while True:
        more = caller.recv(1 << 20)
        if not more:
            return received
        received += more


def stopped(served: ServeProcess) -> None:
    """SIGINT: `serve` writes its recording and exits 0."""
    served.signal(signal.SIGINT)
    assert served.wait(timeout=BOUND_S) == 0, served.output()


def replayed(bootstrap: Path, scenario: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("replay", str(bootstrap), str(scenario), timeout=BOUND_S * 2)


def lambda_client(served: ServeProcess):
    return boto3.client("lambda", endpoint_url=served.base_url, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}, read_timeout=BOUND_S))


# ---------------------------------------------------------------------- recorded and replayed: right today


def test_one_sessions_streams_read_whole_left_and_failed_replay_to_their_outcomes(code_dir: Path) -> None:
    """9 MiB streams with a 1 s timeout: boto3 reading one chunk then closing, curl on the function URL piped to
    `head -c 1000`, and boto3 reading all (paced past 6 MB: it times out); then a stream ending in an error trailer.
    The recording says who hung up; the replay meets every outcome."""
    bootstrap = streamer(code_dir)
    recording = code_dir / "served.toml"
    with ServeProcess(bootstrap, "--timeout", "1", "--record", str(recording), "--url-port", "0") as served:
        url = served.function_url_address()
        client = lambda_client(served)
        left = client.invoke_with_response_stream(FunctionName="function", Payload=b'{"kb": 9216}')
        assert "PayloadChunk" in next(iter(left["EventStream"]))
        left["EventStream"].close()
        served.wait_for_lines(REPORT, 1, timeout=BOUND_S)
        curl = subprocess.run(f"curl -s -N 'http://{url}/?kb=9216' | head -c 1000 | wc -c", shell=True,
                              capture_output=True, text=True, timeout=BOUND_S)
        assert curl.stdout.strip() == "1000", curl
        served.wait_for_lines(REPORT, 2, timeout=BOUND_S)
        stayed = client.invoke_with_response_stream(FunctionName="function", Payload=b'{"kb": 9216}')
        events = list(stayed["EventStream"])
        assert events[-1]["InvokeComplete"].get("ErrorCode") == "Sandbox.Timedout", events[-1]
        failed = client.invoke_with_response_stream(FunctionName="function", Payload=b'{"kb": 8, "fail": 1}')
        assert list(failed["EventStream"])[-1]["InvokeComplete"].get("ErrorCode"), "no error"
        served.wait_for_lines(REPORT, 4, timeout=BOUND_S)
        reports = [line for line in served.output().splitlines() if re.search(REPORT, line)]
        assert ["Status: timeout" in line for line in reports] == [False, False, True, False], served.output()
        stopped(served)
    text = recording.read_text()
    hung_up = [int(n) for n in re.findall(r"streamed = \{ hung_up_after = (\d+) \}", text)]
    assert len(hung_up) == 2 and all(0 < n < 9437184 for n in hung_up), text
    assert text.count("streamed = true") == 2 and text.count("error_type = 'Sandbox.Timedout'") == 1, text
    replay = replayed(bootstrap, recording)
    assert replay.returncode == 0, text + replay.stdout + replay.stderr
    outcomes = re.findall(r"outcome\s+(\S+)", replay.stdout)
    assert outcomes == ["success", "success", "TIMEOUT", "ERROR"], replay.stdout


def test_a_parallel_burst_of_streams_records_each_caller_and_replays(code_dir: Path) -> None:
    """Three streamed invokes at once (one caller reads 9 MiB whole and times out on the pacing, one hangs up after
    its first event, one reads a small stream): one `parallel` step, `streams = [...]` saying which caller left."""
    bootstrap = streamer(code_dir)
    recording = code_dir / "served.toml"
    together = threading.Barrier(3)
    got: dict[str, int] = {}

    def call(name: str, address: str, payload: bytes, whole: bool) -> None:
        together.wait(BOUND_S)
        with stream_request(address, payload) as caller:
            got[name] = len(read_to_end(caller) if whole else read_until(caller, b"PayloadChunk"))

    with ServeProcess(bootstrap, "--timeout", "1", "--record", str(recording)) as served:
        threads = [threading.Thread(target=call, args=args) for args in (
            ("stays", served.address, b'{"kb": 9216}', True), ("leaves", served.address, b'{"kb": 9216}', False),
            ("small", served.address, b'{"kb": 16}', True))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BOUND_S)
        assert sorted(got) == ["leaves", "small", "stays"], got
        served.wait_for_lines(REPORT, 3, timeout=BOUND_S)
        stopped(served)
    text = recording.read_text()
    # One `parallel` step with `streams = [...]` when the three overlapped in the session; on a loaded machine one may
    # come after the others, as a step of its own: the recording says which caller left either way.
    assert text.count("hung_up_after") == 1, text
    assert text.count("error_type = 'Sandbox.Timedout'") == 1, text
    replay = replayed(bootstrap, recording)
    assert replay.returncode == 0, text + replay.stdout + replay.stderr


def test_a_caller_gone_before_a_stream_past_200_mb_replays_its_size_error(code_dir: Path) -> None:
    """Past its caller the stream goes unpaced and is dropped, but 200 MB is still its limit: the session's
    Function.ResponseSizeTooLarge is recorded with the hang-up, and the replay meets it."""
    bootstrap = streamer(code_dir)
    recording = code_dir / "served.toml"
    with ServeProcess(bootstrap, "--timeout", "10", "--record", str(recording)) as served:
        with stream_request(served.address, b'{"kb": 206848, "chunk": 1048576}') as caller:
            read_until(caller, b"PayloadChunk")
        served.wait_for_line(r"streamed 211812352 bytes, answered 413", timeout=BOUND_S)
        stopped(served)
    text = recording.read_text()
    assert "hung_up_after" in text and "error_type = 'Function.ResponseSizeTooLarge'" in text, text
    replay = replayed(bootstrap, recording)
    assert replay.returncode == 0, text + replay.stdout + replay.stderr


def test_hand_written_hung_up_after_zero_and_past_the_end(code_dir: Path) -> None:
    """`{ hung_up_after = 0 }`: the caller takes nothing, a 9 MiB stream goes unpaced and succeeds within 1 s;
    a count past the stream's end is a caller that stayed: paced, it times out."""
    bootstrap = streamer(code_dir)
    scenario = write_file(code_dir / "hand.toml", """[function]
timeout = 1

[[step]]
invoke = '{"kb": 9216}'
streamed = { hung_up_after = 0 }
expect = { succeeded = true }

[[step]]
invoke = '{"kb": 9216}'
streamed = { hung_up_after = 100000000 }
expect = { error_type = "Sandbox.Timedout" }
""")
    replay = replayed(bootstrap, scenario)
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_invoke_record_of_a_streaming_function_is_a_buffered_caller(code_dir: Path) -> None:
    """`lambdatui invoke` is a plain Invoke: a 7 MiB stream fails at 6 MB (exit 1); its recording is no streamed
    caller, and replays to the same error."""
    bootstrap = streamer(code_dir)
    recording = code_dir / "invoked.toml"
    invoked = run_cli("invoke", str(bootstrap), "-e", '{"kb": 7168}', "--record", str(recording))
    assert invoked.returncode == 1, invoked.stdout + invoked.stderr
    assert "Function.ResponseSizeTooLarge" in invoked.stdout, invoked.stdout[:500]
    text = recording.read_text()
    assert "streamed" not in text and "error_type = 'Function.ResponseSizeTooLarge'" in text, text
    replay = replayed(bootstrap, recording)
    assert replay.returncode == 0, text + replay.stdout + replay.stderr


# ---------------------------------------------------------------------- bugs (strict xfails)


def test_a_caller_that_stops_reading_replays_to_the_sessions_outcome(code_dir: Path) -> None:
    """A 5.75 MiB stream (under 6 MB: never paced) with a 1 s timeout, to a caller with a small receive buffer that
    reads nothing until the invoke has ended: lambdatui's stream holds the runtime back behind a slow caller
    (host/response_stream.py: "A caller that reads slowly slows the runtime down"), so the session times out. The
    recording wrote `streamed = true` and `error_type = 'Sandbox.Timedout'`; the replay's caller read at once, the
    invoke succeeded in a few ms, and the replay failed (exit 1). Now it writes `streamed = { stopped_reading_after =
    N }`, and the replay's caller reads no more after as many bytes."""
    bootstrap = streamer(code_dir)
    recording = code_dir / "served.toml"
    with ServeProcess(bootstrap, "--timeout", "1", "--record", str(recording)) as served:
        with stream_request(served.address, b'{"kb": 5888}', rcvbuf=4096) as caller:
            report = served.wait_for_line(REPORT + r".*", timeout=BOUND_S).group(0)
            assert "Status: timeout" in report, served.output()  # the session: held back by its caller, timed out
            assert b"Sandbox.Timedout" in read_to_end(caller)  # which its caller was told in InvokeComplete
        stopped(served)
    text = recording.read_text()
    assert re.search(r"streamed = \{ stopped_reading_after = \d+ \}", text), text  # it read no more: fixed in session 60
    assert "error_type = 'Sandbox.Timedout'" in text, text
    replay = replayed(bootstrap, recording)
    assert replay.returncode == 0, text + replay.stdout + replay.stderr


def bad_scenario(folder: Path, streamed: str, extra: str = "") -> Path:
    return write_file(folder / "bad.toml", f"[[step]]\ninvoke = '{{\"kb\": 8}}'\n{extra}streamed = {streamed}\n")


def test_a_bad_streamed_value_names_the_hung_up_after_syntax_as_written(code_dir: Path) -> None:
    bootstrap = streamer(code_dir)
    replay = replayed(bootstrap, bad_scenario(code_dir, "-1"))
    assert replay.returncode == 2, replay.stdout + replay.stderr
    message = replay.stderr.partition(": step 1: ")[2]  # past the file's path, which names the test
    assert message.startswith("streamed = -1: give true") and "{ hung_up_after = N }" in message, replay.stderr
    assert "{{" not in message, replay.stderr


def test_a_bad_hung_up_after_is_refused_with_the_syntax(code_dir: Path) -> None:
    """A negative count, a string, a bool or an extra key: exit 2, naming the line and the syntax (right today)."""
    bootstrap = streamer(code_dir)
    for value in ("{ hung_up_after = -1 }", '{ hung_up_after = "5" }', "{ hung_up_after = true }",
                  "{ hung_up_after = 1, after = 2 }", "{}"):
        replay = replayed(bootstrap, bad_scenario(code_dir, value))
        assert replay.returncode == 2, value + replay.stdout + replay.stderr
        assert "bad.toml:1: step 1: streamed = " in replay.stderr, value + replay.stderr
        message = replay.stderr.partition(": step 1: ")[2]
        assert "give { hung_up_after = N }" in message and "Traceback" not in replay.stderr, replay.stderr


def test_an_event_invoke_with_hung_up_after_is_refused_quoting_what_the_file_says(code_dir: Path) -> None:
    bootstrap = streamer(code_dir)
    scenario = bad_scenario(code_dir, "{ hung_up_after = 5 }", extra='invocation_type = "Event"\n')
    replay = replayed(bootstrap, scenario)
    assert replay.returncode == 2, replay.stdout + replay.stderr
    message = replay.stderr.partition(": step 1: ")[2]  # past the file's path, which names the test
    assert "Event" in message and "hung_up_after" in message, replay.stderr
    assert "streamed = true" not in message, replay.stderr
