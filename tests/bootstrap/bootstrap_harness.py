"""A scripted, real Runtime API server and a runner for the bootstrap as a child process.

The fake serves events from a list, records every request, and answers the `/next`
after the last event with 500: the bootstrap then exits non-zero, which ends the test's
run deterministically (no sleeps as synchronisation).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP_DIR = REPO / "lambdatui" / "bootstrap"
WAIT_S = 10.0

NEXT_PATH = "/2018-06-01/runtime/invocation/next"
INIT_ERROR_PATH = "/2018-06-01/runtime/init/error"
RESTORE_NEXT_PATH = "/2018-06-01/runtime/restore/next"
RESTORE_ERROR_PATH = "/2018-06-01/runtime/restore/error"
FUNCTION_INIT_PATH = "/lambdatui/v1/function-init"
GLOBALS_PATH = "/lambdatui/v1/globals"
INSPECTION_PATH = "/lambdatui/v1/inspection"


@dataclass
class Event:
    """One scripted invocation."""

    body: bytes = b"{}"
    request_id: str = "req-1"
    content_type: Optional[str] = "application/json"
    deadline_ms: Optional[int] = None  # None → now + 60 s
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]  # lower-cased names
    body: bytes
    client_port: int

    def json(self) -> object:
        return json.loads(self.body)


class FakeRuntimeApi:
    """Runtime API + lambdatui private routes on 127.0.0.1:<ephemeral>, in a thread."""

    def __init__(self) -> None:
        self.events: List[Event] = []
        self.requests: List[Recorded] = []
        self.cond = threading.Condition()
        self.statuses: Dict[str, int] = {}  # path → status override
        self.close_after: set = set()  # paths after which the server drops the connection
        self.hooks: Dict[str, Callable[[Recorded], None]] = {}
        self.gate = threading.Event()
        self.gate.set()
        self.restore_gate = threading.Event()  # cleared: /restore/next stays pending (a snapshot being held)
        self.restore_gate.set()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                api._dispatch(self, "GET")

            def do_POST(self) -> None:
                api._dispatch(self, "POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    # -- server side -----------------------------------------------------------------

    def _dispatch(self, h: http.server.BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        rec = Recorded(
            method, h.path, {k.lower(): v for k, v in h.headers.items()}, body, h.client_address[1]
        )
        with self.cond:
            self.requests.append(rec)
            self.cond.notify_all()
        hook = self.hooks.get(h.path)
        if hook is not None:
            hook(rec)
        status, headers, payload = self._answer(rec)
        status = self.statuses.get(h.path, status)
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True  # the client is gone (a runtime the test killed): nothing to answer
            return
        if h.path in self.close_after:
            h.close_connection = True

    def _answer(self, rec: Recorded):
        ok = (202, {"Content-Type": "application/json"}, b'{"status":"OK"}')
        if rec.path == NEXT_PATH:
            with self.cond:
                event = self.events.pop(0) if self.events else None
            if event is None:
                return 500, {}, b'{"errorType":"Test.NoMoreEvents"}'
            headers = {
                "Lambda-Runtime-Aws-Request-Id": event.request_id,
                "Lambda-Runtime-Deadline-Ms": str(
                    event.deadline_ms if event.deadline_ms is not None else int(time.time() * 1000) + 60000
                ),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
            }
            if event.content_type is not None:
                headers["Content-Type"] = event.content_type
            headers.update(event.headers)
            return 200, headers, event.body
        if rec.path == FUNCTION_INIT_PATH:
            assert self.gate.wait(WAIT_S), "test never released the function-init gate"
            return 200, {}, b""
        if rec.path == RESTORE_NEXT_PATH:
            self.restore_gate.wait()  # released by stop() at the latest
            return 200, {}, b""
        if rec.path.startswith("/2018-06-01/runtime/") or rec.path in (GLOBALS_PATH, INSPECTION_PATH):
            return ok
        if rec.path.startswith("/test/"):
            return 200, {}, b"ok"
        return 404, {}, b"not found"

    # -- test side ---------------------------------------------------------------------

    def start(self) -> "FakeRuntimeApi":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.gate.set()
        self.restore_gate.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, predicate: Callable[[List[Recorded]], bool], timeout: float = WAIT_S) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.requests), timeout)

    def wait_path(self, path: str, timeout: float = WAIT_S) -> bool:
        return self.wait_for(lambda reqs: any(r.path == path for r in reqs), timeout)

    def paths(self) -> List[str]:
        with self.cond:
            return [r.path for r in self.requests]

    def find(self, path: str) -> List[Recorded]:
        with self.cond:
            return [r for r in self.requests if r.path == path]

    def one(self, path: str) -> Recorded:
        found = self.find(path)
        assert len(found) == 1, (path, self.paths())
        return found[0]


def response_path(request_id: str) -> str:
    return "/2018-06-01/runtime/invocation/%s/response" % request_id


def error_path(request_id: str) -> str:
    return "/2018-06-01/runtime/invocation/%s/error" % request_id


def write(code_dir: Path, relpath: str, source: str) -> Path:
    path = code_dir / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def bootstrap_env(
    api: FakeRuntimeApi, code_dir: Path, handler: str, **extra: Optional[str]
) -> Dict[str, str]:
    """The environment the host gives the runtime; nothing of this test process leaks in."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(code_dir),
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abc",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}  # None: leave the variable unset


def start_bootstrap(
    api: FakeRuntimeApi, code_dir: Path, handler: str, python: str = sys.executable, **extra: Optional[str]
) -> subprocess.Popen:
    return subprocess.Popen(
        [python, str(BOOTSTRAP_DIR)],
        cwd=str(code_dir),
        env=bootstrap_env(api, code_dir, handler, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@contextlib.contextmanager
def bootstrap_process(
    api: FakeRuntimeApi, code_dir: Path, handler: str, **extra: Optional[str]
) -> Iterator[subprocess.Popen]:
    """A running bootstrap for tests that interact with it; killed and reaped on exit."""
    proc = start_bootstrap(api, code_dir, handler, **extra)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=WAIT_S)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_bootstrap(
    api: FakeRuntimeApi,
    code_dir: Path,
    handler: str,
    events: Optional[List[Event]] = None,
    python: str = sys.executable,
    **extra: Optional[str],
) -> Run:
    """Run the bootstrap until it exits (after the scripted events) and return its output."""
    api.events.extend(events or [])
    proc = start_bootstrap(api, code_dir, handler, python=python, **extra)
    try:
        out, err = proc.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("bootstrap did not exit\nstdout:\n%s\nstderr:\n%s" % (out.decode(), err.decode()))
    return Run(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def find_python(version: str) -> Optional[str]:
    """An interpreter of that version that really runs (pyenv shims may not)."""
    candidates = [shutil.which("python" + version)]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [str(p) for p in sorted(pyenv_root.glob("versions/%s.*/bin/python%s" % (version, version)))]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=10,
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return candidate
    return None
