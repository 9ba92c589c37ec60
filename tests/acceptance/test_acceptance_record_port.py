"""Item 5: the debugger's `--record` with `--port` records the invokes that arrive over HTTP.

The TUI needs a terminal, so it runs inside a private tmux server (its socket in the test's code_dir: pytest's
basetemp may be pruned by a concurrent pytest session of the same user);
keys go in with send-keys, invokes come over real HTTP, `q` quits. The recording is then replayed with
`lambdatui replay`, which must reach the same outcome.

The handler notes each event it runs in its environment's /tmp/order.txt (the only place Lambda lets it write),
which the test reads on the host, in the state folder it gives the TUI (`state_home`), while the TUI still runs
(its folders go with it); and it prints the same line, which is how the replay's order is read.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from acceptance_support import cli, cli_argv, outcomes, write
from free_ports import free_port
from test_fleet_support import env_tmp_dirs, state_home

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

__all__ = ["state_home"]  # the fixture, used by name
BOUND = 30.0

HANDLER = """\
    import json, os

    calls = 0

    def handler(event, context):
        global calls
        calls += 1
        line = json.dumps(event, sort_keys=True)
        with open("/tmp/order.txt", "a") as fh:
            fh.write(line + "\\n")
        print("order " + line, flush=True)
        if event.get("boom"):
            raise ValueError("boom " + str(event.get("x")))
        return {"calls": calls, "x": event.get("x")}
    """


class Tui:
    """`lambdatui ARGS` in a detached tmux session on a private server."""

    def __init__(self, socket_path: Path, args: list[str], cwd: Path) -> None:
        self.socket = str(socket_path)
        self.rc_file = socket_path.with_suffix(".rc")
        command = " ".join(shlex.quote(a) for a in [*cli_argv(), *args])
        script = f"{command}; echo $? > {shlex.quote(str(self.rc_file))}; tmux -S {shlex.quote(self.socket)} wait-for -S done"
        self.tmux("new-session", "-d", "-s", "tui", "-x", "200", "-y", "50", "-c", str(cwd), script)

    def tmux(self, *args: str, timeout: float = BOUND) -> str:
        # Without COLUMNS and LINES (pytest's workers may set them): Textual would take them over the pane's size,
        # and the debugger would show its "make the terminal at least 100x30" notice instead of the screen.
        env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES", "TMUX")}
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True,
                              timeout=timeout, check=True, env=env).stdout

    def screen(self) -> str:
        try:
            return self.tmux("capture-pane", "-p", "-t", "tui")
        except subprocess.CalledProcessError:
            return ""

    def wait_screen(self, pattern: str, bound: float = BOUND) -> None:
        deadline = time.monotonic() + bound
        while not re.search(pattern, self.screen()):
            if time.monotonic() > deadline:
                raise AssertionError(f"screen never showed {pattern!r}:\n{self.screen()}")
            time.sleep(0.05)  # polling the screen: the event itself has no other signal

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "tui", *keys)

    def wait_exit(self, bound: float = BOUND) -> int:
        self.tmux("wait-for", "done", timeout=bound)  # signalled by the session's shell after lambdatui exits
        return int(self.rc_file.read_text())

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=BOUND)


@pytest.fixture
def tmux_socket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tmux server's socket, in a short folder of pytest's own: a Unix socket's path holds at most 107 bytes,
    which the test's code folder (in the checkout, named after the test) passes wherever the checkout lies deeper
    than ~/src/lambdatui (`tmux: File name too long`)."""
    return tmp_path_factory.mktemp("tmux") / "t.sock"


def wait_port(port: int, bound: float = BOUND) -> None:
    deadline = time.monotonic() + bound
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # bounded poll for the listener


def orders(state: Path) -> list[list[str]]:
    """Each environment's /tmp/order.txt, as lines (an environment that ran nothing has none)."""
    files = [folder / "order.txt" for folder in env_tmp_dirs(state)]
    return [path.read_text().splitlines() for path in files if path.exists()]


def wait_lines(state: Path, count: int, bound: float = BOUND) -> None:
    deadline = time.monotonic() + bound
    while sum(map(len, orders(state))) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"the environments' order.txt never had {count} lines: {orders(state)}")
        time.sleep(0.02)  # bounded poll: the handler's own write is the event


def printed_order(result: subprocess.CompletedProcess[str]) -> list[dict]:
    """The events the handler printed it ran, in order, in a replay's output."""
    return [json.loads(line) for line in re.findall(r"\border (\{.*\})$", result.stdout + result.stderr, re.M)]


def url(port: int, name: str = "function") -> str:
    return f"http://127.0.0.1:{port}/2015-03-31/functions/{name}/invocations"


def test_http_invokes_are_recorded_in_order_and_replay_to_the_same_outcome(code_dir, state_home, tmux_socket):
    state = state_home
    handler = write(code_dir / "handler.py", HANDLER)
    record = code_dir / "rec.toml"
    port = free_port()
    tui = Tui(tmux_socket, [str(handler), "--port", str(port), "--record", str(record)], cwd=code_dir)
    try:
        tui.wait_screen(r"HELD at init\.extensions")
        wait_port(port)
        tui.keys("c")
        # Once env #1 is through Init: an invoke that met it still held would get an environment of its own.
        tui.wait_screen(r"idle: frozen, waiting for an invoke")
        with httpx.Client(timeout=BOUND) as client:
            first = client.post(url(port), content=b'{"x": 1}')
            tui.keys("i")  # one from the debugger itself, with its current event ({})
            wait_lines(state, 2)
            # One after the other, each once the one before has run (its line written is not enough: an invoke is
            # over once the header counts it): one warm environment serves them all (an invoke sent while another
            # still ran would get an environment of its own, as in Lambda).
            tui.wait_screen(r"\b2 invokes\b")
            queued = client.post(url(port, "any-name"), content=b'{"x": 2}', headers={"X-Amz-Invocation-Type": "Event"})
            wait_lines(state, 3)
            tui.wait_screen(r"\b3 invokes\b")
            failed = client.post(url(port), content=b'{"x": 3, "boom": true}')
            dry = client.post(url(port), content=b'{"x": 99}', headers={"X-Amz-Invocation-Type": "DryRun"})
            last = client.post(url(port), content=b'{"x": 4}')
        executed = orders(state)  # all five ran, in the one warm environment
        tui.keys("q")
        assert tui.wait_exit() == 0
    finally:
        tui.close()

    assert first.status_code == 200 and first.json() == {"calls": 1, "x": 1}
    assert queued.status_code == 202
    assert dry.status_code == 204  # validated, not run: not in the recording either
    assert failed.status_code == 200 and failed.headers.get("x-amz-function-error") == "Unhandled"
    assert last.json() == {"calls": 5, "x": 4}  # the 'i' invoke and the Event one ran before it, in order
    assert len(executed) == 1, executed
    assert [json.loads(line).get("x") for line in executed[0]] == [1, None, 2, 3, 4]

    text = record.read_text()
    assert str(handler) in text, text  # the recording names the real function path
    steps = [s for s in tomllib.loads(text)["step"] if "invoke" in s]
    events = [json.loads(s["invoke"]) if isinstance(s["invoke"], str) else s["invoke"] for s in steps]
    assert events == [{"x": 1}, {}, {"x": 2}, {"x": 3, "boom": True}, {"x": 4}], text

    replayed = cli("replay", handler, record)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    got = outcomes(replayed.stdout)
    assert got[0] == got[1] == got[2] == got[4] == "success", got
    assert got[3].startswith("ERROR") and "ValueError" in got[3], got
    assert [e.get("x") for e in printed_order(replayed)] == [1, None, 2, 3, 4], replayed.stdout + replayed.stderr


def test_concurrent_http_invokes_are_each_recorded_once_and_the_recording_replays(code_dir, state_home, tmux_socket):
    """Invokes that arrive together run together, each environment its own (the fleet): every one of them is in
    the recording once, as an `invoke` step or in a `parallel` one, and the recording replays green.

    The handler answers without its per-process count: which warm environment takes an invoke is Lambda's choice
    (unspecified), so what each environment has counted can differ between the session and its replay."""
    state = state_home
    handler = write(code_dir / "handler.py", HANDLER.replace('return {"calls": calls, "x": event.get("x")}',
                                                             'return {"x": event.get("x")}'))
    record = code_dir / "rec.toml"
    port = free_port()
    tui = Tui(tmux_socket, [str(handler), "--port", str(port), "--record", str(record)], cwd=code_dir)
    try:
        tui.wait_screen(r"HELD at init\.extensions")
        wait_port(port)
        tui.keys("c")
        import concurrent.futures

        def send(i: int) -> httpx.Response:
            kind = "Event" if i % 2 else "RequestResponse"
            return httpx.post(url(port), content=json.dumps({"x": i}).encode(),
                              headers={"X-Amz-Invocation-Type": kind}, timeout=BOUND)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, range(8)))
        assert [a.status_code for a in answers] == [200 if i % 2 == 0 else 202 for i in range(8)]
        wait_lines(state, 8)  # the Event invokes have run too
        before = sorted(line for lines in orders(state) for line in lines)
        assert send(8).json()["x"] == 8
        # Each environment's lines in the order it ran them: the one that ran 8 ran it last.
        executed = [[json.loads(line)["x"] for line in lines] for lines in orders(state)]
        tui.keys("q")
        assert tui.wait_exit() == 0
    finally:
        tui.close()
    assert sorted(x for xs in executed for x in xs) == list(range(9)), executed
    assert sorted(json.loads(line)["x"] for line in before) == list(range(8)), before  # 8 ran after all of them
    assert [xs[-1] for xs in executed if 8 in xs] == [8], executed
    recorded = []
    for step in tomllib.loads(record.read_text())["step"]:
        for event in ([step["invoke"]] if "invoke" in step else step.get("parallel", [])):
            recorded.append((json.loads(event) if isinstance(event, str) else event)["x"])
    assert sorted(recorded) == list(range(9)), record.read_text()

    replayed = cli("replay", handler, record)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


FRAGILE = """\
    import os, time

    def handler(event, context):
        if event.get("crash"):
            os._exit(5)
        if event.get("sleep"):
            time.sleep(event["sleep"])
        return {"x": event.get("x")}
    """


@pytest.mark.slow
def test_recorded_crash_and_timeout_over_http_replay_with_the_command_the_file_names(code_dir, tmux_socket):
    write(code_dir / "handler.py", FRAGILE)
    record = code_dir / "rec.toml"
    port = free_port()
    # A relative PATH and --record, as a user in the function's folder types them.
    tui = Tui(tmux_socket, ["handler.py", "--port", str(port), "--record", "rec.toml", "--timeout", "1"],
              cwd=code_dir)
    try:
        tui.wait_screen(r"HELD at init\.extensions")
        wait_port(port)
        tui.keys("c")
        tui.wait_screen(r"idle: frozen, waiting for an invoke")  # env #1 through Init (see above)
        with httpx.Client(timeout=BOUND) as client:
            answers = [client.post(url(port), content=json.dumps(e).encode())
                       for e in ({"x": 1}, {"crash": True}, {"x": 2}, {"sleep": 3}, {"x": 3})]
        tui.keys("q")
        assert tui.wait_exit() == 0
    finally:
        tui.close()
    errors = [a.headers.get("x-amz-function-error") for a in answers]
    assert errors == [None, "Unhandled", None, "Unhandled", None], [a.text for a in answers]
    assert answers[1].json()["errorType"] == "Runtime.ExitError"
    assert answers[3].json()["errorType"] == "Sandbox.Timedout"

    text = record.read_text()
    command = next(line.split("#", 1)[1].strip() for line in text.splitlines() if "lambdatui replay" in line)
    argv = shlex.split(command)
    assert argv[:2] == ["lambdatui", "replay"], command
    assert (code_dir / argv[2]).resolve() == (code_dir / "handler.py").resolve(), command
    replayed = cli(*argv[1:], cwd=code_dir)  # exactly what the file says to run, where it was recorded
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    got = outcomes(replayed.stdout)
    assert len(got) == 5, replayed.stdout + replayed.stderr + text
    assert got[0] == got[2] == got[4] == "success", got
    assert got[1].startswith("ERROR") and "Runtime.ExitError" in got[1], got
    assert got[3].startswith("TIMEOUT"), got


def test_quit_with_a_queued_http_invoke_answers_the_caller_and_records_a_replayable_file(code_dir, state_home,
                                                                                        tmux_socket):
    handler = write(code_dir / "handler.py", HANDLER)
    record = code_dir / "rec.toml"
    port = free_port()
    tui = Tui(tmux_socket, [str(handler), "--port", str(port), "--record", str(record), "--concurrency", "1"],
              cwd=code_dir)
    import concurrent.futures

    seen = code_dir / "order-seen.txt"
    try:
        tui.wait_screen(r"HELD at init\.extensions")
        # The one environment's /tmp/order.txt, linked from code_dir before anything can run: a line the handler
        # wrote there stays readable after lambdatui removed its folders on quitting.
        (tmp,) = env_tmp_dirs(state_home)
        (tmp / "order.txt").touch()
        os.link(tmp / "order.txt", seen)
        wait_port(port)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.post, url(port), content=b'{"x": 1}', timeout=BOUND)
            tui.wait_screen(r"HELD at init\.extensions\s+request [0-9a-f]{8}")  # queued behind the hold
            tui.keys("q")
            assert tui.wait_exit() == 0
            try:
                answer: object = pending.result(BOUND)
            except httpx.HTTPError as exc:
                answer = exc
    finally:
        tui.close()
    assert seen.read_text() == ""  # it never ran
    replayed = cli("replay", handler, record)
    assert replayed.returncode == 0, record.read_text() + replayed.stdout[-1500:]
    assert isinstance(answer, httpx.Response), f"the caller got no HTTP answer: {answer!r}"
