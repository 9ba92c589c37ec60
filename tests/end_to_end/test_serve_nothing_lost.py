"""Nothing `lambdatui serve` accepted is lost, and nothing it prints can stop it (issue 8, "Nothing lost").

* Event invokes answered 202 either run before the server stops (within its shutdown grace) or are named, by
  request id, on stderr: none vanishes at a SIGTERM.
* The Event queue is bounded as Lambda throttles: 429 TooManyRequestsException once 1,000 events wait, 413
  for an event larger than Lambda's 1 MB asynchronous payload limit.
* A caller that never reads serve's stderr cannot freeze it: log lines beyond a bounded buffer are dropped,
  counted, and the count said once the reader catches up.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from e2e_support import REPO, ServeProcess, lambdatui_argv, write_file
from free_ports import free_port

HTTP_TIMEOUT = 30.0
REQUEST_ID = "X-Amzn-RequestId"

# Prints its request id when it has run to the end: the line that proves an event ran.
SLOW_EVENT = '''import time


def handler(event, context):
    print("started", context.aws_request_id, flush=True)
    time.sleep(event.get("sleep", 0.2))
    print("ran", context.aws_request_id, flush=True)
    return {}
'''

CHATTY = '''def handler(event, context):
    for i in range(event.get("lines", 40)):
        print(f"{context.aws_request_id} line {i:03d} " + "x" * 1000)
    return {"ok": True}
'''


def send_events(served: ServeProcess, count: int, body: bytes = b"{}") -> list[str]:
    """`count` Event invokes, each answered 202: their request ids, in order."""
    ids = []
    with httpx.Client(timeout=HTTP_TIMEOUT) as client:
        for _ in range(count):
            answer = client.post(served.invoke_url(), content=body, headers={"X-Amz-Invocation-Type": "Event"})
            assert answer.status_code == 202, answer.text
            ids.append(answer.headers[REQUEST_ID])
    return ids


@pytest.mark.parametrize("grace", [None, "1"], ids=["default-grace", "grace-1s"])
def test_every_event_accepted_before_sigterm_runs_or_is_named(code_dir: Path, grace: str | None) -> None:
    handler = write_file(code_dir / "handler.py", SLOW_EVENT)
    extra = ("--shutdown-grace", grace) if grace is not None else ()
    # One environment (reserved concurrency 1): the events wait in the queue, one after the other.
    with ServeProcess(handler, "--concurrency", "1", *extra) as served:
        ids = send_events(served, 20)
        served.signal(signal.SIGTERM)
        assert served.wait(timeout=30) == 0, served.output()
        output = served.output()
    assert "Traceback" not in output, output
    ran = {rid for rid in ids if re.search(rf"\[function\]\s+ran {rid}$", output, re.M)}
    named = {rid for rid in ids if re.search(rf"\[lambdatui\]\s+Event invoke {rid} (was not run|did not finish)",
                                             output, re.M)}
    vanished = [rid for rid in ids if rid not in ran and rid not in named]
    assert not vanished, f"{len(vanished)} of 20 accepted events vanished without a line:\n{output}"
    if grace is None:
        # 20 events of 0.2 s fit in the default grace (10 s): all of them run before the server stops.
        assert ran == set(ids), output
        assert not named, output
    else:
        # 4 s of events cannot fit in 1 s: some are named, each once.
        assert named, output
        for rid in named & ran:  # printed its line, then the shutdown cut it before it answered
            assert re.search(rf"Event invoke {rid} did not finish", output), output
        for rid in named:
            assert len(re.findall(rf"Event invoke {rid} ", output)) == 1, output


def test_the_event_queue_is_bounded_as_lambda_throttles(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", SLOW_EVENT)
    with ServeProcess(handler, "--timeout", "120", "--concurrency", "1") as served:
        # The first event holds the only environment, so that every later one waits in the queue.
        (first,) = send_events(served, 1, b'{"sleep": 120}')
        served.wait_for_line(rf"started {first}")
        queued = send_events(served, 1000)
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            throttled = client.post(served.invoke_url(), content=b"{}", headers={"X-Amz-Invocation-Type": "Event"})
            too_large = client.post(served.invoke_url(), content=b'"' + b"x" * (1024 * 1024 - 1) + b'"',
                                    headers={"X-Amz-Invocation-Type": "Event"})
        assert throttled.status_code == 429, throttled.text
        assert throttled.headers["X-Amzn-ErrorType"] == "TooManyRequestsException"
        body = json.loads(throttled.content)
        assert body["Type"] == "User" and body["Reason"] and "1000 events" in body["message"], body
        assert too_large.status_code == 413, too_large.text
        assert too_large.headers["X-Amzn-ErrorType"] == "RequestEntityTooLargeException"
        size = 1024 * 1024 + 1
        assert json.loads(too_large.content)["message"] == (f"{size} byte payload is too large for the Event invocation "
                                                            "type (limit 1048576 bytes)")

        served.signal(signal.SIGTERM)
        served.wait_for_line(r"stopping: the Event invokes already accepted run first")
        served.signal(signal.SIGTERM)  # a second signal stops at once: every waiting event is named
        assert served.wait(timeout=30) == 0, served.output()
        output = served.output()
    named = set(re.findall(r"\[lambdatui\]\s+Event invoke (\S+) was not run", output))
    assert named == set(queued), f"{len(set(queued) - named)} queued events not named"
    assert re.search(rf"Event invoke {first} did not finish", output), output


def test_while_the_accepted_events_run_no_new_invoke_is_taken(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", SLOW_EVENT)
    with ServeProcess(handler, "--timeout", "120", "--concurrency", "1") as served:
        (first,) = send_events(served, 1, b'{"sleep": 120}')
        served.wait_for_line(rf"started {first}")
        served.signal(signal.SIGINT)
        served.wait_for_line(r"stopping: the Event invokes already accepted run first")
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            answers = [client.post(served.invoke_url(), content=b"{}", headers={"X-Amz-Invocation-Type": kind})
                       for kind in ("RequestResponse", "Event")]
        served.signal(signal.SIGINT)
        assert served.wait(timeout=30) == 0, served.output()
        output = served.output()
    for answer in answers:  # refused, said, and nothing started for them: env #1 holds the first event
        assert answer.status_code == 500 and answer.headers["X-Amzn-ErrorType"] == "ServiceException", answer.text
        assert "lambdatui is stopping: it takes no new invokes" in answer.text
        assert answer.json()["Type"] == "Service", answer.text  # Lambda's own failure, as AWS marks a 5xx
    # Each caller has the id the log names its invoke by (every AWS answer carries one).
    named = re.findall(r"[Ii]nvoke (\S+) refused: lambdatui is stopping", output)
    assert named == [answer.headers.get("X-Amzn-RequestId") for answer in answers], output
    assert "#2" not in output and output.count("INIT_START") == 1, output


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


def test_serve_keeps_answering_when_nobody_reads_its_stderr(code_dir: Path) -> None:
    """50 invokes printing 40 KB each (2 MB of log, 30 times a pipe's 64 KB) against a stderr never read."""
    handler = write_file(code_dir / "handler.py", CHATTY)
    port = free_port()
    proc = subprocess.Popen([*lambdatui_argv(), "serve", str(handler), "--port", str(port)], cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(port, proc)
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        started = time.monotonic()
        with httpx.Client(timeout=10.0) as client:
            for n in range(50):
                try:
                    answer = client.post(url, content=b'{"lines": 40}')
                except httpx.TimeoutException:
                    pytest.fail(f"invoke {n + 1} of 50 got no answer within 10 s: serve blocks on its unread stderr")
                assert answer.status_code == 200 and json.loads(answer.content) == {"ok": True}, answer.text
        elapsed = time.monotonic() - started
        assert elapsed < 60, f"50 invokes took {elapsed:.1f} s"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)  # only now is stderr read
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    text = err.decode("utf-8", "replace")
    notices = [int(n) for n in re.findall(r"^lambdatui: (\d+) log lines? dropped: stderr was not being read$", text, re.M)]
    assert notices, text[-3000:]
    kept = len(re.findall(r"\[function\]\s+\S+ line \d{3} x+$", text, re.M))
    assert 0 < kept < 50 * 40
    assert "Traceback" not in text
