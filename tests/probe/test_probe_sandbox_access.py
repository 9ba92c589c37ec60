"""Probes of sandbox access (fb2dd80): who may open a connection to an environment's Runtime/Extensions API.

The environment's own processes are let in: the runtime, its children, a daemon it double-forked, extensions.
Anyone else gets 403 before the request is read. The probes run the real `lambdatui serve` and real processes;
a connection that is let in asks for a path no API has (404), so it changes nothing in the lifecycle.

The processes write only their environment's /tmp, as in Lambda; the test reads it on the host, in the state
folder it gives lambdatui (`state_home`), and carries what one environment must learn of another itself.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import select
import socket
import sys
import threading
from pathlib import Path
from typing import Optional

import httpx
import pytest

from probe_support import EXTENSION_EVENTS_SOURCE
from test_probe_output import Serve, wait_until  # it puts tests/end_to_end on sys.path
from test_fleet_support import env_tmp_dirs, state_home  # noqa: E402

__all__ = ["state_home"]  # the fixture, used by name
pytestmark = pytest.mark.timeout(180)

WAIT_S = 30.0
PROBE_PATH = "/2018-06-01/runtime/probe-no-such-path"

# What each process of the environment does: ask the API for a path that does not exist, report the status.
ASK = r'''
import http.client, sys
def ask(address):
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "''' + PROBE_PATH + r'''")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return repr(exc)
    finally:
        conn.close()
'''

OWN_PROCESSES_HANDLER = ASK + r'''
import json, os, subprocess, time

def handler(event, context):
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    report = event["report"]
    child = subprocess.run([sys.executable, "-c", __import__("inspect").getsource(ask) + "\nimport http.client\n"
                            f"print(ask({api!r}))"], capture_output=True, text=True, timeout=20)
    if os.fork() == 0:          # a daemon: double fork, its own session, reparented away from the runtime
        os.setsid()
        if os.fork() == 0:
            status = ask(api)
            with open(report + ".tmp", "w") as out:
                out.write(json.dumps(status))
            os.rename(report + ".tmp", report)
            os._exit(0)
        os._exit(0)
    os.wait()
    deadline = time.monotonic() + 20
    while not os.path.exists(report) and time.monotonic() < deadline:
        time.sleep(0.005)
    daemon = json.load(open(report)) if os.path.exists(report) else None
    return {"runtime": ask(api), "child": child.stdout.strip() or child.stderr[-300:], "daemon": daemon}
'''


EXTENSION = r'''#!{python}
import json, os, subprocess, sys, urllib.request
{events}
{ask}
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
for _ in events("asker"):
    # The extension itself, and a child it starts, ask the API; the answers go to a file the handler reads.
    child = subprocess.run([sys.executable, "-c", {ask!r} + f"\nprint(ask({{api!r}}))"],
                           capture_output=True, text=True, timeout=20)
    with open({report!r} + ".tmp", "w") as out:
        out.write(json.dumps({{"extension": ask(api), "extension_child": child.stdout.strip() or child.stderr[-300:]}}))
    os.rename({report!r} + ".tmp", {report!r})
'''


def in_tmp(state: Path, name: str) -> dict[str, str]:
    """The file `name` in each environment's /tmp that has it (by the folder's path), as the host reads it."""
    try:
        return {str(folder): (folder / name).read_text() for folder in env_tmp_dirs(state) if (folder / name).exists()}
    except FileNotFoundError:
        return {}  # an environment's folder went while it was read: asked again


def test_the_environments_own_processes_are_let_in(code_dir: Path, state_home: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(OWN_PROCESSES_HANDLER)
    extension_report = "/tmp/extension.json"  # in the environment's /tmp
    extension = code_dir / "extensions" / "asker"
    extension.parent.mkdir()
    extension.write_text(EXTENSION.format(python=sys.executable, ask=ASK, report=str(extension_report),
                                          events=EXTENSION_EVENTS_SOURCE))
    extension.chmod(0o755)
    with Serve(handler, code_dir, "--concurrency", "1", "--timeout", "30") as serve:
        for n in range(2):  # cold, then warm (thawed: the daemon of the first invoke is still there)
            answer = serve.invoke({"report": f"/tmp/daemon-{n}.json"})
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"runtime": 404, "child": "404", "daemon": 404}, answer.text
            reports = wait_until(lambda: in_tmp(state_home, "extension.json"), "the extension's report")
            assert len(reports) == 1, reports  # the one environment's
            ((folder, report),) = reports.items()  # type: ignore[union-attr]
            assert json.loads(report) == {"extension": 404, "extension_child": "404"}, report
            (Path(folder) / "extension.json").unlink()
        assert "Refused a connection" not in serve.text()


# ---------------------------------------------------------------------- another environment of the same fleet

NEIGHBOUR_ENV_HANDLER = ASK + r'''
import json, os, time

def handler(event, context):
    marks, tag = event["marks"], event["tag"]
    mine = os.environ["AWS_LAMBDA_RUNTIME_API"]
    with open(os.path.join("/tmp", tag + ".tmp"), "w") as out:   # its own /tmp: the test reads it there
        out.write(mine)
    os.rename(os.path.join("/tmp", tag + ".tmp"), os.path.join("/tmp", tag))
    other = os.path.join(marks, event["other"])   # where the test writes what the other environment wrote
    deadline = time.monotonic() + 20
    while not os.path.exists(other) and time.monotonic() < deadline:
        time.sleep(0.005)   # both invokes run at once: one environment each
    theirs = open(other).read()
    return {"own": ask(mine), "other": ask(theirs), "same_api": mine == theirs}
'''


def test_a_process_of_another_environment_is_refused(code_dir: Path, state_home: Path) -> None:
    """Each Lambda execution environment is a sandbox of its own: env #2's function cannot reach env #1's
    Runtime API (in Lambda it has no route to it at all). Here both listen on loopback; the connection from the
    other environment's runtime must be refused as any process outside this environment is."""
    handler = code_dir / "handler.py"
    handler.write_text(NEIGHBOUR_ENV_HANDLER)
    marks = code_dir / "marks"  # the test's: each environment's address, copied from its /tmp
    marks.mkdir()
    with Serve(handler, code_dir, "--concurrency", "2", "--timeout", "30") as serve:
        def call(n: int) -> httpx.Response:
            return serve.invoke({"marks": str(marks), "tag": f"e{n}", "other": f"e{1 - n}"})

        def both() -> dict[str, str]:
            found = {tag: in_tmp(state_home, tag) for tag in ("e0", "e1")}
            return found if all(len(where) == 1 for where in found.values()) else {}

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(call, n) for n in range(2)]
            found = wait_until(both, "both environments' addresses in their /tmp")
            for tag, where in found.items():  # type: ignore[union-attr]
                (address,) = where.values()
                (marks / f"{tag}.tmp").write_text(address)
                os.rename(marks / f"{tag}.tmp", marks / tag)
            answers = [future.result() for future in futures]
        results = [answer.json() for answer in answers]
        assert all(result["same_api"] is False for result in results), results
        assert [result["own"] for result in results] == [404, 404], results
        assert [result["other"] for result in results] == [403, 403], (
            f"one environment's runtime reached the other's Runtime API: {results}")


# ---------------------------------------------------------------------- a pid lambdatui started, reused by a stranger

STALE_HANDLER = r'''
import os, time

def handler(event, context):
    if event.get("crash"):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)    # holds the runtime's stdout: the host waits out its output grace for it
                os._exit(0)
            os._exit(0)
        os.wait()
        os._exit(1)
    return {"pid": os.getpid(), "api": os.environ["AWS_LAMBDA_RUNTIME_API"]}
'''


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(b")") + 2:].split()[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _runtime_pid(serve_pid: int, api: str, ns_pid: int) -> Optional[int]:
    """The host's pid of the runtime process whose Runtime API is `api` and whose own pid is `ns_pid`."""
    for pid in _descendants(serve_pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = fh.read().split(b"\0")
            with open(f"/proc/{pid}/status") as fh:
                nspid = next(line.split()[1:] for line in fh if line.startswith("NSpid:"))
        except (OSError, StopIteration):
            continue
        if f"AWS_LAMBDA_RUNTIME_API={api}".encode() in environ and int(nspid[-1]) == ns_pid:
            return pid
    return None


def _stranger(target: int, api: str) -> tuple[int, Optional[int]]:
    """Fork a process outside lambdatui's tree, trying to make its pid `target` (ns_last_pid); it asks the API
    for PROBE_PATH. Returns (its pid, the HTTP status it got), the status None when its pid was not `target`."""
    read_end, write_end = os.pipe()
    with open("/proc/sys/kernel/ns_last_pid", "w") as last:
        last.write(str(target - 1))
    pid = os.fork()
    if pid == 0:  # the stranger: only the socket calls, then _exit
        try:
            os.close(read_end)
            status = b"-"
            if os.getpid() == target:
                host, port = api.rsplit(":", 1)
                with socket.create_connection((host, int(port)), timeout=5) as sock:
                    sock.sendall(f"GET {PROBE_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                    head = sock.recv(64)
                status = head.split(b" ")[1] if head.startswith(b"HTTP/1.1 ") else b"?"
            os.write(write_end, status)
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 10)
        data = os.read(read_end, 16) if ready else b""
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    return pid, int(data) if data.isdigit() else None


@pytest.mark.skipif(os.geteuid() != 0 or not os.access("/proc/sys/kernel/ns_last_pid", os.W_OK),
                    reason="choosing the next pid (/proc/sys/kernel/ns_last_pid) needs root")
def test_a_stranger_that_gets_the_pid_of_an_ended_runtime_is_refused(code_dir: Path) -> None:
    """A runtime that crashed is reaped (its pid free again) before the host has done with it: it waits up to its
    output grace for a daemon that still holds the runtime's stdout. Meanwhile its pid is still among the ones
    lambdatui started (`spawned_pids`), which are let in first: a process outside the sandbox that gets the pid
    must still be refused, as it was before fb2dd80 (not lambdatui's descendant, not in the cgroup)."""
    handler = code_dir / "handler.py"
    handler.write_text(STALE_HANDLER)
    outcomes = []
    with Serve(handler, code_dir, "--concurrency", "1", "--timeout", "30") as serve:
        for _ in range(4):
            warm = serve.invoke({}).json()
            api = warm["api"]
            pid = wait_until(lambda: _runtime_pid(serve.proc.pid, api, warm["pid"]), "the runtime in /proc")
            answered = threading.Event()
            crashed: dict = {}

            def crash() -> None:
                crashed["answer"] = serve.invoke({"crash": True})
                answered.set()

            thread = threading.Thread(target=crash)
            thread.start()
            try:
                wait_until(lambda: not os.path.exists(f"/proc/{pid}"), "the runtime to be reaped", poll=0.0005)
                for _ in range(20):  # other processes may take the pid first: try again while the window lasts
                    if answered.is_set():
                        break
                    _, status = _stranger(int(pid), api)  # type: ignore[arg-type]
                    if status is not None:
                        outcomes.append(status)
                        break
            finally:
                thread.join(WAIT_S)
            assert crashed["answer"].headers.get("x-amz-function-error") == "Unhandled"
            if outcomes and outcomes[-1] != 403:
                break
    if not outcomes:
        pytest.skip("no attempt could give a stranger the ended runtime's pid while the host still listed it")
    assert all(status == 403 for status in outcomes), (
        f"a process outside lambdatui's tree that reused the crashed runtime's pid was let in: statuses {outcomes}")
