"""From a bug hunt: AWS's own sample extensions (aws-samples/aws-lambda-extensions) run unchanged against lambdatui.

The Extensions, Logs and Telemetry API samples (Python, Node.js, Go; as a layer or a function's `extensions/`) all
ran as their READMEs say they run in Lambda (the report lists them). What failed were the Runtime API proxy samples
(`nodejs-example-lambda-runtime-api-proxy-extension`, `go-example-lambda-runtime-api-proxy-extension`): an extension
that listens on a port of its own, an exec wrapper (`AWS_LAMBDA_EXEC_WRAPPER`) that points the runtime's
`AWS_LAMBDA_RUNTIME_API` at it, and the extension forwarding each runtime call to the real Runtime API. Lambda's
Python runtime (awslambdaric) goes through such a proxy unharmed; lambdatui's own Python runtime does not:

- it pipelines its `/next` behind its `/response` on one connection; a proxy that hands each request it has read to
  its own handler (Node's HTTP server does: a GET's handler runs before a POST's JSON body has been parsed) forwards
  the `/next` first, RAPID gives the runtime the invoke in flight again (RIE `core/states.go`:
  `RuntimeRunningState.Ready` allows it), the handler runs twice and the runtime exits on the second `/response`'s
  403 (400 once the next invoke is in), failing the next invoke;
- it refuses an answer carrying two Content-Length fields that differ, which awslambdaric's libcurl takes (the last);
  the Go sample's proxy copies the upstream's `content-length` (under a lower-case key) and Go's server adds the
  real one, so every invoke fails;
- it asks the Runtime API for `GET /lambdatui/v1/function-init` before its first `/next`, which the proxy sees (and
  the samples log: "logIncomingRequest method=GET url=/lambdatui/v1/function-init", "Path or Protocol Error").

And `go-example-ipc-extension` (an extension serving HTTP on `sandbox.localdomain:2772`, its function calling
`http://localhost:2772/`) fails: `sandbox.localdomain` is an address of the environment's own in 127.0.0.0/8 (README:
so that several environments' listeners can share a port), not 127.0.0.1, so `localhost` finds nothing there.

The proxy below is this file's own: a standard-library program that reads the runtime's requests off the socket,
forwards each to the Runtime API on a connection of its own and answers in order. `PROXY_MODE` picks what it does
like the samples: `reorder` (requests read together: the ones without a body go up first, as Node's server runs
them), `lengths` (its `/next` answers carry the event with a field added, the upstream's Content-Length kept beside
its own). The last test runs awslambdaric through the same proxy, both modes on: it works.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, run_cli, source_lines, write_file
from free_ports import free_port
from sandbox_support import expected_sandbox

PROXY = f"#!{sys.executable}\n" + r'''
import http.client, json, os, socket, sys, threading

UPSTREAM = os.environ["AWS_LAMBDA_RUNTIME_API"]
MODES = set(filter(None, os.environ.get("PROXY_MODE", "").split(",")))
HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive", "accept-encoding", "date"}

def log(*fields):
    print("PROXY " + json.dumps(fields), file=sys.stderr, flush=True)

def take(buf):
    """One whole request off the front of buf: ((method, path, headers, body), rest), else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
    size = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
    if len(buf) < end + 4 + size:
        return None
    return (method, path, headers, buf[end + 4:end + 4 + size]), buf[end + 4 + size:]

def forward(method, path, headers, body):
    upstream = http.client.HTTPConnection(UPSTREAM)
    upstream.request(method, path, body=body if body or method != "GET" else None,
                     headers={k: v for k, v in headers if k.lower() not in HOP})
    answer = upstream.getresponse()
    data = answer.read()
    upstream.close()
    log(method, path, answer.status)
    return answer.status, answer.getheaders(), data

def render(method, path, status, headers, data):
    kept = [(k, v) for k, v in headers if k.lower() not in HOP]
    if "lengths" in MODES and path.endswith("/invocation/next") and status == 200:
        event = json.loads(data)
        event["proxied"] = True
        data = json.dumps(event).encode()
        kept = [(k.lower(), v) for k, v in headers if k.lower() == "content-length"] + kept
    head = "HTTP/1.1 %d Proxied\r\n" % status + "".join("%s: %s\r\n" % kv for kv in kept)
    return (head + "Content-Length: %d\r\n\r\n" % len(data)).encode("latin-1") + data

def serve(conn):
    buf = b""
    while True:
        requests = []
        while True:
            got = take(buf)
            if got is None:
                break
            request, buf = got
            requests.append(request)
        if not requests:
            chunk = conn.recv(65536)
            if not chunk:
                conn.close()
                return
            buf += chunk
            continue
        order = list(range(len(requests)))
        if "reorder" in MODES:
            order.sort(key=lambda i: requests[i][3] != b"")
        answers = {}
        for i in order:
            answers[i] = forward(*requests[i])
        for i, (method, path, _, _) in enumerate(requests):
            conn.sendall(render(method, path, *answers[i]))

listener = socket.create_server(("127.0.0.1", int(os.environ["PROXY_PORT"])))

def accept():
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()

threading.Thread(target=accept, daemon=True).start()
api = http.client.HTTPConnection(UPSTREAM)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({"events": []}),
            headers={"Lambda-Extension-Name": os.path.basename(sys.argv[0])})
registered = api.getresponse()
registered.read()
api.request("GET", "/2020-01-01/extension/event/next",
            headers={"Lambda-Extension-Identifier": registered.getheader("Lambda-Extension-Identifier")})
api.getresponse().read()  # registered for no event: parked here until the environment ends
'''

# The samples' wrapper-script.sh, in a few words: the runtime's Runtime API is the proxy's port.
WRAPPER = '#!/bin/sh\nexport AWS_LAMBDA_RUNTIME_API="127.0.0.1:$PROXY_PORT"\nexec "$@"\n'

HANDLER = '''def handler(event, context):
    print("HANDLED " + context.aws_request_id, flush=True)
    return {"requestId": context.aws_request_id, "proxied": isinstance(event, dict) and event.get("proxied", False)}
'''

# awslambdaric under a custom runtime: exec wrappers are for managed runtimes, so its bootstrap points it itself.
RIC_BOOTSTRAP = f"#!{sys.executable}\nimport os, sys\n" + '''
os.environ["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:" + os.environ["PROXY_PORT"]
os.execv(sys.executable, [sys.executable, "-m", "awslambdaric", "handler.handler"])
'''


def proxied_function(code_dir: Path, mode: str, *, ric: bool = False) -> tuple[Path, list[str]]:
    """The handler with the proxy extension beside it, and the options that run it through the proxy."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "proxy", PROXY, executable=True)
    port = str(free_port())
    options = ["--env", f"PROXY_PORT={port}", "--env", f"PROXY_MODE={mode}", "--timeout", "10"]
    if ric:
        write_file(code_dir / "bootstrap", RIC_BOOTSTRAP, executable=True)
        return code_dir / "bootstrap", options
    write_file(code_dir / "wrapper", WRAPPER, executable=True)
    return handler, [*options, "--env", "AWS_LAMBDA_EXEC_WRAPPER=/var/task/wrapper"]


def proxied_paths(output: str) -> list[str]:
    return [json.loads(line[len("PROXY "):])[1] for line in source_lines(output, "proxy") if line.startswith("PROXY [")]


def invoke_three(served: ServeProcess) -> tuple[list[httpx.Response], str]:
    """Three invokes one after the other; the output once the third one's REPORT is out."""
    answers = [httpx.post(served.invoke_url(), content=json.dumps({"n": n}).encode(), timeout=30) for n in range(3)]
    served.wait_for_lines(r"\[platform\]\s+REPORT RequestId", 3, timeout=30)
    return answers, served.output()


def test_a_runtime_api_proxy_that_answers_each_request_as_read_sees_each_event_handled_once(code_dir: Path) -> None:
    """nodejs-example-lambda-runtime-api-proxy-extension with a Python function: in Lambda awslambdaric sends its
    /next once its /response has been answered (the last test: it works). In lambdatui the first invoke's handler
    ran twice ("HANDLED <id>" twice), the runtime's second /response got 403 InvalidStateTransition (400 with the
    sample), and the next invoke failed with Runtime.ExitError."""
    handler, options = proxied_function(code_dir, "reorder")
    with ServeProcess(handler, *options) as served:
        answers, output = invoke_three(served)
    outcomes = [(a.status_code, a.headers.get("X-Amz-Function-Error"), a.text) for a in answers]
    assert all(status == 200 and error is None for status, error, _ in outcomes), outcomes
    handled = [line for line in source_lines(output, "function") if line.startswith("HANDLED ")]
    assert handled == [f"HANDLED {a.json()['requestId']}" for a in answers], handled


def test_a_proxy_that_keeps_the_upstream_content_length_beside_its_own_is_taken(code_dir: Path) -> None:
    """go-example-lambda-runtime-api-proxy-extension copies every upstream header under a lower-case key, so Go's
    server writes the stale `content-length: 7` and its own `Content-Length: 35`. awslambdaric (bundled libcurl
    7.83.1) takes the event and the invoke succeeds; lambdatui's runtime: `_lambdatui_bootstrap.http_wire.
    ProtocolError: invalid Content-Length: '7, 35'`, Runtime.ExitError on every invoke."""
    handler, options = proxied_function(code_dir, "lengths")
    result = run_cli("invoke", str(handler), *options, "-e", '{"n": 1}')
    assert result.returncode == 0 and json.loads(result.stdout).get("proxied") is True, (result.stdout, result.stderr)


def test_a_runtime_api_proxy_sees_only_runtime_api_calls(code_dir: Path) -> None:
    """The Node.js sample logs `logIncomingRequest method=GET url=/lambdatui/v1/function-init` (and answers 404),
    the Go one `Path or Protocol Error`, on every cold start; awslambdaric's first call is GET /next."""
    handler, options = proxied_function(code_dir, "")
    result = run_cli("invoke", str(handler), *options, "-e", '{"n": 1}')
    assert result.returncode == 0, result.stderr
    paths = proxied_paths(result.stderr)
    assert paths and all(re.match(r"/2018-06-01/runtime/", path) for path in paths), paths


def test_awslambdaric_goes_through_the_same_proxy_unharmed(code_dir: Path) -> None:
    """The reference for the three above: Lambda's Python runtime client through the proxy, both modes on (requests
    read together reordered, the upstream Content-Length kept): each invoke succeeds with the proxy's edit, each event
    is handled once, and the proxy sees only Runtime API calls."""
    bootstrap, options = proxied_function(code_dir, "reorder,lengths", ric=True)
    with ServeProcess(bootstrap, *options) as served:
        answers, output = invoke_three(served)
    assert [(a.status_code, a.headers.get("X-Amz-Function-Error"), a.json().get("proxied")) for a in answers] == [
        (200, None, True)] * 3, [a.text for a in answers]
    handled = [line for line in source_lines(output, "function") if line.startswith("HANDLED ")]
    assert handled == [f"HANDLED {a.json()['requestId']}" for a in answers], handled
    paths = proxied_paths(output)
    assert paths and all(path.startswith("/2018-06-01/runtime/") for path in paths), paths


# go-example-ipc-extension, in a few words: a companion process the function talks to over loopback.
IPC_EXTENSION = f"#!{sys.executable}\n" + r'''
import http.client, json, os, socket, sys, threading

listener = socket.create_server(("sandbox.localdomain", int(os.environ["IPC_PORT"])))

def serve():
    while True:
        conn, _ = listener.accept()
        conn.sendall(b"hello from the extension")
        conn.close()

threading.Thread(target=serve, daemon=True).start()
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({"events": []}),
            headers={"Lambda-Extension-Name": os.path.basename(sys.argv[0])})
registered = api.getresponse()
registered.read()
api.request("GET", "/2020-01-01/extension/event/next",
            headers={"Lambda-Extension-Identifier": registered.getheader("Lambda-Extension-Identifier")})
api.getresponse().read()
'''

IPC_HANDLER = '''import os, socket


def handler(event, context):
    with socket.create_connection(("localhost", int(os.environ["IPC_PORT"])), timeout=5) as conn:
        return {"got": conn.recv(100).decode()}
'''


def test_a_function_reaches_its_extension_on_localhost_where_it_listens_on_sandbox_localdomain(code_dir: Path) -> None:
    """go-example-ipc-extension's README shows its function's `curl http://localhost:2772/` answered "Hello from http
    server" by the extension listening on `sandbox.localdomain:2772`: in Lambda the name is the sandbox's loopback,
    127.0.0.1 (lambda-spec §3.2; RIE-LMI dials 127.0.0.1 for a sandbox.localdomain destination). lambdatui:
    `curl: (7) Failed to connect to localhost port 2772 after 0 ms: Couldn't connect to server`."""
    if expected_sandbox(code_dir).hosts_file is None:
        pytest.skip("no mount namespace here: sandbox.localdomain cannot resolve inside the environment")
    handler = write_file(code_dir / "handler.py", IPC_HANDLER)
    write_file(code_dir / "extensions" / "companion", IPC_EXTENSION, executable=True)
    result = run_cli("invoke", str(handler), "--env", f"IPC_PORT={free_port()}", "-e", "{}")
    assert result.returncode == 0 and json.loads(result.stdout) == {"got": "hello from the extension"}, (
        result.stdout, result.stderr[-2000:])
