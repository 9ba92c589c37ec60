"""From a bug hunt: leaks and slow degradation of one `lambdatui serve` left running while a developer iterates (README
"`lambdatui serve PATH`", "What is emulated": "Timeouts and crashes", "No orphans", "A fleet of environments", the
Telemetry backlog; "Latency and soak through `serve` alone").

A scratch soak (a few minutes of warm invokes, raises, crashes, timeouts, out-of-memory kills, failing `Event` invokes
retried, bursts over `--concurrency`, streams, callers that hang up, an idle shutdown of a few seconds, the sample
audit and telemetry extensions) kept the host's resident memory, descriptors, threads, children, cgroups and run
folders bounded, and the warm latency flat. Two things grow with use, pinned here:

* every life of an environment (its first Init, each reset's: a crash, a timeout, an out-of-memory kill) leaves its
  runtime's stack-dump file, `stacks-<generation>.txt`, in the environment's folder of the run for as long as the
  environment lives (run_folders.stack_file; nothing removes the previous generation's);
* a Telemetry subscriber whose listener never takes a batch (none listens on its port, or it hangs) makes the host
  keep every `platform.*` record for it: the buffer bounds what waits to four batches, but platform records are
  exempt from that bound (host/telemetry_buffer.py `TelemetryBuffer.add`), so the host's memory grows with every
  invoke for as long as the environment lives.

The passing tests pin what the soak found right: cycles of every failure kind return the host's descriptors, children,
cgroups and run folders to their baseline once the idle environments are shut down, warm invokes leave the host's
memory and descriptors flat, and SIGTERM (whose way SIGINT takes too) and SIGKILL in the middle of a mix leave no
process and no cgroup (and, but for SIGKILL, no run folder).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

from e2e_support import SAMPLES, ServeProcess, descendants, wait_all_gone, write_file
from test_fleet_support import state_home

__all__ = ["state_home"]  # the fixture, used by name

HANDLER = '''import os
import time

n = 0


def handler(event, context):
    global n
    n += 1
    mode = event.get("mode", "ok")
    if mode == "raise":
        raise ValueError("boom")
    if mode == "crash":
        print("crashing", flush=True)
        os._exit(3)
    if mode == "timeout":
        time.sleep(30)
    if mode == "oom":
        blocks = []
        while True:
            blocks.append(bytearray(16 * 1024 * 1024))
    if mode == "sleep":
        time.sleep(event.get("s", 0.3))
    return {"n": n}
'''

# An extension that subscribes to the Telemetry API with a destination where nothing listens (a port it bound and
# closed again: a listener that died, or the wrong port, as an extension under development has), then waits for its
# SHUTDOWN. Registered for SHUTDOWN only, so invokes do not wait for it.
DEAD_LISTENER_EXTENSION = '''#!{python}
import http.client
import json
import os
import socket
import sys

NAME = os.path.basename(__file__)
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)


def call(method, path, headers, body=None):
    api.request(method, path, body=body, headers=headers)
    response = api.getresponse()
    return response, response.read()


response, _ = call("POST", "/2020-01-01/extension/register", {{"Lambda-Extension-Name": NAME}},
                   json.dumps({{"events": ["SHUTDOWN"]}}))
extension_id = response.getheader("Lambda-Extension-Identifier")
response, _ = call("PUT", "/2022-07-01/telemetry", {{"Lambda-Extension-Identifier": extension_id}}, json.dumps({{
    "schemaVersion": "2022-12-13",
    "types": ["platform", "function"],
    "buffering": {{"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25}},
    "destination": {{"protocol": "HTTP", "URI": "http://sandbox.localdomain:%d" % port}},
}}))
print("SUBSCRIBED %d" % response.status, file=sys.stderr, flush=True)
call("GET", "/2020-01-01/extension/event/next", {{"Lambda-Extension-Identifier": extension_id}})
'''

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
STREAM_PATH = "/2021-11-15/functions/function/response-streaming-invocations"
SETTLE_WITHIN = 30.0  # seconds: idle environments shut down after 0.5 s; their SHUTDOWN takes at most ~2 s each


# ---------------------------------------------------------------------- what a host holds


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def fd_targets(pid: int) -> list[str]:
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass  # closed while we looked
    return sorted(targets)


def cgroups_of(pid: int) -> list[str]:
    """The cgroups a lambdatui whose pid is `pid` made (named `lambdatui-<pid>-<suffix>`), wherever in /sys/fs/cgroup."""
    found: list[str] = []
    prefix = f"lambdatui-{pid}-"
    pending = [("/sys/fs/cgroup", 0)]
    while pending:
        folder, depth = pending.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if not entry.is_dir(follow_symlinks=False):
                        continue
                    if entry.name.startswith(prefix):
                        found.append(entry.path)
                    elif depth < 5 and not entry.name.startswith("lambdatui-"):
                        pending.append((entry.path, depth + 1))
        except OSError:
            continue
    return sorted(found)


def run_folders(state: Path, pid: int) -> list[Path]:
    return sorted((state / "lambdatui").glob(f"run-{pid}-*"))


def member_folders(state: Path, pid: int) -> list[Path]:
    return sorted((state / "lambdatui").glob(f"run-{pid}-*/member-*"))


def wait_until(condition: Callable[[], object], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(0.05)


# ---------------------------------------------------------------------- callers


def connect(served: ServeProcess) -> http.client.HTTPConnection:
    host, port = served.address.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=60)


def host_end_of(conn: http.client.HTTPConnection) -> str:
    """The host's descriptor target (`socket:[inode]`) for the server end of the caller's connection `conn`."""
    assert conn.sock is not None
    client_port = conn.sock.getsockname()[1]
    server_port = conn.sock.getpeername()[1]
    with open("/proc/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                return f"socket:[{fields[9]}]"
    raise AssertionError(f"no server end for the connection from port {client_port}")


def post(conn: http.client.HTTPConnection, event: dict, path: str = INVOKE_PATH,
         headers: Optional[dict] = None) -> tuple[int, Optional[str], bytes]:
    conn.request("POST", path, body=json.dumps(event), headers=headers or {})
    response = conn.getresponse()
    return response.status, response.getheader("X-Amz-Function-Error"), response.read()


def error_type(body: bytes) -> str:
    return json.loads(body).get("errorType", "")


def hang_up_mid_invoke(served: ServeProcess, event: dict, started: Callable[[], bool]) -> None:
    """Send an invoke on a raw socket, and close it once the function has started it."""
    host, port = served.address.rsplit(":", 1)
    body = json.dumps(event).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST " + INVOKE_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                     % len(body) + body)
        wait_until(started, 30, lambda: "the hung-up invoke never started:\n" + served.output()[-3000:])


def count_lines(served: ServeProcess, text: str) -> int:
    with served._cond:
        return sum(1 for line in served.lines if text in line)


# ---------------------------------------------------------------------- found wrong


def test_resets_do_not_pile_up_stack_dump_files_in_the_run_folder(code_dir: Path, state_home: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    crashes = 4  # a file kept per life leaves 5 here against the 2 asserted: more crashes would add no power
    with ServeProcess(handler, "--idle-shutdown", "off") as served:
        conn = connect(served)
        assert post(conn, {"mode": "ok"})[0] == 200
        for _ in range(crashes):
            status, function_error, body = post(conn, {"mode": "crash"})
            assert (status, function_error, error_type(body)) == (200, "Unhandled", "Runtime.ExitError"), body
        status, function_error, body = post(conn, {"mode": "ok"})  # the environment's current life
        assert (status, function_error) == (200, None), body
        conn.close()
        members = member_folders(state_home, served.proc.pid)
        assert len(members) == 1, members
        stack_files = sorted(path.name for path in members[0].glob("stacks-*.txt"))
        # The live runtime's file (and, at most, the one before it) is all an environment needs: the host reads a
        # dump into the stack it shows as soon as the runtime has written it.
        assert len(stack_files) <= 2, (f"{len(stack_files)} stack-dump files in {members[0]} after {crashes} "
                                       f"resets: {stack_files}")


def test_a_telemetry_subscriber_whose_listener_is_gone_does_not_grow_the_host_with_every_invoke(
        code_dir: Path, state_home: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "deadlistener", DEAD_LISTENER_EXTENSION.format(python=sys.executable),
               executable=True)
    with ServeProcess(handler, "--idle-shutdown", "off") as served:
        conn = connect(served)
        # Warm until the bounded backlog is full: the host's own allocations made, the listener found missing, and
        # what a bounded buffer may hold (platform records up to twice four batches of 256 KB, ~1.7 KB an invoke) held.
        # Measured here: the host's memory stops growing by 2,000 invokes, where an unbounded buffer grows on by
        # ~1.7 KB an invoke (the bug this pins, at 2cda976^: 2.1 MB over 1,250 invokes past 2,250). Measured again
        # (RSS every 100 or 250 invokes, twice for the fix and twice at 2cda976^): the fixed host gains 0.02-0.03 MB from 1,900
        # to 2,000 and nothing from 2,100 to 3,000; 2cda976^ gains 1.6-1.8 MB from 2,100 to 3,100, past the bound.
        for _ in range(2100):
            assert post(conn, {})[0] == 200
        served.wait_for_line(r"\[deadlistener\]\s+SUBSCRIBED 200")
        served.wait_for_line(r"Telemetry for extension deadlistener was not taken by its listener")
        before = rss_mb(served.proc.pid)
        invokes = 1000
        for _ in range(invokes):
            assert post(conn, {})[0] == 200
        grown = rss_mb(served.proc.pid) - before
        conn.close()
        # Lambda's buffer is bounded by the subscription's buffering (maxItems, maxBytes: here 1,000 records or
        # 256 KB a batch, four batches of backlog: about 1 MB); beyond it records are dropped and platform.logsDropped
        # says so. Once that bound is reached the host stays within a few tens of KB over as many invokes.
        assert grown < 1, f"the host's resident memory grew {grown:.2f} MB over {invokes} invokes past a full backlog"


# ---------------------------------------------------------------------- found right


def test_failure_cycles_return_descriptors_children_cgroups_and_folders_to_their_baseline(
        code_dir: Path, state_home: Path) -> None:
    """Cycles of every failure kind (a raise, a crash, a timeout, an out-of-memory kill, a failing Event invoke
    retried, a caller that hangs up mid-invoke, a stream, a burst that starts a second environment), with the audit
    extension: once the idle environments are shut down, the host holds what it held before."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    (code_dir / "extensions").mkdir()
    shutil.copy2(SAMPLES / "extension" / "extensions" / "audit", code_dir / "extensions" / "audit")
    # --timeout 3: the out-of-memory invoke comes after the timeout's reset, so its 128 MB are allocated within the
    # same budget as the runtime's suppressed Init; under CPU contention that took over 1 s (Sandbox.Timedout).
    with ServeProcess(handler, "--concurrency", "2", "--idle-shutdown", "0.5", "--timeout", "3", "--memory", "128",
                      "--retry-wait", "0.2", "--maximum-retry-attempts", "1") as served:
        pid = served.proc.pid

        def settled() -> bool:
            return not descendants(pid) and not cgroups_of(pid) and not member_folders(state_home, pid)

        def state() -> str:
            return (f"children {[(p, open(f'/proc/{p}/cmdline').read()[:80]) for p in descendants(pid)]}, "
                    f"cgroups {cgroups_of(pid)}, members {member_folders(state_home, pid)}\n"
                    + served.output()[-3000:])

        conn = connect(served)
        assert post(conn, {"mode": "ok"})[0] == 200
        # Every route a cycle takes, loaded once: the first stream and Event invoke import the Invoke API's other
        # routes, which the host then keeps.
        assert post(conn, {"mode": "ok"}, STREAM_PATH)[0] == 200
        assert post(conn, {"mode": "ok"}, headers={"X-Amz-Invocation-Type": "Event"})[0] == 202
        served.wait_for_lines(r"\[platform\]\s+REPORT ", 3)
        closed_end = host_end_of(conn)
        conn.close()  # the host's end of a connection goes once it reads the hang-up: the baseline holds none
        wait_until(settled, SETTLE_WITHIN, lambda: "the first environment was not shut down: " + state())
        wait_until(lambda: closed_end not in fd_targets(pid), SETTLE_WITHIN,
                   lambda: f"the host still holds {closed_end}, its end of a closed connection")
        baseline = fd_targets(pid)
        conn = connect(served)

        # One cycle: what is compared after it (descriptors, children, cgroups, folders) is compared exactly, so
        # whatever a cycle of these failures left behind shows after the first.
        cycles = 1
        for cycle in range(cycles):
            assert post(conn, {"mode": "ok"})[:2] == (200, None)
            for mode, expected in (("raise", "ValueError"), ("crash", "Runtime.ExitError"),
                                   ("timeout", "Sandbox.Timedout"), ("oom", "Runtime.OutOfMemory")):
                status, function_error, body = post(conn, {"mode": mode})
                assert (status, function_error, error_type(body)) == (200, "Unhandled", expected), body
            assert post(conn, {"mode": "raise"}, headers={"X-Amz-Invocation-Type": "Event"})[0] == 202
            assert post(conn, {"mode": "ok"}, STREAM_PATH)[0] == 200
            hung_up = count_lines(served, "[audit] INVOKE")
            hang_up_mid_invoke(served, {"mode": "sleep", "s": 0.3},
                               lambda: count_lines(served, "[audit] INVOKE") > hung_up)
            results: list[int] = []
            burst = [threading.Thread(target=lambda: results.append(post(connect(served), {"mode": "sleep"})[0]))
                     for _ in range(2)]
            for thread in burst:
                thread.start()
            for thread in burst:
                thread.join(60)
            # The hung-up invoke and a failed Event invoke's retry may still hold both environments (CI: 429 twice).
            assert len(results) == 2 and set(results) <= {200, 429}, results
            served.wait_for_lines(r"Event invoke \S+ failed \(ValueError\) and is discarded", cycle + 1)
        conn.close()
        wait_until(settled, SETTLE_WITHIN, lambda: "the environments were not all shut down: " + state())
        wait_until(lambda: fd_targets(pid) == baseline, SETTLE_WITHIN,
                   lambda: f"descriptors before the cycles:\n{baseline}\nafter {cycles} cycles:\n{fd_targets(pid)}")
        assert [path.name for path in (run_folders(state_home, pid)[0]).iterdir()] == []


def test_warm_invokes_leave_the_hosts_memory_and_descriptors_flat(code_dir: Path, state_home: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    with ServeProcess(handler, "--idle-shutdown", "off") as served:
        pid = served.proc.pid
        conn = connect(served)
        tail = {"X-Amz-Log-Type": "Tail"}  # the Invoke API's other routes, loaded by the first such invoke
        for _ in range(300):
            assert post(conn, {}, headers=tail)[0] == 200
        memory, descriptors = rss_mb(pid), fd_targets(pid)
        # The bound is 1 KB an invoke, as 5 MB over 5,000 invokes was. Measured here (RSS every 100 invokes, twice):
        # the host grows ~0.3 MB over the 1,000 invokes past this warm-up as its allocator settles, and is flat from
        # ~1,300 on, so 1,000 keep the bound three times what the fixed host grows, while a leak of a kilobyte an
        # invoke (a request's headers, a log line, a record kept per invoke) adds the bound's whole megabyte.
        invokes = 1000
        for _ in range(invokes):
            assert post(conn, {}, headers=tail)[0] == 200
        grown = rss_mb(pid) - memory
        assert fd_targets(pid) == descriptors  # the caller's connection still open, as when they were counted
        conn.close()
        assert grown < invokes / 1000, f"the host's resident memory grew {grown:.1f} MB over {invokes} warm invokes"


# SIGTERM stands for SIGINT too: serve's receiver takes SIGINT, SIGTERM and SIGHUP the same way once its "serving"
# line is out (runner.cancel_on_signals); SIGINT's own path is test_serve.py's test_signal_spins_down_...[SIGINT].
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_a_signal_in_the_middle_of_a_mix_leaves_no_process_cgroup_or_run_folder(
        code_dir: Path, state_home: Path, sig: signal.Signals) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    (code_dir / "extensions").mkdir()
    shutil.copy2(SAMPLES / "extension" / "extensions" / "audit", code_dir / "extensions" / "audit")
    with ServeProcess(handler, "--concurrency", "3", "--timeout", "5", "--retry-wait", "0.2") as served:
        pid = served.proc.pid
        conn = connect(served)
        assert post(conn, {"mode": "crash"})[0] == 200
        assert post(conn, {"mode": "raise"}, headers={"X-Amz-Invocation-Type": "Event"})[0] == 202
        # Two environments busy (one in a long invoke, one in a crash's reset or a retry), one frozen.
        busy = threading.Thread(target=lambda: post_quietly(served, {"mode": "sleep", "s": 3}), daemon=True)
        started = count_lines(served, "[audit] INVOKE")
        busy.start()
        wait_until(lambda: count_lines(served, "[audit] INVOKE") > started, 30, lambda: served.output()[-3000:])
        assert post(conn, {"mode": "crash"})[0] == 200
        conn.close()
        seen = descendants(pid)
        assert seen
        served.signal(sig)
        served.wait(30)
        left = wait_all_gone(seen, 10)
        assert left == {}, f"left after {sig.name}: {left}"
        wait_until(lambda: not cgroups_of(pid), 10, lambda: f"cgroups left after {sig.name}: {cgroups_of(pid)}")
        if sig != signal.SIGKILL:  # a SIGKILLed run's folder is removed by the next start (run_folders.py)
            assert run_folders(state_home, pid) == []
        busy.join(10)


def post_quietly(served: ServeProcess, event: dict) -> None:
    try:
        post(connect(served), event)
    except (OSError, http.client.HTTPException):
        pass  # the server went while the invoke ran
