"""`lambdatui serve` over the server's own socket layer (http11_socket.PlainStream, the Acceptor's accept), with real
clients: a 5 MB answer to a caller that reads late or resets, callers that half-close, Expect: 100-continue, many
connections at once, IPv6 and wildcard listeners with a function URL, outsiders refused at the sandbox API (a
runtime's /next that resets before the host reads it: test_long_poll_caller_gone.py).

Every wait is bounded: socket timeouts, and polls of /proc (the kernel's socket tables, the process's descriptors).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Callable

import httpx
import pytest
import trio

from e2e_support import ServeProcess, open_sockets, write_file
from raw_http_support import has_ipv6_loopback, leave_silently, reset, take_answer_head

pytestmark = pytest.mark.timeout(180)

BOUND = 30
INVOKE_PATH = "/2015-03-31/functions/function/invocations"

HANDLER = '''\
import hashlib, json, os

PIECES = 5 * 1024 * 1024 // 64
BIG = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(PIECES))


def handler(event, context):
    if event.get("big"):
        return BIG
    if "requestContext" in event:  # a function URL's request: its event, as the body
        return {"statusCode": 200, "body": json.dumps(event)}
    return {"api": os.environ["AWS_LAMBDA_RUNTIME_API"], "event": event}
'''
BIG = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(5 * 1024 * 1024 // 64))
BIG_ANSWER = json.dumps(BIG).encode()


# ---------------------------------------------------------------------- helpers


def wait_until(check: Callable[[], object], what: str, bound: float = BOUND) -> object:
    """Poll (/proc, mostly) until `check()` is truthy; its value."""
    deadline = time.monotonic() + bound
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {bound} s: {what}"
        time.sleep(0.02)


def settled_sockets(pid: int, baseline: int) -> int:
    """The process's open sockets, once back to `baseline` (or what they are at the bound)."""
    deadline = time.monotonic() + 10
    while (now := open_sockets(pid)) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unsent_to(server_port: int, client_port: int) -> int:
    """Bytes the server's end of the connection (local port `server_port`, remote `client_port`) holds unsent or
    unacknowledged: tx_queue in the kernel's table."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                    return int(fields[4].split(":")[0], 16)
    return 0


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def invoke_request(payload: bytes, *extra: str, version: str = "1.1", body: bool = True) -> bytes:
    head = "".join([f"POST {INVOKE_PATH} HTTP/{version}\r\nHost: x\r\nContent-Length: {len(payload)}\r\n",
                    *(f"{line}\r\n" for line in extra), "\r\n"]).encode()
    return head + payload if body else head


def read_answer(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One answer by its Content-Length (blocking, with the socket's timeout); what follows stays in `buffer`."""
    while (head := take_answer_head(buffer)) is None:
        data = sock.recv(1024 * 1024)
        assert data, f"closed before an answer: {bytes(buffer[:300])!r}"
        buffer += data
    status, headers = head
    length = 0 if status in (100, 204) else int(headers.get("content-length", "0"))
    while len(buffer) < length:
        data = sock.recv(1024 * 1024)
        assert data, "closed inside a body"
        buffer += data
    body = bytes(buffer[:length])
    del buffer[:length]
    return status, headers, body


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def small_invoke(served: ServeProcess, n: int = 0) -> dict:
    answer = httpx.post(served.invoke_url(), content=json.dumps({"n": n}).encode(), timeout=BOUND)
    assert answer.status_code == 200, answer.text
    return answer.json()


def slow_reader(port: int, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.settimeout(BOUND)
    sock.connect((host, port))
    return sock


@pytest.fixture(scope="module")
def shared_serve(module_code_dir: Path):
    """One `serve` for the module's tests that need no listener of their own, and its open sockets once warm.

    One environment at most (a second one's sockets would change the counts), warm: the runtime's own connection
    is open from now on."""
    write_file(module_code_dir / "handler.py", HANDLER)
    with ServeProcess(module_code_dir / "handler.py", "--concurrency", "1") as serve:
        small_invoke(serve)
        yield serve, open_sockets(serve.proc.pid)


@pytest.fixture
def served(shared_serve):
    """The shared serve, as each test had one of its own before: running, and holding no socket but those it held
    once warm (what an earlier test opened has closed); the same holds once this test is done."""
    serve, baseline = shared_serve
    assert serve.proc.poll() is None, serve.output()
    assert settled_sockets(serve.proc.pid, baseline) <= baseline, \
        ("an earlier test's connections are still open", socket_table(serve.proc.pid))
    yield serve
    assert serve.proc.poll() is None, serve.output()
    assert settled_sockets(serve.proc.pid, baseline) <= baseline, \
        ("this test's connections are still open", socket_table(serve.proc.pid))


def socket_table(pid: int) -> list[str]:
    """The process's sockets as the kernel's tables show them (for a failure's message)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/unix"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                if set(fields) & inodes:
                    rows.append(f"{table}: {' '.join(fields[:10])}")
                    inodes -= set(fields)
    return rows + [f"unlisted: {inode}" for inode in inodes]


# ---------------------------------------------------------------------- 1-2. a 5 MB answer, read late or reset


def test_a_5_mb_answer_to_a_caller_that_reads_late_arrives_whole_and_holds_nothing_else_up(served) -> None:
    pid, port = served.proc.pid, port_of(served.address)
    slow = slow_reader(port)
    with slow:
        slow.sendall(invoke_request(b'{"big": true}'))
        client_port = slow.getsockname()[1]
        wait_until(lambda: unsent_to(port, client_port) > 0, "the host holding the answer's bytes for the caller")
        # The host waits for room; it does not spin meanwhile (a measurement window, not a synchronisation).
        before, started = cpu_seconds(pid), time.monotonic()
        time.sleep(1.0)
        used = cpu_seconds(pid) - before
        assert used < 0.3 * (time.monotonic() - started), f"the host used {used:.2f} s of CPU while it waited"
        # Other callers are served meanwhile, on connections of their own.
        for n in range(5):
            assert small_invoke(served, n)["event"] == {"n": n}
        assert unsent_to(port, client_port) > 0  # still waiting for the late reader
        status, headers, body = read_answer(slow, bytearray())
        assert status == 200 and "x-amz-function-error" not in headers
        assert len(body) == len(BIG_ANSWER) and body == BIG_ANSWER
        # The same connection goes on.
        slow.sendall(invoke_request(b'{"after": 1}'))
        assert json.loads(read_answer(slow, bytearray())[2])["event"] == {"after": 1}


@pytest.mark.parametrize("how", ["reset", "close"])
def test_a_caller_that_leaves_while_a_5_mb_answer_waits_costs_nothing(served, how: str) -> None:
    pid, port = served.proc.pid, port_of(served.address)
    baseline = open_sockets(pid)
    for _ in range(3):
        slow = slow_reader(port)
        slow.sendall(invoke_request(b'{"big": true}'))
        client_port = slow.getsockname()[1]
        wait_until(lambda: unsent_to(port, client_port) > 0, "the host holding the answer's bytes for the caller")
        if how == "reset":
            reset(slow)
        else:
            slow.close()  # unread data: the kernel resets the connection all the same
    assert settled_sockets(pid, baseline) <= baseline, socket_table(pid)
    assert served.proc.poll() is None
    assert small_invoke(served, 7)["event"] == {"n": 7}
    assert "Traceback" not in served.output(), served.output()


# ---------------------------------------------------------------------- 3. half-closes


@pytest.mark.parametrize("version", ["1.0", "1.1"])
@pytest.mark.parametrize("event", [b'{"half": "closed"}', b'{"big": true}'], ids=["small", "5mb"])
def test_a_caller_that_half_closes_after_its_request_still_gets_its_answer(served, version: str,
                                                                            event: bytes) -> None:
    port = port_of(served.address)
    with slow_reader(port) as sock:
        sock.sendall(invoke_request(event, version=version))
        sock.shutdown(socket.SHUT_WR)  # all sent: as HTTP/1.0-style clients do
        status, headers, body = read_answer(sock, bytearray())
        assert status == 200, body[:300]
        if event == b'{"big": true}':
            assert body == BIG_ANSWER
        else:
            assert json.loads(body)["event"] == {"half": "closed"}
        assert closed_by_peer(sock)  # then the host closes: nothing more can come


# ---------------------------------------------------------------------- 4. Expect: 100-continue


def test_expect_100_continue_is_answered_then_the_body_read_and_the_connection_goes_on(served) -> None:
    port = port_of(served.address)
    payload = json.dumps({"pad": "p" * 200_000}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as sock:
        buffer = bytearray()
        sock.sendall(invoke_request(payload, "Expect: 100-continue", body=False))
        assert read_answer(sock, buffer)[0] == 100  # asked for before a byte of the body was sent
        sock.sendall(payload)
        status, _, body = read_answer(sock, buffer)
        assert status == 200 and json.loads(body)["event"] == {"pad": "p" * 200_000}
        sock.sendall(invoke_request(b'{"second": 2}'))
        assert json.loads(read_answer(sock, buffer)[2])["event"] == {"second": 2}


# ---------------------------------------------------------------------- 5. many connections


@pytest.mark.trio
async def test_two_hundred_callers_at_once_and_callers_that_say_nothing_all_end_without_a_leak(served) -> None:
    pid, port = served.proc.pid, port_of(served.address)
    baseline = open_sockets(pid)
    statuses: list[int] = []

    async def read_one(sock, buffer: bytearray) -> int:
        while b"\r\n\r\n" not in buffer:
            data = await sock.recv(65536)
            assert data, "closed before an answer"
            buffer += data
        end = buffer.index(b"\r\n\r\n")
        head = buffer[:end].decode("latin-1").lower()
        del buffer[:end + 4]
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0]) if "content-length:" in head else 0
        while len(buffer) < length:
            data = await sock.recv(65536)
            assert data, "closed inside a body"
            buffer += data
        del buffer[:length]
        return int(head.split()[1])

    async def caller(n: int) -> None:
        sock = trio.socket.socket()
        with sock:
            await sock.connect(("127.0.0.1", port))
            buffer = bytearray()
            for k in range(4):  # dry runs: the front end answers them without running the function
                await sock.send(invoke_request(b"{}", "X-Amz-Invocation-Type: DryRun"))
                statuses.append(await read_one(sock, buffer))
            await sock.send(invoke_request(json.dumps({"n": n}).encode()))  # a real one: run, or throttled (429)
            statuses.append(await read_one(sock, buffer))

    async def silent(how: str) -> None:
        sock = trio.socket.socket()
        await sock.connect(("127.0.0.1", port))
        await leave_silently(sock, how, b"POST " + INVOKE_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nCont")

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for n in range(200):
                nursery.start_soon(caller, n)
            for n in range(150):
                nursery.start_soon(silent, ("close", "partial", "reset")[n % 3])
    assert len(statuses) == 1000
    assert set(statuses) <= {200, 204, 429}, sorted(set(statuses))  # 429: past the one environment
    assert statuses.count(204) == 800
    assert settled_sockets(pid, baseline) <= baseline, socket_table(pid)
    assert small_invoke(served, 9)["event"] == {"n": 9}


# ---------------------------------------------------------------------- 6. IPv6 and wildcard listeners, function URLs



@pytest.mark.parametrize("listen, targets", [
    ("::1", ["::1"]),
    ("0.0.0.0", ["127.0.0.1", "127.0.0.2"]),
])
def test_invokes_and_function_urls_on_ipv6_and_wildcard_listeners(code_dir: Path, listen: str,
                                                                   targets: list[str]) -> None:
    if ":" in listen and not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(code_dir / "handler.py", "--host", listen, "--url-port", "0") as serve:
        url = serve.function_url_address()
        invoke_port, url_port = port_of(serve.address), port_of(url)
        for target in targets:
            family = socket.AF_INET6 if ":" in target else socket.AF_INET
            # The Invoke API.
            with socket.socket(family) as sock:
                sock.settimeout(BOUND)
                sock.connect((target, invoke_port))
                sock.sendall(invoke_request(b'{"via": "%s"}' % target.encode()))
                status, _, body = read_answer(sock, bytearray())
                assert status == 200 and json.loads(body)["event"] == {"via": target}
            # The function URL: the event names the caller's address and the port the request came in on.
            with socket.socket(family) as sock:
                sock.settimeout(BOUND)
                sock.connect((target, url_port))
                source = sock.getsockname()[0]
                host = f"[{target}]:{url_port}" if ":" in target else f"{target}:{url_port}"
                sock.sendall(f"GET /path?q=1 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                status, _, body = read_answer(sock, bytearray())
            assert status == 200, body
            event = json.loads(body)
            assert event["requestContext"]["http"]["sourceIp"] == source
            assert event["headers"]["x-forwarded-port"] == str(url_port)
            assert event["headers"]["host"] == host
            assert event["rawPath"] == "/path"


# ---------------------------------------------------------------------- 7. outsiders at the sandbox API


def test_outsiders_at_the_sandbox_api_are_refused_and_closed_and_leave_nothing_open(served) -> None:
    pid = served.proc.pid
    api = small_invoke(served)["api"]
    host, port = api.rsplit(":", 1)
    baseline = open_sockets(pid)
    # One that asks: its 403, then the host's close.
    with socket.create_connection((host, int(port)), timeout=BOUND) as sock:
        sock.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
        buffer = bytearray()
        status, headers, body = read_answer(sock, buffer)
        assert status == 403 and headers["connection"] == "close"
        assert json.loads(body)["errorType"] == "AccessDenied"
        assert not buffer and closed_by_peer(sock)
    # Ones that say nothing, reset, or send a body and never read.
    for n in range(12):
        sock = socket.create_connection((host, int(port)), timeout=BOUND)
        if n % 3 == 0:
            sock.close()
        elif n % 3 == 1:
            sock.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            reset(sock)
        else:
            sock.sendall(b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n"
                         + b"x" * 50_000)
            sock.close()
    served.wait_for_line(r"Refused a connection to the Runtime API", BOUND)
    assert settled_sockets(pid, baseline) <= baseline, socket_table(pid)
    # The environment's own runtime is still served.
    assert small_invoke(served, 3)["event"] == {"n": 3}


