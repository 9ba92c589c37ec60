"""Results, answers and logs stay apart over invokes of mixed outcomes, whatever the runtime's pace.

Written against ccdef57, which answers the caller before the runtime's 202: a guard of what that order must not
break, which passes with the old order too (the order itself: tests/core/test_env_cold_start.py).

Real environments (open_environment), real runtimes, sequential invokes of mixed outcomes through three runtimes:
- a raw-socket custom runtime that pipelines its /next right behind its /response (or /error) on one connection,
  and reconnects when the host closes it after a refusal;
- lambdatui's own bootstrap (it pipelines too);
- the official awslambdaric (it waits for its 202).
Every invoke: the caller's result is its own, the runtime's answers are the expected ones, the log is START, the
function's line (attributed to its invoke), END, REPORT, before the next START; a log tail holds its own invoke only.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.runner import open_environment

from e2e_support import LogCollector, write_file

BOUND = 60

PIPELINING_RUNTIME = r'''#!{python}
import json, os, socket
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.rsplit(":", 1)
P = "/2018-06-01/runtime"


class Conn:
    def __init__(self):
        self.sock = socket.create_connection((HOST, int(PORT)))
        self.file = self.sock.makefile("rb")

    def read(self):
        line = self.file.readline()
        if not line:
            return None
        status = int(line.split()[1])
        headers = {{}}
        while True:
            line = self.file.readline()
            if line in (b"\r\n", b""):
                break
            name, value = line.decode().split(":", 1)
            headers[name.strip().lower()] = value.strip()
        body = self.file.read(int(headers.get("content-length", "0")))
        return status, headers, body

    def close(self):
        self.file.close()
        self.sock.close()


def request(method, path, body=b"", headers=()):
    head = f"{{method}} {{P}}{{path}} HTTP/1.1\r\nHost: {{API}}\r\nContent-Length: {{len(body)}}\r\n"
    return (head + "".join(f"{{k}}: {{v}}\r\n" for k, v in headers) + "\r\n").encode() + body


conn = Conn()
conn.sock.sendall(request("GET", "/invocation/next"))
answered = conn.read()
previous = []  # the answers to the last invoke's calls, told in this one's response
while True:
    status, headers, body = answered
    rid = headers["lambda-runtime-aws-request-id"]
    event = json.loads(body)
    mode = event.get("mode", "ok")
    print(f"handling n={{event['n']}} rid={{rid}}", flush=True)
    calls = []
    if mode == "bad-id":
        calls.append(request("POST", "/invocation/00000000-0000-4000-8000-000000000000/response", b'"stolen"'))
    if mode == "error":
        error = json.dumps({{"errorMessage": f"failed {{event['n']}}", "errorType": "Probe"}}).encode()
        calls.append(request("POST", f"/invocation/{{rid}}/error", error,
                             [("Lambda-Runtime-Function-Error-Type", "Probe"), ("Content-Type", "application/json")]))
    elif mode == "big":
        calls.append(request("POST", f"/invocation/{{rid}}/response", b'"' + b"x" * 7_000_000 + b'"'))
    else:
        calls.append(request("POST", f"/invocation/{{rid}}/response",
                             json.dumps({{"n": event["n"], "rid": rid, "previous": previous}}).encode()))
    previous = []
    while True:  # a refusal closes the connection: what was pipelined behind it is sent again on a new one
        conn.sock.sendall(b"".join(calls) + request("GET", "/invocation/next"))
        while calls:
            got = conn.read()
            if got is None:
                break
            previous.append(got[0])
            calls.pop(0)
        if calls or previous and previous[-1] >= 400:
            conn.close()
            conn = Conn()
            if not calls:
                conn.sock.sendall(request("GET", "/invocation/next"))
                break
            continue
        break
    answered = conn.read()
'''

HANDLER = """\
def handler(event, context):
    print(f"handling n={event['n']} rid={context.aws_request_id}", flush=True)
    mode = event.get("mode", "ok")
    if mode == "error":
        raise ValueError(f"failed {event['n']}")
    if mode == "big":
        return "x" * 7_000_000
    return {"n": event["n"], "rid": context.aws_request_id}
"""

MODES = ["ok", "error", "ok", "big", "ok", "bad-id", "ok", "ok", "error", "error", "ok", "big", "big", "ok"] * 2


def runtime_path(code_dir: Path, kind: str) -> Path:
    if kind == "pipelining":
        return write_file(code_dir / "bootstrap", PIPELINING_RUNTIME.format(python=sys.executable), executable=True)
    write_file(code_dir / "handler.py", HANDLER)
    if kind == "ours":
        return code_dir / "handler.py"
    return write_file(code_dir / "bootstrap", f"#!{sys.executable}\nimport os, sys\n"
                      f"os.execv(sys.executable, [sys.executable, '-m', 'awslambdaric', 'handler.handler'])\n",
                      executable=True)


def platform_of(log: LogCollector, rid: str) -> list[str]:
    return [line.text.split(" RequestId")[0] or line.text for line in log.lines
            if line.source == f.PLATFORM and rid in line.text]


@pytest.mark.trio
@pytest.mark.parametrize("kind", ["pipelining", "ours", "awslambdaric"])
async def test_sequential_invokes_of_mixed_outcomes_keep_results_and_logs_apart(code_dir: Path, kind: str) -> None:
    path = runtime_path(code_dir, kind)
    log = LogCollector()
    rids: list[str] = []
    async with open_environment(resolve_function(str(path), timeout_s=10), listeners=[log]) as running:
        for n, mode in enumerate(MODES):
            tail_wanted = n % 3 == 1
            with trio.fail_after(BOUND):
                result, tail = await running.host.invoke(json.dumps({"n": n, "mode": mode}).encode(),
                                                         wants_log_tail=tail_wanted)
            rid = result.request_id
            rids.append(rid)
            payload = json.loads(result.payload)
            if mode in ("ok", "bad-id"):
                assert not result.function_error, (n, mode, payload)
                if kind == "pipelining":
                    assert payload["n"] == n and payload["rid"] == rid, payload
                    if n and MODES[n - 1] == "bad-id":
                        assert payload["previous"] == [400, 202], payload  # refused, then the real one taken
                    elif n and MODES[n - 1] in ("ok", "error"):
                        assert payload["previous"] == [202], payload
                else:
                    assert payload == {"n": n, "rid": rid}, payload
            elif mode == "error":
                assert result.function_error, (n, payload)
                assert payload["errorMessage"] == f"failed {n}", payload
            else:
                assert result.function_error and result.error_type == "Function.ResponseSizeTooLarge", (n, payload)
            if tail_wanted:
                assert tail is not None
                text = base64.b64decode(tail).decode()
                assert f"handling n={n} rid={rid}" in text, text
                assert f"REPORT RequestId: {rid}" in text, text
                assert f"END RequestId: {rid}" in text, text
                others = set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text))
                assert others <= {rid, "00000000-0000-4000-8000-000000000000"}, text
        # The last invoke's REPORT comes when the runtime asks for its next event: wait for it.
        with trio.fail_after(BOUND):
            await log.wait_for(lambda: any(t.startswith(f"REPORT RequestId: {rids[-1]}") for t in log.texts()))
    assert len(set(rids)) == len(MODES)
    # Platform and function lines, in order: each invoke's START, its own line, END, REPORT, then the next one's START.
    seq = [(line.source, line.text, line.request_id) for line in log.lines
           if (line.source == f.PLATFORM and re.match(r"(START|END|REPORT) RequestId", line.text))
           or (line.source == f.FUNCTION and line.text.startswith("handling "))]
    expected = []
    for n, rid in enumerate(rids):
        expected += [("START", rid), ("handling", rid, f"handling n={n} rid={rid}"), ("END", rid), ("REPORT", rid)]
    got = []
    for source, text, request_id in seq:
        word = text.split()[0]
        if source == f.FUNCTION:
            got.append(("handling", request_id, text.strip()))
        else:
            got.append((word, text.split()[2]))
    assert got == expected, "\n".join(map(str, got))
    for rid in rids:
        report = next(t for t in log.texts(f.PLATFORM) if t.startswith(f"REPORT RequestId: {rid}"))
        assert re.search(r"Max Memory Used: \d+ MB", report), report
