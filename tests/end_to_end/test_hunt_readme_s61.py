"""README hunt (s61): the features of the last sessions as a new user meets them in README.md.

Walked through in a fresh clone: response streaming (boto3, function URLs, a caller that hangs up or stops reading,
their recordings and replays), Ctrl-Z of `serve`, `invoke`, `replay` and the debugger, the freeze and its start-up
line, the metadata endpoint, SnapStart's limits, the fleet options and the scenario format. What README says and the
program does alike is pinned here only where nothing else pins it (Ctrl-Z of `invoke` and `replay`: the older tests
stop `serve` only; the start-up line on the freeze; the scenario keys README lists). Two findings, fixed since:

- Ctrl-Z typed in the debugger did nothing: its terminal is in raw mode, so Ctrl-Z is a key, and no binding turned it
  into the stop README describes (only a SIGTSTP from another terminal stopped it). Now a key (ui/key_bindings.py).
- A `streamed` value that is neither a bool nor a table was refused with a message that named `true`, `false` and
  `{ hung_up_after = N }`, but not `{ stopped_reading_after = N }`, which the parser takes and recordings write.

Every process started is stopped (SIGCONT first where it was stopped); the tmux server is private (a socket in
tmp_path) and killed at the end; lambdatui's run folders go to tmp_path (XDG_STATE_HOME). Waits poll with a bound.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from process_states import cgroup_freezer, wait_frozen

from e2e_support import (SAMPLES, LambdatuiProcess, descendants, lambdatui_argv, proc_cmdline, proc_stat, run_cli,
                         wait_all_gone, write_file)

BOUND_S = 30.0
POLL_S = 0.02
HELLO = SAMPLES / "hello" / "handler.py"

# Waits for its go file (made by the test while lambdatui is stopped, so the handler cannot end before the stop),
# then answers. With a 1 s timeout, a stop of 1.5 s across it must not be charged to the invoke.
GO_HANDLER = """\
import os, time

def handler(event, context):
    print("waiting for the go file", flush=True)
    bound = time.monotonic() + 20
    while not os.path.exists(event["go"]) and time.monotonic() < bound:
        time.sleep(0.005)
    return {"went": os.path.exists(event["go"])}
"""


def _until(predicate, what: str, bound: float = BOUND_S) -> None:
    deadline = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(POLL_S)


def _state(pid: int) -> str:
    return (proc_stat(pid) or ("gone",))[0]


def _runtime(run: LambdatuiProcess) -> int:
    tree = {pid: proc_cmdline(pid) for pid in descendants(run.proc.pid)}
    runtimes = [pid for pid, line in tree.items() if "lambdatui/bootstrap" in line]
    assert len(runtimes) == 1, tree
    return runtimes[0]


def _stop_across_the_deadline(run: LambdatuiProcess, go: Path) -> None:
    """Ctrl-Z's SIGTSTP once the invoke has started; the go file made while stopped; SIGCONT (`fg`) once 1.5 s have
    passed since the invoke started, past its 1 s timeout."""
    run.wait_for_line(r"\[platform\]\s+START RequestId", timeout=BOUND_S)
    started = time.monotonic()
    runtime = _runtime(run)
    run.signal(signal.SIGTSTP)
    _until(lambda: _state(run.proc.pid) == "T", "lambdatui never stopped on SIGTSTP")
    wait_frozen(runtime)  # the environment is held before lambdatui stops
    go.touch()
    _until(lambda: time.monotonic() - started > 1.5, "unreachable")  # the measured quantity: a stop past the timeout
    run.signal(signal.SIGCONT)


def _duration_ms(text: str) -> float:
    match = re.search(r"REPORT RequestId: \S+\s+Duration: ([\d.]+) ms", text)
    assert match, text
    return float(match.group(1))


# ---------------------------------------------------------------------- Ctrl-Z of `invoke` and `replay`: right today


def test_a_ctrl_z_of_invoke_across_the_deadline_is_not_a_timeout(code_dir: Path) -> None:
    """README: the time lambdatui is stopped (Ctrl-Z, in `serve`, `invoke` and `replay` alike) is excluded from every
    deadline and duration; its environments are held first and go on at `fg`."""
    handler = write_file(code_dir / "handler.py", GO_HANDLER)
    go = code_dir / "go"
    with LambdatuiProcess("invoke", str(handler), "--timeout", "1", "-e", json.dumps({"go": str(go)})) as run:
        _stop_across_the_deadline(run, go)
        assert run.wait(BOUND_S) == 0, run.output()
        assert json.loads(bytes(run.stdout)) == {"went": True}
        assert "timed out" not in run.output()
        assert _duration_ms(run.output()) < 1000, run.output()


def test_a_ctrl_z_of_replay_across_the_deadline_is_not_a_timeout(code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", GO_HANDLER)
    go = code_dir / "go"
    scenario = tmp_path / "stopped.toml"
    scenario.write_text(f"[function]\ntimeout = 1\n\n[[step]]\ninvoke = {{ go = {json.dumps(str(go))} }}\n"
                        "expect = { response = { went = true } }\n")
    with LambdatuiProcess("replay", str(handler), str(scenario)) as run:
        # The timeline (START included) reaches a pipe in blocks; the function's own output goes to stderr at once.
        run.wait_for_line(r"\[function\]\s+waiting for the go file", timeout=BOUND_S)
        started = time.monotonic()
        runtime = _runtime(run)
        run.signal(signal.SIGTSTP)
        _until(lambda: _state(run.proc.pid) == "T", "lambdatui never stopped on SIGTSTP")
        wait_frozen(runtime)
        go.touch()
        _until(lambda: time.monotonic() - started > 1.5, "unreachable")
        run.signal(signal.SIGCONT)
        assert run.wait(BOUND_S) == 0, bytes(run.stdout).decode() + run.output()
    timeline = bytes(run.stdout).decode()
    assert "PASSED" in timeline and "TIMEOUT" not in timeline, timeline
    assert _duration_ms(timeline) < 1000, timeline


# ---------------------------------------------------------------------- Ctrl-Z typed in the debugger


TMUX = shutil.which("tmux")
BASH = shutil.which("bash")


class _Terminal:
    """bash (job control on) in a 140x45 pane of a tmux server of the test's own (its socket in tmp_path)."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = str(tmp_path / "tmux")
        self.session = f"s61-{uuid.uuid4().hex[:8]}"
        self.env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        self.seen: dict[int, int] = {}

    def tmux(self, *args: str, check: bool = True) -> str:
        done = subprocess.run([TMUX, "-S", self.socket, *args], capture_output=True, text=True, timeout=10,  # type: ignore[list-item]
                              env=self.env, check=False)
        assert done.returncode == 0 or not check, done.stderr
        return done.stdout

    def start(self) -> None:
        self.tmux("new-session", "-d", "-x", "140", "-y", "45", "-s", self.session, f"{BASH} --norc --noprofile")
        self.keys("PS1='S61$ '", "Enter")
        self.wait_for("S61$ ")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, text: str, bound: float = BOUND_S) -> None:
        _until(lambda: text in self.screen(), f"the screen never showed {text!r}:\n{self.screen()}", bound)

    def collect(self) -> dict[int, int]:
        pane = int(self.tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip())
        self.seen.update(descendants(pane))
        return self.seen

    def close(self) -> None:
        for pid in self.collect():
            if _state(pid) == "T":
                os.kill(pid, signal.SIGCONT)  # a stopped debugger, so that it hears the hang-up and quits
        self.tmux("kill-server", check=False)
        left = wait_all_gone(self.seen, BOUND_S)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        assert not left, f"left running: {left}"


@pytest.mark.skipif(TMUX is None or BASH is None, reason="tmux and bash drive the debugger in a terminal")
def test_ctrl_z_typed_in_the_debugger_stops_it(tmp_path: Path) -> None:
    """README (the debugger, Timeline): 'So is the time lambdatui is stopped (Ctrl-Z, in the debugger and in `serve`,
    `invoke` and `replay` alike): its environments are held first ... and go on at `fg`.' The user types Ctrl-Z."""
    terminal = _Terminal(tmp_path)
    try:
        terminal.start()
        command = " ".join(shlex.quote(part) for part in (*lambdatui_argv(), str(HELLO)))
        terminal.keys(f"XDG_STATE_HOME={shlex.quote(str(tmp_path / 'state'))} {command}", "Enter")
        terminal.wait_for("HELD at init.extensions")
        [debugger] = [pid for pid in terminal.collect() if "lambdatui" in proc_cmdline(pid)
                      and "hello/handler.py" in proc_cmdline(pid)]
        terminal.keys("C-z")
        deadline = time.monotonic() + 5.0
        while _state(debugger) != "T" and time.monotonic() < deadline:
            time.sleep(POLL_S)
        assert _state(debugger) == "T", f"Ctrl-Z did not stop the debugger; the screen:\n{terminal.screen()}"
        terminal.wait_for("S61$ ")  # the shell has the terminal back
        terminal.keys("fg", "Enter")
        terminal.wait_for("HELD at init.extensions")  # the whole screen drawn again
        assert _state(debugger) != "T"
        terminal.keys("q")
        deadline = time.monotonic() + BOUND_S
        while _state(debugger) not in ("gone", "Z", "X") and time.monotonic() < deadline:
            time.sleep(POLL_S)
        assert _state(debugger) in ("gone", "Z", "X"), f"q did not end the debugger; the screen:\n{terminal.screen()}"
    finally:
        terminal.close()


# ---------------------------------------------------------------------- the freeze's start-up line


def test_the_start_up_line_says_how_environments_are_frozen() -> None:
    """README (Freeze): 'The start-up line says which (`Freeze: by the cgroup's freezer ...`)'."""
    done = run_cli("invoke", str(HELLO))
    assert done.returncode == 0, done.stderr
    if cgroup_freezer():
        assert "Freeze: by the cgroup's freezer, which no process inside can tell, as in Lambda." in done.stderr
    else:
        assert "Freeze: by SIGSTOP and SIGCONT" in done.stderr, done.stderr


# ---------------------------------------------------------------------- the scenario format


EVERY_KEY = """\
[function]
timeout = 3
memory = 128
handler = "handler.handler"
env = { GREETING = "hi" }
concurrency = 3
provisioned = 0
idle_shutdown = 30
retry_attempts = 0
max_event_age = 60
retry_wait = 0

[[step]]
invoke = { a = 1 }
qualifier = "prod"
trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
client_context = '{"custom": {"k": "v"}}'
streamed = true
env = 1
expect = { succeeded = true, cold = true, phases = ["init.extensions", "init.runtime", "init.function", "init.done",
                                                    "invoke.start", "invoke.response", "invoke.done"] }

[[step]]
parallel = [{ b = 1 }, { b = 2 }]
streams = [false, { hung_up_after = 0 }]
invocation_types = ["RequestResponse", "RequestResponse"]
envs = [1, 0]
qualifiers = ["", "prod"]
trace_headers = ["", ""]
client_contexts = ["", '{"custom": {}}']
expect = { each = [{ succeeded = true }, { succeeded = true }], same = "message", environments = 2, throttled = 0 }

[[step]]
event_file = "event.json"
invocation_type = "Event"
expect = { succeeded = true }

[[step]]
pause = 0.1

[[step]]
fault = "crash"
target = "runtime"
signal = "SIGKILL"
env = 1

[[step]]
new_environment = true
env = 2

[[step]]
invoke = '{"c": 3}'
streamed = { stopped_reading_after = 1000000 }
expect = { succeeded = true, tmp_absent = ["/tmp/nothing"], response = { message = "hello" } }

[[step]]
shutdown = true
env = 1
"""


def test_a_scenario_with_the_keys_readme_lists_replays(tmp_path: Path) -> None:
    """Every step and [function] key README's replay section names, in one scenario the parser takes and the replay
    passes (on the `hello` sample)."""
    scenario = write_file(tmp_path / "every_key.toml", EVERY_KEY)
    write_file(tmp_path / "event.json", '{"from": "file"}')
    done = run_cli("replay", str(HELLO), str(scenario))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "PASSED" in done.stdout


@pytest.mark.parametrize("written, meant", [
    ("[function]\nmax_concurency = 2\n[[step]]\ninvoke = {}\n", "max_concurrency"),
    ("[function]\nretry_atempts = 1\n[[step]]\ninvoke = {}\n", "retry_attempts"),
    ("[[step]]\ninvoke = {}\nstreamd = true\n", "streamed"),
    ("[[step]]\nparallel = [{}, {}]\nstream = [true, false]\n", "streams"),
    ("[[step]]\ninvoke = {}\ntrace_heder = \"Root=1\"\n", "trace_header"),
    ("[[step]]\ninvoke = {}\nexpect = { failed_afer = \"timeout\" }\n", "failed_after"),
    ("[[step]]\nparallel = [{}, {}]\nexpect = { spun_dwn = 0 }\n", "spun_down"),
])
def test_a_misspelt_scenario_key_is_named_with_the_one_meant(tmp_path: Path, written: str, meant: str) -> None:
    scenario = write_file(tmp_path / "typo.toml", written)
    done = run_cli("replay", str(HELLO), str(scenario))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"did you mean '{meant}'?" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert re.match(re.escape(str(scenario)) + r":\d+: ", done.stderr), done.stderr  # FILE:LINE: message


def test_a_bad_streamed_value_names_every_form_the_parser_takes(tmp_path: Path) -> None:
    scenario = write_file(tmp_path / "bad_streamed.toml", '[[step]]\ninvoke = {}\nstreamed = "yes"\n')
    done = run_cli("replay", str(HELLO), str(scenario))
    assert done.returncode == 2, done.stdout + done.stderr
    message = done.stderr.partition(": step 1: ")[2]
    assert "{ hung_up_after = N }" in message, done.stderr
    assert "{ stopped_reading_after = N }" in message, done.stderr
