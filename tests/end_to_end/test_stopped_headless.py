"""Ctrl-Z of a headless run (`serve`, `invoke`, `replay` take SIGTSTP alike): stopped, lambdatui reads none of the
function's output, so a function that prints would block on its full pipe and be charged the stop (a timeout
Lambda never gives). The environment is held while lambdatui is stopped, as in the debugger: frozen, its deadline
stopped, and it goes on once continued (`fg`)."""

from __future__ import annotations

import re
import signal
import threading
import time
from pathlib import Path

import httpx
from process_states import wait_frozen

from e2e_support import ServeProcess, descendants, proc_cmdline, proc_stat, write_file

BOUND_S = 30.0

# Waits for its go file (made while lambdatui is stopped), then prints 100,000 lines (~30 ms, ~1 MB: past any pipe).
GO_HANDLER = """\
import os, sys, time

def handler(event, context):
    deadline = time.monotonic() + 20
    while not os.path.exists(event["go"]) and time.monotonic() < deadline:
        time.sleep(0.005)
    for start in range(0, 100_000, 1000):
        sys.stdout.write("".join(f"line {i}\\n" for i in range(start, start + 1000)))
        sys.stdout.flush()
    return {"done": True}
"""


def test_a_ctrl_z_of_serve_holds_the_invoke_in_flight_so_the_stop_is_not_charged_to_it(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", GO_HANDLER)
    go = code_dir / "go"
    answer: dict[str, httpx.Response] = {}
    with ServeProcess(handler, "--timeout", "1") as served:
        caller = threading.Thread(target=lambda: answer.update(
            response=httpx.post(served.invoke_url(), json={"go": str(go)}, timeout=BOUND_S)))
        caller.start()
        served.wait_for_line(r"\[platform\]\s+START RequestId", timeout=BOUND_S)
        [runtime] = [pid for pid in descendants(served.proc.pid) if "lambdatui/bootstrap" in proc_cmdline(pid)]
        served.signal(signal.SIGTSTP)
        deadline = time.monotonic() + BOUND_S
        while (proc_stat(served.proc.pid) or ("?",))[0] != "T":
            assert time.monotonic() < deadline, "lambdatui never stopped on SIGTSTP"
            time.sleep(0.005)
        wait_frozen(runtime)  # held before lambdatui stopped
        go.touch()
        time.sleep(1.5)  # the measured quantity: stopped past the function's 1 s timeout
        served.signal(signal.SIGCONT)
        caller.join(BOUND_S)
        report = served.wait_for_line(r"\[platform\]\s+REPORT RequestId.*", timeout=BOUND_S).group(0)
    response = answer["response"]
    assert response.status_code == 200 and "x-amz-function-error" not in response.headers, response.text
    assert response.json() == {"done": True}
    duration = float(re.search(r"\bDuration: ([\d.]+) ms", report).group(1))  # type: ignore[union-attr]
    assert duration < 1000, report  # the 1.5 s stopped is not the function's


def test_the_time_serve_is_stopped_is_no_idle_time(code_dir: Path) -> None:
    """--idle-shutdown counts Lambda's idle time, and a stopped lambdatui is held, as the debugger's holds are: an
    environment idle for ~0 s when lambdatui stopped is not spun down at `fg` for the seconds it was stopped, but once
    it has been idle for the limit after it."""
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return 1\n")
    with ServeProcess(handler, "--idle-shutdown", "2") as served:
        assert httpx.post(served.invoke_url(), json={}, timeout=BOUND_S).status_code == 200
        served.signal(signal.SIGTSTP)
        deadline = time.monotonic() + BOUND_S
        while (proc_stat(served.proc.pid) or ("?",))[0] != "T":
            assert time.monotonic() < deadline, "lambdatui never stopped on SIGTSTP"
            time.sleep(0.005)
        time.sleep(3.0)  # the measured quantity: stopped for longer than the idle limit
        served.signal(signal.SIGCONT)
        continued = time.monotonic()
        served.wait_for_line(r"has been idle for 2 s: it is shut down", timeout=BOUND_S)
        idle_after_fg = time.monotonic() - continued
    assert idle_after_fg > 1.0, f"spun down {idle_after_fg:.2f} s after fg: the 3 s stopped counted as idle"
