"""Hunt: the fleet under many callers at once, throttles, Event invokes and their retries (lambda-spec §7, §11).

Real `lambdatui serve` processes driven by boto3 and raw sockets from many threads: RequestResponse, Event and
DryRun side by side with log tails, qualifiers and client contexts at the concurrency limit; a crash in one
environment while others run; serve killed while environments cold-start; a recording whose Event retries ran
before a later invoke, replayed; a caller's reset while its environment cold-starts, which must not drop the invoke.

Every wait is on a line serve prints, a thread's answer or a /proc state, with a bound; environments are held
busy by a file the test creates (`release`), never by a sleep.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import socket
import struct
import threading
import uuid
from pathlib import Path
from typing import Iterator, Optional

import boto3
import httpx
import pytest
from botocore.config import Config

from e2e_support import ServeProcess, proc_stat, run_cli, wait_all_gone, write_file
from retry_support import DISCARDED, REPORT, send_event
from test_fleet_support import FLEET_HANDLER, READY, wait_for_count, wait_until

pytestmark = pytest.mark.timeout(120)

LIMIT = 3  # the shared server's --concurrency
THROTTLE_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"

# Says everything a caller sent that the function sees (tag, qualifier in its ARN, client context), on its own
# lines and in its answer; holds until `release` exists; `exit` then crashes its runtime.
HANDLER = '''import os
import time
import uuid

TOKEN = uuid.uuid4().hex[:12]  # one per runtime process
served = 0


def handler(event, context):
    global served
    served += 1
    tag = event.get("tag", "-")
    cc = context.client_context.custom if context.client_context is not None else None
    print(f"seen tag={tag} arn={context.invoked_function_arn} cc={cc} rid={context.aws_request_id}", flush=True)
    print(f"ready tag={tag} token={TOKEN} n={served}", flush=True)
    release = event.get("release")
    if release:
        while not os.path.exists(release):
            time.sleep(0.005)
    if event.get("exit"):
        os._exit(event["exit"])
    print(f"done tag={tag}", flush=True)
    return {"tag": tag, "token": TOKEN, "n": served, "arn": context.invoked_function_arn, "cc": cc,
            "rid": context.aws_request_id}
'''
SEEN = r"#(\d+) \[function\]\s+seen tag=(\S+) arn=(\S+) cc=(.*) rid=([0-9a-f-]+)$"
HELD = r"#(\d+) \[function\]\s+ready tag=(\S+) token=(\w+) n=(\d+)"


def boto(served: ServeProcess):
    return boto3.client("lambda", endpoint_url=served.base_url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 0}, read_timeout=30, connect_timeout=5))


def matches_since(served: ServeProcess, pattern: str, start: int) -> list[re.Match[str]]:
    """The matches of `pattern` among serve's lines from line `start` on."""
    regex = re.compile(pattern)
    return [m for m in map(regex.search, served.output().splitlines()[start:]) if m]


def decoded_tail(answer: dict) -> str:
    return base64.b64decode(answer["LogResult"]).decode()


@pytest.fixture(scope="module")
def fleet(module_code_dir: Path) -> Iterator[tuple[ServeProcess, Path]]:
    """One `serve --concurrency 3` for the tests that share it, and its code folder (for release files)."""
    handler = write_file(module_code_dir / "handler.py", HANDLER)
    served = ServeProcess(handler, "--concurrency", str(LIMIT), "--timeout", "20")
    try:
        served.start()
        # The Invoke API's full app loads on the first request that needs it: not inside a test's burst.
        assert httpx.post(served.invoke_url(), content=b"{}", headers={"X-Amz-Invocation-Type": "DryRun"},
                          timeout=30).status_code == 204
        yield served, module_code_dir
    finally:
        served.close()


# ---------------------------------------------------------------------------------------------- what works


def test_a_mixed_burst_at_the_limit_keeps_each_callers_tail_qualifier_and_client_context(fleet) -> None:
    """Twelve boto3 callers at once on `--concurrency 3`: synchronous invokes with a log tail, a qualifier and a
    client context each, Event invokes with theirs, DryRuns. The environments are held busy until every caller
    that is not running has its answer, so the limit is met for certain. Each synchronous caller gets either its
    own invoke's answer (its tail holds its own lines and request id only, its ARN ends with its qualifier, its
    client context is its own) or Lambda's 429 with its Reason; each Event invoke runs once, with its qualifier and
    no client context (Lambda passes it for synchronous invokes only); a DryRun takes no environment."""
    served, code_dir = fleet
    release = code_dir / f"release-{uuid.uuid4().hex}"
    kinds = ["RequestResponse"] * 6 + ["Event"] * 4 + ["DryRun"] * 2
    clients = [boto(served) for _ in kinds]
    barrier = threading.Barrier(len(kinds))
    answers: dict[int, object] = {}
    lock = threading.Lock()

    def call(i: int) -> None:
        context = base64.b64encode(json.dumps({"custom": {"caller": i}}).encode()).decode()
        extra = {"LogType": "Tail"} if kinds[i] == "RequestResponse" else {}
        barrier.wait(30)
        try:
            got: object = clients[i].invoke(
                FunctionName=f"fn:q{i}", InvocationType=kinds[i], ClientContext=context, **extra,
                Payload=json.dumps({"tag": f"c{i}", "release": str(release)}).encode())
        except clients[i].exceptions.TooManyRequestsException as exc:
            got = exc.response
        with lock:
            answers[i] = got

    start = len(served.lines)
    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(len(kinds))]
    try:
        for thread in threads:
            thread.start()
        # Every environment holds one of them (a synchronous or an Event invoke) until the release.
        held = [int(m.group(2)[1:]) for m in served.wait_for_lines(HELD, LIMIT, timeout=30, start=start)]
        held_sync = sum(1 for i in held if kinds[i] == "RequestResponse")
        wait_until(lambda: len(answers) >= len(kinds) - held_sync, 30, "every caller not held answered")
    finally:
        release.touch()
        for thread in threads:
            thread.join(30)
    assert len(answers) == len(kinds), answers

    ran_sync = throttled = 0
    for i, kind in enumerate(kinds):
        got = answers[i]
        if kind == "DryRun":
            assert got["StatusCode"] == 204 and "LogResult" not in got, got  # type: ignore[index]
            continue
        if kind == "Event":
            assert got["StatusCode"] == 202 and "LogResult" not in got, got  # type: ignore[index]
            assert "ExecutedVersion" not in got, got  # returned for RequestResponse only
            continue
        meta = got["ResponseMetadata"]  # type: ignore[index]
        if meta["HTTPStatusCode"] == 429:
            assert got["Error"]["Code"] == "TooManyRequestsException", got  # type: ignore[index]
            assert got["Reason"] == THROTTLE_REASON and got["Type"] == "User", got  # type: ignore[index]
            assert meta["RequestId"], got
            throttled += 1
            continue
        ran_sync += 1
        assert got["StatusCode"] == 200 and "FunctionError" not in got, got  # type: ignore[index]
        body = json.loads(got["Payload"].read())  # type: ignore[index]
        request_id = meta["RequestId"]
        assert body["tag"] == f"c{i}" and body["rid"] == request_id, body
        assert body["arn"].endswith(f":q{i}") and body["cc"] == {"caller": i}, body
        assert got["ExecutedVersion"] == "$LATEST"  # type: ignore[index]
        tail = decoded_tail(got).splitlines()  # type: ignore[arg-type]
        assert tail[0] == f"START RequestId: {request_id} Version: $LATEST", tail
        assert tail[-1].startswith(f"REPORT RequestId: {request_id}\t"), tail
        assert [line for line in tail if "tag=" in line] == [
            f"seen tag=c{i} arn={body['arn']} cc={{'caller': {i}}} rid={request_id}",
            f"ready tag=c{i} token={body['token']} n={body['n']}", f"done tag=c{i}"], tail
        assert set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "\n".join(tail))) \
            == {request_id}, tail  # no other invoke's id: nothing of the eleven others
    assert ran_sync + throttled == kinds.count("RequestResponse") and ran_sync <= LIMIT, (ran_sync, throttled)

    # Every Event invoke ran exactly once, with its own qualifier and no client context; no DryRun ran.
    events = [i for i, kind in enumerate(kinds) if kind == "Event"]
    served.wait_for_lines(r"\[function\]\s+done tag=c\d+$", ran_sync + len(events), timeout=30, start=start)
    seen = {int(m.group(2)[1:]): m for m in matches_since(served, SEEN, start)}
    assert sorted(i for i in seen if kinds[i] != "RequestResponse") == events, served.output()
    assert len(matches_since(served, SEEN, start)) == len(seen)  # each once
    for i in events:
        assert seen[i].group(3).endswith(f":q{i}") and seen[i].group(4) == "None", seen[i].group(0)


def test_a_crash_in_one_environment_leaves_the_invokes_beside_it_and_their_runtimes_alone(fleet) -> None:
    """Three invokes at once, one in each environment; one runtime crashes while the other two still run. The
    two others end normally with tails of their own, and the next burst finds their runtime processes warm (the
    same ones, one invoke more each), while the crashed environment re-initialises for its next invoke."""
    served, code_dir = fleet
    release = code_dir / f"release-{uuid.uuid4().hex}"
    crash_now = code_dir / f"crash-{uuid.uuid4().hex}"  # the crasher too is held until all three run at once
    start = len(served.lines)
    events = [{"tag": "left", "release": str(release)}, {"tag": "crasher", "release": str(crash_now), "exit": 7},
              {"tag": "right", "release": str(release)}]
    clients = [boto(served) for _ in events]
    barrier = threading.Barrier(len(events))
    answers: dict[str, dict] = {}

    def call(client, event: dict) -> None:
        barrier.wait(30)
        answers[event["tag"]] = client.invoke(FunctionName="fn", Payload=json.dumps(event).encode(), LogType="Tail")

    threads = [threading.Thread(target=call, args=pair, daemon=True) for pair in zip(clients, events)]
    try:
        for thread in threads:
            thread.start()
        served.wait_for_lines(r"ready tag=(left|crasher|right) ", 3, timeout=30, start=start)
        crash_now.touch()
        wait_until(lambda: "crasher" in answers, 30, "the crashed invoke answered")
    finally:
        crash_now.touch()
        release.touch()
        for thread in threads:
            thread.join(30)
    crashed = answers["crasher"]
    assert crashed["FunctionError"] == "Unhandled", crashed
    assert json.loads(crashed["Payload"].read())["errorType"] == "Runtime.ExitError"
    tokens = {}
    for tag in ("left", "right"):
        got = answers[tag]
        assert "FunctionError" not in got, got
        body = json.loads(got["Payload"].read())
        tokens[body["token"]] = body["n"]
        tail = decoded_tail(got)
        assert "crasher" not in tail and "Runtime.ExitError" not in tail and "Status: error" not in tail, tail
        assert set(re.findall(r"RequestId: (\S+)", tail)) == {got["ResponseMetadata"]["RequestId"]}, tail
    crash_env = [int(m.group(1)) for m in matches_since(served, HELD, start) if m.group(2) == "crasher"][0]

    # The next burst: one invoke per environment. The two survivors answer from the same runtime processes, one
    # invoke later; the crashed environment is the one that initialises again (a new runtime, its first invoke).
    start = len(served.lines)
    release = code_dir / f"release-{uuid.uuid4().hex}"
    barrier = threading.Barrier(len(clients))

    def again(i: int) -> None:
        barrier.wait(30)
        answers[f"again{i}"] = clients[i].invoke(
            FunctionName="fn", Payload=json.dumps({"tag": f"again{i}", "release": str(release)}).encode())

    threads = [threading.Thread(target=again, args=(i,), daemon=True) for i in range(len(clients))]
    try:
        for thread in threads:
            thread.start()
        served.wait_for_lines(r"ready tag=again\d ", 3, timeout=30, start=start)  # one in each environment
    finally:
        release.touch()
        for thread in threads:
            thread.join(30)
    bodies = [json.loads(answers[f"again{i}"]["Payload"].read()) for i in range(3)]
    warm = {b["token"]: b["n"] for b in bodies if b["token"] in tokens}
    assert warm == {token: n + 1 for token, n in tokens.items()}, (bodies, tokens)
    fresh = [b for b in bodies if b["token"] not in tokens]
    assert len(fresh) == 1 and fresh[0]["n"] == 1, bodies
    served.wait_for_line(rf"#{crash_env} \[platform\]\s+INIT_START", start=start, timeout=10)
    assert not [m for m in matches_since(served, r"#(\d+) \[platform\]\s+INIT_START", start)
                if int(m.group(1)) != crash_env], served.output()


def _marked(marker: str, serve_pid: int) -> dict[int, str]:
    """Processes of that serve still alive: the function's and extensions' (they inherit the --env marker) and
    lambdatui's own helpers (their command line ends with serve's pid)."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rpartition(")")[2].split()[0] in "ZXx":
                    continue
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read()
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").strip()
        except OSError:
            continue
        if marker.encode() in environ or cmdline.endswith(b" " + str(serve_pid).encode()):
            found[int(entry)] = cmdline.decode(errors="replace")[:120]
    return found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_serve_stopped_while_environments_cold_start_for_a_burst_leaves_no_process(code_dir: Path, sig: int) -> None:
    """A burst of synchronous and Event invokes makes the fleet cold-start environments; serve is stopped as soon
    as the second one begins its Init, while the others are still being made. Nothing of any of them is left:
    neither the function's processes (found by a variable of the test's own) nor lambdatui's keepers and inits."""
    handler = write_file(code_dir / "handler.py", FLEET_HANDLER)
    marker = uuid.uuid4().hex
    served = ServeProcess(handler, "--env", f"HUNT_MARKER={marker}", "--concurrency", "5", "--timeout", "30",
                          "--shutdown-grace", "1")
    callers: list[threading.Thread] = []
    try:
        served.start()
        url = served.invoke_url()

        def call(i: int) -> None:
            kind = "Event" if i % 2 else "RequestResponse"
            try:
                httpx.post(url, json={"tag": f"b{i}", "sleep": 5}, headers={"X-Amz-Invocation-Type": kind},
                           timeout=30)
            except httpx.HTTPError:
                pass  # serve went away under it (SIGKILL)

        callers = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(5)]
        for thread in callers:
            thread.start()
        served.wait_for_line(r"#2 \[platform\]\s+INIT_START", timeout=30)
        served.signal(sig)
        code = served.wait(30)
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0), served.output()
        alive = {pid: stat[2] for pid in _marked(marker, served.proc.pid) if (stat := proc_stat(pid)) is not None}
        assert wait_all_gone(alive, 10) == {}
        left = _marked(marker, served.proc.pid)  # none started after that look either
        assert left == {}, left
    finally:
        served.close()
        for pid in _marked(marker, served.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for thread in callers:
            thread.join(30)


# ---------------------------------------------------------------------------------------------- bugs

COUNTING = '''calls = 0


def handler(event, context):
    global calls
    calls += 1
    if event.get("raise"):
        raise ValueError("always fails")
    return {"calls": calls}
'''


def test_a_recording_whose_event_retries_ran_before_the_next_invoke_replays(code_dir: Path) -> None:
    """README: `serve --record` "writes what happened as a scenario that replays to the same outcome", and a
    recording "keeps the caller's invoke once, with these settings and how often the fleet ran it again". In the
    session the failed Event invoke ran three times (its retries in the same warm environment) before the caller's
    next invoke, which answered calls = 4. The recording says so (`after_retries = 2` on that step), and the replay
    waits for both retries before it sends it (it sent it as soon as the first attempt failed: calls = 2)."""
    handler = write_file(code_dir / "handler.py", COUNTING)
    recording = code_dir / "session.toml"
    with ServeProcess(handler, "--retry-wait", "0.2", "--record", str(recording)) as served:
        send_event(served, {"raise": True})
        wait_for_count(served, DISCARDED, 1)
        wait_for_count(served, REPORT, 3)  # all three attempts are over
        after = httpx.post(served.invoke_url(), content=b"{}", timeout=30)
        assert after.json() == {"calls": 4}, after.text
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0, served.output()
    text = recording.read_text()
    assert "retries = 2" in text and '{"calls": 4}' in text and "after_retries = 2" in text, text
    replayed = run_cli("replay", str(handler), str(recording), timeout=60)
    assert replayed.returncode == 0, text + replayed.stdout[-2500:]
    assert "again 2 times before this step" in replayed.stdout, replayed.stdout[-2500:]


def _server_socket(server_port: int, client_port: int) -> Optional[tuple[int, str]]:
    """That connection's socket on the server's side, from /proc/net/tcp: how many bytes of it the server has not
    read yet, and its inode; None when it is not listed."""
    with open("/proc/net/tcp") as fh:
        for line in fh.read().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                return int(fields[4].split(":")[1], 16), fields[9]
    return None


def _holds_socket(pid: int, inode: str) -> bool:
    """Whether process `pid` still has that socket open."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                return True
        except OSError:
            pass  # closed while we looked
    return False


def test_an_invoke_whose_caller_resets_while_its_environment_cold_starts_still_runs(code_dir: Path) -> None:
    """Lambda runs an invoke it accepted whether or not its caller waits for the answer (a client's read timeout does
    not stop it), and lambdatui does too once the invoke reached an environment (test_serve's caller that gives up),
    and on its plain route even before (the same request without `X-Amz-Log-Type` runs). With `LogType: Tail`, a
    caller that resets its connection once serve has read its request, while the fleet starts env #2 for it (env
    #1 is busy), cancels that start: env #2 never appears, the invoke never runs, nothing says so, and while it was
    being started it took a place under --concurrency (here a second caller is not throttled for it, but starts
    env #3)."""
    handler = write_file(code_dir / "handler.py", FLEET_HANDLER)
    release = code_dir / "release"
    with ServeProcess(handler, "--concurrency", "2", "--timeout", "30") as served:
        host, port = served.address.rsplit(":", 1)
        url = served.invoke_url()
        with httpx.Client(timeout=30) as client:  # the app route is loaded before the test's request needs it
            assert client.post(url, content=b"{}", headers={"X-Amz-Invocation-Type": "DryRun"}).status_code == 204
        blocker = threading.Thread(target=lambda: httpx.post(
            url, json={"tag": "blocker", "release": str(release)}, timeout=30), daemon=True)
        blocker.start()
        try:
            wait_for_count(served, READY, 1)  # env #1 is busy: the next invoke needs a new environment
            body = json.dumps({"tag": "gone", "release": str(release)}).encode()
            caller = socket.create_connection((host, int(port)), timeout=30)
            caller.sendall(b"POST /2015-03-31/functions/fn/invocations HTTP/1.1\r\nHost: x\r\n"
                           b"X-Amz-Log-Type: Tail\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            server_port, client_port = int(port), caller.getsockname()[1]
            wait_until(lambda: (_server_socket(server_port, client_port) or (1, ""))[0] == 0, 10,
                       "serve read the request")
            inode = _server_socket(server_port, client_port)[1]  # type: ignore[index]
            caller.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            caller.close()  # a reset, as a client that gives up with its socket's linger at 0 sends
            # Until serve has taken the reset in and closed the connection (or a while, if it keeps it open).
            try:
                wait_until(lambda: not _holds_socket(served.proc.pid, inode), 3, "serve closed the connection")
            except AssertionError:
                pass
            # Env #1 and the environment started for "gone" are both busy: a third invoke meets the limit.
            third = httpx.post(url, json={"tag": "third"}, timeout=30)
            # (As it is, the environment started for "gone" was dropped with it: "third" starts env #3 and runs.)
            assert third.status_code == 429, (third.status_code, third.text, served.output())
        finally:
            release.touch()
            blocker.join(30)
        served.wait_for_line(r"\[function\]\s+ran tag=gone", timeout=30)


WAITS_FOR_A_FILE = '''import os
import time


def handler(event, context):
    while not os.path.exists(event["release"]):
        time.sleep(0.005)
    return "released"
'''


def test_a_full_event_queue_refuses_in_one_line_for_the_whole_flood(code_dir: Path, tmp_path: Path) -> None:
    """The fleet queues at most 1,000 Event invokes; the 1,001st and after get 429 CallerRateLimitExceeded. A sync
    throttle is named on stderr, and so is this refusal now: once, however many follow while the queue stays full."""
    handler = write_file(code_dir / "handler.py", WAITS_FOR_A_FILE)
    release = tmp_path / "release"
    event = json.dumps({"release": str(release)})
    # A timeout past the flood's length: a first invoke timed out at the default 3 s (a flood on a loaded machine takes
    # longer) made room in the queue for one more.
    with ServeProcess(handler, "--concurrency", "1", "--shutdown-grace", "0.2", "--timeout", "60") as served:
        # One keep-alive connection from the standard library's client: the flood's cost is the host's, not a
        # client's (httpx took about as much CPU per request as serve did).
        host, port = served.address.rsplit(":", 1)
        path = "/" + served.invoke_url().split("/", 3)[3]
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        codes: list[int] = []
        try:
            for _ in range(1004):
                connection.request("POST", path, body=event, headers={"X-Amz-Invocation-Type": "Event"})
                answer = connection.getresponse()
                last_body, last_headers = answer.read(), answer.headers
                codes.append(answer.status)
        finally:
            connection.close()
        # One runs (it waits for the file), 1,000 wait in the queue, the rest are refused.
        assert codes.count(202) in (1000, 1001) and codes.count(429) == 1004 - codes.count(202), codes[-10:]
        assert last_headers.get("x-amzn-ErrorType") == "TooManyRequestsException"
        assert json.loads(last_body)["Reason"] == "CallerRateLimitExceeded"
        served.wait_for_line(r"Event invoke \S+ refused \(429 TooManyRequestsException, CallerRateLimitExceeded\): "
                             r"Rate Exceeded\. lambdatui's queue of Event invokes is full")
        release.write_text("")
        served.signal(signal.SIGTERM)
        served.wait(60)
    assert served.output().count("refused (429") == 1, served.output()[-3000:]
