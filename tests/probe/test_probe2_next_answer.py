"""Probe: a runtime's parked /next is answered at once, inside the Invoke API's request (Exchange.answer_now,
EnvironmentHost.request(now=...), runtime_routes.next_invocation).

Custom runtimes (an executable `bootstrap`) written with raw sockets, so the test controls the wire: HTTP/1.0,
`Connection: close`, pipelining, a hang-up while parked, a tiny receive buffer for a 6 MB event. Each runtime
parses every answer strictly (status line, Content-Length body) and reports, in its own response, the digest of
the event it got and every status it saw so far: an answer written twice, or cut, shows as a wrong status or a
wrong digest. Invokes go through `lambdatui serve`'s Invoke API (raw HTTP, httpx, boto3).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import sys
import threading
from pathlib import Path

import pytest
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from e2e_support import ServeProcess  # noqa: E402
from lambdatui.config import resolve_function
from lambdatui.model.boundaries import EnvState
from lambdatui.model.facts import ApiExchanged
from lambdatui.runner import open_environment

BOUND = 60  # seconds
NEXT = "/2018-06-01/runtime/invocation/next"
SYNC_LIMIT = 6 * 1024 * 1024

RUNTIME = r'''#!{python}
import hashlib, json, os, socket, struct
MODE = {mode!r}
HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
NEXT = "/2018-06-01/runtime/invocation/next"
seen = []  # every status line's code, in order, on every connection


def connect(rcvbuf=0):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((HOST, int(PORT)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Wire:
    def __init__(self, sock, chunk=65536):
        # A bytearray: appending a recv's bytes costs only those bytes (a bytes object is copied whole each time:
        # for a 6 MB event read 4 KiB at a time, gigabytes of copying in the runtime, none of it in the host).
        self.sock, self.buf, self.chunk = sock, bytearray(), chunk

    def _more(self):
        data = self.sock.recv(self.chunk)
        if not data:
            raise EOFError("closed with %d bytes pending" % len(self.buf))
        self.buf += data

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {{}}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._more()
        body, self.buf = self.buf[:length], self.buf[length:]
        seen.append(status)
        return status, headers, body

    def rest(self):
        """Everything until the peer closes (after an answer that said it closes)."""
        while True:
            data = self.sock.recv(65536)
            if not data:
                return self.buf
            self.buf += data


def result(event, headers, extra=b""):
    return json.dumps({{"sha": hashlib.sha256(event).hexdigest(), "len": len(event), "seen": seen,
                       "extra": len(extra), "connection": headers.get("connection", "")}}).encode()


def post(wire, request_id, body, close=False):
    wire.sock.sendall(b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                      % (request_id.encode(), len(body), b"Connection: close\r\n" if close else b"") + body)
    return wire.response()


GET = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % NEXT).encode()

if MODE in ("keepalive", "slow"):
    wire = Wire(connect(4096 if MODE == "slow" else 0), 4096 if MODE == "slow" else 65536)
    while True:
        wire.sock.sendall(GET)
        status, headers, event = wire.response()
        post(wire, headers["lambda-runtime-aws-request-id"], result(event, headers))

elif MODE == "pipeline":
    wire = Wire(connect())
    wire.sock.sendall(GET)
    status, headers, event = wire.response()
    while True:
        request_id, body = headers["lambda-runtime-aws-request-id"], result(event, headers)
        # The response and the next /next in one write: the server reads the second while parked on nothing.
        wire.sock.sendall(b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                          % (request_id.encode(), len(body)) + body + GET)
        wire.response()  # the 202
        status, headers, event = wire.response()

elif MODE in ("http10", "close"):
    while True:
        wire = Wire(connect())
        if MODE == "http10":
            wire.sock.sendall(("GET %s HTTP/1.0\r\n\r\n" % NEXT).encode())
        else:
            wire.sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % NEXT).encode())
        status, headers, event = wire.response()
        extra = wire.rest()  # the server closes after this answer: nothing else may come
        wire.sock.close()
        poster = Wire(connect())
        post(poster, headers["lambda-runtime-aws-request-id"], result(event, headers, extra), close=True)
        poster.sock.close()

elif MODE in ("hangup", "reset"):
    gone = connect()
    gone.sendall(GET)
    if MODE == "reset":
        gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    gone.close()  # parked, then gone: the host must forget it, and give the event to the next /next
    wire = Wire(connect())
    while True:
        wire.sock.sendall(GET)
        status, headers, event = wire.response()
        post(wire, headers["lambda-runtime-aws-request-id"], result(event, headers))
'''


def runtime(code_dir: Path, mode: str) -> Path:
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(RUNTIME.format(python=sys.executable, mode=mode))
    bootstrap.chmod(0o755)
    return bootstrap


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


class Invoker:
    """One kept-alive HTTP/1.1 connection to the Invoke API."""

    def __init__(self, server: ServeProcess) -> None:
        host, port = server.address.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=BOUND)

    def invoke(self, payload: bytes) -> tuple[int, dict]:
        self.conn.request("POST", "/2015-03-31/functions/function/invocations", body=payload)
        response = self.conn.getresponse()
        body = response.read()
        assert response.getheader("X-Amz-Function-Error") is None, body[:500]
        return response.status, json.loads(body)

    def close(self) -> None:
        self.conn.close()


def assert_own_results(results: list[dict], payloads: list[bytes]) -> None:
    assert [(r["sha"], r["len"]) for r in results] == [(digest(p), len(p)) for p in payloads]


@pytest.mark.parametrize("mode", ["keepalive", "pipeline", "http10", "close", "hangup", "reset"])
def test_each_invoke_gets_exactly_its_own_event_whatever_the_runtime_speaks(code_dir: Path, mode: str) -> None:
    payloads = [json.dumps({"n": n, "pad": "x" * (n * 37)}).encode() for n in range(12)]
    with ServeProcess(runtime(code_dir, mode), "--timeout", "30") as server:
        invoker = Invoker(server)
        try:
            results = []
            for payload in payloads:
                status, body = invoker.invoke(payload)
                assert status == 200, body
                results.append(body)
        finally:
            invoker.close()
    assert_own_results(results, payloads)
    final = results[-1]
    if mode in ("http10", "close"):
        # One connection per /next: each answered once, then closed; nothing after the answer.
        assert all(r["extra"] == 0 for r in results), [r["extra"] for r in results]
        assert final["seen"] == [200, 202] * (len(payloads) - 1) + [200]
        if mode == "close":
            assert all(r["connection"].lower() == "close" for r in results)
    else:
        # One kept-alive connection: /next 200, /response 202, alternating; an answer written twice would show
        # as a 200 where a 202 belongs (or a parse of garbage).
        assert final["seen"] == [200, 202] * (len(payloads) - 1) + [200]


def test_a_6_mb_event_reaches_a_runtime_with_a_tiny_receive_buffer_whole_and_in_order(code_dir: Path) -> None:
    """The socket cannot take the event in one write: answer_now writes what it takes, the route's task the
    rest. Three in a row, each different, on the same connection, then small ones: nothing interleaves."""
    big = [b'"' + bytes([ord("a") + n]) * (SYNC_LIMIT - 2 - 4096 * n) + b'"' for n in range(3)]
    small = [json.dumps({"after": n}).encode() for n in range(3)]
    # One environment: under load this runtime's /next can come past the fleet's 50 ms grace for a finishing
    # environment, and the next invoke would go to a new one (a runtime whose `seen` starts afresh).
    with ServeProcess(runtime(code_dir, "slow"), "--timeout", "60", "--concurrency", "1") as server:
        invoker = Invoker(server)
        try:
            results = []
            for payload in big + small:
                status, body = invoker.invoke(payload)
                assert status == 200, body
                results.append(body)
        finally:
            invoker.close()
    assert_own_results(results, big + small)
    assert results[-1]["seen"] == [200, 202] * 5 + [200]


def test_a_parked_runtime_sees_no_answer_for_a_head_request(code_dir: Path) -> None:
    """HEAD /next is not a route (405): it must neither consume an invoke nor leave the runtime's next GET
    unanswered."""
    head_runtime = RUNTIME.replace('GET = ("GET %s', 'HEADREQ = ("HEAD %s HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" % NEXT).encode()\nGET = ("GET %s')
    head_runtime = head_runtime.replace(
        'if MODE in ("keepalive", "slow"):\n    wire = Wire(connect(4096 if MODE == "slow" else 0), 4096 if MODE == "slow" else 65536)\n',
        'if MODE in ("keepalive", "slow"):\n    wire = Wire(connect(4096 if MODE == "slow" else 0), 4096 if MODE == "slow" else 65536)\n'
        '    wire.sock.sendall(HEADREQ)\n'
        '    while b"\\r\\n\\r\\n" not in wire.buf:\n        wire._more()\n'
        '    head, wire.buf = wire.buf.split(b"\\r\\n\\r\\n", 1)\n'
        '    seen.append(int(head.split()[1]))\n')
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(head_runtime.format(python=sys.executable, mode="keepalive"))
    bootstrap.chmod(0o755)
    payloads = [b'{"n": 1}', b'{"n": 2}']
    with ServeProcess(bootstrap, "--timeout", "30") as server:
        invoker = Invoker(server)
        try:
            results = [invoker.invoke(p)[1] for p in payloads]
        finally:
            invoker.close()
    assert_own_results(results, payloads)
    assert results[-1]["seen"] == [405, 200, 202, 200]


def test_boto3_and_raw_clients_in_parallel_against_a_fleet_each_get_their_own_result(code_dir: Path) -> None:
    """Many invokes at once over several kept-alive connections, three environments: every answer is the
    caller's own event (the early write goes to the right runtime's socket, once)."""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    with ServeProcess(runtime(code_dir, "keepalive"), "--timeout", "30", "--concurrency", "3") as server:
        errors: list[BaseException] = []
        outcomes: dict[str, list[tuple[bytes, dict]]] = {}

        def raw_client(name: str) -> None:
            invoker = Invoker(server)
            try:
                for n in range(15):
                    payload = json.dumps({"client": name, "n": n}).encode()
                    status, body = invoker.invoke(payload)
                    if status == 429:
                        continue  # the fleet was full at that instant: Lambda's throttle, not a wrong answer
                    outcomes.setdefault(name, []).append((payload, body))
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                invoker.close()

        def boto_client(name: str) -> None:
            try:
                client = boto3.client("lambda", endpoint_url=server.base_url, region_name="us-east-1",
                                      aws_access_key_id="x", aws_secret_access_key="x",
                                      config=Config(retries={"max_attempts": 0}, read_timeout=BOUND))
                for n in range(15):
                    payload = json.dumps({"client": name, "n": n}).encode()
                    try:
                        response = client.invoke(FunctionName="function", Payload=payload)
                    except client.exceptions.TooManyRequestsException:
                        continue
                    assert "FunctionError" not in response, response
                    outcomes.setdefault(name, []).append((payload, json.loads(response["Payload"].read())))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=raw_client, args=("raw1",)),
                   threading.Thread(target=raw_client, args=("raw2",)),
                   threading.Thread(target=boto_client, args=("boto",))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BOUND)
        assert not any(thread.is_alive() for thread in threads), "an invoke hung"
        assert not errors, errors
    served = sum(len(v) for v in outcomes.values())
    assert served >= 30, outcomes.keys()
    for name, pairs in outcomes.items():
        for payload, body in pairs:
            assert (body["sha"], body["len"]) == (digest(payload), len(payload)), (name, payload, body)


@pytest.mark.trio
async def test_the_debuggers_record_of_an_early_answered_next_is_what_the_runtime_received(code_dir: Path) -> None:
    """inspect=True: every /next exchange is recorded once parked (status 0) and once answered (200), with the
    event's preview and its request id header; the record comes before the runtime's /response for it."""
    config = resolve_function(str(runtime(code_dir, "keepalive")))
    facts: list[ApiExchanged] = []

    def listen(fact: object) -> None:
        if isinstance(fact, ApiExchanged):
            facts.append(fact)

    with trio.fail_after(BOUND):
        async with open_environment(config, inspect=True, listeners=[listen]) as running:
            host = running.host
            host.start_environment()
            request_ids = []
            for n in range(3):
                result, _ = await host.invoke(json.dumps({"n": n}).encode())
                assert not result.function_error, result.payload
                assert json.loads(result.payload)["sha"] == digest(json.dumps({"n": n}).encode())
                request_ids.append(result.request_id)
                await host.wait_for_state(EnvState.FROZEN)
    answered_next = [f for f in facts if f.path == NEXT and f.status != 0]
    assert [f.status for f in answered_next] == [200, 200, 200]
    for fact, request_id, n in zip(answered_next, request_ids, range(3)):
        assert dict(fact.response_headers).get("Lambda-Runtime-Aws-Request-Id") == request_id
        assert json.loads(fact.response_preview) == {"n": n}
        assert fact.answered is not None and fact.answered >= fact.started
    order = [(f.path.rsplit("/", 2)[-2] if f.path != NEXT else "next", f.status) for f in facts if f.status != 0]
    assert order[:6] == [("next", 200), (request_ids[0], 202), ("next", 200), (request_ids[1], 202),
                         ("next", 200), (request_ids[2], 202)]


def test_runtime_and_extension_together_each_invoke_once_to_each(code_dir: Path) -> None:
    """The sample's audit extension beside a raw kept-alive runtime: each invoke reaches the runtime once (its own
    event) and the extension once (its request id), in order; nothing hangs."""
    import shutil

    bootstrap = runtime(code_dir, "keepalive")
    (code_dir / "extensions").mkdir()
    shutil.copy2(Path(__file__).resolve().parents[2] / "sample_functions" / "extension" / "extensions" / "audit",
                 code_dir / "extensions" / "audit")
    payloads = [json.dumps({"n": n}).encode() for n in range(10)]
    with ServeProcess(bootstrap, "--timeout", "30") as server:
        invoker = Invoker(server)
        request_ids = []
        try:
            results = []
            for payload in payloads:
                invoker.conn.request("POST", "/2015-03-31/functions/function/invocations", body=payload)
                response = invoker.conn.getresponse()
                results.append(json.loads(response.read()))
                request_ids.append(response.getheader("x-amzn-RequestId"))
        finally:
            invoker.close()
        assert all(request_ids), request_ids
        server.wait_for_line(r"\[audit\] INVOKE " + request_ids[-1], timeout=BOUND)
        audited = [line.split("INVOKE ", 1)[1].strip() for line in server.lines if "[audit] INVOKE " in line]
    assert_own_results(results, payloads)
    assert results[-1]["seen"] == [200, 202] * (len(payloads) - 1) + [200]
    assert audited == request_ids


ECHO_DIGEST = '''import hashlib, json


def handler(event, context):
    data = json.dumps(event, separators=(",", ":")).encode()
    return {"sha": hashlib.sha256(data).hexdigest(), "len": len(data), "id": context.aws_request_id}
'''


@pytest.mark.parametrize("client", ["lambdatui", "awslambdaric"])
def test_official_and_own_runtime_clients_get_every_event_once_in_a_long_run(code_dir: Path, client: str) -> None:
    """Real runtime clients (awslambdaric's native one, lambdatui's own http_wire): 40 invokes in a row on one
    kept-alive Invoke API connection, a 5 MB one among them; each result is its own event's digest and id."""
    if client == "awslambdaric":
        pytest.importorskip("awslambdaric")
    (code_dir / "handler.py").write_text(ECHO_DIGEST)
    target = code_dir / "handler.py"
    if client == "awslambdaric":
        target = code_dir / "bootstrap"
        target.write_text(f"#!{sys.executable}\nimport os, sys\n"
                          f"os.execv(sys.executable, [sys.executable, '-m', 'awslambdaric', 'handler.handler'])\n")
        target.chmod(0o755)
    events = [{"n": n, "pad": "p" * (n * 101)} for n in range(40)]
    events[17] = {"n": 17, "pad": "B" * (5 * 1024 * 1024)}
    with ServeProcess(target, "--timeout", "30") as server:
        invoker = Invoker(server)
        try:
            for event in events:
                payload = json.dumps(event, separators=(",", ":")).encode()
                invoker.conn.request("POST", "/2015-03-31/functions/function/invocations", body=payload)
                response = invoker.conn.getresponse()
                body = json.loads(response.read())
                assert response.status == 200 and response.getheader("X-Amz-Function-Error") is None, body
                assert (body["sha"], body["len"]) == (digest(payload), len(payload)), event["n"]
                assert body["id"] == response.getheader("x-amzn-RequestId")
        finally:
            invoker.close()
