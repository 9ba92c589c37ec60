"""A fault armed at invoke.response lands before the runtime hears its 202 (as when the route's task wrote it).

The 202 of a runtime's /response is written as the core decides it (answer_now); the crash or freeze armed at the
boundary the same input reaches must still catch the runtime right after its response, before it moves on: to
/next (awslambdaric, any custom runtime), or to its globals report (lambdatui's runtime, in the debugger/replay).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from scenario_support import freeze_scenario, replay, write_probe

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
ROUNDS = 3


def _ric_bootstrap(code_dir: Path) -> Path:
    (code_dir / "handler.py").write_text(HANDLER)
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(f"#!{sys.executable}\nimport os, sys\n"
                         f"os.execv(sys.executable, [sys.executable, '-m', 'awslambdaric', 'handler.handler'])\n")
    bootstrap.chmod(0o755)
    return bootstrap


@pytest.mark.trio
async def test_a_crash_armed_at_invoke_response_kills_a_custom_runtime_before_its_next(code_dir: Path) -> None:
    pytest.importorskip("awslambdaric")
    steps = '[[step]]\ninvoke = {}\n\n'
    for _ in range(ROUNDS):
        steps += ('[[step]]\nfault = "crash"\ntarget = "runtime"\nsignal = "SIGKILL"\nat = "invoke.response"\n\n'
                  '[[step]]\ninvoke = {}\n\n')
    replayed = await replay(_ric_bootstrap(code_dir), steps, code_dir)
    assert replayed.result.passed, replayed.out
    # Killed after its response, before /next: the invoke's REPORT says the runtime exited (Lambda's status: error),
    # every time; not an idle crash after an invoke that ended well.
    reports = re.findall(r"platform   REPORT .*", replayed.out)
    assert len(reports) == 1 + ROUNDS
    assert sum("Error Type: Runtime.ExitError" in r for r in reports) == ROUNDS, replayed.out
    assert "while the environment was idle" not in replayed.out


@pytest.mark.trio
async def test_a_freeze_armed_at_invoke_response_does_not_hold_the_clock_for_a_globals_report(code_dir: Path) -> None:
    replayed = await replay(write_probe(code_dir), freeze_scenario(
        'expect.phases = ["invoke.start", "invoke.response", "shutdown.start", "shutdown.done"]', at="invoke.response"),
        code_dir)
    assert replayed.result.passed, replayed.out
    # Frozen right after its response: the runtime never started its globals report, so no report's 10 s bound
    # held the deadline back (the invoke times out after its 1 s, not 11 s).
    assert "globals report has taken over" not in replayed.out, replayed.out
    assert "Task timed out after 1.00 seconds" in replayed.out
