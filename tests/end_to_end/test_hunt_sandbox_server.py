"""Bug hunt: the sandbox's HTTP server (Runtime, Extensions and Telemetry APIs at AWS_LAMBDA_RUNTIME_API) as the
processes inside the environment see it, under unusual but legal (or malformed) client behaviour, with the accepting
side (api/http11_accept.py) in mind: bursts of connections, silent ones, ones that come and go without a request,
a burst while the runtime's /next is long-polled, connections arriving while `serve` stops, a reset while an
extension's connections are open; and that the host keeps no descriptor and leaves no process behind.

Every program in the sandbox is standard library only (raw sockets, http.client), written here; it reports on
stderr as `PROBE [...]`, which lambdatui relays. Every wait is bounded (socket timeouts, polls of /proc, line waits).
xfail(strict) tests pin bugs; the others pin behaviour that was checked and is right.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import httpx
import pytest

from e2e_support import ServeProcess, descendants, open_sockets, wait_all_gone, write_file

pytestmark = pytest.mark.timeout(120)

BOUND = 30


def probes(served: ServeProcess, tag: str) -> list[list]:
    """What the sandbox's programs reported under `tag` so far (PROBE lines), in order."""
    found = []
    for line in served.output().splitlines():
        if "PROBE " in line:
            fields = json.loads(line.split("PROBE ", 1)[1])
            if fields and fields[0] == tag:
                found.append(fields[1:])
    return found


def wait_probes(served: ServeProcess, tag: str, count: int) -> list[list]:
    served.wait_for_lines(r'PROBE \["' + tag + '"', count, BOUND)
    return probes(served, tag)


def wait_until(check: Callable[[], object], what: str, bound: float = BOUND) -> object:
    """Poll (/proc, mostly) until `check()` is truthy; its value."""
    deadline = time.monotonic() + bound
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {bound} s: {what}"
        time.sleep(0.02)


def invoke(served: ServeProcess, event: dict) -> httpx.Response:
    return httpx.post(served.invoke_url(), content=json.dumps(event).encode(), timeout=BOUND)


# A custom runtime on raw sockets. Its helpers read one answer by its framing; `raw(data)` sends bytes on a new
# connection and returns everything the server sends back until it closes (or a short quiet spell).
RUNTIME_HELPERS = r'''#!{python}
import json, os, socket, struct, sys, threading, time
HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
PORT = int(PORT)

def log(*fields):
    print("PROBE " + json.dumps(fields), file=sys.stderr, flush=True)

def conn(timeout=20):
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def request(method, path, body=b"", extra=""):
    return (f"{{method}} {{path}} HTTP/1.1\r\nHost: {{HOST}}\r\nContent-Length: {{len(body)}}\r\n{{extra}}\r\n").encode() + body

def read_answer(s, buf):
    """((status, headers, body), rest of buffer); (None, buf) if the server closed first."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None, buf
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {{}}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(lines[0].split()[1])
    if status == 100:
        return (100, headers, b""), buf
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            return None, buf
        buf += d
    return (status, headers, buf[:n]), buf[n:]

def raw(data, quiet=1.0):
    s = conn(quiet)
    s.sendall(data)
    got = b""
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                got += b"<EOF>"
                break
            got += d
    except socket.timeout:
        pass
    s.close()
    return got.decode("latin-1")
'''


# ---------------------------------------------------------------------------------------------------------------
# 1. Many connections at once: silent, closed, reset, half-sent ones, a burst while /next is long-polled, an outsider.

BURST_RUNTIME = RUNTIME_HELPERS + r'''
kept = []
def litter():
    """Connections before (or between) /next calls that never make a request: kept silent, half-sent, closed, reset."""
    for i in range(80):
        s = conn()
        if i % 4 == 0:
            kept.append(s)                       # silent, kept
        elif i % 4 == 1:
            s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n")  # a head never ended
            kept.append(s)
        elif i % 4 == 2:
            s.close()                            # opened and closed without a request
        else:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()                            # reset

def burst():
    """100 connections at once, each with two requests pipelined in one write; both answers read."""
    socks = [conn() for _ in range(100)]
    for s in socks:
        s.sendall(request("GET", "/nothing/a") + request("GET", "/nothing/b"))
    statuses = []
    for s in socks:
        a, buf = read_answer(s, b"")
        b, buf = read_answer(s, buf)
        statuses += [a and a[0], b and b[0]]
        s.close()
    return statuses

log("api", f"{{HOST}}:{{PORT}}")
litter()  # before the first /next: the environment is frozen once its /next is parked, as in Lambda
main = conn(None)
buf = b""
while True:
    main.sendall(request("GET", "/2018-06-01/runtime/invocation/next"))
    answer, buf = read_answer(main, buf)
    status, headers, event = answer
    event = json.loads(event)
    if event.get("close_kept"):
        for s in kept:
            s.close()
        kept.clear()
    if event.get("litter"):
        litter()
    log("burst", sorted(set(map(str, burst()))), len(kept))
    rid = headers["lambda-runtime-aws-request-id"]
    main.sendall(request("POST", f"/2018-06-01/runtime/invocation/{{rid}}/response", json.dumps({{"event": event}}).encode()))
    answer, buf = read_answer(main, buf)
'''


def test_bursts_silent_and_vanishing_connections_and_an_outsider_while_next_is_long_polled(code_dir: Path) -> None:
    """Before its first /next the runtime opens 80 connections that never make a request (20 kept silent, 20 kept
    with half a head, 20 closed, 20 reset); during each invoke, 100 connections at once with two requests pipelined
    in one write each. The first /next is served all the same, every burst request is answered (404), an outsider
    (this test) asking for /next while the runtime's is long-polled is refused with a 403 and closed, and once the
    runtime closes what it kept, the host's descriptors come back down and do not grow per burst."""
    bootstrap = write_file(code_dir / "bootstrap", BURST_RUNTIME.format(python=sys.executable), executable=True)
    with ServeProcess(bootstrap, "--timeout", "20", "--concurrency", "1") as served:
        pid = served.proc.pid
        # An outsider at the sandbox API while the runtime's first /next is parked: refused, unread, closed.
        api_host, api_port = wait_probes(served, "api", 1)[0][0].rsplit(":", 1)
        with socket.create_connection((api_host, int(api_port)), timeout=BOUND) as outsider:
            outsider.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while chunk := outsider.recv(65536):
                got += chunk
        assert got.startswith(b"HTTP/1.1 403 ") and b'"AccessDenied"' in got, got
        # The parked /next is the runtime's, and gets the invoke.
        answer = invoke(served, {"n": 1})
        assert answer.status_code == 200 and answer.json() == {"event": {"n": 1}}, answer.text
        assert wait_probes(served, "burst", 1) == [[["404"], 40]]
        with_kept = open_sockets(pid)
        assert invoke(served, {"close_kept": True}).json() == {"event": {"close_kept": True}}
        statuses = wait_probes(served, "burst", 2)
        assert statuses[-1] == [["404"], 0], statuses
        after = wait_until(lambda: (n := open_sockets(pid)) <= with_kept - 40 and n,
                           f"the 40 kept connections' descriptors released (had {with_kept})")
        # More bursts and more litter cost nothing for good.
        for n in range(3):
            assert invoke(served, {"n": n, "litter": True, "close_kept": True}).status_code == 200
        assert invoke(served, {"close_kept": True}).status_code == 200
        assert [s[0] for s in wait_probes(served, "burst", 6)] == [["404"]] * 6
        wait_until(lambda: open_sockets(pid) <= after, f"the host back to {after} sockets (has {open_sockets(pid)})")
        assert "Traceback" not in served.output(), served.output()


# ---------------------------------------------------------------------------------------------------------------
# 2. Odd but legal requests from the runtime: byte by byte, HTTP/1.0, Connection: close, Expect: 100-continue,
#    chunked bodies with extensions and trailers, pipelined /response + /next, a head just under 1 MiB, one over it.

ODD_RUNTIME = RUNTIME_HELPERS + r'''
main = conn(None)
buf = b""
how_next = "plain"
while True:
    if how_next == "bytewise":
        for byte in request("GET", "/2018-06-01/runtime/invocation/next"):
            main.send(bytes([byte]))
    elif how_next == "http10":
        main.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.0\r\n\r\n")
    elif how_next == "close":
        main.sendall(request("GET", "/2018-06-01/runtime/invocation/next", extra="Connection: close\r\n"))
    elif how_next == "big_head":
        main.sendall(request("GET", "/2018-06-01/runtime/invocation/next", extra="X-Pad: " + "p" * (1024 * 1024 - 200) + "\r\n"))
    elif how_next != "pipelined":
        main.sendall(request("GET", "/2018-06-01/runtime/invocation/next"))
    answer, buf = read_answer(main, buf)
    status, headers, event = answer
    if headers.get("connection") == "close":
        main, buf = conn(None), b""
    event = json.loads(event)
    rid = headers["lambda-runtime-aws-request-id"]
    how = event.get("post", "plain")
    result = json.dumps({{"event": event}}).encode()
    path = f"/2018-06-01/runtime/invocation/{{rid}}/response"
    if how == "expect":
        main.sendall(f"POST {{path}} HTTP/1.1\r\nHost: x\r\nContent-Length: {{len(result)}}\r\nExpect: 100-continue\r\n\r\n".encode())
        answer, buf = read_answer(main, buf)
        log("continue", answer[0])
        main.sendall(result)
    elif how == "chunked":
        main.sendall(f"POST {{path}} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                     + b"".join(b"1;piece=%d\r\n%s\r\n" % (i, result[i:i + 1]) for i in range(len(result)))
                     + b"0\r\nX-Trailer: t\r\n\r\n")
    elif how == "chunked_error":
        body = json.dumps({{"errorMessage": "boom", "errorType": "My.Error"}}).encode()
        main.sendall(f"POST /2018-06-01/runtime/invocation/{{rid}}/error HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     "Lambda-Runtime-Function-Error-Type: My.Error\r\nExpect: 100-continue\r\n\r\n".encode())
        answer, buf = read_answer(main, buf)
        log("continue", answer[0])
        main.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    elif how == "http10":
        main.sendall(f"POST {{path}} HTTP/1.0\r\nContent-Length: {{len(result)}}\r\n\r\n".encode() + result)
    elif how == "pipelined":
        main.sendall(request("POST", path, result) + request("GET", "/2018-06-01/runtime/invocation/next"))
    else:
        main.sendall(request("POST", path, result))
    answer, buf = read_answer(main, buf)
    log("posted", answer[0], answer[1].get("connection"))
    if answer[1].get("connection") == "close":
        main, buf = conn(None), b""
    if event.get("too_big_head"):
        log("too_big_head", raw(request("GET", "/nothing", extra="X-Pad: " + "p" * (1024 * 1024 + 10) + "\r\n"), 3)[:60])
    how_next = event.get("next", "pipelined" if how == "pipelined" else "plain")
'''


def test_odd_but_legal_runtime_requests_are_all_served_in_turn(code_dir: Path) -> None:
    bootstrap = write_file(code_dir / "bootstrap", ODD_RUNTIME.format(python=sys.executable), executable=True)
    events = [
        {"next": "bytewise"}, {"next": "http10"}, {"post": "expect", "next": "close"}, {"post": "chunked"},
        {"post": "http10", "next": "big_head"}, {"post": "pipelined"}, {"n": "after pipelining"},
        {"too_big_head": True},
    ]
    with ServeProcess(bootstrap, "--timeout", "20", "--concurrency", "1") as served:
        for event in events:
            answer = invoke(served, event)
            assert answer.status_code == 200 and answer.json() == {"event": event}, (event, answer.text)
        error = invoke(served, {"post": "chunked_error"})
        assert error.headers.get("x-amz-function-error") == "Unhandled"
        assert error.json() == {"errorMessage": "boom", "errorType": "My.Error"}, error.text
        # (The runtime's stderr is relayed on a path of its own: its lines are waited for, not assumed in yet.)
        assert [p[0] for p in wait_probes(served, "continue", 2)] == [100, 100]
        too_big = wait_probes(served, "too_big_head", 1)
        assert too_big[0][0].startswith("HTTP/1.1 431 "), too_big
        posted = wait_probes(served, "posted", 9)  # the runtime reads its 202 after the caller has its answer
        assert [p[0] for p in posted] == [202] * 9, posted
        assert posted[4][1] == "close"  # the HTTP/1.0 /response: answered, then closed
        assert "Traceback" not in served.output(), served.output()


# ---------------------------------------------------------------------------------------------------------------
# 3. A request whose sender closed (or half-closed) its end before the host took the connection.

# The runtime tells the test, over a socket of the test's, when it is about to post its response; the test stops the
# host (SIGSTOP: a host descheduled or busy, as it is while it relays a burst of output), the runtime posts its
# response on a new connection and closes it (or only half-closes it) without reading the answer, and says so; the
# test lets the host go on (SIGCONT). The runtime then goes on to its /next on its own connection, as ever.
FIRE_AND_FORGET_RUNTIME = RUNTIME_HELPERS + r'''
main = conn(None)
buf = b""
while True:
    main.sendall(request("GET", "/2018-06-01/runtime/invocation/next"))
    answer, buf = read_answer(main, buf)
    status, headers, event = answer
    event = json.loads(event)
    rid = headers["lambda-runtime-aws-request-id"]
    control = socket.create_connection(("127.0.0.1", event["control"]), timeout=20)
    control.sendall(b"ready\n")
    assert control.recv(16) == b"go\n"
    s = conn()
    body = json.dumps({{"taken": rid}}).encode()
    s.sendall(request("POST", f"/2018-06-01/runtime/invocation/{{rid}}/response", body))
    if event["how"] == "close":
        s.close()
    else:
        s.shutdown(socket.SHUT_WR)
    control.sendall(b"done\n")
    control.close()
    if event["how"] != "close":
        answer, _ = read_answer(s, b"")
        log("answer", answer and answer[0])
        s.close()
'''


def fire_and_forget(served: ServeProcess, how: str) -> httpx.Response:
    with socket.socket() as control:
        control.bind(("127.0.0.1", 0))
        control.listen()
        control.settimeout(BOUND)
        outcome: dict = {}

        def call() -> None:
            outcome["answer"] = invoke(served, {"control": control.getsockname()[1], "how": how})

        caller = threading.Thread(target=call)
        caller.start()
        try:
            peer, _ = control.accept()
            with peer:
                assert peer.recv(16) == b"ready\n"
                os.kill(served.proc.pid, signal.SIGSTOP)
                try:
                    peer.sendall(b"go\n")
                    assert peer.recv(16) == b"done\n"
                finally:
                    os.kill(served.proc.pid, signal.SIGCONT)
        finally:
            caller.join(BOUND)
        return outcome["answer"]


def _environment_cgroup_v2() -> bool:
    """Whether lambdatui's environments get a cgroup v2 here, whose id the kernel keeps on a socket its maker closed."""
    from lambdatui.processes.cgroup import EnvironmentCgroup

    made = EnvironmentCgroup.create()
    if made is None:
        return False
    try:
        return made.v2_id is not None
    finally:
        made.remove()


@pytest.mark.parametrize("how", [
    "half-close",
    "close",
])
def test_a_response_posted_on_a_connection_closed_before_the_host_took_it_is_still_taken(code_dir: Path,
                                                                                         how: str) -> None:
    """RAPID (Go's net/http) reads a request from the connection's buffer whether or not its sender has closed its
    end since: a runtime that posts its /response on a new connection and closes it without waiting for the 202 (a
    fire-and-forget write: bash's /dev/tcp, a client that does not read answers) has its response taken, and the
    caller gets it. lambdatui traces each new connection to who made it (host/sandbox_access.py); once its client end
    is closed no process holds it (the kernel lists it with inode 0), and it used to be dropped unread when the host
    took the connection after the close (busy: here, stopped for a moment): the invoke timed out with the runtime
    alive. The socket's cgroup, which the kernel keeps, says whose it was. A half-close (the socket still held)."""
    if how == "close" and not _environment_cgroup_v2():
        pytest.skip("no cgroup v2 for the environment: a socket no process holds cannot be traced to it (refused)")
    bootstrap = write_file(code_dir / "bootstrap", FIRE_AND_FORGET_RUNTIME.format(python=sys.executable),
                           executable=True)
    with ServeProcess(bootstrap, "--timeout", "3", "--concurrency", "1") as served:
        answer = fire_and_forget(served, how)
        assert "x-amz-function-error" not in answer.headers, answer.text
        assert set(answer.json()) == {"taken"}, answer.text
        if how == "half-close":
            assert wait_probes(served, "answer", 1) == [[202]]  # a half-closed sender still reads its answer


# ---------------------------------------------------------------------------------------------------------------
# 4. An absolute-form request target.

ABSOLUTE_FORM_RUNTIME = RUNTIME_HELPERS + r'''
main = conn(None)
buf = b""
while True:
    main.sendall(f"GET http://{{HOST}}:{{PORT}}/2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {{HOST}}:{{PORT}}\r\n\r\n".encode())
    answer, buf = read_answer(main, buf)
    status, headers, event = answer
    if status != 200:
        log("next", status, event.decode(errors="replace"))
        sys.exit(2)
    rid = headers["lambda-runtime-aws-request-id"]
    main.sendall(request("POST", f"/2018-06-01/runtime/invocation/{{rid}}/response", event))
    read_answer(main, buf)
'''


def test_a_next_in_absolute_form_gets_the_event(code_dir: Path) -> None:
    """RFC 9112 §3.2.2: "a server MUST accept the absolute-form in requests", and RAPID's Go server routes such a
    request by its URL's path (net/http parses the target with url.ParseRequestURI; chi routes on URL.Path). lambdatui
    matched the target's text as a path: the runtime's /next was answered 404, it exited, and the invoke failed with
    Runtime.ExitError."""
    bootstrap = write_file(code_dir / "bootstrap", ABSOLUTE_FORM_RUNTIME.format(python=sys.executable),
                           executable=True)
    with ServeProcess(bootstrap, "--timeout", "5", "--concurrency", "1") as served:
        answer = invoke(served, {"absolute": "form"})
        assert answer.json() == {"absolute": "form"}, (answer.text, probes(served, "next"))


# ---------------------------------------------------------------------------------------------------------------
# 5. An extension's connections through a reset and through `serve` stopping (SIGTERM), with callers still arriving.

CRASHY_HANDLER = """\
import os

def handler(event, context):
    if event.get("crash"):
        os._exit(1)
    return {"ok": True}
"""

# Keeps a silent connection and one with half a head open for its whole life; on every event (INVOKE, and SHUTDOWN:
# after a reset, and at `serve`'s stop) opens 40 connections at once, each asking an unknown path, and reports what
# they were answered.
BURST_EXTENSION = r'''#!{python}
import http.client, json, os, socket, sys, threading
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
host, port = API.rsplit(":", 1)

def log(*fields):
    print("PROBE " + json.dumps(fields), file=sys.stderr, flush=True)

silent = socket.create_connection((host, int(port)))
partial = socket.create_connection((host, int(port)))
partial.sendall(b"GET /2020-01-01/extension/event/next HTTP/1.1\r\nHost: x\r\n")

def burst(n=40):
    statuses, lock = [], threading.Lock()
    def one(i):
        try:
            c = http.client.HTTPConnection(API, timeout=10)
            c.request("GET", f"/nothing/{{i}}")
            r = c.getresponse()
            r.read()
            c.close()
            outcome = r.status
        except Exception as exc:
            outcome = repr(exc)
        with lock:
            statuses.append(outcome)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(set(map(str, statuses)))

api = http.client.HTTPConnection(API, timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}),
            headers={{"Lambda-Extension-Name": "burst"}})
r = api.getresponse()
r.read()
eid = r.getheader("Lambda-Extension-Identifier")
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": eid}})
    r = api.getresponse()
    event = json.loads(r.read())
    log("event", event["eventType"], event.get("shutdownReason"), burst())
    if event["eventType"] == "SHUTDOWN":
        sys.exit(0)
'''


def test_an_extensions_connections_through_a_reset_and_a_sigterm_while_callers_keep_arriving(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", CRASHY_HANDLER)
    write_file(code_dir / "extensions" / "burst", BURST_EXTENSION.format(python=sys.executable), executable=True)
    with ServeProcess(code_dir / "handler.py", "--timeout", "10", "--concurrency", "1") as served:
        pid, port = served.proc.pid, int(served.address.rsplit(":", 1)[1])
        assert invoke(served, {}).json() == {"ok": True}
        baseline = open_sockets(pid)
        crashed = invoke(served, {"crash": True})
        assert crashed.json()["errorType"] == "Runtime.ExitError", crashed.text
        assert invoke(served, {}).json() == {"ok": True}  # a new Init, a new extension process
        events = wait_probes(served, "event", 4)
        assert events[:4] == [["INVOKE", None, ["404"]], ["INVOKE", None, ["404"]], ["SHUTDOWN", "failure", ["404"]],
                              ["INVOKE", None, ["404"]]], events
        # The dead extension's connections (its silent and half-sent ones, the burst's) are all closed.
        wait_until(lambda: open_sockets(pid) <= baseline, f"the host back to {baseline} sockets")
        processes = descendants(pid)

        # Callers keep arriving at the Invoke API while `serve` stops.
        outcomes: list[str] = []
        lock = threading.Lock()
        stopping = threading.Event()

        def caller() -> None:
            while not stopping.is_set():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as sock:
                        sock.sendall(b"POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: x\r\n"
                                     b"Content-Length: 2\r\n\r\n{}")
                        data = sock.recv(65536)
                        outcome = data.split(b"\r\n", 1)[0].decode() if data else "closed"
                except ConnectionRefusedError:
                    outcome = "refused"
                except ConnectionResetError:
                    outcome = "reset"
                except socket.timeout:
                    outcome = "hung"
                with lock:
                    outcomes.append(outcome)
                if outcome in ("refused", "hung"):
                    return

        callers = [threading.Thread(target=caller) for _ in range(8)]
        for thread in callers:
            thread.start()
        try:
            wait_until(lambda: len(outcomes) >= 20, "20 invokes answered before the stop")
            served.signal(signal.SIGTERM)
            code = served.wait(BOUND)
        finally:
            stopping.set()
            for thread in callers:
                thread.join(BOUND)
        assert code == 0, served.output()
        tally = Counter(outcomes)
        # Nobody left hanging: answered (200, or 429 past the one environment), reset, refused once the port closed.
        assert {o for o in tally if not o.startswith("HTTP/1.1 ")} <= {"refused", "reset", "closed"}, tally
        assert tally["refused"] == len(callers), tally  # the listener closed: every caller ends up refused
        shutdown = [e for e in probes(served, "event") if e[0] == "SHUTDOWN"]
        assert shutdown[-1] == ["SHUTDOWN", "spindown", ["404"]], shutdown  # answered while `serve` stopped
        assert not wait_all_gone(processes, 10)
        assert "Traceback" not in served.output(), served.output()
