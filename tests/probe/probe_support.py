"""Helpers for the probe tests: the real debugger on a real pseudo-terminal, subprocess environments, and the
pieces of source the probes' functions and extensions share.

Nothing is faked: `DebuggerOnPty` runs `python -m lambdatui PATH` (entry.main, as the console script does) with a
pty as its controlling terminal, drains what it draws on a thread, and ends it as a user would (the `q` key,
SIGTERM, or closing the terminal). Every wait has a bound and waits on the event it means.
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Mapping, Optional

import httpx

REPO = Path(__file__).resolve().parents[2]
BOUND = 60.0


def cache_env(prefix: Optional[Path], *, write: bool = True, base: Optional[Mapping[str, str]] = None,
              pythonpath: Path = REPO) -> dict[str, str]:
    """The environment of a lambdatui subprocess whose dataclass cache lives under `prefix` (None: beside the
    package, in its __pycache__)."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = str(pythonpath)
    if prefix is None:
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env["PYTHONPYCACHEPREFIX"] = str(prefix)
    if write:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def cache_file_for(prefix: Optional[Path], pythonpath: Path = REPO, python: str = sys.executable) -> Path:
    """Where `python` keeps the cache for the package found on `pythonpath` (default_path, asked of it)."""
    out = subprocess.run([python, "-c", "from lambdatui.dataclass_cache import default_path; print(default_path())"],
                         capture_output=True, text=True, env=cache_env(prefix, pythonpath=pythonpath), cwd="/",
                         timeout=BOUND)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip())


def stored_texts(path: Path) -> dict[str, bytes]:
    from lambdatui.dataclass_cache import MethodCache

    return MethodCache(str(path)).stored


def file_identity(path: Path) -> tuple[int, int, bytes]:
    """(inode, mtime_ns, bytes): a rewrite (os.replace) changes the inode even when the bytes are the same."""
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, path.read_bytes()


class DebuggerOnPty:
    """`python -m lambdatui PATH ...` on a pseudo-terminal of its own (its controlling terminal)."""

    READY = b"Participant"  # the participants table's heading: the main screen is drawn

    def __init__(self, *args: str, env: Mapping[str, str], cwd: Path = REPO, size: tuple[int, int] = (45, 140)):
        self.master, slave = os.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
        full_env = {**env, "TERM": "xterm-256color", "COLUMNS": str(size[1]), "LINES": str(size[0])}

        def controlling_terminal() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "lambdatui", *args], stdin=slave, stdout=slave,
                                         stderr=slave, env=full_env, cwd=cwd, start_new_session=True,
                                         preexec_fn=controlling_terminal)
        finally:
            os.close(slave)
        self.screen = bytearray()
        self._cond = threading.Condition()
        self._stop = False
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                readable, _, _ = select.select([self.master], [], [], 0.1)
            except (OSError, ValueError):
                break
            if not readable:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every slave end is closed (the app ended)
                data = b""
            with self._cond:
                if not data:
                    self._eof = True
                    self._cond.notify_all()
                    return
                self.screen += data
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, needle: bytes, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while needle not in self.screen:
                left = deadline - time.monotonic()
                if left <= 0 or self._eof or self.proc.poll() is not None:
                    raise AssertionError(f"{needle!r} never drawn (exit {self.proc.poll()}); tail: "
                                         f"{bytes(self.screen[-2000:])!r}")
                self._cond.wait(min(left, 0.5))

    def ready(self, timeout: float = 30.0) -> "DebuggerOnPty":
        self.wait_for(self.READY, timeout)
        return self

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def hang_up(self) -> None:
        """Close the terminal, as closing its window does: the kernel sends SIGHUP (and SIGCONT) to the app."""
        self._stop = True
        self._reader.join(5)
        os.close(self.master)
        self.master = -1

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(BOUND)
        self._stop = True
        self._reader.join(5)
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def __enter__(self) -> "DebuggerOnPty":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_stale_runs() -> None:
    """The run folders of lambdatui processes SIGKILLed by a test (their /tmp and layers): lambdatui's next start
    would remove them; the test does, so that nothing is left behind it. Live runs (their pid exists) stay."""
    from lambdatui.run_folders import remove_stale_runs, state_root

    remove_stale_runs(state_root(), lambda _text: None)


# A handler's helper, spliced into the probes' handler sources: a `sleep` grandchild in a session of its own
# (setsid, double fork), in no process group lambdatui knows; with `where`, moved into that cgroup folder first.
# It returns the daemon's pid (as the function sees it) once the daemon has exec'd.
DAEMON_SOURCE = r'''
def daemon(seconds=300, where=None):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork():
            os._exit(0)
        if where:
            with open(os.path.join(where, "cgroup.procs"), "w") as fh:
                fh.write("0")  # this process itself
        os.write(w, b"%d" % os.getpid())
        os.execvp("sleep", ["sleep", str(seconds)])  # `w` is close-on-exec: end of file once it has exec'd
    os.close(w)
    os.waitpid(pid, 0)
    data = b""
    while more := os.read(r, 64):
        data += more
    os.close(r)
    return int(data)
'''


def sandbox_inits(root: int) -> dict[int, int]:
    """The sandbox inits' keepers among `root`'s children, {pid: starttime} (one an environment; the inits they fork,
    one a life, and each init's pid 1 are forks of them, not counted). lambdatui is its lives' subreaper: where a
    life's init dies before its pid 1, lambdatui adopts that pid 1 until it has reaped it; it is no keeper, and it
    lives in the life's own PID namespace."""
    from e2e_support import descendants, proc_cmdline, proc_stat

    found = {}
    root_ns = _pid_namespace(root)
    for pid, start in descendants(root).items():
        stat = proc_stat(pid)
        if (stat is not None and stat[1] == root and "sandbox_init.py" in proc_cmdline(pid)
                and _pid_namespace(pid) == root_ns):
            found[pid] = start
    return found


def _pid_namespace(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def life_inits(root: int) -> dict[int, int]:
    """The sandbox inits that `root`'s keepers forked, one for each life of an environment, {pid: starttime}."""
    from e2e_support import descendants, proc_stat

    keepers = sandbox_inits(root)
    found = {}
    for pid, start in descendants(root).items():
        stat = proc_stat(pid)
        if stat is not None and stat[1] in keepers:
            found[pid] = start
    return found


def cgroup_folders(pattern: str) -> list[Path]:
    """The folders under /sys/fs/cgroup, any hierarchy and depth, whose name matches `pattern` (fnmatch).

    Walked with os.walk, which skips a folder that vanishes mid-walk: other tests' environments come and go
    meanwhile, and pathlib's glob raises FileNotFoundError for a folder removed between listing and reading."""
    found = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        found.extend(Path(root, name) for name in fnmatch.filter(dirs, pattern))
    return sorted(found)


def cgroups_of(pid: int) -> list[Path]:
    """The cgroup folders of lambdatui process `pid` (`lambdatui-<pid>-*`), v2 and v1 alike."""
    return cgroup_folders(f"lambdatui-{pid}-*")


def wait_paths_gone(paths: list[Path], timeout: float) -> list[Path]:
    """Those of `paths` still there after `timeout` (a cgroup folder goes once its last process is reaped)."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in paths if p.exists()]) and time.monotonic() < deadline:
        for path in left:
            os.stat(path.parent)
    return left


# An external extension's plumbing, spliced into the probes' extension programs (needs json, os, urllib.request):
# `events(name)` registers for INVOKE and SHUTDOWN as `name`, then yields each INVOKE event until SHUTDOWN.
EXTENSION_EVENTS_SOURCE = r'''
def events(name, registered=lambda ident: None):
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    request = urllib.request.Request(f"http://{api}/2020-01-01/extension/register",
                                     data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
                                     headers={"Lambda-Extension-Name": name}, method="POST")
    with urllib.request.urlopen(request) as response:
        ident = response.headers["Lambda-Extension-Identifier"]
    registered(ident)
    while True:
        request = urllib.request.Request(f"http://{api}/2020-01-01/extension/event/next",
                                         headers={"Lambda-Extension-Identifier": ident})
        with urllib.request.urlopen(request) as response:
            event = json.loads(response.read())
        if event["eventType"] == "SHUTDOWN":
            return
        yield event
'''


# An external extension that takes its INVOKE at once; at SHUTDOWN it says so ("[linger] got SHUTDOWN"), then keeps
# the shutdown busy past its 2 s budget.
LINGERING_EXTENSION = "#!/usr/bin/env python3\nimport json, os, time, urllib.request\n" + EXTENSION_EVENTS_SOURCE + """
for event in events("linger"):
    pass
print("[linger] got SHUTDOWN", flush=True)
time.sleep(60)
"""


def busy_extension(flag: str) -> str:
    """An external extension that, after each INVOKE, says "[busy] got INVOKE" and works on until `flag` exists."""
    return "#!/usr/bin/env python3\nimport json, os, time, urllib.request\n" + EXTENSION_EVENTS_SOURCE + f"""
for event in events("busy"):
    print("[busy] got INVOKE", flush=True)
    while not os.path.exists({flag!r}):
        time.sleep(0.01)
"""


def answered_busy_extension(flag: str) -> str:
    """As busy_extension, but it says "[busy] saw the answer" only once the Telemetry API has told it the runtime's
    platform.runtimeDone for that INVOKE: a point after the function's answer, which the INVOKE itself is not (it
    goes out with the event, while the function still runs)."""
    return "#!/usr/bin/env python3\nimport json, os, time, urllib.request\n" + EXTENSION_EVENTS_SOURCE + f"""
import http.server, threading

done = set()
changed = threading.Condition()


class Listener(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        batch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with changed:
            done.update(event["record"]["requestId"] for event in batch if event["type"] == "platform.runtimeDone")
            changed.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("sandbox.localdomain", 0), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()


def subscribe(ident):
    body = {{"schemaVersion": "2022-12-13", "types": ["platform"], "buffering": {{"timeoutMs": 25}},
             "destination": {{"protocol": "HTTP", "URI": "http://sandbox.localdomain:%d/" % server.server_port}}}}
    request = urllib.request.Request(f"http://{{os.environ['AWS_LAMBDA_RUNTIME_API']}}/2022-07-01/telemetry",
                                     data=json.dumps(body).encode(), method="PUT",
                                     headers={{"Lambda-Extension-Identifier": ident}})
    urllib.request.urlopen(request).read()


for event in events("busy", subscribe):
    with changed:
        changed.wait_for(lambda: event["requestId"] in done)
    print("[busy] saw the answer", flush=True)
    while not os.path.exists({flag!r}):
        time.sleep(0.01)
"""


def concurrent_invokes(server, events: list[dict], timeout: float = 30.0) -> list:
    """Each event invoked through `server` (an e2e_support.ServeProcess) on a thread of its own, all at once; their
    responses, in order, each checked to be a 200."""
    results: list[object] = [None] * len(events)

    def call(index: int) -> None:
        try:
            results[index] = httpx.post(server.invoke_url(), content=json.dumps(events[index]), timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[index] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert all(isinstance(r, httpx.Response) and r.status_code == 200 for r in results), results
    return results  # type: ignore[return-value]
