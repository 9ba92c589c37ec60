"""Managed Instances: a replay gives each invoke to the worker that took it in the session (`worker = N`).

Each worker of a Managed Instances environment is a process with its own globals, and RAPID gives an invoke to
whichever worker has waited longest on /next: a handler that counts its calls answers by which worker took it. Real
processes: `lambdatui replay` of a written scenario, with lambdatui's runtime and with awslambdaric unchanged, and
`serve --record` then `replay` of a session whose invokes met the workers in an order a replay would not repeat
by itself.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, write_file
from lambdatui.scenario.model import InvokeAction, ParallelAction
from lambdatui.scenario.parse import parse_scenario

pytestmark = pytest.mark.timeout(180)

HANDLER = '''import os, time

calls = 0  # this worker's own


def handler(event, context):
    global calls
    calls += 1
    os.write(1, f"began {event.get('n')}\\n".encode())
    time.sleep(event.get("sleep", 0))
    if event.get("big"):
        return "x" * (7 * 1024 * 1024)  # past Lambda's 6 MB: refused (413), which closes the worker's connection
    if event.get("exit"):
        os._exit(3)
    return {"calls": calls}
'''

AWSLAMBDARIC_BOOTSTRAP = (f"#!{sys.executable}\nimport os, sys\n"
                          "os.execv(sys.executable, [sys.executable, '-m', 'awslambdaric', 'handler.handler'])\n")

# Worker 1 takes the first invoke; the second goes back to it, though worker 2 has waited longer (RAPID's own choice,
# which a replay without `worker` makes: calls 1, not 2).
SCENARIO = """\
[function]
max_concurrency = 2

[[step]]
invoke = '{"n": 1}'
worker = 1
expect = { response = '{"calls": 1}' }

[[step]]
invoke = '{"n": 2}'
worker = 1
expect = { response = '{"calls": 2}' }

[[step]]
invoke = '{"n": 3}'
worker = 2
expect = { response = '{"calls": 1}' }

[[step]]
parallel = ['{"n": 4}', '{"n": 5}']
workers = [2, 1]
expect.each = [{ response = '{"calls": 2}' }, { response = '{"calls": 3}' }]
"""


# Worker 2's answer is refused and its connection closed; it asks again on a new one, as worker 2 still. Then worker 2
# exits holding an invoke (its deadline answers it): the invoke that names it goes to worker 1 once it has waited the
# function's timeout (awslambdaric's workers have no word for lambdatui when they end; ours do).
LOST_WORKERS = """\
[function]
max_concurrency = 2
timeout = 1

[[step]]
invoke = '{"n": 1, "big": true}'
worker = 2
expect = { error_type = 'Function.ResponseSizeTooLarge' }

[[step]]
invoke = '{"n": 2}'
worker = 2
expect = { response = '{"calls": 2}' }

[[step]]
invoke = '{"n": 3, "exit": true}'
worker = 2
expect = { error_type = 'Sandbox.Timedout' }

[[step]]
invoke = '{"n": 4}'
worker = 2
expect = { response = '{"calls": 1}' }
"""


def replay(path: Path, scenario: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lambdatui", "replay", str(path), str(scenario)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("awslambdaric", [False, True], ids=["ours", "awslambdaric"])
def test_a_scenario_gives_each_invoke_to_the_worker_it_names(code_dir: Path, tmp_path: Path,
                                                             awslambdaric: bool) -> None:
    path = write_file(code_dir / "handler.py", HANDLER)
    if awslambdaric:
        path = write_file(code_dir / "bootstrap", AWSLAMBDARIC_BOOTSTRAP, executable=True)
    scenario = write_file(tmp_path / "workers.toml", SCENARIO)
    done = replay(path, scenario)
    assert done.returncode == 0, done.stdout + done.stderr
    taken = re.findall(r"worker\s+#(\d) takes", done.stdout)
    assert taken == ["1", "1", "2", "2", "1"] or taken == ["1", "1", "2", "1", "2"], done.stdout  # the last two at once


@pytest.mark.parametrize("awslambdaric", [False, True], ids=["ours", "awslambdaric"])
def test_a_worker_keeps_its_number_on_a_new_connection_and_one_that_is_gone_is_not_waited_for_long(
        code_dir: Path, tmp_path: Path, awslambdaric: bool) -> None:
    """A bug hunt: the refused worker came back as worker #3 and the next step waited for #2 until the replay gave up;
    a dead awslambdaric worker was waited for as long."""
    path = write_file(code_dir / "handler.py", HANDLER)
    if awslambdaric:
        path = write_file(code_dir / "bootstrap", AWSLAMBDARIC_BOOTSTRAP, executable=True)
    done = replay(path, write_file(tmp_path / "lost.toml", LOST_WORKERS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.findall(r"worker\s+#(\d) takes", done.stdout) == ["2", "2", "2", "1"], done.stdout
    if not awslambdaric:  # our runtime tells the worker's exit: its invoke's handler does not run on, nor is it waited for
        assert "(timed out) runs on" not in done.stdout and "which did not ask for work" not in done.stdout, done.stdout


def test_a_recorded_session_names_each_invokes_worker_and_replays_as_it_ran(code_dir: Path, tmp_path: Path) -> None:
    """Invoke 1 runs long in worker 1; meanwhile 2 and 3 go to worker 2 one after the other; then 4, with both idle,
    to the worker that has waited longest: worker 2 (it finished 3 before worker 1 finished 1), its third call. The
    recording writes 1 and 2 as a parallel step, 3 apart (it ran beside 1, which a replay has finished by then) and
    each invoke's worker. A replay that did not give 4 to worker 2 would give it to worker 1, idle since the first
    step ended (calls 2, not 3)."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = tmp_path / "managed.toml"
    answers: dict[int, dict[str, int]] = {}
    with ServeProcess(handler, "--max-concurrency", "2", "--concurrency", "1", "--record", str(recording)) as served:
        def invoke(n: int, sleep: float = 0.0) -> None:
            answer = httpx.post(served.invoke_url(), content=json.dumps({"n": n, "sleep": sleep}).encode(), timeout=60)
            answers[n] = answer.json()

        served.wait_for_line(r"#1 \[platform\]\s+INIT_REPORT .*Status: success")
        long = threading.Thread(target=invoke, args=(1, 1.5))
        long.start()
        served.wait_for_line(r"began 1")
        invoke(2)
        invoke(3)
        long.join(60)
        invoke(4)
        served.signal(signal.SIGINT)
        assert served.wait(60) == 0, served.output()
    assert answers == {1: {"calls": 1}, 2: {"calls": 1}, 3: {"calls": 2}, 4: {"calls": 3}}, answers
    text = recording.read_text()
    burst, third, fourth = parse_scenario(text, recording).steps
    assert isinstance(burst.action, ParallelAction) and burst.action.workers == (1, 2), text
    assert isinstance(third.action, InvokeAction) and third.action.worker == 2, text
    assert isinstance(fourth.action, InvokeAction) and fourth.action.worker == 2, text
    assert fourth.expect.response == {"calls": 3}, text
    done = replay(handler, recording)
    assert done.returncode == 0, text + done.stdout + done.stderr
    taken = re.findall(r"worker\s+#(\d) takes", done.stdout)
    assert sorted(taken[:2]) == ["1", "2"] and taken[2:] == ["2", "2"], done.stdout


OVERRUN_HANDLER = '''import json, os, tempfile, time

SHARED = os.path.join(tempfile.gettempdir(), "shared.log")


def handler(event, context):
    try:
        with open(SHARED) as fh:
            before = len(fh.readlines())
    except FileNotFoundError:
        before = 0
    time.sleep(event.get("sleep", 0))
    with open(SHARED, "a") as fh:
        fh.write(json.dumps(event) + "\\n")
    return {"before": before}
'''


def test_a_replay_lets_a_timed_out_handler_finish_before_the_next_step_as_the_session_did(
        code_dir: Path, tmp_path: Path) -> None:
    """Invoke 1 times out at 1 s; its handler runs on and writes to /tmp at 1.4 s (Managed Instances stop no code).
    The session's invoke 2 came after that and read the line. A bug hunt: the replay sent invoke 2 at the timeout,
    while the handler still ran (`response.before: expected 1, got 0`)."""
    handler = write_file(code_dir / "handler.py", OVERRUN_HANDLER)
    recording = tmp_path / "overrun.toml"
    with ServeProcess(handler, "--max-concurrency", "2", "--timeout", "1", "--record", str(recording)) as served:
        url = served.invoke_url()
        first = httpx.post(url, content=json.dumps({"n": 1, "sleep": 1.4}).encode(), timeout=60)
        assert first.json()["errorType"] == "Sandbox.Timedout", first.text
        served.wait_for_line(r"The late answer to invoke .* was refused")
        second = httpx.post(url, content=json.dumps({"n": 2}).encode(), timeout=60)
        assert second.json() == {"before": 1}, second.text
        served.signal(signal.SIGINT)
        assert served.wait(60) == 0, served.output()
    text = recording.read_text()
    assert """response = '{"before": 1}'""" in text, text
    done = replay(handler, recording)
    assert done.returncode == 0, text + done.stdout + done.stderr
    assert "runs on: the next step waits for it" in done.stdout, done.stdout


def test_a_scenario_that_names_a_worker_of_a_function_without_managed_instances_says_it_is_not_used(
        code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    done = replay(handler, write_file(tmp_path / "plain.toml", "[[step]]\ninvoke = '{}'\nworker = 2\n"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "worker = N names a worker of a Managed Instances environment" in done.stdout, done.stdout
