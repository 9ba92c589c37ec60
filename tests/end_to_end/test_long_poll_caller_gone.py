"""A runtime's /next whose caller has hung up by the time the host reads it is not heard: the invoke waiting for an
event goes to the runtime's next /next, never into a connection nobody reads (issue 9).

Once a long poll answered at once was no longer watched for its caller's hang-up (a cold start's first /next saves
the watch's system calls), such a /next was handed the waiting invoke's event; the caller's FIN is now looked for
before the core hears the call. It was so before as well, whenever the check that the connection comes from the
environment (its admission) ran before the caller closed: the event was written to the closed connection and lost.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio

from lambdatui.model import facts as f

from e2e_support import environment_with_log, invoke_json, write_file

BOUND = 30

# Answers its first invoke, then waits for the test's word (the next invoke is queued by then); sends a /next that
# hangs up at once (its request and its FIN, or its reset, in one segment: TCP_CORK, so the host never reads one
# without the other), and asks again on its own connection. A /next that half-closed and still got an event: exit 1;
# one that reset and got it leaves the second invoke unanswered.
RUNTIME = r'''#!{python}
import json, os, socket, struct, sys

HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"


def connect():
    sock = socket.create_connection((HOST, int(PORT)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def answer(sock):
    """(headers, body) of one answer, or None if the host closed without one."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            return None
        data += more
    head, body = data.split(b"\r\n\r\n", 1)
    headers = {{}}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    while len(body) < int(headers.get("content-length", "0")):
        body += sock.recv(65536)
    return headers, body


def respond(sock, headers, result):
    body = json.dumps(result).encode()
    sock.sendall(b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                 % (headers["lambda-runtime-aws-request-id"].encode(), len(body)) + body)
    answer(sock)


wire = connect()
wire.sendall(NEXT)
respond(wire, answer(wire)[0], {{"invoke": 1}})
with open({go!r}, "rb") as go:
    go.read(1)
gone = connect()
gone.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
gone.sendall(NEXT)
if {reset!r}:
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    gone.close()
else:
    gone.shutdown(socket.SHUT_WR)
    if answer(gone) is not None:
        sys.stderr.write("the /next that hung up was given an event\n")
        sys.exit(1)
while True:
    wire.sendall(NEXT)
    respond(wire, answer(wire)[0], {{"invoke": "next"}})
'''


@pytest.mark.trio
@pytest.mark.parametrize("reset", [False, True], ids=["half-close", "reset"])
async def test_a_next_whose_caller_hung_up_is_not_given_the_waiting_invoke(code_dir: Path, reset: bool) -> None:
    go = code_dir / "go"
    os.mkfifo(go)
    bootstrap = write_file(code_dir / "bootstrap", RUNTIME.format(python=sys.executable, go=str(go), reset=reset),
                           executable=True)
    async with environment_with_log(bootstrap) as (host, log):
        assert await invoke_json(host, {}) == {"invoke": 1}
        async with trio.open_nursery() as nursery:
            second: dict[str, object] = {}

            async def invoke() -> None:
                second.update(await invoke_json(host, {}, BOUND))

            nursery.start_soon(invoke)
            with trio.fail_after(BOUND):
                await log.wait_for(lambda: sum(isinstance(fact, f.InvocationQueued) for fact in log.facts) == 2)

            def say_go() -> None:
                with open(go, "wb") as pipe:
                    pipe.write(b"!")

            await trio.to_thread.run_sync(say_go)
        assert second == {"invoke": "next"}, log.dump()
        assert "given an event" not in log.dump()
