"""Probe (round 4): `lambdatui invoke` gives the same outcome with the early start (host/early_start.py) as without
it (LAMBDATUI_EARLY_START=0, the reference): stdout, exit code, the [platform] lines' shape (INIT_START count,
REPORT fields, error types), the function's and lambdatui's own lines, and the function's environment.

Each case runs both modes side by side, from this worktree (`python -m lambdatui`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_probe4_support import MODES, Run, run_both, run_one, write  # noqa: E402

PYTHON_CASES = {
    # After Init: a success thrice (here), and an error the handler raises (handler_raises, below).
    "normal": ("import os\nCOUNT = 0\n\ndef handler(event, context):\n"
               "    global COUNT\n    COUNT += 1\n    print('invoked', COUNT)\n"
               "    return {'event': event, 'count': COUNT, 'cwd': os.getcwd()}\n", ["--repeat", "3"]),
    # The runtime posts /init/error and waits (the host's one path for it, whatever the error type: a syntax error or
    # a missing handler is posted the same way, bootstrap/loop.py, and classified by the runtime, the same code in
    # both modes: tests/bootstrap/test_bootstrap_init.py).
    "raises_at_import": ("raise ValueError('boom at import')\n\ndef handler(event, context):\n    return 1\n", []),
    # The runtime exits during Init without posting an error (Runtime.ExitError).
    "exit_at_import": ("import os, sys\nprint('about to exit', flush=True)\nos._exit(3)\n\n"
                       "def handler(event, context):\n    return 1\n", []),
    # The kernel's OOM killer ends it during Init (Runtime.OutOfMemory, from the cgroup's events).
    "oom_at_import": ("HOG = b'\\x01' * (300 << 20)\n\ndef handler(event, context):\n    return len(HOG)\n",
                      ["--memory", "128"]),
    # The runtime cannot be started: the AWS_LAMBDA_EXEC_WRAPPER it is started through is not there.
    "missing_exec_wrapper": ("def handler(event, context):\n    return 1\n",
                             ["--env", "AWS_LAMBDA_EXEC_WRAPPER=/var/task/no-such-wrapper"]),
    "handler_raises": ("def handler(event, context):\n    raise KeyError('nope')\n", ["--repeat", "2"]),
}


def assert_same(runs: dict[str, Run], interleaved: bool = False) -> None:
    """`interleaved`: the function wrote on stdout and stderr, two pipes whose lines may interleave either way."""
    early, late = runs["early"].shape(), runs["late"].shape()
    if interleaved:
        for shape in (early, late):
            shape["function"] = sorted(shape["function"])  # type: ignore[type-var]
    assert early == late, (f"early start:\n{runs['early'].stdout[-3000:]}\n{runs['early'].stderr[-6000:]}\n"
                           f"reference (LAMBDATUI_EARLY_START=0):\n{runs['late'].stdout[-3000:]}\n"
                           f"{runs['late'].stderr[-6000:]}")


@pytest.mark.parametrize("case", sorted(PYTHON_CASES))
def test_python_handler_same_outcome_with_and_without_early_start(code_dir: Path, case: str) -> None:
    source, extra = PYTHON_CASES[case]
    path = write(code_dir / "handler.py", source)
    runs = run_both("invoke", str(path), "-e", '{"k": [1, 2]}', "--timeout", "10", *extra)
    assert_same(runs)
    if case == "normal":
        assert runs["early"].code == 0
        assert [json.loads(line)["count"] for line in runs["early"].stdout.splitlines()] == [1, 2, 3]
    if case == "oom_at_import":
        assert "Runtime.OutOfMemory" in runs["early"].stderr or "OutOfMemory" in runs["early"].stdout


BOOTSTRAPS = {
    # name: (file text, mode)
    "not_executable": ("#!/bin/sh\necho never\n", 0o644),
    "bad_shebang": ("#!/no/such/interpreter\necho never\n", 0o755),
    "exits_at_once": ("#!/bin/sh\necho booting\nexit 3\n", 0o755),
}


@pytest.mark.parametrize("case", sorted(BOOTSTRAPS))
def test_custom_runtime_that_cannot_start_same_outcome(code_dir: Path, case: str) -> None:
    text, mode = BOOTSTRAPS[case]
    if case == "not_executable":  # a bootstrap file named as PATH must be executable (a usage error): --bootstrap
        handler = write(code_dir / "handler.py", "def handler(event, context):\n    return 1\n")
        runtime = write(code_dir / "runtime.sh", text, mode)
        runs = run_both("invoke", str(handler), "--bootstrap", str(runtime), "--timeout", "5")
    else:
        bootstrap = write(code_dir / "bootstrap", text, mode)
        runs = run_both("invoke", str(bootstrap), "--timeout", "5")
    for run in runs.values():
        assert run.code == 1, run.stderr
    # Same number of Inits: one at start, one suppressed retry with the invoke.
    counts = {mode: run.stderr.count("INIT_START") for mode, run in runs.items()}
    assert counts["early"] == counts["late"] == 2, counts
    assert_same(runs)


def test_function_environment_same_with_and_without_early_start(code_dir: Path) -> None:
    path = write(code_dir / "handler.py", (
        "import os, sys, signal, resource\n"
        "def handler(event, context):\n"
        "    status = open('/proc/self/status').read()\n"
        "    field = lambda name: status.split(name + ':')[1].split()[0]\n"
        "    return {'env': dict(os.environ), 'argv': sys.argv, 'cwd': os.getcwd(), 'path': sys.path,\n"
        "            'umask': os.umask(0o22), 'fds': sorted(os.listdir('/proc/self/fd')),\n"
        "            'nofile': resource.getrlimit(resource.RLIMIT_NOFILE), 'nice': os.nice(0),\n"
        "            'blocked': field('SigBlk'), 'ignored': field('SigIgn'), 'pid': os.getpid(),\n"
        "            'ppid': os.getppid(), 'uid': os.getuid(), 'cgroup': open('/proc/self/cgroup').read().count('lambdatui-'),\n"
        "            'tmp': sorted(os.listdir('/tmp')), 'stdin': os.readlink('/proc/self/fd/0').split(':')[0]}\n"))
    runs = run_both("invoke", str(path), "--env", "MINE=1")
    answers = {}
    for mode, run in runs.items():
        assert run.code == 0, run.stderr
        answer = json.loads(run.stdout)
        env = answer["env"]
        # Per-run values: the log stream, the runtime API's port (the metadata endpoint's too) and the environment's
        # metadata token, the run folder's pid and random name.
        for key in ("AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "_X_AMZN_TRACE_ID", "AWS_LAMBDA_METADATA_API",
                    "AWS_LAMBDA_METADATA_TOKEN"):
            assert key in env, key
            env[key] = "<per run>"
        # The host's settings for the runtime never reach the function (the bootstrap takes them out).
        assert not [key for key in env if key.startswith("LAMBDATUI")], env
        answers[mode] = answer
    assert answers["early"] == answers["late"]
    assert "LAMBDATUI_EARLY_START" not in answers["late"]["env"]


def test_other_interpreter_same_outcome(code_dir: Path) -> None:
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    others = [p for p in (shutil.which(f"python3.{minor}") for minor in (12, 10, 13)) if p]
    others = [p for p in (os.path.realpath(p) for p in others) if here not in os.path.basename(p)]
    pyenv = [str(p) for p in sorted(Path(os.path.expanduser("~/.pyenv/versions")).glob("3.1[02]*/bin/python3.1?"))]
    candidates = [p for p in pyenv + others if os.access(p, os.X_OK)]
    if not candidates:
        pytest.skip("no other Python 3 interpreter here")
    python = candidates[0]
    path = write(code_dir / "handler.py", "import sys\ndef handler(event, context):\n"
                                          "    return {'version': list(sys.version_info[:2]), 'exe': sys.executable}\n")
    runs = run_both("invoke", str(path), "--python", python, "--repeat", "2")
    assert_same(runs)
    assert runs["early"].code == 0, runs["early"].stderr
    versions = {tuple(json.loads(line)["version"]) for line in runs["early"].stdout.splitlines()}
    assert versions != {tuple(sys.version_info[:2])}, versions


BIG_PRINT = (
    "import sys\n"
    "for i in range(3000):\n"
    "    print('out %05d ' % i + 'x' * 70)\n"
    "    if i % 500 == 0:\n"
    "        print('err %05d' % i, file=sys.stderr)\n"
    "def handler(event, context):\n"
    "    return 'done'\n"
)

# A custom runtime that writes ~240 KB on stdout before its first /next: lambdatui's host is not up yet (the pipe
# fills before anyone reads it), and every line must still come out, in order.
BIG_BOOTSTRAP = '''#!{python}
import http.client, os, sys
for i in range(3000):
    print("out %05d " % i + "y" * 70)
sys.stdout.flush()
connection = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
while True:
    connection.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = connection.getresponse()
    answer.read()
    request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
    connection.request("POST", "/2018-06-01/runtime/invocation/%s/response" % request_id, b'"done"')
    connection.getresponse().read()
'''


@pytest.mark.parametrize("kind", ["python", "bootstrap"])
def test_big_output_at_start_is_all_there_in_order(code_dir: Path, kind: str) -> None:
    if kind == "python":
        path = write(code_dir / "handler.py", BIG_PRINT)
    else:
        path = write(code_dir / "bootstrap", BIG_BOOTSTRAP.format(python=sys.executable), 0o755)
    runs = run_both("invoke", str(path), timeout=45)
    for mode, run in runs.items():
        assert run.code == 0, (mode, run.stderr[-2000:])
        assert run.stdout.strip() in ('"done"', "done"), (mode, run.stdout)
        lines = [line for line in run.tagged("function") if line.startswith("out ")]
        assert [int(line.split()[1]) for line in lines] == list(range(3000)), mode
        if kind == "python":
            assert [line for line in run.tagged("function") if line.startswith("err ")] == [
                "err %05d" % i for i in range(0, 3000, 500)], mode
        assert "dropped" not in run.stderr, mode
    assert_same(runs, interleaved=True)


def test_init_duration_of_a_slow_import_is_at_least_the_sleep_in_both_modes(code_dir: Path) -> None:
    path = write(code_dir / "handler.py", "import time\ntime.sleep(0.3)\n\ndef handler(event, context):\n"
                                          "    return 1\n")
    durations = {}
    for mode in MODES:
        run = run_one(mode, "invoke", str(path))
        assert run.code == 0, run.stderr
        [durations[mode]] = run.init_durations()
    assert all(d >= 300 for d in durations.values()), durations
    assert abs(durations["early"] - durations["late"]) < 150, durations
