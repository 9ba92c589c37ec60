"""Request bodies the sandbox API's framing cannot read, end to end: real processes, real HTTP, the real CLI
(lambda-spec §1.4-§1.8, §2.4).

Chunks that cannot be parsed are answered 400 by the framing, which then closes the connection. What the request
meant must still reach the core, or the lifecycle waits for a call that never comes:

* a /response, streamed or buffered, fails its invoke at once with Runtime.TruncatedResponse, as a body cut short
  does (RAPID fails it so on any error reading the body), and the runtime's next /next is taken;
* an error report (the runtime's /init/error and /restore/error, an extension's /init/error and /exit/error) is
  taken, its type from its header: RAPID takes those without reading, or without needing, their bodies.

Each runtime or extension prints what the API answered it, as the function's log.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from e2e_support import platform_lines, run_cli, write_file

TIMEOUT_S = 30  # the function's: an answer well within it came from the runtime's call, not from a timeout
BROKEN_CHUNKS = b"5\r\nhello\r\nzz\r\n"  # a first chunk, then a chunk size that is not hexadecimal

# Sends what the socket is given, then reads the answer to its end (the server closes after a malformed body) and
# prints "<label> answer: <status> <errorType>".
SEND_BROKEN = '''
def send_broken(label, head):
    raw = socket.create_connection((host, int(port)))
    raw.sendall(head.encode() + b"Transfer-Encoding: chunked\\r\\n\\r\\n" + {broken!r})
    data = b""
    while True:
        more = raw.recv(65536)
        if not more:
            break
        data += more
    raw.close()
    status = data.split(b" ", 2)[1].decode()
    print("%s answer: %s %s" % (label, status, json.loads(data.partition(b"\\r\\n\\r\\n")[2])["errorType"]), flush=True)
'''

# Its first invoke's /response has broken chunks (streamed or not, as MODE says); later ones answer {"invokes": n}.
# A refused /next ends it, as it ends awslambdaric.
BROKEN_RESPONSE_RUNTIME = '''#!{python}
import http.client, json, os, socket, sys
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
MODE = {mode!r}
''' + SEND_BROKEN + '''
nexts = http.client.HTTPConnection(host, int(port))
invokes = 0
while True:
    nexts.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = nexts.getresponse()
    event = answer.read()
    if answer.status != 200:
        sys.exit("next refused: %d %s" % (answer.status, event.decode()))
    invokes += 1
    path = "/2018-06-01/runtime/invocation/%s/response" % answer.getheader("Lambda-Runtime-Aws-Request-Id")
    if invokes > 1:
        nexts.request("POST", path, json.dumps({{"invokes": invokes}}))
        nexts.getresponse().read()
        continue
    head = "POST %s HTTP/1.1\\r\\nHost: %s:%s\\r\\nContent-Type: text/plain\\r\\n" % (path, host, port)
    if MODE == "streaming":
        head += "Lambda-Runtime-Function-Response-Mode: streaming\\r\\n"
    send_broken("response", head)
'''

# Reports a failed Init (MODE "init") or, restored from a snapshot, a failed restore (MODE "restore") with broken
# chunks as the error's body, then exits as awslambdaric does after either report.
BROKEN_REPORT_RUNTIME = '''#!{python}
import http.client, json, os, socket, sys
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
MODE = {mode!r}
''' + SEND_BROKEN + '''
if MODE == "restore":
    restored = http.client.HTTPConnection(host, int(port))
    restored.request("GET", "/2018-06-01/runtime/restore/next")
    print("restore/next %d" % restored.getresponse().status, flush=True)
    error_type = "Runtime.AfterRestoreError"
else:
    error_type = "Runtime.BrokenConfig"
send_broken(MODE + "/error", "POST /2018-06-01/runtime/%s/error HTTP/1.1\\r\\nHost: %s:%s\\r\\n"
            "Lambda-Runtime-Function-Error-Type: %s\\r\\n" % (MODE, host, port, error_type))
sys.exit(65 if MODE == "restore" else 1)
'''

# Registers, reports an error (WHICH: init/error or exit/error) with broken chunks as its body, then exits.
BROKEN_REPORT_EXTENSION = '''#!{python}
import http.client, json, os, socket, sys
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
''' + SEND_BROKEN + '''
api = http.client.HTTPConnection(host, int(port))
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["INVOKE"]}}),
            headers={{"Lambda-Extension-Name": "broken"}})
registered = api.getresponse()
registered.read()
which = os.environ["WHICH"]
send_broken(which, "POST /2020-01-01/extension/%s HTTP/1.1\\r\\nHost: %s:%s\\r\\nLambda-Extension-Identifier: %s\\r\\n"
            "Lambda-Extension-Function-Error-Type: Extension.Broken\\r\\n"
            % (which, host, port, registered.getheader("Lambda-Extension-Identifier")))
sys.exit(1)
'''

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


def said(stderr: str, source: str, label: str) -> list[str]:
    """What a participant printed about its `label` call's answer ("400 InvalidRequestFormat")."""
    return re.findall(rf"\[{source}\]\s+{re.escape(label)} answer: (.*)$", stderr, re.M)


@pytest.mark.parametrize("mode", ["streaming", "buffered"])
def test_a_response_with_broken_chunks_fails_its_invoke_at_once_and_the_runtime_goes_on(code_dir: Path,
                                                                                        mode: str) -> None:
    bootstrap = write_file(code_dir / "bootstrap", BROKEN_RESPONSE_RUNTIME.format(
        python=sys.executable, mode=mode, broken=BROKEN_CHUNKS), executable=True)
    started = time.monotonic()
    done = run_cli("invoke", str(bootstrap), "--repeat", "2", "--timeout", str(TIMEOUT_S))
    assert time.monotonic() - started < TIMEOUT_S / 2, "answered by the timeout, not by the broken body"
    first, second = [json.loads(line) for line in done.stdout.splitlines()]
    assert first["errorType"] == "Runtime.TruncatedResponse", (first, done.stderr)
    # The framing's answer to the runtime; its next /next was taken: the same process answers the next invoke.
    assert said(done.stderr, "function", "response") == ["400 InvalidRequestFormat"], done.stderr
    assert second == {"invokes": 2}, done.stderr
    assert [line.split(" ", 1)[0] for line in platform_lines(done.stderr)].count("INIT_START") == 1


@pytest.mark.parametrize("which, error_type", [("init/error", "Extension.InitError"),
                                               ("exit/error", "Extension.ExitError")])
def test_an_extensions_error_report_with_broken_chunks_is_still_taken(code_dir: Path, which: str,
                                                                     error_type: str) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "broken", BROKEN_REPORT_EXTENSION.format(
        python=sys.executable, broken=BROKEN_CHUNKS), executable=True)
    done = run_cli("invoke", str(handler), "--env", f"WHICH={which}", "--timeout", str(TIMEOUT_S))
    assert said(done.stderr, "broken", which)[0] == "400 InvalidRequestFormat", done.stderr
    # The report took effect: the extension's exit is the error it reported, not a crash.
    assert json.loads(done.stdout)["errorType"] == error_type, (done.stdout, done.stderr)


def test_a_runtimes_init_error_with_broken_chunks_is_still_taken(code_dir: Path) -> None:
    bootstrap = write_file(code_dir / "bootstrap", BROKEN_REPORT_RUNTIME.format(
        python=sys.executable, mode="init", broken=BROKEN_CHUNKS), executable=True)
    done = run_cli("invoke", str(bootstrap), "--timeout", str(TIMEOUT_S))
    assert said(done.stderr, "function", "init/error")[0] == "400 InvalidRequestFormat", done.stderr
    assert json.loads(done.stdout)["errorType"] == "Runtime.BrokenConfig", (done.stdout, done.stderr)


def test_a_runtimes_restore_error_with_broken_chunks_is_still_taken(code_dir: Path) -> None:
    bootstrap = write_file(code_dir / "bootstrap", BROKEN_REPORT_RUNTIME.format(
        python=sys.executable, mode="restore", broken=BROKEN_CHUNKS), executable=True)
    done = run_cli("invoke", str(bootstrap), "--snapstart", "--timeout", str(TIMEOUT_S))
    assert said(done.stderr, "function", "restore/error") == ["400 InvalidRequestFormat"], done.stderr
    assert json.loads(done.stdout)["errorType"] == "SnapStartException", done.stdout
    lines = [line.rstrip() for line in platform_lines(done.stderr)]
    assert re.fullmatch(r"RESTORE_REPORT Restore Duration: [\d.]+ ms\tStatus: error\t"
                        r"Error Type: Runtime\.AfterRestoreError", lines[-1]), lines
