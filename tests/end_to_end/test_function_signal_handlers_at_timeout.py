"""A function's own SIGUSR1 handler at a timeout, in lambdatui's Python runtime (found by a bug hunt).

At a timeout (of an invoke or of Init) Lambda stops the runtime outright (spec §4.5, §4.6: SIGKILL when no
extension is registered): no code of the function runs after the deadline, and the log of that invoke ends with
the timeout. lambdatui first has its own runtime dump the stacks (host/runtime_signals.py). It did so with SIGUSR1:
a function that installed its own SIGUSR1 handler (a library's, a debugging `faulthandler.register`, or one that
raises) had its handler run instead, at the deadline, its output in the function's log; one that ignored SIGUSR1
held the reset for the dump's 0.5 s bound. The dump now has a real-time signal of its own
(bootstrap/private_signals.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from e2e_support import ServeProcess, awslambdaric_bootstrap, platform_lines, run_cli, source_lines, write_file

# A handler of its own for SIGUSR1, which raises in whatever code runs when the signal comes.
RAISES_ON_USR1_PRELUDE = '''import signal
import time


class Usr1Received(Exception):
    pass


def on_usr1(signum, frame):
    raise Usr1Received("the function's SIGUSR1 handler ran")


signal.signal(signal.SIGUSR1, on_usr1)
'''

RAISES_ON_USR1 = RAISES_ON_USR1_PRELUDE + '''

def handler(event, context):
    time.sleep(5)
    return "finished"
'''

RAISES_ON_USR1_DURING_INIT = RAISES_ON_USR1_PRELUDE + '''time.sleep(12)


def handler(event, context):
    return "ok"
'''

FAULTHANDLER_ON_USR1 = '''import faulthandler
import signal
import sys
import time

faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)


def handler(event, context):
    time.sleep(5)
    return "finished"
'''


def test_a_function_with_its_own_sigusr1_handler_still_times_out(code_dir: Path) -> None:
    """What the caller sees is right: the timeout, not the exception the signal raised."""
    handler = write_file(code_dir / "handler.py", RAISES_ON_USR1)
    result = run_cli("invoke", str(handler), "--timeout", "1")
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["errorType"] == "Sandbox.Timedout", result.stdout
    report = next(line for line in platform_lines(result.stderr) if line.startswith("REPORT "))
    assert "Status: timeout" in report


def test_awslambdaric_as_custom_runtime_runs_no_function_code_after_the_timeout(code_dir: Path) -> None:
    """The same function through awslambdaric (a bootstrap): killed at the deadline, as in Lambda; its SIGUSR1
    handler never runs, and the log has no error of the function's."""
    write_file(code_dir / "handler.py", RAISES_ON_USR1)
    result = run_cli("invoke", str(awslambdaric_bootstrap(code_dir)), "--timeout", "1")
    assert json.loads(result.stdout)["errorType"] == "Sandbox.Timedout", result.stdout + result.stderr
    assert not any("Usr1Received" in line for line in source_lines(result.stderr, "function")), result.stderr


def timed_out_lines(code_dir: Path, source: str) -> list[str]:
    """The function's log lines of one `lambdatui invoke --timeout 1` of `source`, which must time out."""
    handler = write_file(code_dir / "handler.py", source)
    result = run_cli("invoke", str(handler), "--timeout", "1")
    assert json.loads(result.stdout)["errorType"] == "Sandbox.Timedout", result.stdout + result.stderr
    return source_lines(result.stderr, "function")


def test_no_function_error_is_logged_after_an_invoke_timeout(code_dir: Path) -> None:
    logged = timed_out_lines(code_dir, RAISES_ON_USR1)
    assert not any("Usr1Received" in line for line in logged), "\n".join(logged)
    assert not any("LAMBDA_RUNTIME Failed to post" in line for line in logged), "\n".join(logged)


def test_a_function_faulthandler_on_sigusr1_writes_nothing_at_the_timeout(code_dir: Path) -> None:
    logged = timed_out_lines(code_dir, FAULTHANDLER_ON_USR1)
    assert not any("most recent call first" in line for line in logged), "\n".join(logged)


def test_no_init_error_is_logged_after_an_init_timeout(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", RAISES_ON_USR1_DURING_INIT)
    result = run_cli("invoke", str(handler), "--timeout", "1", timeout=90)
    assert json.loads(result.stdout)["errorType"] == "Sandbox.Timedout", result.stdout + result.stderr
    init_reports = [line for line in platform_lines(result.stderr) if line.startswith("INIT_REPORT ")]
    assert init_reports and all("Status: timeout" in line for line in init_reports), result.stderr
    logged = source_lines(result.stderr, "function")
    assert not any("Usr1Received" in line for line in logged), "\n".join(logged)


IGNORES_USR1 = '''import signal
import time

signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return "done"
'''


def test_the_invoke_after_a_timeout_is_not_delayed_by_the_stack_dump(code_dir: Path) -> None:
    import time

    import httpx

    handler = write_file(code_dir / "handler.py", IGNORES_USR1)
    with ServeProcess(handler, "--timeout", "1") as served:
        timed_out = httpx.post(served.invoke_url(), content=b'{"sleep": 5}', timeout=30)
        assert json.loads(timed_out.content)["errorType"] == "Sandbox.Timedout"
        started = time.monotonic()
        after = httpx.post(served.invoke_url(), content=b"{}", timeout=30)
        latency_ms = (time.monotonic() - started) * 1000
        assert json.loads(after.content) == "done"
        request_id = after.headers["x-amzn-RequestId"]
        report = served.wait_for_line(rf"REPORT RequestId: {request_id}\t")
        duration_ms = float(re.search(r"\tDuration: ([\d.]+) ms", report.string).group(1))
    # The REPORT's Duration holds the re-Init (a suppressed init); what lies outside it is lambdatui's own overhead.
    assert latency_ms - duration_ms < 400, (latency_ms, duration_ms)
