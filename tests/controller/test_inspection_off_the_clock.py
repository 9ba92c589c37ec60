"""The globals report never costs the function its deadline (issue 7: the debugger must not change the outcome).

Before the fix, a global whose `__repr__` was slow made Init seconds longer and timed the first invoke out in
the debugger and in `replay`, while plain `lambdatui invoke` (which writes no report) succeeded. Now every
repr is cut off at 50 ms and the report's whole time is excluded from the deadlines, like held time, so the
three modes reach the same outcome.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller_support import debugger, payload, write_handler
from lambdatui.model import facts as f

SLOW_REPR = """\
    import time

    class Slow:
        def __repr__(self):
            time.sleep(2)
            return "slow"

    SLOW = Slow()
    calls = 0

    def handler(event, context):
        global calls
        calls += 1
        return {"calls": calls}
    """

# Twenty globals whose reprs each stay under the 50 ms cut-off: ~0.9 s of report after Init and after each
# invoke, which with a 0.4 s handler is past the 1 s timeout unless the report is off the clock.
MANY_SLOWISH = """\
    import time

    class Slowish:
        def __repr__(self):
            time.sleep(0.045)
            return "slowish"

""" + "".join(f"    G{i} = Slowish()\n" for i in range(20)) + """
    def handler(event, context):
        time.sleep(0.4)
        return {"remaining": context.get_remaining_time_in_millis()}
    """

SCENARIO = """\
[function]
timeout = 1

[[step]]
invoke = {}
expect = { response = { calls = 1 }, cold = true }

[[step]]
invoke = {}
expect = { response = { calls = 2 }, cold = false }
"""


@pytest.mark.trio
async def test_a_two_second_repr_shows_as_cut_off_and_both_invokes_succeed_in_the_debugger(code_dir):
    write_handler(code_dir, SLOW_REPR)
    async with debugger(code_dir / "handler.py", timeout_s=1) as dbg:
        first, first_report = await dbg.invoke()
        second, second_report = await dbg.invoke()
        assert (payload(first), payload(second)) == ({"calls": 1}, {"calls": 2})
        assert first_report.status == second_report.status == "success"
        assert first_report.init_duration_ms is not None and first_report.init_duration_ms < 1000
        shown = {g.name: g.repr for report in dbg.facts.of(f.GlobalsReported) for g in report.entries}
        assert shown["SLOW"] == "<repr took over 50 ms>"


@pytest.mark.trio
async def test_the_reports_time_is_not_the_functions_time(code_dir):
    write_handler(code_dir, MANY_SLOWISH)
    async with debugger(code_dir / "handler.py", timeout_s=1) as dbg:
        results = [await dbg.invoke() for _ in range(2)]
    for result, report in results:
        assert report.status == "success", result.payload
        assert payload(result)["remaining"] > 450  # the 0.4 s handler had nearly all of its 1 s
        assert report.duration_ms < 700, report.duration_ms
    assert results[0][1].init_duration_ms < 700, results[0][1].init_duration_ms


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("lambdatui")
    argv = [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "lambdatui"]
    return subprocess.run([*argv, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def test_invoke_and_replay_reach_the_debuggers_outcome(code_dir):
    write_handler(code_dir, SLOW_REPR)
    (code_dir / "twice.toml").write_text(SCENARIO)
    invoked = run_cli("invoke", str(code_dir / "handler.py"), "--timeout", "1", "--repeat", "2")
    assert invoked.returncode == 0, invoked.stderr
    assert invoked.stdout.split() == ['{"calls":', '1}', '{"calls":', '2}']
    replayed = run_cli("replay", str(code_dir / "handler.py"), str(code_dir / "twice.toml"))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


@pytest.mark.trio
async def test_the_function_init_step_leaves_the_report_out_as_init_does(code_dir):
    # ~0.9 s of report after the import: Init's duration leaves it out, and so must its Function init step.
    write_handler(code_dir, MANY_SLOWISH)
    async with debugger(code_dir / "handler.py", timeout_s=3) as dbg:
        await dbg.invoke()
        bars = dbg.snapshot().timeline
        [init] = [b for b in bars if b.kind == "init"]
        steps = {b.label: b.duration_ms for b in bars if b.kind == "init step"}
        assert init.duration_ms is not None and init.duration_ms < 800
        assert steps["function init"] is not None and steps["function init"] <= init.duration_ms
        assert sum(d or 0.0 for d in steps.values()) <= init.duration_ms + 1.0
