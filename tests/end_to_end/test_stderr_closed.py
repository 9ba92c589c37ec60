"""`lambdatui serve PATH 2>&-`, stderr closed by the script that starts it (as `>&- 2>&-` in a CI step).

Python then gives the process `sys.stderr = None`. README: "Log output never blocks the server", "in every headless
mode"; `serve` is for scripts. Until session 53 serve exited 1 at once, silently (nothing can be said, stderr being closed),
before it bound its port: the console reporter wrote its first note ("The function runs in ...") to
`sys.stderr`, which is None (`AttributeError: 'NoneType' object has no attribute 'write'` in
host/console.py, raised through open_environment). `invoke PATH 2>&-` ended the same way (exit 1, no answer).
Now the log lines go nowhere, as the caller chose (host/nonblocking_output.nonblocking_stderr).
With stdout closed instead (`>&-`), serve runs: only a closed stderr stops it.
"""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest

from e2e_support import REPO, lambdatui_argv, stop
from free_ports import free_port

SAMPLE = REPO / "sample_functions" / "hello"
START_BOUND_S = 30.0


def _closed_stderr(argv: list[str]) -> list[str]:
    """`argv` run by a shell with fd 2 closed, as `lambdatui ... 2>&-` in a script."""
    return ["sh", "-c", 'exec "$@" 2>&-', "sh", *argv]


def test_serve_with_stderr_closed_still_serves() -> None:
    port = free_port()
    proc = subprocess.Popen(
        _closed_stderr([*lambdatui_argv(), "serve", str(SAMPLE), "--port", str(port), "--concurrency", "1"]),
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_BOUND_S
        answer = None
        with httpx.Client(timeout=10) as client:
            while answer is None:
                assert time.monotonic() < deadline, "serve never answered"
                try:
                    answer = client.post(f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
                                         content=b"{}")
                except httpx.TransportError:
                    try:  # the pause between tries is a wait on the process's exit
                        code = proc.wait(timeout=0.1)
                    except subprocess.TimeoutExpired:
                        continue
                    pytest.fail(f"serve with stderr closed ended with exit status {code} before it served")
        assert answer.status_code == 200, answer.text
        json.loads(answer.text)
    finally:
        stop(proc)


def test_invoke_with_stderr_closed_still_answers() -> None:
    done = subprocess.run(
        _closed_stderr([*lambdatui_argv(), "invoke", str(SAMPLE), "-e", "{}"]),
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip(), (done.returncode, done.stdout)
    json.loads(done.stdout)
