"""The sandbox APIs' access check, by the cgroup the kernel says a socket was made in (sock_diag's
INET_DIAG_CGROUP_ID), and by tracing its holders where that does not decide.

Only the environment's own processes may reach its sandbox APIs: the runtime, its children, a setsid daemon it
started, an extension; never an outsider nor a process of another environment of the same fleet. Each request
here is a harmless GET of an unknown path: a refused connection reads 403 (or nothing), an admitted one another
status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model.fleet import FleetOptions
from lambdatui.processes import cgroup as cgroup_module
from lambdatui.processes import peers
from lambdatui.runner import open_environment

from e2e_support import ServeProcess, descendants, environment_with_log, invoke_json, proc_cmdline, write_file
from test_fleet_support import InFlight, state_home

__all__ = ["state_home"]  # the fixture, used by name

BOUND = 30

# Shared by the handler, its child and its daemon: one GET of an unknown path, its status (None: closed unanswered).
PROBE_LIB = r'''
import os, socket, sys

def status_of(address, keep=None):
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        s.sendall(b"GET /2018-06-01/runtime/no-such-route HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        status = int(data.split()[1]) if data else None
    except OSError:
        status = None
    if keep is not None:
        keep.append(s)  # left open: the test asks the kernel about it
    else:
        s.close()
    return status
'''

HANDLER = PROBE_LIB + r'''
import json, select, subprocess, time

KEPT = []
OWN = os.environ["AWS_LAMBDA_RUNTIME_API"]

CHILD = """
import sys
sys.path.insert(0, %r)
from handler import status_of
print(status_of(sys.argv[1]), flush=True)
""" % os.path.dirname(os.path.abspath(__file__))

DAEMON = CHILD.replace("print(status_of(sys.argv[1]), flush=True)", """
import os
w = int(sys.argv[2])
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
os.write(w, (str(status_of(sys.argv[1])) + " " + str(os.getpid())).encode())
os.close(w)
""")


def child_status(address):
    done = subprocess.run([sys.executable, "-c", CHILD, address], capture_output=True, text=True, timeout=20)
    return done.stdout.strip() or done.stderr.strip()


def daemon_status(address):
    r, w = os.pipe()
    subprocess.run([sys.executable, "-c", DAEMON, address, str(w)], pass_fds=(w,), timeout=20)
    os.close(w)
    data = b""
    deadline = time.monotonic() + 20
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([r], [], [], left)[0]:
            break
        chunk = os.read(r, 256)
        if not chunk:
            break
        data += chunk
    os.close(r)
    status, _, pid = data.decode().partition(" ")
    return status, pid


def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    target = event.get("target") or OWN
    if isinstance(target, list):
        others = [a for a in target if a != OWN]
        target = others[0] if others else None
        if target is None:
            return {"own": OWN}
    out = {"own": OWN, "target": target, "self": status_of(target, KEPT if event.get("keep") else None)}
    if KEPT:
        out["kept_port"] = KEPT[-1].getsockname()[1]
    out["child"] = child_status(target)
    out["daemon"], out["daemon_pid"] = daemon_status(target)
    return out
'''

EXTENSION = r'''#!{python}
import http.client, json, os, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0]))))  # the code folder
from handler import status_of, child_status
address = os.environ["AWS_LAMBDA_RUNTIME_API"]
print("probe-ext self=%s child=%s" % (status_of(address), child_status(address)), flush=True)
api = http.client.HTTPConnection(address, timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": []}}),
            headers={{"Lambda-Extension-Name": "probe"}})
response = api.getresponse()
response.read()
ident = response.getheader("Lambda-Extension-Identifier")
print("probe-ext registered %s" % response.status, flush=True)
api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": ident}})
api.getresponse().read()
'''


def admitted(status: object) -> bool:
    return status not in (403, "403", None, "None", "")


def outsider_status(address: str, code_dir: Path) -> str:
    """A process of the test's, outside every environment (neither in its tree nor in its cgroup)."""
    done = subprocess.run([sys.executable, "-c", PROBE_LIB + "\nprint(status_of(sys.argv[1]))", address],
                          capture_output=True, text=True, timeout=BOUND, cwd=code_dir)
    return done.stdout.strip() or done.stderr


async def outsider(address: str, code_dir: Path) -> str:
    """outsider_status on a thread: the host's loop (this test's) must go on serving meanwhile."""
    return await trio.to_thread.run_sync(outsider_status, address, code_dir)


@pytest.mark.trio
async def test_own_processes_are_admitted_outsiders_refused_and_the_kernel_names_the_environments_cgroup(
        code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    async with environment_with_log(code_dir / "handler.py") as (host, log):
        body = await invoke_json(host, {"keep": True})
        assert admitted(body["self"]) and admitted(body["child"]) and admitted(body["daemon"]), body
        v2_id = host.cgroup_v2_id()
        server = ("127.0.0.1", int(body["own"].rsplit(":", 1)[1]))
        found = peers.client_socket(("127.0.0.1", body["kept_port"]), server)
        assert found is not None and found.inode, found
        if v2_id is None:
            pytest.skip("no cgroup v2 for the environment here: the fast path is not taken")
        # The socket the runtime made is the environment's (its function cgroup's), by the kernel's word: the fast path
        # is what admits it.
        assert found.cgroup == v2_id, (found, v2_id)
        cgroup = host._supervisor.cgroup
        assert v2_id == os.stat(cgroup.function or cgroup.path).st_ino  # the function's cgroup, where it has one
        assert await outsider(body["own"], code_dir) == "403", "an outsider was let in"
        with trio.fail_after(BOUND):
            await log.wait_for_text("Refused a connection to the Runtime API")

        # A crash and a new runtime: the same cgroup, and the new runtime's processes are let in again.
        with trio.fail_after(BOUND):
            crashed, _ = await host.invoke(json.dumps({"crash": True}).encode())
        assert crashed.function_error
        again = await invoke_json(host, {"keep": True})
        assert admitted(again["self"]) and admitted(again["child"]) and admitted(again["daemon"]), again
        assert host.cgroup_v2_id() == v2_id
        found = peers.client_socket(("127.0.0.1", again["kept_port"]), server)
        assert found is not None and found.cgroup == v2_id, found


@pytest.mark.trio
async def test_an_extension_and_its_child_are_admitted(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "probe", EXTENSION.format(python=sys.executable), executable=True)
    async with environment_with_log(code_dir / "handler.py") as (host, log):
        with trio.fail_after(BOUND):
            result, _ = await host.invoke(b"{}")
        assert not result.function_error, (result.payload, log.dump())
        body = json.loads(result.payload)
        assert admitted(body["self"]), body
        line = next((t for t in log.texts() if t.startswith("probe-ext self=")), None)
        assert line is not None, log.dump()
        assert line == "probe-ext self=404 child=404", log.dump()  # let in: the unknown route's 404, not a 403
        assert any("probe-ext registered 200" in t for t in log.texts()), log.dump()
        assert not any("Refused a connection" in t for t in log.texts()), log.dump()


@pytest.mark.trio
async def test_without_a_cgroup_the_descriptor_trace_still_decides(code_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A host where no cgroup can be made (here: none of the cgroup mounts is found): no fast path, and the old
    tracing admits the runtime and its child and refuses an outsider."""
    monkeypatch.setattr(cgroup_module, "CGROUP_ROOT", code_dir / "no-cgroup-mount")
    write_file(code_dir / "handler.py", HANDLER)
    async with open_environment(resolve_function(str(code_dir / "handler.py"))) as running:
        host = running.host
        assert host.cgroup_v2_id() is None
        body = await invoke_json(host, {})
        assert admitted(body["self"]) and admitted(body["child"]), body
        assert await outsider(body["own"], code_dir) == "403"


@pytest.mark.trio
async def test_a_snapstart_restored_copy_and_its_children_are_admitted(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    config = resolve_function(str(code_dir / "handler.py"))
    with trio.fail_after(60):
        async with open_environment(config, fleet=FleetOptions(snapstart=True)) as running:
            for _ in range(2):
                result, _ = await running.fleet.invoke(json.dumps({}).encode())
                assert not result.function_error, result.payload
                body = json.loads(result.payload)
                assert admitted(body["self"]) and admitted(body["child"]) and admitted(body["daemon"]), body
                assert await outsider(body["own"], code_dir) == "403"


def runtime_apis(serve_pid: int) -> list[str]:
    found = set()
    for pid in descendants(serve_pid):
        if "bootstrap" not in proc_cmdline(pid):
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                for item in fh.read().split(b"\0"):
                    if item.startswith(b"AWS_LAMBDA_RUNTIME_API="):
                        found.add(item.split(b"=", 1)[1].decode())
        except OSError:
            pass
    return sorted(found)


def test_a_process_of_another_environment_of_the_fleet_is_refused(code_dir: Path, state_home: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER + r'''

_plain = handler
def handler(event, context):
    release = event.get("release")
    if release:  # held until the test lets it go: two environments at once
        print("held", OWN, flush=True)
        while not os.path.exists(release):
            time.sleep(0.005)
        return {"own": OWN}
    return _plain(event, context)
''')
    release = code_dir / "release"
    with ServeProcess(handler, "--concurrency", "2", "--timeout", "30") as served:
        held = [InFlight(served, {"release": str(release)}) for _ in range(2)]
        served.wait_for_lines(r"\[function\]\s+held ", 2, BOUND)
        release.touch()
        owns = sorted(h.response().json()["own"] for h in held)
        assert len(set(owns)) == 2, owns
        assert runtime_apis(served.proc.pid) == owns
        for _ in range(2):
            answer = InFlight(served, {"target": owns}).response().json()
            # From the other environment: its runtime, its child and its daemon are each refused.
            assert answer["target"] != answer["own"], answer
            assert [str(answer[k]) for k in ("self", "child", "daemon")] == ["403"] * 3, answer
            # and its own API still lets them in
            mine = InFlight(served, {}).response().json()
            assert admitted(mine["self"]) and admitted(mine["child"]) and admitted(mine["daemon"]), mine
    assert "Refused a connection to the Runtime API" in served.output()
