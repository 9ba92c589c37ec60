"""Env #1 started ahead of the trio run (host/early_start.py, issue 9): its runtime reaches the sandbox API before
lambdatui has imported trio, and whatever ends lambdatui before its host adopts it, nothing of it is left behind.

Each test runs the early start in a real interpreter of its own (the test process has trio imported), with the
real sandbox, init, cgroup and runtime, and then ends that interpreter as a user could.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import trio

from e2e_support import REPO, ServeProcess, descendants, run_cli, wait_all_gone, writable_cgroups, write_file
from lambdatui.config import resolve_function
from lambdatui.host.early_start import start_early
from lambdatui.model.boundaries import EnvState
from lambdatui.runner import open_environment

BOUND = 60.0

# Starts env #1 ahead, waits for the runtime's first call on the sandbox API's socket (nothing answers it: no host
# runs), says what it saw, and once the test has looked, ends as argv[2] says: `abandon` (an error or Ctrl-C before
# the host took it over) or `kill` (SIGKILL: the watchdog and the parent-death signals must do it all).
SCRIPT = r'''
import json, os, signal, sys
from lambdatui.config import resolve_function
from lambdatui.host.early_start import start_early
from lambdatui.processes import namespaces

probes = []  # the namespace probes run (each a program forked, exec'd and waited for)
real_probe = namespaces.run_probe
namespaces.run_probe = lambda *args, **kwargs: probes.append(args) or real_probe(*args, **kwargs)
early = start_early(resolve_function(sys.argv[1]))
early.listener.settimeout(60)
connection, _ = early.listener.accept()
connection.settimeout(60)
first = connection.recv(65536).split(b"\r\n", 1)[0].decode()
early.settled_sandbox()
runtime = early.runtime
with open(f"/proc/{runtime.pid}/cgroup") as file:
    cgroups = [line.strip().split(":", 2)[2] for line in file]
print(json.dumps({"trio": "trio" in sys.modules, "first": first, "runtime": runtime.pid,
                  "runtime_api": early.runtime_api, "state_dir": str(early.state_dir), "cgroups": cgroups,
                  "probes": len(probes), "pid_namespace": early.supervisor.forks_in_namespace,
                  "laid_out": early.sandbox.layout is not None}),
      flush=True)
sys.stdin.readline()
if sys.argv[2] == "abandon":
    early.abandon()
    print("abandoned", flush=True)
    sys.stdin.readline()
else:
    os.kill(os.getpid(), signal.SIGKILL)
'''

HANDLER = "def handler(event, context):\n    return event\n"


def _start(code_dir: Path, how: str) -> tuple[subprocess.Popen[str], dict]:
    write_file(code_dir / "handler.py", HANDLER)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("LAMBDATUI_EARLY_START", None)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(code_dir / "handler.py"), how], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # bounded: the script's own accept and recv time out
    assert line, proc.communicate(timeout=BOUND)
    return proc, json.loads(line)


def _say(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def _cgroup_folders(seen: dict) -> list[Path]:
    """The runtime's cgroup folders of its own (lambdatui-<pid>-<hex>), in every hierarchy it was in."""
    roots = [Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").iterdir()]
    return [root / rel.lstrip("/") for rel in seen["cgroups"] if re.search(r"/lambdatui-\d+-[0-9a-f]+$", rel)
            for root in roots if (root / rel.lstrip("/")).is_dir()]


def test_the_runtime_asks_the_sandbox_api_before_trio_is_imported_and_abandoning_it_leaves_nothing(
        code_dir: Path) -> None:
    proc, seen = _start(code_dir, "abandon")
    try:
        everything = descendants(proc.pid)
        folders = _cgroup_folders(seen)
        assert folders or not writable_cgroups()
        _say(proc, "go")
        assert proc.stdout is not None and proc.stdout.readline() == "abandoned\n"
        assert seen["trio"] is False
        # Our bootstrap's first call: may it import the handler (the debugger's Function-init gate)?
        assert seen["first"] == "GET /lambdatui/v1/function-init HTTP/1.1"
        assert seen["runtime"] in everything
        # The sandbox init's start asked the kernel for the namespaces and the layout: no probe asked first.
        assert (seen["probes"], seen["pid_namespace"], seen["laid_out"]) == (0, True, True), seen
        assert wait_all_gone(everything, 10) == {}
        assert not Path(seen["state_dir"]).exists()
        assert [folder for folder in folders if folder.exists()] == []
    finally:
        proc.kill()
        proc.communicate(timeout=BOUND)


def test_sigkill_before_the_host_adopted_it_leaves_no_process(code_dir: Path) -> None:
    proc, seen = _start(code_dir, "kill")
    everything = descendants(proc.pid)
    folders = _cgroup_folders(seen)
    _say(proc, "go")
    proc.communicate(timeout=BOUND)
    assert proc.returncode == -signal.SIGKILL
    assert seen["runtime"] in everything
    assert wait_all_gone(everything, 10) == {}
    deadline = time.monotonic() + 10
    while (left := [folder for folder in folders if folder.exists()]) and time.monotonic() < deadline:
        for folder in left:  # the watchdog removes them once their last process is gone
            os.stat(folder.parent)
    assert left == []
    # The run's folder stays, as after any SIGKILL: the next start removes it (run_folders.remove_stale_runs).
    run_cli("invoke", str(code_dir / "handler.py"), "-e", "{}")
    assert not Path(seen["state_dir"]).exists()


@pytest.mark.parametrize("early", ["1", "0"])
def test_invoke_gives_the_same_answer_with_or_without_the_early_start(code_dir: Path, early: str) -> None:
    write_file(code_dir / "handler.py", "import os, tempfile\nSTARTED = os.getpid()\n\n"
                                        "def handler(event, context):\n"
                                        "    return {'event': event, 'tmp': tempfile.gettempdir(),"
                                        " 'TMPDIR': os.environ.get('TMPDIR'),"
                                        " 'remaining': context.get_remaining_time_in_millis() > 2000}\n")
    env = dict(os.environ, LAMBDATUI_EARLY_START=early)
    result = subprocess.run([sys.executable, "-m", "lambdatui", "invoke", str(code_dir / "handler.py"), "-e",
                             '{"n": 1}', "--repeat", "2"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=BOUND)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"event": {"n": 1}, "tmp": "/tmp", "TMPDIR": None, "remaining": True}] * 2  # Lambda sets no TMPDIR
    [init_duration] = re.findall(r"Init Duration: ([\d.]+) ms", result.stderr)
    assert 0 < float(init_duration) < 10_000
    assert result.stderr.count("INIT_START") == 1


# A custom runtime that asks for its first event at once: it is waiting before lambdatui's host is up.
EAGER_BOOTSTRAP = '''#!{python}
import http.client, json, os
connection = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
while True:
    connection.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = connection.getresponse()
    event = answer.read()
    request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
    connection.request("POST", f"/2018-06-01/runtime/invocation/{{request_id}}/response",
                       json.dumps({{"pid": os.getpid(), "event": json.loads(event)}}))
    connection.getresponse().read()
'''


@pytest.mark.parametrize("mode", ["invoke", "serve"])
def test_a_runtime_that_asks_before_the_host_is_up_gets_the_first_event_of_one_init(code_dir: Path, mode: str) -> None:
    """`serve` starts its Invoke API before it lets env #1 start: the runtime's /next, read meanwhile, must find
    an Init under way (it was refused as a call out of turn while the environment was still cold)."""
    bootstrap = write_file(code_dir / "bootstrap", EAGER_BOOTSTRAP.format(python=sys.executable), executable=True)
    if mode == "invoke":
        result = run_cli("invoke", str(bootstrap), "-e", '{"n": 7}', "--repeat", "3")
        assert result.returncode == 0, result.stderr
        answers, stderr = [json.loads(line) for line in result.stdout.splitlines()], result.stderr
    else:
        with ServeProcess(bootstrap) as server:
            answers = [httpx.post(server.invoke_url(), content=b'{"n": 7}', timeout=BOUND).json() for _ in range(3)]
            stderr = server.output()
    assert [answer["event"] for answer in answers] == [{"n": 7}] * 3, stderr
    assert len({answer["pid"] for answer in answers}) == 1
    assert stderr.count("INIT_START") == 1 and "INIT_REPORT" not in stderr, stderr


@pytest.mark.trio
async def test_the_host_begins_the_init_of_an_environment_started_ahead_without_being_asked(code_dir: Path) -> None:
    """Its runtime asks for its first event before anything runs to answer it; once the host runs, that call finds
    Init under way, even before the caller (`invoke`, `serve`) has told the environment to start."""
    bootstrap = write_file(code_dir / "bootstrap", EAGER_BOOTSTRAP.format(python=sys.executable), executable=True)
    config = resolve_function(str(bootstrap))
    early = start_early(config)
    assert early is not None
    try:
        pending, _, _ = select.select([early.listener], [], [], BOUND)  # the runtime's connection waits in the backlog
        assert pending
        with trio.fail_after(BOUND):
            async with open_environment(config, early=early) as running:
                await running.host.wait_for_state(EnvState.FROZEN)  # Init done, nobody told it to start
                result, _ = await running.fleet.invoke(b'{"n": 3}')
        assert json.loads(result.payload)["event"] == {"n": 3}
    finally:
        early.abandon()
