"""Streamed responses and function URLs as a user drives them (a bug hunt; lambda-spec §1.8, §12; README "Streamed
responses" and "Function URLs"): real HTTP clients on `lambdatui serve --url-port`, a custom runtime (standard
library only) that streams through the Runtime API as Lambda's streaming protocol says, and `serve --record` of
that traffic replayed by `lambdatui replay`.

One `serve --record` session is shared by most tests (module fixture `session`): the requests it answered and the
scenario it wrote. Every wait is bounded and on the event it means; nothing sleeps.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import sys
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import httpx
import pytest
import trio
from botocore.eventstream import EventStreamBuffer

from e2e_support import RAW_RUNTIME_START, LogCollector, ServeProcess, run_cli, write_file
from lambdatui.config import resolve_function
from lambdatui.core import fleet_rules
from lambdatui.model import facts as f
from lambdatui.runner import open_environment

BOUND_S = 30.0  # a generous bound for what takes well under a second
REPORT = r"\[platform\]\s+REPORT RequestId"
SYNC_LIMIT = 6 * 1024 * 1024  # a synchronous invoke's event, a function URL's included (README, lambda-spec §4.11)

# A custom runtime that streams each answer (Lambda-Runtime-Function-Response-Mode: streaming, chunked). Its options
# are the event's keys, or a function URL's query parameters: `text` (the body), `html` (an http-integration-response:
# JSON prelude with `status`, 8 NUL bytes, then the body), `size` (the body says how many bytes the event had, as the
# runtime read it from /next), `fail` (an error declared in the trailers after the body), `hold` (a file: once its
# stream is answered, the runtime waits for it before its next /next, still at work on the invoke it answered).
STREAMER = "#!PYTHON\n" + RAW_RUNTIME_START + r'''import time
INTEGRATION = "application/vnd.awslambda.http-integration-response"

def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


sock = socket.create_connection((HOST, int(PORT)))
while True:
    sock.sendall(("GET %s/invocation/next HTTP/1.1\r\nHost: %s\r\n\r\n" % (P, API)).encode())
    _, headers, raw = read_response(sock)
    request_id = headers["lambda-runtime-aws-request-id"]
    event = json.loads(raw)
    if isinstance(event, dict) and event.get("version") == "2.0":  # a function URL's request
        options = event.get("queryStringParameters") or {}
    else:
        options = event
    body = (b"event %d bytes" % len(raw)) if options.get("size") else options.get("text", "chunk").encode()
    content_type = INTEGRATION if options.get("html") else "text/plain"
    sock.sendall(("POST %s/invocation/%s/response HTTP/1.1\r\nHost: %s\r\n"
                  "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Type: %s\r\n"
                  "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n"
                  % (P, request_id, API, content_type)).encode())
    if options.get("html"):
        prelude = {"statusCode": int(options.get("status", 200)), "headers": {"Content-Type": "text/html"},
                   "cookies": ["seen=1; Path=/"]}
        sock.sendall(chunk(json.dumps(prelude).encode() + b"\0" * 8))
    sock.sendall(chunk(body))
    if options.get("fail"):
        error = json.dumps({"errorMessage": "failed mid-stream", "errorType": "Boom"}).encode()
        sock.sendall(b"0\r\nLambda-Runtime-Function-Error-Type: Function.Boom\r\n"
                     b"Lambda-Runtime-Function-Error-Body: " + base64.b64encode(error) + b"\r\n\r\n")
    else:
        sock.sendall(b"0\r\n\r\n")
    status, _, _ = read_response(sock)
    print("streamed %d bytes, answered %d" % (len(body), status), flush=True)
    gate = options.get("hold")
    while gate and not os.path.exists(gate):
        time.sleep(0.005)
'''


def streamer(folder: Path) -> Path:
    return write_file(folder / "bootstrap", STREAMER.replace("PYTHON", sys.executable, 1), executable=True)


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class Session(NamedTuple):
    answers: dict[str, Answer]
    cut: str  # what the client said of the stream that failed midway
    event_bytes: int  # the near-limit request's event, as the runtime read it
    recording: Path
    function: Path


# Extra request fields: the spaces a re-serialised event gains grow with them (one after each ':' and ',').
EXTRA_FIELDS = {f"x-field-{i:02d}": "v" for i in range(20)}


def kept_alive(address: str, settle: Callable[[], None]) -> dict[str, Answer]:
    """HEAD, a 204 and a 304 of streamed answers (no body, no chunks), then a streamed body, on one connection:
    http.client reads each by its framing, so a stray byte would break the answer after it."""
    host, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=BOUND_S)
    answers: dict[str, Answer] = {}
    try:
        for name, method, target in (("head", "HEAD", "/head?html=1&text=hidden"),
                                     ("no_content", "GET", "/none?html=1&status=204&text=hidden"),
                                     ("not_modified", "GET", "/same?html=1&status=304&text=hidden"),
                                     ("after", "OPTIONS", "/after?text=after")):
            connection.request(method, target)
            response = connection.getresponse()
            answers[name] = Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                                   response.read())
            settle()
        assert connection.sock is not None, "the connection was not kept alive"
    finally:
        connection.close()
    return answers


@pytest.fixture(scope="module")
def session(module_code_dir: Path) -> Iterator[Session]:
    function = streamer(module_code_dir)
    recording = module_code_dir / "urls.toml"
    answers: dict[str, Answer] = {}
    with ServeProcess(function, "--timeout", "10", "--url-port", "0", "--record", str(recording)) as served:
        url = served.function_url_address()
        ended = 0

        def settle() -> None:
            """Until the last invoke has ended (its runtime asked for the next event): each request then finds the
            environment idle, however loaded the machine (the file's last test is the case where it does not)."""
            nonlocal ended
            ended += 1
            served.wait_for_lines(REPORT, ended, timeout=BOUND_S)

        with httpx.Client(base_url=f"http://{url}", timeout=BOUND_S) as client:
            for name, target in (("plain", "/plain?text=one"), ("page", "/page?html=1&status=201&text=two")):
                got = client.get(target)
                answers[name] = Answer(got.status_code, dict(got.headers), got.content)
                settle()
            answers.update(kept_alive(url, settle))
            with pytest.raises(httpx.RemoteProtocolError) as cut:  # no last chunk: the body is not whole
                client.get("/cut?text=three&fail=1")
            settle()
            # A request close to the event's limit: its size learnt from a probe with the same fields and a target as
            # long (a body with as many digits in its Content-Length, so the event's overhead is the same).
            fields = {"Content-Type": "text/plain", **EXTRA_FIELDS}
            probe = 1_000_000
            said = client.post("/sized?size=1&step=a", content=b"x" * probe, headers=fields).text
            settle()
            overhead = int(re.fullmatch(r"event (\d+) bytes", said).group(1)) - probe
            near = client.post("/sized?size=1&step=b", content=b"x" * (SYNC_LIMIT - 16 - overhead), headers=fields)
            assert near.status_code == 200, near.text
            event_bytes = int(re.fullmatch(r"event (\d+) bytes", near.text).group(1))
            settle()
        served.signal(signal.SIGINT)
        assert served.wait(timeout=BOUND_S) == 0, served.output()
    yield Session(answers, str(cut.value), event_bytes, recording, function)


# ---------------------------------------------------------------------- function URLs of a streaming runtime


def test_streamed_answers_without_a_body_keep_a_kept_alive_connection_in_step(session: Session) -> None:
    """A streamed http-integration-response to HEAD, or with a status that has no body (204, 304), is a head alone:
    no chunk and no last chunk. The client reads the next answer on the same connection."""
    head, no_content, not_modified, after = (session.answers[name]
                                             for name in ("head", "no_content", "not_modified", "after"))
    assert (head.status, head.body) == (200, b"")
    assert head.headers["content-type"] == "text/html" and head.headers["set-cookie"] == "seen=1; Path=/"
    assert (no_content.status, no_content.body) == (204, b"")
    assert (not_modified.status, not_modified.body) == (304, b"")
    for answer in (no_content, not_modified):
        assert "transfer-encoding" not in answer.headers and "content-length" not in answer.headers, answer.headers
    assert (after.status, after.body) == (200, b"after")
    assert after.headers["content-type"] == "text/plain"
    assert len({answer.headers["x-amzn-requestid"] for answer in (head, no_content, not_modified, after)}) == 4


def test_a_streamed_prelude_gives_status_headers_and_cookies(session: Session) -> None:
    page, plain = session.answers["page"], session.answers["plain"]
    assert (page.status, page.body) == (201, b"two")
    assert page.headers["content-type"] == "text/html" and page.headers["set-cookie"] == "seen=1; Path=/"
    assert page.headers["transfer-encoding"] == "chunked"
    assert (plain.status, plain.body, plain.headers["content-type"]) == (200, b"one", "text/plain")
    assert "incomplete chunked read" in session.cut


def test_recorded_function_url_traffic_replays_to_the_same_outcomes(session: Session, code_dir: Path) -> None:
    """Every function URL request is recorded as a streamed invoke (its caller took a stream), the one that failed
    mid-stream with the error its trailers declared; the replay meets the same outcomes. (The near-limit request,
    the recording's last step, has a test of its own below.)"""
    text = session.recording.read_text()
    *steps, near = text.split("[[step]]\n")
    assert "step=b" in near and all("step=b" not in step for step in steps)
    assert sum(step.count("streamed = true") for step in steps[1:]) == len(steps) - 1 == 8, text[:3000]
    assert sum("error_type = 'Boom'" in step for step in steps) == 1, text[:3000]
    trimmed = write_file(code_dir / "trimmed.toml", "[[step]]\n".join(steps))
    replayed = run_cli("replay", str(session.function), str(trimmed), timeout=BOUND_S * 2)
    assert replayed.returncode == 0, replayed.stdout[-3000:] + replayed.stderr[-3000:]
    assert "ERROR Boom: the function's streamed response ended in an error" in replayed.stdout, replayed.stdout[-3000:]
    assert re.search(r"PASSED .*: 8 steps \(7 invokes succeeded, 1 failed\)", replayed.stdout), replayed.stdout[-500:]


def test_a_function_url_request_near_the_event_limit_replays(session: Session) -> None:
    """README: `serve --record FILE` "writes what happened as a scenario that replays to the same outcome". The
    session ran a request whose event was 16 bytes under 6 MiB; the replay exits 2 (a malformed scenario), the event
    being "over Lambda's limit" once the recording has added its spaces. (A caller's compact JSON event, as
    JavaScript's JSON.stringify writes it, grows so too: a 5.6 MB array of numbers replays as 6.4 MB.)"""
    assert session.event_bytes == SYNC_LIMIT - 16  # the session ran it
    replayed = run_cli("replay", str(session.function), str(session.recording), timeout=BOUND_S * 2)
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]


# ---------------------------------------------------------------------- an invoke a finishing environment handed back

OFFER_S = 2.0  # the grace in which an environment finishing its answered invoke is offered the next (50 ms unpatched)


def event_stream_payloads(body: bytes) -> list[tuple[str, bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    return [(message.headers[":event-type"], message.payload) for message in buffer]


@pytest.mark.trio
async def test_a_stream_handed_back_by_a_finishing_environment_reaches_its_caller(
        code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller's next request, sent as soon as it has its answer, is offered to the environment that answered it
    while that one's runtime (or an extension) still works on the invoke (fleet_rules.FINISHING_GRACE_S, 50 ms);
    handed back, it runs in a new environment. With `serve`, a runtime that does anything for 50 ms after its
    answer (here: waits for a file) made the next function URL request a `200` with an empty body, and the next
    InvokeWithResponseStream an `InvokeComplete` with no `PayloadChunk` and no error: the function's whole streamed
    response was lost, silently. The grace is widened here so that the offer is certain on a loaded machine."""
    monkeypatch.setattr(fleet_rules, "FINISHING_GRACE_S", OFFER_S)
    bootstrap = streamer(code_dir)
    gates = [code_dir / "gate-1", code_dir / "gate-2"]
    log = LogCollector()
    try:
        with trio.fail_after(BOUND_S):
            async with open_environment(resolve_function(str(bootstrap), timeout_s=30), invoke_port=0, url_port=0,
                                        listeners=[log]) as running:
                url, api = f"http://{running.function_url}", f"http://{running.invoke_api}"
                async with httpx.AsyncClient(timeout=BOUND_S) as client:
                    first = await client.get(f"{url}/first", params={"text": "one", "hold": str(gates[0])})
                    second = await client.get(f"{url}/second", params={"text": "two"})  # env #1 is finishing
                    third = await client.get(f"{url}/third", params={"text": "three", "hold": str(gates[1])})
                    fourth = await client.post(f"{api}/2021-11-15/functions/f/response-streaming-invocations",
                                               content=json.dumps({"text": "four"}).encode())  # env #2 is finishing
                for gate in gates:
                    gate.touch()
                await log.wait_for(lambda: sum(isinstance(x, f.InvocationCompleted) for x in log.facts) == 4)
    finally:
        for gate in gates:
            gate.touch()  # the runtimes go on to their next /next, whatever became of the test
    assert (first.status_code, first.text, third.text) == (200, "one", "three")
    handed_back = [text for text in log.texts() if "goes to a new environment" in text]
    assert len(handed_back) >= 2, log.dump()  # offered to a finishing environment, then run in a new one
    assert second.status_code == 200 and fourth.status_code == 200
    streamed = event_stream_payloads(fourth.content)
    assert (second.text, streamed) == ("two", [("PayloadChunk", b"four"), ("InvokeComplete", b"{}")])
