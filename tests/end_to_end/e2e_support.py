"""Helpers for the end-to-end tests: the real CLI, a served Invoke API, /proc walks, in-process logs.

Nothing here fakes a component: every helper starts or observes real processes. Every wait is on
the event it means (a line on a pipe, a process exit, a /proc state) and carries a bound.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator, Callable, Optional, Sequence

import pytest
import trio

from lambdatui.model import facts as f

if TYPE_CHECKING:
    from lambdatui.host.environment_host import EnvironmentHost

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_functions"
CLI_TIMEOUT = 60


def lambdatui_argv() -> list[str]:
    """The installed console script next to this interpreter, else `python -m lambdatui`."""
    script = Path(sys.executable).with_name("lambdatui")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "lambdatui"]


# The CLI as run on a host that makes no mount namespace (the probe's answer given first): the environment then shares
# the host's /tmp, its TMPDIR its own folder. Arguments follow, as to `lambdatui`.
NO_NAMESPACE_CLI = """
import os
import sys
from lambdatui.processes import namespaces
namespaces._probe_cache[os.geteuid()] = (None, "turned off by the test")
from lambdatui.entry import main
sys.exit(main())
"""


def skip_unless_under_tmp(path: Path) -> None:
    """For a test of what lambdatui does with code under /tmp, written under pytest's tmp_path: where TMPDIR puts that
    elsewhere, the case does not arise (and the test says why it skips)."""
    from lambdatui.processes.sandbox import lies_under_tmp

    if not lies_under_tmp(path):
        pytest.skip(f"pytest's tmp_path ({path}) is not under /tmp (TMPDIR): no code of the test lies under /tmp")


def run_cli(*args: str, input: Optional[str] = None, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*lambdatui_argv(), *args],
        cwd=REPO,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# The start of a custom runtime that speaks the Runtime API on a raw socket (streamed responses and their trailers,
# byte by byte): its address, and one HTTP/1.1 answer read whole (status, lower-case headers, body). No braces: a
# bootstrap built on it may still be a str.format template.
RAW_RUNTIME_START = r'''import base64, json, os, socket
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, _, PORT = API.partition(":")
P = "/2018-06-01/runtime"


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("closed")
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:]))
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body[:length]
'''


_CGROUPS: list[bool] = []


def writable_cgroups() -> bool:
    """Whether lambdatui can make its environments' cgroups here (root, or a delegated cgroup): where it cannot (an
    ordinary user's machine), tests of what happens to them have nothing to check, and say so by this."""
    if not _CGROUPS:
        from lambdatui.processes.cgroup import EnvironmentCgroup

        made = EnvironmentCgroup.create()
        if made is not None:
            made.remove()
        _CGROUPS.append(made is not None)
    return _CGROUPS[0]


def read_until(fd: int, wanted: bytes, deadline: float) -> bytes:
    """What a pipe gives until `wanted` is in it (its end, or `deadline` on the monotonic clock, fails the test)."""
    got = b""
    while wanted not in got:
        left = deadline - time.monotonic()
        assert left > 0, got.decode(errors="replace")
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, got.decode(errors="replace")
            got += chunk
    return got


def source_lines(stderr: str, source: str) -> list[str]:
    """One source's lines (`platform`, `function`, an extension's name...) out of the headless console output, their
    tag cut off (`serve` starts each with its environment's number, `#2 `)."""
    out = []
    for line in stderr.splitlines():
        match = re.match(r"(?:#\d+ )?\[" + re.escape(source) + r"\]\s+(.*)$", line)
        if match:
            out.append(match.group(1))
    return out


def platform_lines(stderr: str) -> list[str]:
    """The platform's own lines (START, END, REPORT...)."""
    return source_lines(stderr, "platform")


def reports(stderr: str) -> list[str]:
    """The REPORT lines."""
    return [line for line in platform_lines(stderr) if line.startswith("REPORT ")]


def max_memory_used(report: str) -> int:
    """A REPORT line's Max Memory Used, in MB."""
    match = re.search(r"\tMax Memory Used: (\d+) MB\t", report)
    assert match, report
    return int(match.group(1))


def awslambdaric_bootstrap(code_dir: Path) -> Path:
    """A custom runtime in `code_dir` that runs handler.handler under awslambdaric, from this interpreter."""
    return write_file(
        code_dir / "bootstrap",
        f"#!{sys.executable}\nimport os, sys\n"
        f"os.execv(sys.executable, [sys.executable, '-m', 'awslambdaric', 'handler.handler'])\n",
        executable=True,
    )


# For a probe program a test writes (a custom runtime, an extension; standard library only): the sandbox's API,
# one connection per call, answering (status, body text, headers); `log` prints what it learnt for the test to read
# (`PROBE [...]` on stderr, which lambdatui relays). The program imports http.client, json, os and sys first.
API_CALLS_SOURCE = '''
API = os.environ["AWS_LAMBDA_RUNTIME_API"]

def call(method, path, body=None, headers=None, timeout=None):
    c = http.client.HTTPConnection(API, timeout=timeout)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data.decode(errors="replace"), dict(r.getheaders())

def log(*fields):
    print("PROBE " + json.dumps(fields), file=sys.stderr, flush=True)
'''


def sam_template(runtime: str, handler: str = "app.handler") -> str:
    """A SAM template of one function in its own folder (CodeUri: .) that declares `Runtime: runtime`."""
    return f"""\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: {handler}
      Runtime: {runtime}
"""


def write_file(path: Path, text: str, *, executable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755 if executable else 0o644)
    return path


# ---------------------------------------------------------------------- /proc


def proc_stat(pid: int) -> Optional[tuple[str, int, int]]:
    """(state, ppid, starttime) from /proc/<pid>/stat, or None once the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return rest[0], int(rest[1]), int(rest[19])


def proc_cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def open_sockets(pid: int) -> int:
    """How many sockets process `pid` holds open now."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass  # closed while we looked
    return count


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of `root` right now, as {pid: starttime} (starttime tells a reused pid apart)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = proc_stat(int(entry))
        if stat is None or stat[0] in "ZXx":
            continue
        children.setdefault(stat[1], []).append(int(entry))
        starts[int(entry)] = stat[2]
    found: dict[int, int] = {}
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid in found or pid not in starts:
            continue
        found[pid] = starts[pid]
        todo.extend(children.get(pid, ()))
    return found


def is_alive(pid: int, starttime: int) -> bool:
    """The same process (same start time) still exists and is not a zombie."""
    stat = proc_stat(pid)
    return stat is not None and stat[2] == starttime and stat[0] not in "ZXx"


def wait_all_gone(pids: dict[int, int], timeout: float) -> dict[int, str]:
    """Wait until none of `pids` is alive; returns those still alive at the bound, with their cmdline.

    Each process is watched through a pidfd, which becomes readable when it exits (children of other
    parents included), so this waits on the exits themselves.
    """
    deadline = time.monotonic() + timeout
    fds: dict[int, int] = {}
    try:
        for pid, start in pids.items():
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                continue
            if is_alive(pid, start):  # checked after opening: the fd cannot refer to a reused pid
                fds[fd] = pid
            else:
                os.close(fd)
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        pending = set(fds)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for fd, _ in poller.poll(left * 1000):
                pending.discard(fd)
                poller.unregister(fd)
        return {fds[fd]: proc_cmdline(fds[fd]) for fd in pending if is_alive(fds[fd], pids[fds[fd]])}
    finally:
        for fd in fds:
            os.close(fd)


# ---------------------------------------------------------------------- lambdatui as a subprocess


def stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM a process if it still runs, SIGKILL it if that is not enough within `grace`; reaped either way."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)


class LambdatuiProcess:
    """`lambdatui ARGS...` as a subprocess; its stderr is read line by line on a thread, its stdout whole on another
    (unless `read_stdout` is false: a reader that comes late, the test's); `preexec` runs in the child before exec."""

    def __init__(self, *args: str, read_stdout: bool = True, preexec: Optional[Callable[[], None]] = None) -> None:
        self.argv = [*lambdatui_argv(), *args]
        self.proc = subprocess.Popen(
            self.argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=preexec,
        )
        self.lines: list[str] = []
        self.stdout = bytearray()
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._read_lines, daemon=True)]
        if read_stdout:
            self._threads.append(threading.Thread(target=self._read_stdout, daemon=True))
        for thread in self._threads:
            thread.start()

    def _read_lines(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for chunk in iter(lambda: self.proc.stdout.read(4096), b""):  # type: ignore[union-attr]
            self.stdout += chunk

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 30.0, start: int = 0) -> re.Match[str]:
        return self.wait_for_lines(pattern, 1, timeout, start)[0]

    def wait_for_lines(self, pattern: str, count: int, timeout: float = 30.0, start: int = 0) -> list[re.Match[str]]:
        """Until `count` lines from `start` on match `pattern`: every match so far."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        found: list[re.Match[str]] = []
        scanned = start  # the lines only grow: each wake-up reads the new ones (a burst's test waits on thousands)
        with self._cond:
            while True:
                new = self.lines[scanned:]
                scanned += len(new)
                found += [match for match in map(regex.search, new) if match]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._threads[0].is_alive()):
                    raise AssertionError(
                        f"{len(found)} of {count} lines matching {pattern!r} within {timeout} s "
                        f"(exit code {self.proc.poll()}); output so far:\n" + "\n".join(self.lines)
                    )
                self._cond.wait(min(left, 0.5))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout)
        return code

    def __enter__(self) -> "LambdatuiProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """SIGTERM if still running (SIGKILL if that is not enough), then collect the readers."""
        stop(self.proc)
        for thread in self._threads:
            thread.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class ServeProcess(LambdatuiProcess):
    """`lambdatui serve PATH --port PORT` (port 0: let the OS choose; the URL line tells which)."""

    def __init__(self, path: Path | str, *extra: str, port: int = 0) -> None:
        super().__init__("serve", str(path), "--port", str(port), *extra)
        self.address = ""

    def start(self, timeout: float = 30.0) -> "ServeProcess":
        """Until the Invoke API is bound: lambdatui prints the URL once the listener is up."""
        match = self.wait_for_line(r"serving .* at http://([^/\s]+)/2015-03-31/", timeout)
        self.address = match.group(1)
        return self

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    def invoke_url(self, function_name: str = "function") -> str:
        return f"{self.base_url}/2015-03-31/functions/{function_name}/invocations"

    def function_url_address(self, timeout: float = 30.0) -> str:
        """With `--url-port`: the function URL's host:port as lambdatui prints it (`[::1]:N` for IPv6)."""
        return self.wait_for_line(r"\[lambdatui\] function URL: http://([^/\s]+)/", timeout).group(1)

    def __enter__(self) -> "ServeProcess":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise


# ---------------------------------------------------------------------- in-process environments


@dataclass
class LogCollector:
    """Subscribes to a host's facts; keeps every log line and lets a trio task wait for one."""

    lines: list[f.LogLine] = field(default_factory=list)
    facts: list[object] = field(default_factory=list)
    _changed: trio.Event = field(default_factory=trio.Event)

    def __call__(self, fact: object) -> None:
        self.facts.append(fact)
        self.lines.extend(f.log_lines(fact))
        self._changed.set()
        self._changed = trio.Event()

    def texts(self, source: Optional[str] = None) -> list[str]:
        return [line.text for line in self.lines if source is None or line.source == source]

    def dump(self) -> str:
        return "\n".join(f"[{line.source}] {line.text}" for line in self.lines)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()

    async def wait_for_text(self, pattern: str, source: Optional[str] = None) -> str:
        regex = re.compile(pattern)
        while True:
            for text in self.texts(source):
                if regex.search(text):
                    return text
            await self._changed.wait()


def count_matching(texts: Sequence[str], pattern: str) -> int:
    regex = re.compile(pattern)
    return sum(1 for t in texts if regex.search(t))


# A function that ends gracefully on SIGTERM (Lambda sends it at shutdown when an extension is registered).
GRACEFUL = '''import signal
import sys


def on_term(signum, frame):
    print("[runtime] SIGTERM received, cleaning up", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)


def handler(event, context):
    return {"ok": True}
'''


def with_audit_extension(code_dir: Path, handler_source: str) -> Path:
    """The handler, with the sample `audit` extension (registered for INVOKE and SHUTDOWN) beside it."""
    handler = write_file(code_dir / "handler.py", handler_source)
    (code_dir / "extensions").mkdir()
    shutil.copy2(SAMPLES / "extension" / "extensions" / "audit", code_dir / "extensions" / "audit")
    return handler


async def invoke_json(host: EnvironmentHost, event: dict, bound: float = 30) -> dict:
    """The JSON result of an invoke that must succeed."""
    with trio.fail_after(bound):
        result, _ = await host.invoke(json.dumps(event).encode())
    assert not result.function_error, result.payload
    return json.loads(result.payload)


@asynccontextmanager
async def environment_with_log(handler: Path) -> AsyncIterator[tuple[EnvironmentHost, "LogCollector"]]:
    """Env #1 of the function at `handler`, its facts heard by a LogCollector from the start of its use."""
    from lambdatui.config import resolve_function
    from lambdatui.runner import open_environment

    async with open_environment(resolve_function(str(handler))) as running:
        log = LogCollector()
        running.host.subscribe(log)
        yield running.host, log


def watcher_extension(*events: str) -> str:
    """An external extension named `watcher`, registered for `events`, that prints "registered" and then one line per
    event it gets ("event SHUTDOWN spindown"); it exits at SHUTDOWN."""
    return """#!/usr/bin/env python3
import http.client, json, os, sys
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
def call(method, path, headers, body=None):
    api.request(method, "/2020-01-01/extension" + path, body=body, headers=headers)
    answer = api.getresponse()
    return answer, answer.read()
answer, _ = call("POST", "/register", {"Lambda-Extension-Name": "watcher"}, json.dumps({"events": %r}))
ident = answer.getheader("Lambda-Extension-Identifier")
print("registered", flush=True)
while True:
    _, body = call("GET", "/event/next", {"Lambda-Extension-Identifier": ident})
    event = json.loads(body)
    print("event", event["eventType"], event.get("shutdownReason", ""), flush=True)
    if event["eventType"] == "SHUTDOWN":
        sys.exit(0)
""" % (list(events),)
