"""The installed `lambdatui` command in a real terminal: a tmux pane, keys sent to it, its screen read back.

Each test runs its own tmux server (a private socket in the test's tmp_path, `-S`: `-L` would create
/tmp/tmux-UID in the host's /tmp), so it never touches anyone's sessions and is torn down whole.
Nothing sleeps to synchronise: the screen (`capture-pane -p`) and the pane's state (`#{pane_dead}`,
`#{alternate_on}`) are polled until they show what is expected, within a deadline.
Textual draws on stderr, so the command's stderr is never redirected (design.md, tmux).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest
from proc_tree import alive, command_line, descendants, lambdatui_under, wait_all_gone
from free_ports import free_port

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
HANDLER = "sample_functions/counter/handler.py"
WIDTH, HEIGHT = 140, 45
START_S = 20.0  # interpreter start, imports, the cold start held at its first boundary
WAIT_S = 10.0
POLL_S = 0.05

TMUX = shutil.which("tmux")
LAMBDATUI = shutil.which("lambdatui")
if TMUX is None:
    pytest.skip("tmux is not installed", allow_module_level=True)
if LAMBDATUI is None:
    pytest.skip("the lambdatui command is not installed", allow_module_level=True)

# The server (and so the pane) gets os.environ explicitly. Left to inherit, it would get the process's C-level
# environment, where readline (imported under pytest) has set COLUMNS=80 and LINES=24: Textual, through
# shutil.get_terminal_size, would then draw 80x24 in the 140x45 pane.
TMUX_ENV = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES", "TMUX")}


# ---------------------------------------------------------------------- one tmux server per test


@dataclass
class Pane:
    socket_path: str
    session: str
    started: set[int] = field(default_factory=set)  # every process seen under the pane, for the final check

    def tmux(self, *args: str, check: bool = True) -> str:
        done = subprocess.run([TMUX, "-S", self.socket_path, *args], capture_output=True, text=True, timeout=10,
                              check=False, env=TMUX_ENV)
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def show(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", self.session, fmt).strip()

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, *texts: str, timeout: float = WAIT_S) -> str:
        """Poll the screen until it shows every one of `texts` at once; the screen then.

        Panes repaint independently (the result pane can show an invoke's answer a frame before
        the header counts it), so what a test asserts together it waits for together.
        """
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed all of {texts!r} within {timeout} s; it shows:\n{screen}")
            time.sleep(POLL_S)

    def wait_dead(self, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while self.show("#{pane_dead}") != "1":
            if time.monotonic() > deadline:
                raise AssertionError(f"the pane still runs {timeout} s later; it shows:\n{self.screen()}")
            time.sleep(POLL_S)

    def pane_pid(self) -> int:
        return int(self.show("#{pane_pid}"))

    def close(self) -> None:
        """The tmux server ends, and every process seen under the pane with it."""
        leftovers = {p for p in self.started if alive(p)}
        self.tmux("kill-server", check=False)
        for pid in leftovers:  # only after a failure: never leave a test's processes behind
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def lambdatui_pid(self) -> int:
        """The lambdatui process: the pane's own process, or (if a shell runs it) its child."""
        return lambdatui_under(self.pane_pid())

    def collect(self) -> set[int]:
        pid = self.pane_pid()
        self.started |= {pid, *descendants(pid)}
        return self.started


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    tag = f"lambdatui-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    pane = Pane(socket_path=str(tmp_path / "tmux"), session=tag)  # a short name: sockets allow ~107 bytes
    try:
        yield pane
    finally:
        pane.close()


def open_debugger(pane: Pane, *options: str, path: str = HANDLER, status: Optional[Path] = None) -> None:
    """`lambdatui sample_functions/counter/handler.py OPTIONS` in a new 140x45 pane that stays after it exits;
    `status`: a file its exit status is written to (by the shell that runs it)."""
    command = " ".join(shlex.quote(part) for part in (LAMBDATUI, path, *options))
    if status is not None:
        command += f"; echo $? > {shlex.quote(str(status))}"
    pane.tmux("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "-s", pane.session, "-c", str(REPO),
              command, ";", "set-option", "-t", pane.session, "remain-on-exit", "on")
    pane.wait_for("HELD at init.extensions", timeout=START_S)
    pane.collect()


# ---------------------------------------------------------------------- tests


def assert_all_gone(pane: Pane, started: set[int], how: str) -> None:
    """The pane's lambdatui exits and every process it had started ends."""
    pane.wait_dead()
    left = wait_all_gone(started, WAIT_S)
    assert not left, f"left running after {how}: " + "; ".join(left)


def test_keys_drive_the_debugger_and_q_leaves_no_process(pane: Pane) -> None:
    open_debugger(pane)
    assert pane.show("#{alternate_on}") == "1"
    pane.keys("n")
    pane.wait_for("HELD at init.runtime")
    pane.keys("c")
    pane.wait_for("idle: frozen, waiting for an invoke")
    pane.keys("i")
    pane.wait_for('"invocations": 1', "1 invoke", '"cold": true')
    started = pane.collect()
    assert any("bootstrap" in command_line(pid) for pid in started), "no runtime process seen"
    pane.keys("q")
    assert_all_gone(pane, started, "q")


def test_what_a_template_leaves_out_is_said_in_the_debuggers_log(pane: Pane) -> None:
    """Said on stderr, it was hidden behind the debugger's screen (and shown only after q)."""
    open_debugger(pane, "--function", "OrdersFunction", path="sample_functions/sam/template.yaml")
    pane.wait_for("TABLE_ARN is !GetAtt Table.Arn")
    started = pane.collect()
    pane.keys("q")
    assert_all_gone(pane, started, "q")


def test_sigterm_restores_the_terminal_and_leaves_no_process(pane: Pane, tmp_path: Path) -> None:
    status = tmp_path / "status"
    open_debugger(pane, status=status)
    pane.keys("c")
    pane.wait_for("idle: frozen, waiting for an invoke")
    started = pane.collect()
    os.kill(pane.lambdatui_pid(), signal.SIGTERM)
    assert_all_gone(pane, started, "SIGTERM")
    assert status.read_text().strip() == "0", "a quit by SIGTERM is a quit (README: exit status 0)"
    assert pane.show("#{alternate_on}") == "0", "the terminal was left in the alternate screen"
    screen = pane.screen()
    assert "HELD at" not in screen and "idle: frozen" not in screen and "q Quit" not in screen, screen


def test_sigint_from_the_shell_quits_cleanly(pane: Pane, tmp_path: Path) -> None:
    """`kill -INT`: ctrl+c typed in the pane is a key (copy), but a real SIGINT still quits as q does.

    As q does: the environment shuts down and the session is still written (`--record`).
    """
    record, status = tmp_path / "session.toml", tmp_path / "status"
    open_debugger(pane, "--record", str(record), status=status)
    pane.keys("c")
    pane.wait_for("idle: frozen, waiting for an invoke")
    pane.keys("i")
    pane.wait_for('"invocations": 1')
    started = pane.collect()
    os.kill(pane.lambdatui_pid(), signal.SIGINT)
    assert_all_gone(pane, started, "SIGINT")
    assert status.read_text().strip() == "0", "a quit by SIGINT is a quit (README: exit status 0)"
    assert pane.show("#{alternate_on}") == "0", "the terminal was left in the alternate screen"
    screen = pane.screen()
    assert "Traceback" not in screen and "KeyboardInterrupt" not in screen, screen
    assert record.is_file() and "[[step]]" in record.read_text(), f"no recording written; the screen:\n{screen}"


def test_ctrl_c_in_the_terminal_does_not_quit(pane: Pane) -> None:
    """ctrl+c is Textual's copy key: with nothing selected it says how to quit, and the debugger stays."""
    open_debugger(pane)
    pane.keys("C-c")
    pane.wait_for("to quit")
    assert pane.show("#{pane_dead}") == "0"
    started = pane.collect()
    pane.keys("q")
    assert_all_gone(pane, started, "q after ctrl+c")


def test_port_serves_the_invoke_api_while_the_tui_runs(pane: Pane) -> None:
    port = free_port()
    open_debugger(pane, "--port", str(port))
    pane.keys("c")
    pane.wait_for("idle: frozen, waiting for an invoke")
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
    response = httpx.post(url, json={"from": "httpx"}, timeout=WAIT_S)
    assert response.status_code == 200, response.text
    assert response.json() == {"invocations": 1, "tmp_lines": 1, "cold": True}
    pane.wait_for('"invocations": 1', "1 invoke", "response  request")
    started = pane.collect()
    pane.keys("q")
    assert_all_gone(pane, started, "q")


def test_an_invoke_while_env_1_is_held_goes_to_env_2_and_dot_shows_it(pane: Pane) -> None:
    """Holding one environment never stalls the others: env #1 holds at its first boundary, and an invoke that
    arrives on the Invoke API meanwhile cold-starts env #2, which answers it; the strip lists both."""
    port = free_port()
    open_debugger(pane, "--port", str(port))
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
    response = httpx.post(url, json={"from": "curl"}, timeout=WAIT_S)
    assert response.status_code == 200, response.text
    assert response.json() == {"invocations": 1, "tmp_lines": 1, "cold": True}
    pane.wait_for("▶#1 HELD init.extensions", "#2 FROZEN · 1 inv · on-demand",
                  "fleet: 2 envs · 0 busy (peak 1) / limit 100 · cold 1 · warm 0 · throttled 0")
    assert "env #1  HELD" in pane.screen()  # the panels stay on env #1
    pane.keys(".")
    pane.wait_for("env #2  FROZEN", "▶#2 FROZEN", '"invocations": 1', "response  request")
    started = pane.collect()
    pane.keys("q")
    assert_all_gone(pane, started, "q")


def test_closing_the_terminal_ends_lambdatui(pane: Pane) -> None:
    open_debugger(pane)
    pane.keys("c")
    pane.wait_for("idle: frozen, waiting for an invoke")
    started = pane.collect()
    lambdatui = pane.lambdatui_pid()
    pane.tmux("kill-server")  # the terminal goes away: SIGHUP to the pane's process
    left = wait_all_gone(started, timeout=5)
    assert not left, "left running after the terminal closed: " + "; ".join(left)
    assert not alive(lambdatui)


SLOW_GOODBYE = """\
#!{python}
import http.client, json, os, time
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["SHUTDOWN"]}}),
            headers={{"Lambda-Extension-Name": "slowbye"}})
response = api.getresponse()
response.read()
ident = response.getheader("Lambda-Extension-Identifier")
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": ident}})
    event = json.loads(api.getresponse().read())
    if event["eventType"] == "SHUTDOWN":
        time.sleep(1.5)  # the behaviour under test: an extension that takes its time to say goodbye
        raise SystemExit(0)
"""


def test_closing_the_terminal_while_quitting_ends_lambdatui(pane: Pane, code_dir: Path) -> None:
    # The hangup arrives while the quit is still waiting on an extension: the kernel's SIGCONT that comes with
    # it once made Textual resume on the dead terminal, and lambdatui stayed alive with no terminal at all.
    (code_dir / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (code_dir / "extensions").mkdir()
    extension = code_dir / "extensions" / "slowbye"
    extension.write_text(SLOW_GOODBYE.format(python=sys.executable))
    extension.chmod(0o755)
    command = " ".join(shlex.quote(part) for part in (LAMBDATUI, str(code_dir / "handler.py")))
    pane.tmux("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "-s", pane.session, "-c", str(REPO),
              command)
    pane.wait_for("HELD at init.extensions", timeout=START_S)
    pane.keys("c")
    pane.wait_for("idle: frozen, waiting for an invoke")
    started = pane.collect()
    lambdatui = pane.lambdatui_pid()
    pane.keys("q")
    pane.wait_for("Shutting down")
    pane.tmux("kill-server")
    left = wait_all_gone(started, timeout=8)
    assert not left, "left running after the terminal closed mid-quit: " + "; ".join(left)
    assert not alive(lambdatui)


STUBBORN_GOODBYE = SLOW_GOODBYE.replace("time.sleep(1.5)", "time.sleep(300)")  # never says goodbye: the 2 s budget


def test_a_second_quit_during_the_shutdown_still_leaves_nothing(pane: Pane, code_dir: Path, tmp_path: Path) -> None:
    """q, then q again while the quit waits on an extension that ignores SHUTDOWN: lambdatui goes at once, every
    process ends, and the run's folder goes too (a second quit once abandoned the run: its folder stayed for the
    next start to remove)."""
    (code_dir / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (code_dir / "extensions").mkdir()
    extension = code_dir / "extensions" / "slowbye"  # the name it registers with
    extension.write_text(STUBBORN_GOODBYE.format(python=sys.executable))
    extension.chmod(0o755)
    state = tmp_path / "state"
    command = " ".join(shlex.quote(part) for part in ("env", f"XDG_STATE_HOME={state}", LAMBDATUI,
                                                      str(code_dir / "handler.py")))
    pane.tmux("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "-s", pane.session, "-c", str(REPO),
              command, ";", "set-option", "-t", pane.session, "remain-on-exit", "on")
    pane.wait_for("HELD at init.extensions", timeout=START_S)
    pane.keys("c")
    pane.wait_for("idle: frozen, waiting for an invoke")
    started = pane.collect()
    pane.keys("q")
    pane.wait_for("Shutting down")
    pane.keys("q")
    assert_all_gone(pane, started, "a second q")
    left = sorted(str(p.relative_to(state)) for p in state.rglob("*"))
    assert left in ([], ["lambdatui"]), f"left in the state folder after a second q: {left}"
