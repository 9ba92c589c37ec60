"""Item 3: a custom runtime and an external extension that each keep ONE keep-alive socket lose nothing.

Both speak HTTP/1.1 by hand over a single socket they never reopen: if lambdatui's server closed it (an
idle timeout, a `Connection: close`, a dropped request), they exit with a message and the invoke fails.
At SHUTDOWN the extension prints how many invokes it saw on its socket (a line of its log), which the test reads.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

from acceptance_support import cli, reports, write

RAW_HTTP = r'''
import json, os, socket, sys, time

HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
SOCK = socket.create_connection((HOST, int(PORT)))
READER = SOCK.makefile("rb")
WHO = sys.argv[0]


def die(why):
    sys.stderr.write(f"{WHO}: one socket broke: {why}\n")
    sys.stderr.flush()
    os._exit(3)


def request(method, path, body=b"", headers=()):
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{PORT}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    try:
        SOCK.sendall(head.encode() + body)
        status = READER.readline()
    except OSError as exc:
        die(repr(exc))
    if not status:
        die(f"closed by the server before answering {method} {path}")
    code = int(status.split()[1])
    fields = {}
    while True:
        line = READER.readline()
        if not line:
            die("closed inside the headers")
        if line == b"\r\n":
            break
        key, value = line.decode("latin-1").split(":", 1)
        fields[key.strip().lower()] = value.strip()
    if fields.get("transfer-encoding", "").lower() == "chunked":
        data = b""
        while True:
            size = int(READER.readline().split(b";")[0], 16)
            chunk = READER.read(size + 2)
            if size == 0:
                break
            data += chunk[:-2]
    else:
        data = READER.read(int(fields.get("content-length", "0")))
    if fields.get("connection", "").lower() == "close":
        die(f"server said Connection: close on {method} {path}")
    return code, fields, data
'''

RUNTIME = f"#!{sys.executable}\n" + RAW_HTTP + r'''
IDLE_AFTER_FIRST = float(os.environ.get("IDLE_AFTER_FIRST", "0"))
n = 0
while True:
    code, fields, event = request("GET", "/2018-06-01/runtime/invocation/next")
    if code != 200:
        die(f"next answered {code}")
    n += 1
    request_id = fields["lambda-runtime-aws-request-id"]
    body = json.dumps({"n": n, "event": json.loads(event)}).encode()
    code, _, _ = request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body,
                         [("Content-Type", "application/json")])
    if code != 202:
        die(f"response answered {code}")
    if n == 1 and IDLE_AFTER_FIRST:
        time.sleep(IDLE_AFTER_FIRST)  # the socket sits idle, between requests
'''

EXTENSION = f"#!{sys.executable}\n" + RAW_HTTP + r'''
IDLE_AFTER_FIRST = float(os.environ.get("IDLE_AFTER_FIRST", "0"))
code, fields, _ = request("POST", "/2020-01-01/extension/register", json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
                          [("Lambda-Extension-Name", "onesock")])
if code != 200:
    die(f"register answered {code}")
ext_id = fields["lambda-extension-identifier"]
invokes = 0
while True:
    code, _, data = request("GET", "/2020-01-01/extension/event/next", headers=[("Lambda-Extension-Identifier", ext_id)])
    if code != 200:
        die(f"next answered {code}")
    event = json.loads(data)
    if event["eventType"] == "SHUTDOWN":
        print("onesock " + json.dumps({"invokes": invokes, "reason": event["shutdownReason"]}), flush=True)
        sys.exit(0)
    invokes += 1
    if invokes == 1 and IDLE_AFTER_FIRST:
        time.sleep(IDLE_AFTER_FIRST)
'''

INVOKES = 2100


def make(code_dir, with_extension: bool):
    bootstrap = write(code_dir / "bootstrap", RUNTIME, executable=True, dedent=False)
    if with_extension:
        write(code_dir / "extensions" / "onesock", EXTENSION, executable=True, dedent=False)
    return bootstrap


def extension_saw(stderr: str) -> dict:
    """What the extension printed at SHUTDOWN: exactly one line."""
    seen = re.findall(r"onesock (\{.*\})$", stderr, re.M)
    assert len(seen) == 1, stderr[-3000:]
    return json.loads(seen[0])


def check_all_answered(result, count: int) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "one socket broke" not in result.stderr, result.stderr[-3000:]
    bodies = [json.loads(line) for line in result.stdout.splitlines()]
    assert [b["n"] for b in bodies] == list(range(1, count + 1))  # one process, one socket, every invoke
    assert all(b["event"] == {"k": 1} for b in bodies)
    rep = reports(result.stderr)
    assert len(rep) == count and not any("Status:" in line for line in rep), [l for l in rep if "Status" in l][:3]


@pytest.mark.slow
def test_custom_runtime_and_extension_each_on_one_socket_for_2100_invokes(code_dir):
    bootstrap = make(code_dir, with_extension=True)
    result = cli("invoke", bootstrap, "-e", '{"k": 1}', "--repeat", str(INVOKES), timeout=120)
    check_all_answered(result, INVOKES)
    seen = extension_saw(result.stderr)
    assert seen == {"invokes": INVOKES, "reason": "spindown"}


@pytest.mark.slow
def test_one_socket_idle_past_a_five_second_keepalive_is_kept(code_dir):
    """Both sit idle on their socket for 5.5 s after the first invoke (a common server keep-alive is 5 s)."""
    bootstrap = make(code_dir, with_extension=True)
    result = cli("invoke", bootstrap, "-e", '{"k": 1}', "--repeat", "3", "--timeout", "10",
                 "--env", "IDLE_AFTER_FIRST=5.5", timeout=60)
    check_all_answered(result, 3)
    assert extension_saw(result.stderr) == {"invokes": 3, "reason": "spindown"}
