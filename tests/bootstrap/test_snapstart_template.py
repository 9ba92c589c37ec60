"""The SnapStart snapshot template: a held runtime process that forks one restored copy per restore request.

The test plays the host: it owns one end of the SOCK_SEQPACKET channel (with SO_PASSCRED, as the host reads a
copy's pid from its credentials), a FakeRuntimeApi for the template and one for each restored environment.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from lambdatui.bootstrap.private_signals import EXIT_NOW

from bootstrap_harness import (
    BOOTSTRAP_DIR,
    FUNCTION_INIT_PATH,
    GLOBALS_PATH,
    INSPECTION_PATH,
    NEXT_PATH,
    RESTORE_NEXT_PATH,
    WAIT_S,
    Event,
    FakeRuntimeApi,
    bootstrap_env,
    find_python,
    response_path,
    write,
)
from test_snapstart_hooks import needs_hooks_package

_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid


class Restored:
    """One restored copy as the host knows it: its pid, its pipes, its own Runtime API."""

    def __init__(self, message: Dict[str, Any], creds_pid: Optional[int], api: FakeRuntimeApi,
                 out_r: int, err_r: int) -> None:
        self.message, self.creds_pid, self.api = message, creds_pid, api
        self.pid: int = message["pid"]
        self.out_r, self.err_r = out_r, err_r


class Template:
    """The bootstrap started as a snapshot template, driven from the host's end of its channel."""

    def __init__(self, api: FakeRuntimeApi, code_dir: Path, handler: str, python: str,
                 **extra: Optional[str]) -> None:
        self.host, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.host.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.host.settimeout(WAIT_S)  # every receive is a bounded wait
        env = bootstrap_env(api, code_dir, handler, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start",
                            LAMBDATUI_SNAPSHOT_FD=str(theirs.fileno()), TEST_CHANNEL_FD=str(theirs.fileno()), **extra)
        self.proc = subprocess.Popen([python, str(BOOTSTRAP_DIR)], cwd=str(code_dir), env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(theirs.fileno(),))
        theirs.close()
        self.copies: List[Restored] = []
        self.pending: List[Tuple[Dict[str, Any], Optional[int]]] = []  # received, not yet asked for
        self.fds: List[int] = []  # ours to close at the end

    def send(self, message: Dict[str, Any], fds: List[int]) -> None:
        socket.send_fds(self.host, [json.dumps(message).encode("utf-8")], fds)

    def receive(self, wanted: Callable[[Dict[str, Any]], bool]) -> Tuple[Dict[str, Any], Optional[int]]:
        """The first message `wanted` accepts (others are kept), with the sender's pid from its credentials."""
        for i, (message, _) in enumerate(self.pending):
            if wanted(message):
                return self.pending.pop(i)
        while True:
            data, ancdata, _, _ = self.host.recvmsg(1 << 16, socket.CMSG_SPACE(_UCRED.size))
            assert data, "the template closed the channel"
            creds_pid = None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    creds_pid = _UCRED.unpack(payload[:_UCRED.size])[0]
            message = json.loads(data)
            if wanted(message):
                return message, creds_pid
            self.pending.append((message, creds_pid))

    def restore(self, api: FakeRuntimeApi, env: Dict[str, Optional[str]],
                mount_ns_fd: Optional[int] = None) -> Restored:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.fds += [out_r, err_r]
        env = dict(env, AWS_LAMBDA_RUNTIME_API=api.address)
        self.send({"op": "restore", "env": env}, [out_w, err_w] + ([mount_ns_fd] if mount_ns_fd is not None else []))
        os.close(out_w)  # the copy holds the only write ends: end of file when it is gone
        os.close(err_w)
        message, creds_pid = self.receive(lambda m: m["op"] in ("restored", "failed"))
        assert message["op"] == "restored", message
        copy = Restored(message, creds_pid, api, out_r, err_r)
        self.copies.append(copy)
        return copy

    def exited(self, pid: int) -> int:
        """The raw wait status the template reports for `pid`."""
        message, creds_pid = self.receive(lambda m: m["op"] == "exited" and m["pid"] == pid)
        assert creds_pid == self.proc.pid, "exits are reported by the template itself"
        return message["status"]

    def close(self) -> None:
        """Kill whatever is left (on a failed test) and reap the template."""
        for copy in self.copies:
            for kill in (os.killpg, os.kill):  # the group, and the copy itself should it lead none
                try:
                    kill(copy.pid, signal.SIGKILL)
                except OSError:
                    pass
        self.host.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=WAIT_S)
        for fd in self.fds:
            os.close(fd)


def read_to_eof(fd: int) -> str:
    """Everything written to a pipe until its last writer is gone (bounded)."""
    chunks, deadline = [], time.monotonic() + WAIT_S
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, "the pipe's writer never went away"
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks).decode("utf-8", "replace")
        chunks.append(chunk)


def hold_second_next(api: FakeRuntimeApi, release: threading.Event) -> None:
    """The environment's /next after its last event waits (bounded) instead of failing: the copy stays alive."""
    api.hooks[NEXT_PATH] = lambda rec: None if api.events else release.wait(WAIT_S)


@pytest.fixture
def apis() -> Iterator[Callable[[], FakeRuntimeApi]]:
    """More fake Runtime APIs: one per restored environment."""
    started: List[FakeRuntimeApi] = []

    def make() -> FakeRuntimeApi:
        started.append(FakeRuntimeApi().start())
        return started[-1]

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def template_of(api: FakeRuntimeApi, code_dir: Path) -> Iterator[Callable[..., Template]]:
    made: List[Template] = []

    def make(handler: str = "handler.handler", python: str = sys.executable, **extra: Optional[str]) -> Template:
        api.restore_gate.clear()  # the host never answers the template's /restore/next
        made.append(Template(api, code_dir, handler, python, **extra))
        assert api.wait_path(RESTORE_NEXT_PATH), "the template never sent /restore/next"
        return made[-1]

    yield make
    for template in made:
        template.close()


SNAPSHOT = """
import os, sys, tempfile, uuid
TOKEN = uuid.uuid4().hex  # drawn once, during Init: every restored copy has this value
INIT_PID = os.getpid()
INIT_TMP = tempfile.gettempdir()  # caches tempfile.tempdir from the template's TMPDIR
SNAPSHOT_FD_SEEN = os.environ.get("LAMBDATUI_SNAPSHOT_FD")
CHANNEL_INHERITABLE = os.get_inheritable(int(os.environ["TEST_CHANNEL_FD"]))

def handler(event, context):
    print("output of %d" % os.getpid())
    print("errors of %d" % os.getpid(), file=sys.stderr)
    return {"token": TOKEN, "pid": os.getpid(), "init_pid": INIT_PID, "pgid": os.getpgid(0),
            "tmp": tempfile.gettempdir(), "init_tmp": INIT_TMP, "per_env": os.environ.get("PER_ENV"),
            "log_stream": context.log_stream_name, "snapshot_fd_seen": SNAPSHOT_FD_SEEN,
            "channel_inheritable": CHANNEL_INHERITABLE}
"""


@pytest.mark.parametrize("version", ["current", "3.9"])
def test_each_restore_is_a_copy_of_the_held_init(api, apis, release, template_of, code_dir, version):
    """Also on the oldest interpreter the bootstrap supports: the template relies on socket.recv_fds (3.9+)."""
    python = sys.executable if version == "current" else find_python(version)
    if python is None:
        pytest.skip("no working python%s here" % version)
    write(code_dir, "handler.py", SNAPSHOT)
    for name, status in (("exit-template", "5"), ("exit-one", "3")):
        write(code_dir, name, status)
    for name in ("tmp-template", "tmp-one", "tmp-two"):
        (code_dir / name).mkdir()
    template = template_of(python=python, TMPDIR=str(code_dir / "tmp-template"),
                           LAMBDATUI_EXIT_FILE=str(code_dir / "exit-template"))

    envs = []
    for name in ("one", "two"):
        env_api = apis()
        env_api.events.append(Event(request_id="r-" + name))
        hold_second_next(env_api, release)
        envs.append(env_api)
    one = template.restore(envs[0], {"PER_ENV": "one", "TMPDIR": str(code_dir / "tmp-one"),
                                     "AWS_LAMBDA_LOG_STREAM_NAME": None,
                                     "LAMBDATUI_EXIT_FILE": str(code_dir / "exit-one")})
    two = template.restore(envs[1], {"PER_ENV": "two", "TMPDIR": str(code_dir / "tmp-two")})

    results = []
    for copy, name in ((one, "one"), (two, "two")):
        assert copy.api.wait_path(response_path("r-" + name)), copy.api.paths()
        assert copy.api.wait_for(lambda reqs: [r.path for r in reqs].count(NEXT_PATH) == 2)
        assert copy.api.paths() == [RESTORE_NEXT_PATH, NEXT_PATH, response_path("r-" + name), NEXT_PATH]
        assert copy.message["mount_ns"] == "none"
        assert copy.creds_pid == copy.pid, "the copy's pid as the host sees it"
        results.append(copy.api.one(response_path("r-" + name)).json())

    assert results[0]["token"] == results[1]["token"], "a value drawn during Init is the snapshot's"
    template_pid = template.proc.pid
    assert [r["init_pid"] for r in results] == [template_pid, template_pid]
    assert [r["pid"] for r in results] == [one.pid, two.pid] and template_pid not in (one.pid, two.pid)
    assert [r["pgid"] for r in results] == [one.pid, two.pid], "each copy leads its own process group"
    assert [r["per_env"] for r in results] == ["one", "two"]
    assert [r["log_stream"] for r in results] == [None, "2024/01/01/[$LATEST]abc"], "null deletes a variable"
    assert [r["tmp"] for r in results] == [str(code_dir / "tmp-one"), str(code_dir / "tmp-two")]
    assert results[0]["init_tmp"] == str(code_dir / "tmp-template")
    assert [r["snapshot_fd_seen"] for r in results] == [None, None]
    assert [r["channel_inheritable"] for r in results] == [False, False]
    # The template held still: one /restore/next, never answered, and nothing since.
    assert api.paths() == [RESTORE_NEXT_PATH] and template.proc.poll() is None

    # The exit hook follows the copy's environment (status 3, not the template's 5); SIGKILL is reported as is.
    os.kill(one.pid, EXIT_NOW)
    status = template.exited(one.pid)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3
    os.kill(two.pid, signal.SIGKILL)
    status = template.exited(two.pid)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    # Each copy wrote to its own environment's pipes.
    for copy, other in ((one, two), (two, one)):
        out, err = read_to_eof(copy.out_r), read_to_eof(copy.err_r)
        assert "output of %d" % copy.pid in out and str(other.pid) not in out
        assert "errors of %d" % copy.pid in err and "output of" not in err

    template.host.close()  # the host discards the snapshot
    assert template.proc.wait(timeout=WAIT_S) == 0
    for pid in (one.pid, two.pid):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped by the template, nothing left running


HOOKED = """
import os, uuid
from snapshot_restore_py import register_after_restore, register_before_snapshot
TOKEN = uuid.uuid4().hex
FRESH = INIT_FRESH = uuid.uuid4().hex
BEFORE_RUNS = []

@register_before_snapshot
def before():
    BEFORE_RUNS.append(os.getpid())

@register_after_restore
def regenerate():
    global FRESH
    FRESH = uuid.uuid4().hex

def handler(event, context):
    return {"token": TOKEN, "fresh": FRESH, "init_fresh": INIT_FRESH, "before_runs": BEFORE_RUNS}
"""


@needs_hooks_package
def test_hooks_run_once_before_the_snapshot_and_in_every_copy_after_restore(api, apis, template_of, code_dir):
    write(code_dir, "handler.py", HOOKED)
    # As the host starts its runtime: its own address beside AWS_LAMBDA_RUNTIME_API. A copy's is the address its
    # restore names (the private calls below go to env_api, not to the snapshot's).
    private = {"LAMBDATUI_PRIVATE_API": "1", "LAMBDATUI_REPORT_GLOBALS": "1", "LAMBDATUI_SANDBOX_API": api.address}
    template = template_of(**private)
    results = []
    for name in ("one", "two"):
        env_api = apis()
        env_api.events.append(Event(request_id="r-" + name))
        copy = template.restore(env_api, {})
        assert template.exited(copy.pid) != 0  # its /next after the event fails: the fake has no more
        assert env_api.paths() == [
            RESTORE_NEXT_PATH, INSPECTION_PATH, GLOBALS_PATH,
            NEXT_PATH, response_path("r-" + name), INSPECTION_PATH, GLOBALS_PATH, NEXT_PATH,
        ]
        assert [r.json()["phase"] for r in env_api.find(GLOBALS_PATH)] == ["restore", "invoke"]
        results.append(env_api.one(response_path("r-" + name)).json())
    assert api.paths() == [FUNCTION_INIT_PATH, INSPECTION_PATH, GLOBALS_PATH, RESTORE_NEXT_PATH]
    assert results[0]["token"] == results[1]["token"]
    assert len({results[0]["fresh"], results[1]["fresh"], results[0]["init_fresh"]}) == 3, "regenerated per copy"
    assert [r["before_runs"] for r in results] == [[template.proc.pid]] * 2, "once, in the template"


MOUNTS = """
import os
def handler(event, context):
    return {"marker": os.path.exists(os.environ["MARKER"]), "cwd": os.getcwd()}
"""


def test_a_copy_joins_the_environments_mount_namespace(api, apis, release, template_of, code_dir):
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) to make a mount namespace")
    mount_point = code_dir / "mnt"
    mount_point.mkdir()
    # A mount namespace of its own with a tmpfs on mount_point: the marker exists only inside it.
    holder = subprocess.Popen(
        [unshare, "--mount", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs lambdatui-test "$1" && echo x > "$1/marker" && echo ready && read line', "sh",
         str(mount_point)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        if holder.stdout.readline() != b"ready\n":  # returns at once if unshare or mount failed: the shell ends
            pytest.skip("cannot make a mount namespace here: %s" % holder.communicate(timeout=WAIT_S)[1].decode())
        write(code_dir, "handler.py", MOUNTS)
        marker = str(mount_point / "marker")
        assert not os.path.exists(marker)
        template = template_of()
        ns_fd = os.open("/proc/%d/ns/mnt" % holder.pid, os.O_RDONLY)
        try:
            joined_api, failed_api = apis(), apis()
            for env_api in (joined_api, failed_api):
                env_api.events.append(Event(request_id="r1"))
                hold_second_next(env_api, release)
            joined = template.restore(joined_api, {"MARKER": marker}, mount_ns_fd=ns_fd)
            with open(os.devnull) as not_a_namespace:  # setns fails: said, never fatal
                failed = template.restore(failed_api, {"MARKER": marker}, mount_ns_fd=not_a_namespace.fileno())
        finally:
            os.close(ns_fd)
        assert joined.message["mount_ns"] == "joined"
        assert failed.message["mount_ns"] == "setns: Invalid argument"
        for env_api in (joined_api, failed_api):
            assert env_api.wait_path(response_path("r1"))
        assert joined_api.one(response_path("r1")).json() == {"marker": True, "cwd": str(code_dir)}
        assert failed_api.one(response_path("r1")).json() == {"marker": False, "cwd": str(code_dir)}
        assert not os.path.exists(marker), "the template's (and our) namespace is untouched"
    finally:
        holder.stdin.close()  # its `read` ends: the namespace goes with the last process in it
        holder.wait(timeout=WAIT_S)
        holder.stdout.close()
        holder.stderr.close()


def test_a_bad_request_is_refused_and_the_template_goes_on(api, apis, template_of, code_dir):
    write(code_dir, "handler.py", MOUNTS)
    template = template_of()
    out_r, out_w = os.pipe()
    template.fds.append(out_r)
    template.send({"op": "restore", "env": {}}, [out_w])  # stdout without stderr
    os.close(out_w)
    message, creds_pid = template.receive(lambda m: True)
    assert message == {"op": "failed", "error": "a restore request carries 2 or 3 descriptors, not 1"}
    assert creds_pid == template.proc.pid
    assert read_to_eof(out_r) == "", "the template closed the descriptors of a refused request"
    template.send({"op": "snapshot"}, [])
    assert template.receive(lambda m: True)[0]["op"] == "failed"

    env_api = apis()
    copy = template.restore(env_api, {"MARKER": "/nonexistent"})  # still serving
    assert template.exited(copy.pid) != 0
    template.host.close()
    assert template.proc.wait(timeout=WAIT_S) == 0


_READ_SYSCALL = {"x86_64": 0, "aarch64": 63}.get(os.uname().machine)


def _blocked_in_read(pid: int) -> bool:
    """Whether `pid` sleeps in read(2), as /proc/<pid>/syscall says (its first field: the syscall's number)."""
    try:
        with open("/proc/%d/syscall" % pid) as fh:
            fields = fh.read().split()
    except OSError:
        return False
    return bool(fields) and fields[0] == str(_READ_SYSCALL)


@pytest.mark.skipif(_READ_SYSCALL is None, reason="read(2)'s number is known here for x86_64 and aarch64 only")
def test_a_copy_calls_nothing_until_the_host_has_placed_it(api, apis, template_of, code_dir):
    """The host moves a copy into its environment's cgroup once the copy says it is restored, and closes the
    request's "placed" pipe then. Until that, the copy calls nothing: a process it forked meanwhile (a daemon) would
    be born in the snapshot's cgroup and outlive its own environment's reset (test_snapstart_orphans.py's daemon,
    1 run in 30 under load, before)."""
    write(code_dir, "handler.py", SNAPSHOT)
    template = template_of()
    env_api = apis()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    placed_r, placed_w = os.pipe()
    template.fds += [out_r, err_r]
    template.send({"op": "restore", "env": {"AWS_LAMBDA_RUNTIME_API": env_api.address}, "placed": True},
                  [out_w, err_w, placed_r])
    for fd in (out_w, err_w, placed_r):
        os.close(fd)
    try:
        message, creds_pid = template.receive(lambda m: m["op"] in ("restored", "failed"))
        assert message["op"] == "restored", message
        template.copies.append(Restored(message, creds_pid, env_api, out_r, err_r))  # killed at the end if need be
        deadline = time.monotonic() + WAIT_S
        while not _blocked_in_read(message["pid"]):  # polling /proc: the state waited for has no event of its own
            assert time.monotonic() < deadline, "the copy never waited on its placed pipe"
            time.sleep(0.005)
        assert env_api.paths() == [], "the copy called its environment before it was placed"
    finally:
        os.close(placed_w)
    assert env_api.wait_path(RESTORE_NEXT_PATH), "the copy did not go on once placed"
