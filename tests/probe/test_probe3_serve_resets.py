"""Probe (round 3): crashes, timeouts and resets through `lambdatui serve`'s Invoke API, with the early /next answer
(Exchange.answer_now) and the sandbox init that joins its cgroup before it forks pid 1 (sandbox_init.py).

Real `lambdatui serve` subprocesses, real HTTP (httpx) on loopback, real runtimes: lambdatui's Python bootstrap and a
raw-socket custom runtime. After each reset the environment's old sandbox init (a fork of its keeper,
`python -I -S .../sandbox_init.py`) must end, and its cgroup go; after serve ends, nothing of it is left. `invoke --record` then `replay` of the same
crash/timeout scenarios must pass.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from e2e_support import ServeProcess, descendants, run_cli, wait_all_gone, write_file  # noqa: E402

from probe_support import cgroups_of, life_inits, sandbox_inits, wait_paths_gone  # noqa: E402

BOUND = 30.0

HANDLER = '''\
import json, os, tempfile, time

TOKEN = os.urandom(8).hex()  # one per runtime process (its pid is 2 in every PID namespace)

def handler(event, context):
    mode = event.get("mode")
    if mode == "crash":
        os._exit(7)  # right after reading its event, before any response
    if mode == "sleep":
        time.sleep(event.get("seconds", 3))
    if mode == "alternate":  # crashes every other invoke of the environment, counted on its /tmp (kept by resets)
        path = os.path.join(tempfile.gettempdir(), "alternate")
        with open(path, "a") as fh:
            fh.write("x")
        if os.path.getsize(path) % 2 == 1:
            os._exit(3)
        return {"lines": os.path.getsize(path)}  # the same on a replay: no token, no request id
    return {"event": event, "pid": TOKEN, "rid": context.aws_request_id}
'''

RAW_CRASHER = r'''#!{python}
import json, os, socket
TOKEN = os.urandom(8).hex()
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
buf = b""


def response():
    global buf
    while b"\r\n\r\n" not in buf:
        more = s.recv(65536)
        if not more:
            raise SystemExit("closed")
        buf += more
    head, buf = buf.split(b"\r\n\r\n", 1)
    headers = {{}}
    for line in head.decode().split("\r\n")[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", 0))
    while len(buf) < n:
        buf += s.recv(65536)
    body, buf = buf[:n], buf[n:]
    return headers, body


while True:
    s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
    headers, body = response()
    event = json.loads(body)
    if event.get("crash"):
        os._exit(9)  # it has its event, and ends without a word
    rid = headers["lambda-runtime-aws-request-id"]
    out = json.dumps({{"event": event, "pid": TOKEN, "rid": rid}}).encode()
    s.sendall(b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
              % (rid.encode(), len(out)) + out)
    response()
'''


def invoke(client: httpx.Client, server: ServeProcess, event: dict) -> tuple[httpx.Response, dict]:
    response = client.post(server.invoke_url(), content=json.dumps(event), timeout=BOUND)
    assert response.status_code == 200, response.text
    return response, response.json()


def assert_ok(response: httpx.Response, body: dict, event: dict) -> None:
    assert response.headers.get("x-amz-function-error") is None, body
    assert body["event"] == event
    assert body["rid"] == response.headers["x-amzn-requestid"]


def assert_exit_error(response: httpx.Response, body: dict) -> None:
    assert response.headers.get("x-amz-function-error") == "Unhandled", body
    assert body["errorType"] == "Runtime.ExitError", body


# --------------------------------------------------------------------------- crash right after reading the event


@pytest.mark.parametrize("runtime", ["python", "raw"])
def test_a_runtime_that_dies_holding_its_event_fails_that_invoke_and_the_next_gets_a_fresh_one(
        code_dir: Path, runtime: str) -> None:
    if runtime == "python":
        path = write_file(code_dir / "handler.py", HANDLER)
        crash = {"mode": "crash"}
    else:
        path = write_file(code_dir / "bootstrap", RAW_CRASHER.format(python=sys.executable), executable=True)
        crash = {"crash": True}
    with ServeProcess(path, "--concurrency", "1") as server, httpx.Client() as client:
        first, body = invoke(client, server, {"n": 0})
        assert_ok(first, body, {"n": 0})
        pid = body["pid"]
        for n in range(1, 4):
            response, failed = invoke(client, server, crash)
            assert_exit_error(response, failed)
            after, body = invoke(client, server, {"n": n})
            assert_ok(after, body, {"n": n})
            assert body["pid"] != pid  # a fresh runtime
            pid = body["pid"]
            assert after.headers["x-amzn-requestid"] != response.headers["x-amzn-requestid"]


def test_a_timeout_then_the_next_invoke_gets_a_fresh_runtime_and_its_own_event(code_dir: Path) -> None:
    """One caller, one invoke at a time, at reserved concurrency 1: never above the limit, so never throttled. The
    invoke right after a timeout (sent as soon as the timeout's answer is in, as any retrying client does) must run,
    in a fresh runtime, with its own event."""
    path = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(path, "--concurrency", "1", "--timeout", "1") as server, httpx.Client() as client:
        _, warm = invoke(client, server, {"n": 0})
        started = time.monotonic()
        response, timed_out = invoke(client, server, {"mode": "sleep", "seconds": 3})
        assert time.monotonic() - started < 2.8, "the timeout did not end the invoke"
        assert response.headers.get("x-amz-function-error") == "Unhandled"
        assert timed_out["errorType"] == "Sandbox.Timedout", timed_out
        assert "Task timed out after 1.00 seconds" in timed_out["errorMessage"]
        after = client.post(server.invoke_url(), content=json.dumps({"n": 1}), timeout=BOUND)
        assert after.status_code == 200, (
            f"a sequential caller was throttled right after a timeout: {after.status_code} {after.text}; "
            + " | ".join(line for line in server.lines if "throttled" in line))
        body = after.json()
        assert_ok(after, body, {"n": 1})
        assert body["pid"] != warm["pid"]


# --------------------------------------------------------------------------- many resets in a row


def test_twenty_invokes_crashing_every_other_one_leave_one_init_and_one_cgroup_each_time(code_dir: Path) -> None:
    path = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(path, "--concurrency", "1") as server, httpx.Client() as client:
        serve_pid = server.proc.pid
        inits_seen: dict[int, int] = {}
        keepers_seen: dict[int, int] = {}
        cgroups_seen: set[Path] = set()
        pids = []
        for n in range(20):
            response, body = invoke(client, server, {"mode": "alternate", "n": n})
            if n % 2 == 0:
                assert_exit_error(response, body)
            else:
                assert response.headers.get("x-amz-function-error") is None, body
                assert body == {"lines": n + 1}
                pids.append(response.headers["x-amzn-requestid"])
            inits_seen.update(life_inits(serve_pid))
            keepers_seen.update(sandbox_inits(serve_pid))
            cgroups_seen.update(cgroups_of(serve_pid))
        assert len(set(pids)) == 10, pids
        assert len(keepers_seen) == 1 and sandbox_inits(serve_pid) == keepers_seen  # one environment: one keeper
        current = life_inits(serve_pid)
        assert len(current) == 1, current  # one life at a time: one init
        old = {pid: start for pid, start in inits_seen.items() if pid not in current}
        assert len(old) >= 9, inits_seen  # a new init per reset (each crash resets)
        left = wait_all_gone(old, 10)
        assert left == {}, left  # a reset's init does not outlive its environment
        if cgroups_seen:
            live = set(cgroups_of(serve_pid))
            stale = wait_paths_gone(sorted(cgroups_seen - set(cgroups_of(serve_pid))), 10)
            assert stale == [], stale
            assert len(live) <= 2, live  # the v2 cgroup, and the v1 memory one where it is separate
        everything = descendants(serve_pid)
        server.signal(signal.SIGTERM)
        assert server.wait(BOUND) == 0
    assert wait_all_gone(everything, 10) == {}
    assert wait_paths_gone(sorted(cgroups_seen), 10) == []
    assert cgroups_of(serve_pid) == []


# --------------------------------------------------------------------------- recorded, then replayed


@pytest.mark.parametrize("scenario", ["alternate", "timeout"])
def test_a_recorded_reset_scenario_replays_to_the_same_outcome(code_dir: Path, scenario: str) -> None:
    path = write_file(code_dir / "handler.py", HANDLER)
    record = code_dir / f"{scenario}.toml"
    if scenario == "alternate":
        args = ["--repeat", "4", "-e", '{"mode": "alternate"}']
    else:
        args = ["--timeout", "1", "--repeat", "2", "-e", '{"mode": "sleep", "seconds": 3}']
    done = run_cli("invoke", str(path), *args, "--record", str(record))
    assert done.returncode == 1, done.stderr[-2000:]  # some invoke failed
    outputs = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if scenario == "alternate":
        assert [o.get("errorType") for o in outputs] == ["Runtime.ExitError", None, "Runtime.ExitError", None]
    else:
        assert [o.get("errorType") for o in outputs] == ["Sandbox.Timedout", "Sandbox.Timedout"]
    text = record.read_text()
    assert "[[step]]" in text
    replayed = run_cli("replay", str(path), str(record), *(["--timeout", "1"] if scenario == "timeout" else []))
    assert replayed.returncode == 0, (text, replayed.stdout[-3000:], replayed.stderr[-3000:])
    # and once more, the scenario's own replay command as the header names it
    header = next(line for line in text.splitlines() if "lambdatui replay" in line)
    assert "replay" in header
