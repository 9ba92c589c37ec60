"""Probe (round 4) helpers for the early start (host/early_start.py): lambdatui run from this worktree
(`python -m lambdatui`, PYTHONPATH = this checkout) with the early start on (LAMBDATUI_EARLY_START unset) or off
("0", the reference), and its output normalised so that two runs of the same function can be compared.

No tests here: the other test_probe4_* modules import it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

PROBE = Path(__file__).resolve().parent
REPO = PROBE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "end_to_end"))
sys.path.insert(0, str(PROBE))

BOUND = 60.0
MODES = ("early", "late")  # early: LAMBDATUI_EARLY_START unset; late: "0" (the host starts env #1 itself)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def cli_env(mode: str, extra: Optional[Mapping[str, str]] = None, pythonpath: Sequence[str] = ()) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*pythonpath, str(REPO)])
    env.pop("LAMBDATUI_EARLY_START", None)
    if mode == "late":
        env["LAMBDATUI_EARLY_START"] = "0"
    env.update(extra or {})
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "lambdatui", *args]


@dataclass
class Run:
    mode: str
    code: int
    stdout: str
    stderr: str

    def platform(self) -> list[str]:
        return [m.group(1) for line in self.stderr.splitlines()
                if (m := re.match(r"(?:#\d+ )?\[platform\]\s+(.*)$", line))]

    def tagged(self, tag: str) -> list[str]:
        return [m.group(1) for line in self.stderr.splitlines()
                if (m := re.match(r"(?:#\d+ )?\[" + tag + r"\]\s+(.*)$", line))]

    def init_durations(self) -> list[float]:
        return [float(x) for x in re.findall(r"Init Duration: ([\d.]+) ms", self.stderr)]

    def shape(self) -> dict[str, object]:
        """What must be the same with or without the early start."""
        return {
            "code": self.code,
            "stdout": [normalise(line) for line in self.stdout.splitlines()],
            "platform": [normalise(line) for line in self.platform()],
            "function": [normalise(line) for line in self.tagged("function")],
            "lambdatui": [normalise(line) for line in self.tagged("lambdatui")
                          if not line.startswith(("The function runs in", "Processes are contained"))],
            "errors": [normalise(line) for line in self.stderr.splitlines() if line.startswith("lambdatui:")],
        }


def normalise(text: str) -> str:
    text = UUID.sub("<id>", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text


def _signals_as_a_terminal_sends_them() -> None:
    # A shell without job control starts background commands with SIGINT ignored, `nohup` ignores SIGHUP, and an
    # ignored signal stays ignored across exec: the tests' Ctrl-C and hang-up would then do nothing (pytest itself
    # started with `cmd &` from a script, or under nohup).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def start(mode: str, *args: str, env: Optional[Mapping[str, str]] = None,
          pythonpath: Sequence[str] = (), stdin: Optional[int] = subprocess.DEVNULL) -> subprocess.Popen[str]:
    return subprocess.Popen(cli_argv(*args), cwd=REPO, env=cli_env(mode, env, pythonpath), stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_signals_as_a_terminal_sends_them)


def finish(mode: str, proc: subprocess.Popen[str], timeout: float = BOUND) -> Run:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=BOUND)
        raise AssertionError(f"{mode}: lambdatui did not end within {timeout} s; stderr:\n{err[-3000:]}")
    return Run(mode, proc.returncode, out, err)


def run_both(*args: str, env: Optional[Mapping[str, str]] = None, timeout: float = BOUND) -> dict[str, Run]:
    """The same command with and without the early start, side by side."""
    procs = {mode: start(mode, *args, env=env) for mode in MODES}
    return {mode: finish(mode, proc, timeout) for mode, proc in procs.items()}


def run_one(mode: str, *args: str, env: Optional[Mapping[str, str]] = None, timeout: float = BOUND) -> Run:
    return finish(mode, start(mode, *args, env=env), timeout)


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def run_folders(pid: int, state_home: Optional[Path] = None) -> list[Path]:
    """lambdatui `pid`'s run folders, under `state_home` when it ran with XDG_STATE_HOME set there."""
    from lambdatui.run_folders import state_root

    root = state_home / "lambdatui" if state_home is not None else state_root()
    return sorted(root.glob(f"run-{pid}-*"))


# ------------------------------------------------------------------ holding lambdatui at `import trio`

# A sitecustomize put first on lambdatui's PYTHONPATH: when PROBE4_HOLD_TRIO names an address, the first
# `import trio` (which comes after the early start, before the host: cli._invoke / run_serve) connects there, says
# its pid, and waits until the test answers or closes. This makes the window between the early start and the host
# adopting it as long as the test wants. The runtime does not get PYTHONPATH (launch._PASS_THROUGH), and the init and
# the watchdog run with -I -S.
HOLD_SOURCE = r'''
import os, sys
_ADDRESS = os.environ.get("PROBE4_HOLD_TRIO")
if _ADDRESS:
    class _HoldTrio:
        held = False

        def find_spec(self, name, path=None, target=None):
            if name == "trio" and not self.held:
                self.held = True
                import socket
                host, port = _ADDRESS.rsplit(":", 1)
                connection = socket.create_connection((host, int(port)))
                connection.sendall(b"%d\n" % os.getpid())
                connection.recv(1)
                connection.close()
            return None

    sys.meta_path.insert(0, _HoldTrio())
'''


class TrioHold:
    """The control end of HOLD_SOURCE."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        write(folder / "sitecustomize.py", HOLD_SOURCE)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.listener.settimeout(BOUND)
        self.connection: Optional[socket.socket] = None

    @property
    def env(self) -> dict[str, str]:
        return {"PROBE4_HOLD_TRIO": "127.0.0.1:%d" % self.listener.getsockname()[1]}

    def wait_held(self) -> int:
        self.connection, _ = self.listener.accept()
        self.connection.settimeout(BOUND)
        data = b""
        while not data.endswith(b"\n"):
            more = self.connection.recv(64)
            assert more, "the held process went away"
            data += more
        return int(data)

    def release(self) -> None:
        if self.connection is not None:
            try:
                self.connection.sendall(b"g")
            except OSError:
                pass

    def close(self) -> None:
        for sock in (self.connection, self.listener):
            if sock is not None:
                sock.close()


# ------------------------------------------------------------------ serve


class Lines:
    """A lambdatui process's stderr, read line by line on a thread (its stdout whole, on another)."""

    def __init__(self, proc: subprocess.Popen[str], mode: str = "") -> None:
        self.proc, self.mode = proc, mode
        self.lines: list[str] = []
        self.stdout = ""
        self._cond = threading.Condition()
        self._err = threading.Thread(target=self._read, daemon=True)
        self._err.start()
        self._out = threading.Thread(target=self._read_out, daemon=True)
        self._out.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = BOUND, start: int = 0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if (match := regex.search(line)) is not None:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or not self._err.is_alive():
                    raise AssertionError(f"{self.mode}: no line matching {pattern!r} (exit {self.proc.poll()}):\n"
                                         + "\n".join(self.lines[-60:]))
                self._cond.wait(min(left, 0.5))

    def count(self, pattern: str) -> int:
        with self._cond:
            return sum(1 for line in self.lines if re.search(pattern, line))


class Serve(Lines):
    """`python -m lambdatui serve ...` from this worktree."""

    def __init__(self, mode: str, *args: str, env: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(start(mode, "serve", *args, env=env), mode)
        self.address = ""

    def started(self) -> "Serve":
        self.address = self.wait_for(r"serving .* at http://([^/\s]+)/2015-03-31/").group(1)
        return self

    def url(self) -> str:
        return f"http://{self.address}/2015-03-31/functions/function/invocations"

    def close(self, sig: int = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(BOUND / 2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(BOUND)
        self._err.join(10)
        self._out.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.returncode

    def __enter__(self) -> "Serve":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def post(url: str, event: object, timeout: float = BOUND) -> tuple[int, dict[str, str], bytes]:
    import httpx

    answer = httpx.post(url, content=json.dumps(event).encode(), timeout=timeout)
    return answer.status_code, dict(answer.headers), answer.content
