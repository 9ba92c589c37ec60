"""Custom runtimes (an executable `bootstrap`, standard library only) that misuse the Runtime API (lambda-spec §1),
from a bug hunt. Each test runs `lambdatui invoke` on a bootstrap written here that makes the calls under test and
prints what it was answered on stderr (`PROBE <json>`), which lambdatui relays tagged `[function]`.

Found and fixed: the response mode was matched case-insensitively (`Streaming` streamed; RAPID takes `streaming`
only), an /init/error without a type header recorded the body's type unsanitised in INIT_REPORT, and an empty
request id got 404 instead of RAPID's 400 InvalidRequestID.
Every run is bounded by `run_cli`'s timeout; nothing is written outside `code_dir`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from e2e_support import API_CALLS_SOURCE, descendants, proc_cmdline, proc_stat, run_cli, write_file

# The helpers every probe bootstrap starts with: one connection per call, the answer's status, body and headers.
PRELUDE = "#!/usr/bin/env python3\nimport http.client, json, os, socket, sys\n" + API_CALLS_SOURCE + '''
MODE = os.environ.get("MODE", "")
api_call = call

def call(method, path, body=None, headers=None, timeout=None):  # the Runtime API's paths, under its version
    return api_call(method, "/2018-06-01" + path, body, headers, timeout)

def next_invoke():
    st, body, h = call("GET", "/runtime/invocation/next")
    return h["Lambda-Runtime-Aws-Request-Id"], body
'''


def probes(stderr: str) -> list[list]:
    return [json.loads(line.split("PROBE ", 1)[1]) for line in stderr.splitlines() if "PROBE [" in line]


def probe(stderr: str, name: str) -> list:
    found = [p for p in probes(stderr) if p and p[0] == name]
    assert found, f"no probe {name!r} in:\n{stderr}"
    return found[0]


def bootstrap(code_dir: Path, body: str) -> Path:
    return write_file(code_dir / "bootstrap", PRELUDE + body, executable=True)


# --------------------------------------------------------------------------------------------------------------
# Request ids and states: Lambda's answers (lambda-spec §1.4, §1.5, §1.9), what lambdatui gets right.

WRONG_IDS = '''
rid, _ = next_invoke()
log("wrong-id", *call("POST", "/runtime/invocation/not-the-id/response", b"x")[:2])
log("init-error-after-next", *call("POST", "/runtime/init/error", b"{}",
                                   {"Lambda-Runtime-Function-Error-Type": "Runtime.X"})[:2])
log("response", *call("POST", f"/runtime/invocation/{rid}/response", b'"one"')[:2])
log("response-again", *call("POST", f"/runtime/invocation/{rid}/response", b'"two"')[:2])
log("error-after-response", *call("POST", f"/runtime/invocation/{rid}/error", b"{}")[:2])
rid2, _ = next_invoke()
log("old-id", *call("POST", f"/runtime/invocation/{rid}/response", b'"old"')[:2])
log("error", *call("POST", f"/runtime/invocation/{rid2}/error", b'{"errorType":"X","errorMessage":"m"}',
                   {"Lambda-Runtime-Function-Error-Type": "Runtime.Boom"})[:2])
log("response-after-error", *call("POST", f"/runtime/invocation/{rid2}/response", b'"late"')[:2])
next_invoke()
'''


def test_wrong_old_and_repeated_answers_get_lambdas_refusals(code_dir: Path) -> None:
    """As RIE answers the same bootstrap (checked side by side): 400 InvalidRequestID for an id that is not the
    invoke in flight (an old one included), 403 InvalidStateTransition naming the states for a second answer, an
    answer of the other kind, and /init/error after /next; the caller gets the first answer only."""
    bootstrap(code_dir, WRONG_IDS)
    done = run_cli("invoke", str(code_dir / "bootstrap"), "-e", "{}", "--repeat", "2", "--timeout", "5")
    assert done.stdout.splitlines() == ['"one"', '{"errorType":"X","errorMessage":"m"}'], done.stderr
    invalid_id = {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
    for name in ("wrong-id", "old-id"):
        status, body = probe(done.stderr, name)[1:]
        assert (status, json.loads(body)) == (400, invalid_id), done.stderr
    expected_403 = {
        "init-error-after-next": "State transition from Running to InitError failed for runtime.",
        "response-again": "State transition from RuntimeResponseSentState to InvocationResponse failed for runtime.",
        "error-after-response":
            "State transition from RuntimeResponseSentState to InvocationErrorResponse failed for runtime.",
        "response-after-error":
            "State transition from RuntimeResponseSentState to InvocationResponse failed for runtime.",
    }
    for name, message in expected_403.items():
        status, body = probe(done.stderr, name)[1:]
        answer = json.loads(body)
        assert status == 403 and answer["errorType"] == "InvalidStateTransition", done.stderr
        assert answer["errorMessage"].startswith(message), done.stderr
    assert probe(done.stderr, "response")[1] == 202 and probe(done.stderr, "error")[1] == 202


EMPTY_ID = '''
rid, _ = next_invoke()
log("empty-id", *call("POST", "/runtime/invocation//response", b'"x"')[:2])
call("POST", f"/runtime/invocation/{rid}/response", b'"ok"')
next_invoke()
'''


def test_an_empty_request_id_is_invalid_request_id(code_dir: Path) -> None:
    bootstrap(code_dir, EMPTY_ID)
    done = run_cli("invoke", str(code_dir / "bootstrap"), "-e", "{}", "--timeout", "5")
    status, body = probe(done.stderr, "empty-id")[1:]
    assert (status, json.loads(body)["errorType"]) == (400, "InvalidRequestID"), done.stderr


# --------------------------------------------------------------------------------------------------------------
# Lambda-Runtime-Function-Response-Mode: RAPID takes `streaming`, exactly.

RESPONSE_MODE = '''
rid, body = next_invoke()
mode = json.loads(body)["mode"]
log("mode", *call("POST", f"/runtime/invocation/{rid}/response", b'"x"',
                  {"Lambda-Runtime-Function-Response-Mode": mode})[:2])
next_invoke()
'''


def test_an_unknown_response_mode_fails_the_invoke_with_runtime_invalid_response_mode_header(code_dir: Path) -> None:
    bootstrap(code_dir, RESPONSE_MODE)
    done = run_cli("invoke", str(code_dir / "bootstrap"), "-e", '{"mode": "buffered"}', "--timeout", "5")
    status, body = probe(done.stderr, "mode")[1:]
    assert (status, json.loads(body)) == (
        400, {"errorMessage": "Invalid function response mode", "errorType": "InvalidFunctionResponseMode"})
    assert json.loads(done.stdout)["errorType"] == "Runtime.InvalidResponseModeHeader", done.stdout
    assert done.returncode == 1


@pytest.mark.parametrize("mode", ["Streaming", "STREAMING"])
def test_the_response_mode_is_matched_exactly_as_rapid_does(code_dir: Path, mode: str) -> None:
    bootstrap(code_dir, RESPONSE_MODE)
    done = run_cli("invoke", str(code_dir / "bootstrap"), "-e", json.dumps({"mode": mode}), "--timeout", "5")
    assert probe(done.stderr, "mode")[1] == 400, done.stderr
    assert json.loads(done.stdout)["errorType"] == "Runtime.InvalidResponseModeHeader", done.stdout


# --------------------------------------------------------------------------------------------------------------
# /init/error: what INIT_REPORT records is the header's type, sanitised (lambda-spec §1.5, §1.6).

INIT_ERROR = '''
headers = {"Lambda-Runtime-Function-Error-Type": MODE} if MODE else {}
log("init-error", *call("POST", "/runtime/init/error",
                        b'{"errorMessage":"cannot start","errorType":"MyInitProblem"}', headers)[:2])
log("init-error-again", *call("POST", "/runtime/init/error", b"{}", headers)[:2])
log("next-after-init-error", *call("GET", "/runtime/invocation/next", timeout=5)[:2])
sys.exit(0)
'''


def init_report_types(stderr: str) -> list[str]:
    return [line.rsplit("Error Type: ", 1)[1].strip() for line in stderr.splitlines()
            if "INIT_REPORT" in line and "Error Type: " in line]


def test_an_init_error_with_an_unsanitary_header_is_runtime_unknown_and_later_calls_are_refused(
        code_dir: Path) -> None:
    bootstrap(code_dir, INIT_ERROR)
    done = run_cli("invoke", str(code_dir / "bootstrap"), "--timeout", "3", "--env", "MODE=NotAType")
    assert probe(done.stderr, "init-error")[1] == 202
    for name, target in (("init-error-again", "InitError"), ("next-after-init-error", "Ready")):
        status, body = probe(done.stderr, name)[1:]
        assert status == 403 and f"State transition from InitError to {target}" in body, done.stderr
    assert init_report_types(done.stderr) == ["Runtime.Unknown", "Runtime.Unknown"], done.stderr
    # The caller of the first invoke gets the body the runtime posted, untouched.
    assert json.loads(done.stdout) == {"errorMessage": "cannot start", "errorType": "MyInitProblem"}


def test_an_init_error_without_a_header_never_records_an_unsanitised_type(code_dir: Path) -> None:
    bootstrap(code_dir, INIT_ERROR)
    done = run_cli("invoke", str(code_dir / "bootstrap"), "--timeout", "3")
    types = init_report_types(done.stderr)
    assert types and all(t in ("Runtime.Unknown",) or t.startswith(("Runtime.", "Function.")) for t in types), \
        done.stderr


# --------------------------------------------------------------------------------------------------------------
# Bodies and framing: the 6 MB limit to the byte, a Content-Length the body never reaches, and garbage requests.

SIZED = '''
while True:
    rid, body = next_invoke()
    size = json.loads(body)["size"]
    log("sized", size, *call("POST", f"/runtime/invocation/{rid}/response", b'"' + b"a" * (size - 2) + b'"')[:2])
'''


def test_a_response_of_exactly_the_limit_passes_and_one_byte_more_is_function_response_size_too_large(
        code_dir: Path) -> None:
    bootstrap(code_dir, SIZED)
    ok = run_cli("invoke", str(code_dir / "bootstrap"), "-e", '{"size": 6291556}', "--timeout", "10")
    assert ok.returncode == 0 and len(ok.stdout.rstrip("\n")) == 6291556, ok.stderr[-2000:]
    assert probe(ok.stderr, "sized")[2] == 202
    over = run_cli("invoke", str(code_dir / "bootstrap"), "-e", '{"size": 6291557}', "--timeout", "10")
    assert probe(over.stderr, "sized")[2:] == [
        413, '{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).",'
             '"errorType":"RequestEntityTooLarge"}']
    assert json.loads(over.stdout)["errorType"] == "Function.ResponseSizeTooLarge"


RAW = '''
host, port = API.split(":")

def raw(data, half_close=False):
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError) as e:
                return out.decode(errors="replace") + "<<" + type(e).__name__ + ">>"
            if not chunk:
                return out.decode(errors="replace")
            out += chunk
    finally:
        s.close()

log("garbage", raw(b"\\x00\\xff garbage\\r\\n\\r\\n"))
log("huge-header", raw(b"GET /2018-06-01/ping HTTP/1.1\\r\\nHost: x\\r\\nX-Big: " + b"a" * (1 << 20) + b"\\r\\n\\r\\n"))
log("bad-length", raw(b"POST /2018-06-01/runtime/init/error HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: -5\\r\\n\\r\\n"))
log("http2", raw(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n"))
rid, _ = next_invoke()
log("short-body", raw(b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\\r\\nHost: x\\r\\n"
                      b"Content-Length: 100\\r\\n\\r\\n\\"partial" % rid.encode(), half_close=True))
rid, _ = next_invoke()
call("POST", f"/runtime/invocation/{rid}/response", b'"after"')
next_invoke()
'''


def test_garbage_requests_are_refused_and_a_body_cut_short_fails_only_its_invoke(code_dir: Path) -> None:
    bootstrap(code_dir, RAW)
    done = run_cli("invoke", str(code_dir / "bootstrap"), "-e", "{}", "--repeat", "2", "--timeout", "5")
    for name, status in (("garbage", "400"), ("huge-header", "431"), ("bad-length", "400"), ("http2", "505")):
        answer = probe(done.stderr, name)[1]
        assert answer.startswith(f"HTTP/1.1 {status} ") and "Connection: close" in answer, (name, answer)
    lines = done.stdout.splitlines()
    assert json.loads(lines[0])["errorType"] == "Runtime.TruncatedResponse", done.stdout
    assert lines[1] == '"after"', done.stdout  # the runtime went on, the environment was not reset
    assert "INIT_START" in done.stderr and done.stderr.count("INIT_START") == 1, done.stderr


# --------------------------------------------------------------------------------------------------------------
# A runtime that abuses its output and leaves a daemon: the host relays what it can and leaves nothing behind.

NOISY_DAEMON = '''
import time
os.write(1, bytes(range(256)) * 4 + b"\\n")
os.write(1, b"A" * (1 << 20))               # a 1 MB line without a newline
os.write(2, b"\\xff\\xfe\\x00 binary \\x1b[31mred\\x1b[0m\\n")
if os.fork() == 0:                           # a daemon that outlives the runtime
    os.setsid()
    if os.fork() == 0:
        print("PROBE " + json.dumps(["daemon", os.getpid()]), file=sys.stderr, flush=True)
        os.closerange(0, 3)
        os.execv(sys.executable, [sys.executable, "-c", "import time\\nwhile True: time.sleep(1)", MODE])
    os._exit(0)
os.wait()
rid, _ = next_invoke()
os.close(1)                                  # stdout closed mid-life
call("POST", f"/runtime/invocation/{rid}/response", b'"fine"')
next_invoke()
'''


def test_binary_output_a_huge_line_a_closed_stdout_and_a_daemon_leave_nothing_behind(code_dir: Path) -> None:
    bootstrap(code_dir, NOISY_DAEMON)
    before = set(descendants(os.getpid()))
    marker = f"hunt-daemon-{code_dir.name}"  # the daemon's command line carries it
    done = run_cli("invoke", str(code_dir / "bootstrap"), "-e", "{}", "--timeout", "5", "--env", f"MODE={marker}")
    assert done.returncode == 0 and done.stdout == '"fine"\n', done.stderr[-3000:]
    relayed = [line for line in done.stderr.splitlines() if line.startswith("[function]")]
    assert sum(line.count("A") for line in relayed) >= 1 << 20, "the 1 MB line was not relayed whole"
    assert any("\\x1b[31mred" in line for line in relayed), "an escape sequence reached the terminal raw"
    assert not set(descendants(os.getpid())) - before
    assert probe(done.stderr, "daemon")[1]  # it did start (its pid is its PID namespace's)
    # Nothing anywhere still runs the bootstrap (the daemon's command line is the runtime's).
    assert not processes_running(marker), processes_running(marker)


def processes_running(marker: str) -> list[str]:
    """Every live process whose command line holds `marker`, this test's own excepted."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            stat = proc_stat(int(entry))
            line = proc_cmdline(int(entry))
            if marker in line and stat is not None and stat[0] not in "ZXx":
                found.append(f"{entry}: {line}")
    return found
