"""The garbage collector is held off while lambdatui loads its modules, and collects again once they are loaded."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from lambdatui.collector import loading

REPO = Path(__file__).resolve().parents[1]


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_nothing_is_collected_while_loading_and_what_it_made_is_set_aside() -> None:
    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    try:
        with loading():
            assert not gc.isenabled()
            kept = [Cycle() for _ in range(1000)]  # cycles, held: what the freeze sets aside
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(kept)  # no later collection walks them again
    finally:
        gc.unfreeze()


def test_a_collector_turned_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        with loading():
            pass
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


# The `invoke` command as the console script runs it, asked at its very end whether the collector is on.
ASK_AT_THE_END = """
import gc, sys
from lambdatui import cli
exit_now = cli._exit_now
def asked(code):
    print("collecting:", gc.isenabled(), "frozen:", gc.get_freeze_count() > 10000, file=sys.stderr)
    exit_now(code)
cli._exit_now = asked
from lambdatui.entry import main
sys.exit(main())
"""


def test_the_invoke_command_collects_again_once_loaded() -> None:
    done = subprocess.run([sys.executable, "-c", ASK_AT_THE_END, "invoke", "sample_functions/hello", "-e", "{}"],
                          cwd=REPO, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert "collecting: True frozen: True" in done.stderr, done.stderr
